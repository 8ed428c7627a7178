//! Remote failures: how an error raised by an endpoint travels back to the caller.
//!
//! The encoding is oslo.messaging's: a JSON string of
//! `{"class", "module", "message", "tb", "args", "kwargs"}`, with any
//! `_Remote` suffix stripped from class and module before sending.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{MessagingError, Result};

/// An error raised by a remote endpoint, as the caller receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteFailure {
    /// Exception class name, e.g. `ValueError` or `NoSuchMethod`.
    #[serde(rename = "class")]
    pub class: String,
    /// Module of the exception class, e.g. `builtins`.
    pub module: String,
    /// Human readable message.
    pub message: String,
    /// Traceback lines, most recent call last (may be empty).
    #[serde(rename = "tb", default)]
    pub traceback: Vec<String>,
    /// Positional exception arguments.
    #[serde(default)]
    pub args: Vec<Value>,
    /// Keyword exception arguments.
    #[serde(default)]
    pub kwargs: Map<String, Value>,
}

/// Class names of errors raised by the dispatcher itself (module `oslo_messaging.rpc.dispatcher`).
pub mod classes {
    /// Module of the dispatcher's own errors.
    pub const DISPATCHER_MODULE: &str = "oslo_messaging.rpc.dispatcher";
    /// Some endpoint matched namespace and version, none has the method.
    pub const NO_SUCH_METHOD: &str = "NoSuchMethod";
    /// No endpoint matched namespace and version.
    pub const UNSUPPORTED_VERSION: &str = "UnsupportedVersion";
    /// Arguments did not fit the method's parameters (Python's `TypeError`).
    pub const TYPE_ERROR: &str = "TypeError";
    /// Module of Python's built-in exceptions.
    pub const BUILTINS: &str = "builtins";
}

impl RemoteFailure {
    /// A failure with the given class, module and message and no traceback.
    pub fn new(
        class: impl Into<String>,
        module: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        Self {
            class: class.into(),
            module: module.into(),
            args: vec![Value::String(message.clone())],
            message,
            traceback: Vec::new(),
            kwargs: Map::new(),
        }
    }

    /// Encode as oslo.messaging's failure JSON string, stripping `_Remote` suffixes.
    pub fn to_json_string(&self) -> String {
        let mut f = self.clone();
        strip_remote_suffix(&mut f.class);
        strip_remote_suffix(&mut f.module);
        // Serializing a struct of strings and JSON values cannot fail.
        serde_json::to_string(&f).unwrap_or_else(|_| String::from("{}"))
    }

    /// Decode oslo.messaging's failure JSON string.
    ///
    /// # Errors
    /// [`MessagingError::MalformedMessage`] when the text is not a failure object.
    pub fn from_json_str(s: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(s)
            .map_err(|e| MessagingError::MalformedMessage(format!("failure is not JSON: {e}")))?;
        let Value::Object(mut o) = v else {
            return Err(MessagingError::MalformedMessage(
                "failure is not a JSON object".into(),
            ));
        };
        let take_str = |o: &mut Map<String, Value>, k: &str| match o.remove(k) {
            Some(Value::String(s)) => s,
            Some(other) if !other.is_null() => other.to_string(),
            _ => String::new(),
        };
        let class = take_str(&mut o, "class");
        if class.is_empty() {
            return Err(MessagingError::MalformedMessage(
                "failure has no \"class\"".into(),
            ));
        }
        let module = take_str(&mut o, "module");
        let message = take_str(&mut o, "message");
        let traceback = match o.remove("tb") {
            Some(Value::Array(lines)) => lines
                .into_iter()
                .map(|l| match l {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
            Some(Value::String(s)) => s.lines().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let args = match o.remove("args") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let kwargs = match o.remove("kwargs") {
            Some(Value::Object(k)) => k,
            _ => Map::new(),
        };
        Ok(Self {
            class,
            module,
            message,
            traceback,
            args,
            kwargs,
        })
    }
}

fn strip_remote_suffix(s: &mut String) {
    if let Some(stripped) = s.strip_suffix("_Remote") {
        s.truncate(stripped.len());
    }
}

impl std::fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "remote error {}.{}: {}",
            self.module, self.class, self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_strips_remote_suffix() {
        let mut f = RemoteFailure::new("ValueError_Remote", "builtins_Remote", "bad value");
        f.traceback = vec!["line 1".into(), "line 2".into()];
        let s = f.to_json_string();
        let back = RemoteFailure::from_json_str(&s).expect("decodes");
        assert_eq!(back.class, "ValueError");
        assert_eq!(back.module, "builtins");
        assert_eq!(back.message, "bad value");
        assert_eq!(back.traceback, vec!["line 1", "line 2"]);
        assert_eq!(back.args, vec![Value::String("bad value".into())]);
    }

    #[test]
    fn decodes_python_failure() {
        let py = r#"{"class": "NotFound", "module": "nova.exception", "message": "Instance x could not be found.", "tb": ["Traceback (most recent call last):\n", "nova.exception.NotFound\n"], "args": ["Instance x could not be found."], "kwargs": {"code": 404}}"#;
        let f = RemoteFailure::from_json_str(py).expect("decodes");
        assert_eq!(f.class, "NotFound");
        assert_eq!(f.module, "nova.exception");
        assert_eq!(f.kwargs["code"], 404);
        assert_eq!(f.traceback.len(), 2);
    }

    #[test]
    fn arguments_keep_exact_integers_and_key_order() {
        let py = r#"{"class": "QuotaError", "module": "nova.exception", "message": "over quota", "tb": [], "args": [18446744073709551616], "kwargs": {"used": 36893488147419103232, "allowed": 18446744073709551615}}"#;
        let f = RemoteFailure::from_json_str(py).expect("decodes");
        assert_eq!(f.args[0].to_string(), "18446744073709551616");
        let kwargs = Value::Object(f.kwargs.clone()).to_string();
        assert_eq!(
            kwargs,
            r#"{"used":36893488147419103232,"allowed":18446744073709551615}"#
        );
        let back = RemoteFailure::from_json_str(&f.to_json_string()).expect("round trip");
        assert_eq!(Value::Object(back.kwargs).to_string(), kwargs);
    }

    #[test]
    fn rejects_garbage() {
        let e = RemoteFailure::from_json_str("not json").expect_err("garbage");
        assert!(e.to_string().contains("failure is not JSON"), "{e}");
        let e = RemoteFailure::from_json_str("{\"message\": \"x\"}").expect_err("no class");
        assert!(e.to_string().contains("no \"class\""), "{e}");
    }
}
