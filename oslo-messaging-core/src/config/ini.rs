//! A reader for oslo.config INI files, as a figment [`Provider`].
//!
//! It follows oslo.config's own `iniparser`:
//!
//! * `[section]` starts a section; section names are stored lowercased, so
//!   `[DEFAULT]` and `[default]` are the same group;
//! * `key = value` and `key: value` assign (the first `=` or `:` splits);
//!   keys and values are trimmed, and a value wrapped in matching quotes
//!   loses them;
//! * lines starting with `#` or `;` are comments; a `#` later in a line is
//!   part of the value;
//! * a line starting with a space or tab continues the previous value, joined
//!   with `"\n"`; a blank line ends a value;
//! * a key repeated within a section gives the list of its values in order
//!   (a `MultiStrOpt`); a key given once gives a string.
//!
//! ```
//! use oslo_messaging_core::config::ini::IniFile;
//!
//! let ini = IniFile::parse_str("[DEFAULT]\ncontrol_exchange = nova\n", "inline")?;
//! assert_eq!(ini.name(), "inline");
//! # Ok::<(), oslo_messaging_core::error::MessagingError>(())
//! ```

use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use crate::error::{MessagingError, Result};

/// A parsed oslo.config INI file; every value is a string or a list of strings.
#[derive(Clone)]
pub struct IniFile {
    name: String,
    path: Option<PathBuf>,
    data: Dict,
}

impl IniFile {
    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    ///
    /// [`MessagingError::Config`] naming the path when the file cannot be
    /// read (missing, unreadable, not UTF-8), or naming the path and line
    /// when its syntax is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            MessagingError::Config(format!("cannot read INI file {}: {e}", path.display()))
        })?;
        let mut ini = Self::parse_str(&text, &path.display().to_string())?;
        ini.path = Some(path.to_owned());
        Ok(ini)
    }

    /// Parses INI text; `name` is used in error messages and metadata.
    ///
    /// # Errors
    ///
    /// [`MessagingError::Config`] naming `name` and the line when an option
    /// comes before any section, a line is neither a section, comment nor
    /// assignment, a section header lacks its `]` or name, a key is empty, or
    /// a continuation line has nothing to continue. Line contents are never
    /// quoted, since they may hold passwords.
    pub fn parse_str(text: &str, name: &str) -> Result<Self> {
        let err = |lineno: usize, what: &str| syntax_error(name, lineno, what);
        let mut sections: Vec<Section> = Vec::new();
        // The pending assignment: key, its lines, and the line it started on.
        let mut pending: Option<(String, Vec<String>, usize)> = None;
        let mut section: Option<usize> = None;

        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let lineno = i + 1;
            let line = raw.trim_end();
            if line.is_empty() {
                flush(&mut sections, &mut pending, section, name)?;
                continue;
            }
            if line.starts_with([' ', '\t']) {
                match pending.as_mut() {
                    Some((_, lines, _)) => lines.push(line.trim_start().to_owned()),
                    None => return Err(err(lineno, "continuation line with nothing to continue")),
                }
                continue;
            }
            flush(&mut sections, &mut pending, section, name)?;
            if let Some(rest) = line.strip_prefix('[') {
                let Some(group) = rest.strip_suffix(']') else {
                    return Err(err(lineno, "section header without closing ']'"));
                };
                let group = group.trim().to_ascii_lowercase();
                if group.is_empty() {
                    return Err(err(lineno, "section header without a name"));
                }
                let idx = match sections.iter().position(|(g, _)| *g == group) {
                    Some(idx) => idx,
                    None => {
                        sections.push((group, Vec::new()));
                        sections.len() - 1
                    }
                };
                section = Some(idx);
            } else if line.starts_with(['#', ';']) {
                continue;
            } else {
                let (key, value) = split_assignment(line).ok_or_else(|| {
                    err(lineno, "expected `key = value`, a [section] or a comment")
                })?;
                if key.is_empty() {
                    return Err(err(lineno, "assignment with an empty key"));
                }
                pending = Some((key.to_owned(), vec![value.to_owned()], lineno));
            }
        }
        flush(&mut sections, &mut pending, section, name)?;

        let data = sections
            .into_iter()
            .map(|(group, opts)| {
                let dict: Dict = opts
                    .into_iter()
                    .map(|(k, mut values)| {
                        let value = if values.len() == 1 {
                            Value::from(values.remove(0))
                        } else {
                            Value::from(values)
                        };
                        (k, value)
                    })
                    .collect();
                (group, Value::from(dict))
            })
            .collect();
        Ok(Self {
            name: name.to_owned(),
            path: None,
            data,
        })
    }

    /// The name given to [`parse_str`](Self::parse_str), or the file's path.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A section's name and its options, each with its values in order.
type Section = (String, Vec<(String, Vec<String>)>);

fn syntax_error(name: &str, lineno: usize, what: &str) -> MessagingError {
    MessagingError::Config(format!("{name}, line {lineno}: {what}"))
}

/// Stores the pending assignment, if any, into the current section.
fn flush(
    sections: &mut [Section],
    pending: &mut Option<(String, Vec<String>, usize)>,
    section: Option<usize>,
    name: &str,
) -> Result<()> {
    let Some((key, lines, lineno)) = pending.take() else {
        return Ok(());
    };
    let Some(idx) = section else {
        return Err(syntax_error(
            name,
            lineno,
            "option set before any [section]",
        ));
    };
    let value = lines.join("\n");
    let opts = &mut sections[idx].1;
    match opts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, values)) => values.push(value),
        None => opts.push((key, vec![value])),
    }
    Ok(())
}

/// Splits at the first `=` or `:`; trims both sides and strips matching quotes.
fn split_assignment(line: &str) -> Option<(&str, &str)> {
    let at = line.find(['=', ':'])?;
    let key = line[..at].trim();
    let mut value = line[at + 1..].trim();
    if value.len() >= 2 && value.starts_with(['"', '\'']) && value.ends_with(&value[..1]) {
        value = &value[1..value.len() - 1];
    }
    Some((key, value))
}

/// Shows the name and group names only: values may hold credentials.
impl std::fmt::Debug for IniFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IniFile")
            .field("name", &self.name)
            .field("groups", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Provider for IniFile {
    fn metadata(&self) -> Metadata {
        let meta = Metadata::named("oslo.config INI file");
        match &self.path {
            Some(path) => meta.source(path.as_path()),
            None => meta.source(self.name.clone()),
        }
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}
