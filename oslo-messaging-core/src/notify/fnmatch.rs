//! Shell patterns with Python's `fnmatch` rules, for routing rules.

use regex::Regex;

/// Python's `fnmatch.translate`: a whole-string, case-sensitive shell pattern.
pub(crate) fn glob(pattern: &str) -> std::result::Result<Regex, regex::Error> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^(?s:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    re.push_str("\\[");
                    continue;
                }
                let mut class: String = String::from("[");
                for (k, &ch) in chars[i..j].iter().enumerate() {
                    match ch {
                        '!' if k == 0 => class.push('^'),
                        '^' if k == 0 => class.push_str("\\^"),
                        '\\' | '[' | ']' | '&' | '~' => {
                            class.push('\\');
                            class.push(ch);
                        }
                        _ => class.push(ch),
                    }
                }
                class.push(']');
                re.push_str(&class);
                i = j + 1;
            }
            other => re.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push_str(")$");
    Regex::new(&re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_is_python_fnmatch() {
        let m = |p: &str, s: &str| glob(p).expect("valid").is_match(s);
        assert!(m("compute.*", "compute.instance.create"));
        assert!(!m("compute.*", "xcompute.a"));
        assert!(!m("compute", "compute.a"), "whole string");
        assert!(m("a?c", "abc") && !m("a?c", "abbc"));
        assert!(m("[ab]x", "bx") && !m("[!ab]x", "bx") && m("[!ab]x", "cx"));
        assert!(m("[", "[") && m("a.b", "a.b") && !m("a.b", "axb"));
        assert!(!m("Compute.*", "compute.a"), "case-sensitive");
    }
}
