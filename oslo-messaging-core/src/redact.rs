//! Hiding secrets in what is shown to people (the `tap` command's output),
//! as oslo.utils does (`oslo_utils/strutils.py`: `mask_dict_password`,
//! `mask_password`, `_SANITIZE_KEYS`).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// oslo.utils' `_SANITIZE_KEYS`: a key that contains one of them, in any
/// case, holds a secret.
pub const SANITIZE_KEYS: &[&str] = &[
    "adminpass",
    "admin_pass",
    "password",
    "admin_password",
    "auth_token",
    "new_pass",
    "auth_password",
    "secret_uuid",
    "secret",
    "sys_pswd",
    "token",
    "configdrive",
    "chappassword",
    "encrypted_key",
    "private_key",
    "fernetkey",
    "sslkey",
    "passphrase",
    "cephclusterfsid",
    "octaviaheartbeatkey",
    "rabbitcookie",
    "cephmanilaclientkey",
    "pacemakerremoteauthkey",
    "designaterndckey",
    "cephadminkey",
    "heatauthencryptionkey",
    "cephclientkey",
    "keystonecredential",
    "barbicansimplecryptokek",
    "cephrgwkey",
    "swifthashsuffix",
    "migrationsshkey",
    "cephmdskey",
    "cephmonkey",
    "chapsecret",
];

/// Whether `key` names a secret (contains a [`SANITIZE_KEYS`] entry, in
/// any case).
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SANITIZE_KEYS.iter().any(|s| key.contains(s))
}

/// `mask_dict_password`, over JSON: in an object, the value of a key that
/// names a secret becomes `"***"` unless it is an object, which is
/// searched (as Python does); a string under any other key goes through
/// [`mask_password`]. Arrays are searched too (Python leaves them alone).
pub fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if v.is_object() {
                    mask_secrets(v);
                } else if is_secret_key(k) {
                    *v = Value::String(MASK.to_owned());
                } else {
                    mask_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        Value::String(s) => {
            if let Cow::Owned(masked) = mask_password(s) {
                *s = masked;
            }
        }
        _ => {}
    }
}

/// The patterns of oslo.utils' `mask_password` that a message carries in
/// practice, for every secret key: `key=value`, `key="value"`,
/// `"key": "value"` (JSON or a Python dict in a string), `--key value`;
/// and, beyond oslo.utils, the password of a URL
/// (`mysql+pymysql://nova:***@db/nova`).
static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let keys = SANITIZE_KEYS.join("|");
    let compile = |pattern: String| Regex::new(&pattern).unwrap_or_else(|e| unreachable!("{e}"));
    vec![
        (
            compile(format!(r#"(?i)((?:{keys})[0-9]*\s*=\s*["'])[^"']*(["'])"#)),
            "${1}***${2}",
        ),
        (
            compile(format!(r#"(?i)((?:{keys})[0-9]*\s*=\s*)[^\s'"]+"#)),
            "${1}***",
        ),
        (
            compile(format!(
                r#"(?i)(["'][^"']*(?:{keys})[0-9]*["']\s*:\s*u?["'])[^"']*(["'])"#
            )),
            "${1}***${2}",
        ),
        (
            compile(format!(r#"(?i)(--(?:{keys})[0-9]*\s+)[^'"=\s]+"#)),
            "${1}***",
        ),
        (
            compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@".to_owned()),
            "${1}***@",
        ),
    ]
});

/// `text` with the secrets it shows masked (see [`PATTERNS`]); borrowed
/// when there is nothing to mask.
pub fn mask_password(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("://") && !SANITIZE_KEYS.iter().any(|k| lower.contains(k)) {
        return Cow::Borrowed(text);
    }
    let mut out = Cow::Borrowed(text);
    for (pattern, with) in PATTERNS.iter() {
        if let Cow::Owned(replaced) = pattern.replace_all(&out, *with) {
            out = Cow::Owned(replaced);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_are_masked_at_any_depth_whatever_they_hold() {
        let mut v = json!({
            "auth_token": "gAAAA-token",
            "service_token": "svc",
            "user": "alice",
            "roles": ["admin"],
            "nested": {"Admin_Password": "p", "name": "n", "items": [{"private_key": "k"}]},
            "auth_token_info": {"token": {"expires_at": "x"}},
            "password": ["in", "a", "list"],
            "new_pass": null,
        });
        mask_secrets(&mut v);
        assert_eq!(
            v,
            json!({
                "auth_token": "***",
                "service_token": "***",
                "user": "alice",
                "roles": ["admin"],
                "nested": {"Admin_Password": "***", "name": "n", "items": [{"private_key": "***"}]},
                // An object is searched, whatever its key (Python's rule).
                "auth_token_info": {"token": {"expires_at": "x"}},
                "password": "***",
                "new_pass": "***",
            })
        );
    }

    #[test]
    fn secrets_inside_strings_are_masked_as_oslo_utils_does() {
        for (text, masked) in [
            ("--password s3cr3t --user u", "--password *** --user u"),
            ("admin_pass=s3cr3t other=1", "admin_pass=*** other=1"),
            (r#"password = "s3cr3t""#, r#"password = "***""#),
            (
                r#"{"adminPass": "s3cr3t", "x": 1}"#,
                r#"{"adminPass": "***", "x": 1}"#,
            ),
            (
                "mysql+pymysql://nova:s3cr3t@db.example/nova",
                "mysql+pymysql://nova:***@db.example/nova",
            ),
            ("nothing to hide", "nothing to hide"),
        ] {
            assert_eq!(mask_password(text), masked, "{text}");
        }
        let mut v = json!({"cmd": "--password s3cr3t", "list": ["rabbit://u:p@h:5672/"]});
        mask_secrets(&mut v);
        assert_eq!(
            v,
            json!({"cmd": "--password ***", "list": ["rabbit://u:***@h:5672/"]})
        );
    }
}
