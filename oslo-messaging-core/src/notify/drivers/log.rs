//! The `log` notifier driver.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::NotifierDriver;
use crate::driver::Retry;
use crate::error::Result;
use crate::message::{Context, Priority};

/// `log`: a `tracing` event per notification with target
/// `oslo.messaging.notification` (Python's logger
/// `oslo.messaging.notification.<event_type>`; the event type is the
/// `event_type` field), the JSON with secrets masked as its message, and
/// the level of the priority (`critical` logs at error with
/// `severity = "critical"`). `audit` and `sample` have no logging level in
/// Python: only a warning that the message cannot be logged is emitted.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogDriver;

/// The level and text the log driver emits; `None` for priorities Python
/// cannot log (`audit`, `sample`).
pub(crate) fn log_line(
    message: &Map<String, Value>,
    priority: Priority,
) -> Option<(tracing::Level, String)> {
    let level = match priority {
        Priority::Debug => tracing::Level::DEBUG,
        Priority::Info => tracing::Level::INFO,
        Priority::Warn => tracing::Level::WARN,
        Priority::Error | Priority::Critical => tracing::Level::ERROR,
        Priority::Audit | Priority::Sample => return None,
    };
    // As Python's `strutils.mask_dict_password(message)`.
    let mut masked = Value::Object(message.clone());
    crate::redact::mask_secrets(&mut masked);
    Some((level, masked.to_string()))
}

#[async_trait]
impl NotifierDriver for LogDriver {
    async fn notify(
        &self,
        _: &Context,
        message: &Map<String, Value>,
        priority: Priority,
        _: &[String],
        _: Retry,
    ) -> Result<()> {
        const TARGET: &str = "oslo.messaging.notification";
        let event_type = message
            .get("event_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let severity = priority.as_str();
        match log_line(message, priority) {
            Some((tracing::Level::DEBUG, json)) => {
                tracing::debug!(target: TARGET, event_type, severity, "{json}")
            }
            Some((tracing::Level::INFO, json)) => {
                tracing::info!(target: TARGET, event_type, severity, "{json}")
            }
            Some((tracing::Level::WARN, json)) => {
                tracing::warn!(target: TARGET, event_type, severity, "{json}")
            }
            Some((_, json)) => tracing::error!(target: TARGET, event_type, severity, "{json}"),
            None => tracing::warn!(
                target: TARGET,
                event_type,
                "Unable to log message as notify cannot find a logger with the priority specified {severity}"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn log_driver_levels_and_masking() {
        let message = json!({"event_type": "e", "payload": {"user": "u", "Password": "p", "nested": {"auth_token": "t"},
            "list": [{"secret": "s"}], "token": {"id": "kept-as-dict"}}});
        let message = message.as_object().expect("object");
        let (level, text) = log_line(message, Priority::Info).expect("info is logged");
        assert_eq!(level, tracing::Level::INFO);
        let logged: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(logged["payload"]["user"], "u");
        assert_eq!(logged["payload"]["Password"], "***");
        assert_eq!(logged["payload"]["nested"]["auth_token"], "***");
        assert_eq!(logged["payload"]["list"][0]["secret"], "***");
        assert_eq!(logged["payload"]["token"]["id"], "kept-as-dict");
        assert_eq!(
            log_line(message, Priority::Critical).map(|l| l.0),
            Some(tracing::Level::ERROR)
        );
        assert_eq!(
            log_line(message, Priority::Warn).map(|l| l.0),
            Some(tracing::Level::WARN)
        );
        assert_eq!(
            log_line(message, Priority::Debug).map(|l| l.0),
            Some(tracing::Level::DEBUG)
        );
        assert!(log_line(message, Priority::Audit).is_none());
        assert!(log_line(message, Priority::Sample).is_none());
    }

    #[tokio::test]
    async fn every_priority_is_accepted() {
        let m = json!({"event_type": "e"})
            .as_object()
            .cloned()
            .expect("object");
        for p in Priority::ALL {
            LogDriver
                .notify(&Context::new(), &m, p, &[], None)
                .await
                .expect("log never fails");
        }
    }
}
