//! The notification object: built once by the notifier, parsed once by the
//! listener.

use serde_json::{Map, Value};

use crate::error::MessagingError;
use crate::message::{Context, Priority};
use crate::serializer::Serializer;

/// A received notification, as an endpoint callback gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The request context sent with it (after the listener's serializer).
    pub context: Context,
    /// Who sent it, e.g. `compute.host1`; `None` when the sender set none.
    pub publisher_id: Option<String>,
    /// What happened, e.g. `compute.instance.create.end`.
    pub event_type: String,
    /// Its priority.
    pub priority: Priority,
    /// The payload (after the listener's serializer).
    pub payload: Value,
    /// Message id and timestamp.
    pub metadata: NotificationMetadata,
}

/// The metadata of a notification (Python's `metadata` dict).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationMetadata {
    /// `message_id`: a uuid4 string such as `1b4e28ba-2fa1-11d2-883f-0016d3cca427`.
    pub message_id: Option<String>,
    /// `timestamp`: UTC, `YYYY-MM-DD HH:MM:SS.ffffff`.
    pub timestamp: Option<String>,
}

impl NotificationMetadata {
    /// The value of metadata key `key` (`message_id` or `timestamp`).
    pub fn get(&self, key: &str) -> Option<&str> {
        match key {
            "message_id" => self.message_id.as_deref(),
            "timestamp" => self.timestamp.as_deref(),
            _ => None,
        }
    }
}

/// The current UTC time as oslo.messaging writes it (`str(utcnow())`),
/// always with microseconds.
pub(crate) fn timestamp_now() -> String {
    format_timestamp(&chrono::Utc::now())
}

/// `%Y-%m-%d %H:%M:%S%.6f`, written directly: chrono's `format` parses
/// the pattern again for every notification.
fn format_timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        (t.nanosecond() % 1_000_000_000) / 1_000
    )
}

/// The notification object every driver receives.
pub(crate) fn build_message(
    publisher_id: Option<&str>,
    event_type: &str,
    priority: Priority,
    payload: Value,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "message_id".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    m.insert(
        "publisher_id".into(),
        publisher_id.map_or(Value::Null, |p| Value::String(p.to_owned())),
    );
    m.insert("event_type".into(), Value::String(event_type.to_owned()));
    m.insert(
        "priority".into(),
        Value::String(priority.wire_name().to_owned()),
    );
    m.insert("payload".into(), payload);
    m.insert("timestamp".into(), Value::String(timestamp_now()));
    m
}

fn optional_string(message: &Map<String, Value>, key: &str) -> Option<String> {
    message.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Turn a received notification object into a [`Notification`].
///
/// # Errors
/// [`ParseError::Malformed`] when `priority` or `event_type` is missing or
/// not a string or the priority is unknown (the caller drops the message);
/// [`ParseError::Payload`] when the serializer refuses the payload (the
/// caller requeues).
pub(crate) fn parse_message(
    context: Context,
    mut message: Map<String, Value>,
    serializer: &dyn Serializer,
) -> std::result::Result<Notification, ParseError> {
    let priority = match message.get("priority") {
        Some(Value::String(p)) => p.parse::<Priority>().map_err(ParseError::Malformed)?,
        _ => return Err(ParseError::Malformed(malformed("no priority"))),
    };
    let event_type = match message.get("event_type") {
        Some(Value::String(e)) => e.clone(),
        _ => return Err(ParseError::Malformed(malformed("no event_type"))),
    };
    let context = serializer.deserialize_context(context);
    let payload = message.remove("payload").unwrap_or(Value::Null);
    let payload = serializer
        .deserialize_entity(&context, payload)
        .map_err(ParseError::Payload)?;
    Ok(Notification {
        publisher_id: optional_string(&message, "publisher_id"),
        event_type,
        priority,
        payload,
        metadata: NotificationMetadata {
            message_id: optional_string(&message, "message_id"),
            timestamp: optional_string(&message, "timestamp"),
        },
        context,
    })
}

fn malformed(what: &str) -> MessagingError {
    MessagingError::MalformedMessage(format!("notification has {what}"))
}

/// Why a received notification could not be handed to the endpoints.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// Not a usable notification: log and acknowledge.
    Malformed(MessagingError),
    /// The serializer refused the payload: log and requeue (when allowed).
    Payload(MessagingError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serializer::NoOpSerializer;
    use serde_json::json;

    #[test]
    fn timestamps_are_written_as_python_writes_utcnow() {
        use chrono::TimeZone;
        for (secs, nanos, text) in [
            (0, 0, "1970-01-01 00:00:00.000000"),
            (1_764_460_800, 5_000, "2025-11-30 00:00:00.000005"),
            (4_102_444_799, 999_999_999, "2099-12-31 23:59:59.999999"),
        ] {
            let t = chrono::Utc
                .timestamp_opt(secs, nanos)
                .single()
                .expect("valid");
            assert_eq!(format_timestamp(&t), text);
            assert_eq!(
                format_timestamp(&t),
                t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
            );
        }
    }

    #[test]
    fn built_message_has_python_fields() {
        let m = build_message(
            Some("compute.host1"),
            "compute.create",
            Priority::Warn,
            json!({"a": 1}),
        );
        let ts = regex::Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$").expect("regex");
        assert!(ts.is_match(m["timestamp"].as_str().expect("str")), "{m:?}");
        let id = regex::Regex::new(
            r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .expect("regex");
        assert!(id.is_match(m["message_id"].as_str().expect("str")), "{m:?}");
        assert_eq!(m["priority"], "WARN");
        assert_eq!(m["publisher_id"], "compute.host1");
        assert_eq!(m["event_type"], "compute.create");
        assert_eq!(m["payload"], json!({"a": 1}));
        assert_eq!(m.len(), 6);
        let anonymous = build_message(None, "e", Priority::Sample, Value::Null);
        assert_eq!(anonymous["publisher_id"], Value::Null);
        assert_eq!(anonymous["priority"], "SAMPLE");
        assert_ne!(anonymous["message_id"], m["message_id"]);
    }

    #[test]
    fn parse_round_trip_and_malformed() {
        let m = build_message(Some("p"), "e", Priority::Critical, json!([1]));
        let mut ctx = Context::new();
        ctx.insert("user".into(), json!("u"));
        let n = parse_message(ctx.clone(), m.clone(), &NoOpSerializer).expect("parses");
        assert_eq!(n.priority, Priority::Critical);
        assert_eq!(n.context, ctx);
        assert_eq!(n.payload, json!([1]));
        assert_eq!(n.metadata.get("message_id"), m["message_id"].as_str());
        assert_eq!(n.metadata.get("other"), None);
        for (key, value) in [
            ("priority", None),
            ("priority", Some(json!("LOUD"))),
            ("event_type", None),
            ("event_type", Some(json!(3))),
        ] {
            let mut bad = m.clone();
            match value {
                Some(v) => bad.insert(key.into(), v),
                None => bad.remove(key),
            };
            assert!(
                matches!(
                    parse_message(Context::new(), bad, &NoOpSerializer),
                    Err(ParseError::Malformed(_))
                ),
                "{key}"
            );
        }
    }
}
