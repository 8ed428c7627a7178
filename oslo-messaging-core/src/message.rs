//! The messages that cross a transport, independent of any driver's encoding.

use serde_json::{Map, Value};

/// A request context: a JSON object (user, project, request id, ...) that
/// travels with every request and notification.
pub type Context = Map<String, Value>;

/// An RPC request as the client builds it and the dispatcher receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcMessage {
    /// Method to invoke.
    pub method: String,
    /// Keyword arguments.
    pub args: Map<String, Value>,
    /// Namespace of the endpoint (`None`: the default namespace).
    pub namespace: Option<String>,
    /// Requested API version (`None`: "1.0").
    pub version: Option<String>,
}

/// The outcome of a request as it travels back to the caller.
pub type ReplyResult = Result<Value, Box<crate::failure::RemoteFailure>>;

/// Notification priorities, lowest to highest, as oslo.messaging names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// `audit`
    Audit,
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warn` (alias `warning`)
    Warn,
    /// `error`
    Error,
    /// `critical`
    Critical,
    /// `sample`
    Sample,
}

impl Priority {
    /// Every priority.
    pub const ALL: [Priority; 7] = [
        Priority::Audit,
        Priority::Debug,
        Priority::Info,
        Priority::Warn,
        Priority::Error,
        Priority::Critical,
        Priority::Sample,
    ];

    /// Lower-case name used in routing keys (`notifications.info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Audit => "audit",
            Priority::Debug => "debug",
            Priority::Info => "info",
            Priority::Warn => "warn",
            Priority::Error => "error",
            Priority::Critical => "critical",
            Priority::Sample => "sample",
        }
    }

    /// Upper-case name carried in the notification body (`INFO`).
    pub fn wire_name(self) -> &'static str {
        match self {
            Priority::Audit => "AUDIT",
            Priority::Debug => "DEBUG",
            Priority::Info => "INFO",
            Priority::Warn => "WARN",
            Priority::Error => "ERROR",
            Priority::Critical => "CRITICAL",
            Priority::Sample => "SAMPLE",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = crate::error::MessagingError;

    /// Case-insensitive; `warning` is accepted for `warn`.
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`](crate::MessagingError::InvalidOption)-free:
    /// returns [`MessagingError::MalformedMessage`](crate::MessagingError::MalformedMessage)
    /// naming the unknown priority and the valid ones.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        if lower == "warning" {
            return Ok(Priority::Warn);
        }
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str() == lower)
            .ok_or_else(|| {
                crate::error::MessagingError::MalformedMessage(format!(
                    "unknown priority {s:?}; expected one of audit, debug, info, warn, error, critical, sample"
                ))
            })
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which body format a notification is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationFormat {
    /// `messaging` driver: the notification object bare (1.0).
    V1,
    /// `messagingv2` driver: inside the 2.0 envelope.
    V2,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_names() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>().expect("parses"), p);
            assert_eq!(p.wire_name().parse::<Priority>().expect("parses"), p);
        }
        assert_eq!(
            "WARNING".parse::<Priority>().expect("alias"),
            Priority::Warn
        );
        let e = "loud".parse::<Priority>().expect_err("unknown");
        assert!(e.to_string().contains("unknown priority \"loud\""), "{e}");
    }
}
