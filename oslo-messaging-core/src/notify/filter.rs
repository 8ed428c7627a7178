//! [`NotificationFilter`]: which notifications an endpoint receives.

use regex::Regex;
use serde_json::{Map, Value};

use super::notification::Notification;
use crate::error::{MessagingError, Result};

/// Regular expressions a notification must match to reach an endpoint
/// (Python's `NotificationFilter`).
///
/// Semantics, as Python's `re.match`: each expression must match at the
/// *start* of the value (add `$` to match the whole value). Every
/// expression given must match: for `context`, `metadata` (`message_id`,
/// `timestamp`) and `payload` one per key, and a key missing from the
/// notification, or a value that is not a string, is a mismatch; so is a
/// missing publisher id, or a payload that is not an object when payload
/// keys are filtered. A filter with no expressions matches everything.
///
/// ```
/// use oslo_messaging_core::notify::NotificationFilter;
/// let filter = NotificationFilter::builder()
///     .publisher_id("^compute.*")
///     .event_type(r"^compute\.instance\..*")
///     .context("project_id", "^5f643cfc$")
///     .payload("state", "^active$")
///     .build()
///     .expect("valid expressions");
/// ```
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    publisher_id: Option<Regex>,
    event_type: Option<Regex>,
    context: Vec<(String, Regex)>,
    metadata: Vec<(String, Regex)>,
    payload: Vec<(String, Regex)>,
}

/// Builds a [`NotificationFilter`]; expressions are checked by [`build`](Self::build).
#[derive(Debug, Clone, Default)]
pub struct NotificationFilterBuilder {
    publisher_id: Option<String>,
    event_type: Option<String>,
    context: Vec<(String, String)>,
    metadata: Vec<(String, String)>,
    payload: Vec<(String, String)>,
}

impl NotificationFilter {
    /// Start a filter.
    pub fn builder() -> NotificationFilterBuilder {
        NotificationFilterBuilder::default()
    }

    /// Whether `n` passes the filter.
    pub fn matches(&self, n: &Notification) -> bool {
        single(self.publisher_id.as_ref(), n.publisher_id.as_deref())
            && single(self.event_type.as_ref(), Some(&n.event_type))
            && per_key(&self.context, |k| n.context.get(k))
            && self
                .metadata
                .iter()
                .all(|(k, r)| single(Some(r), n.metadata.get(k)))
            && (self.payload.is_empty()
                || n.payload
                    .as_object()
                    .is_some_and(|p: &Map<String, Value>| per_key(&self.payload, |k| p.get(k))))
    }
}

fn single(regex: Option<&Regex>, value: Option<&str>) -> bool {
    match regex {
        None => true,
        Some(r) => value.is_some_and(|v| r.is_match(v)),
    }
}

fn per_key<'a>(rules: &[(String, Regex)], get: impl Fn(&str) -> Option<&'a Value>) -> bool {
    rules
        .iter()
        .all(|(k, r)| single(Some(r), get(k).and_then(Value::as_str)))
}

impl NotificationFilterBuilder {
    /// Expression for the publisher id.
    pub fn publisher_id(mut self, regex: impl Into<String>) -> Self {
        self.publisher_id = Some(regex.into());
        self
    }

    /// Expression for the event type.
    pub fn event_type(mut self, regex: impl Into<String>) -> Self {
        self.event_type = Some(regex.into());
        self
    }

    /// Expression for the context value under `key`.
    pub fn context(mut self, key: impl Into<String>, regex: impl Into<String>) -> Self {
        self.context.push((key.into(), regex.into()));
        self
    }

    /// Expression for the metadata value under `key` (`message_id`, `timestamp`).
    pub fn metadata(mut self, key: impl Into<String>, regex: impl Into<String>) -> Self {
        self.metadata.push((key.into(), regex.into()));
        self
    }

    /// Expression for the payload value under `key`.
    pub fn payload(mut self, key: impl Into<String>, regex: impl Into<String>) -> Self {
        self.payload.push((key.into(), regex.into()));
        self
    }

    /// Compile the expressions.
    ///
    /// # Errors
    /// [`MessagingError::Config`] naming the field (e.g. `payload["state"]`)
    /// whose expression is invalid.
    pub fn build(self) -> Result<NotificationFilter> {
        let keyed = |field: &str, rules: Vec<(String, String)>| -> Result<Vec<(String, Regex)>> {
            rules
                .into_iter()
                .map(|(k, r)| compile(&format!("{field}[{k:?}]"), &r).map(|re| (k, re)))
                .collect()
        };
        Ok(NotificationFilter {
            publisher_id: self
                .publisher_id
                .map(|r| compile("publisher_id", &r))
                .transpose()?,
            event_type: self
                .event_type
                .map(|r| compile("event_type", &r))
                .transpose()?,
            context: keyed("context", self.context)?,
            metadata: keyed("metadata", self.metadata)?,
            payload: keyed("payload", self.payload)?,
        })
    }
}

/// Anchored at the start only, like Python's `re.match`.
fn compile(field: &str, regex: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{regex})")).map_err(|e| {
        MessagingError::Config(format!(
            "invalid notification filter expression for {field}: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Priority;
    use crate::notify::NotificationMetadata;
    use serde_json::json;

    fn n() -> Notification {
        Notification {
            context: json!({"user": "alice", "roles": ["admin"]})
                .as_object()
                .cloned()
                .expect("object"),
            publisher_id: Some("compute.host1".into()),
            event_type: "compute.instance.create.end".into(),
            priority: Priority::Info,
            payload: json!({"state": "active", "size": 3}),
            metadata: NotificationMetadata {
                message_id: Some("id-1".into()),
                timestamp: Some("2024-01-02 03:04:05.000006".into()),
            },
        }
    }

    fn f(b: NotificationFilterBuilder) -> bool {
        b.build().expect("valid").matches(&n())
    }

    #[test]
    fn python_match_semantics() {
        let b = NotificationFilter::builder;
        assert!(f(b()), "empty filter matches everything");
        assert!(f(b().publisher_id("compute")), "anchored at the start only");
        assert!(!f(b().publisher_id("host1")), "not a search");
        assert!(!f(b().publisher_id("^compute$")));
        assert!(f(b().event_type(r"compute\.instance\..*end$")));
        assert!(!f(b().event_type("network")));
        assert!(f(b().context("user", "ali")) && !f(b().context("user", "bob")));
        assert!(!f(b().context("project", ".*")), "missing key mismatches");
        assert!(
            !f(b().context("roles", ".*")),
            "non-string value mismatches"
        );
        assert!(
            f(b().metadata("timestamp", r"2024-\d\d")) && f(b().metadata("message_id", "id-1$"))
        );
        assert!(!f(b().metadata("other", ".*")));
        assert!(f(b().payload("state", "^active$")) && !f(b().payload("state", "deleted")));
        assert!(!f(b().payload("size", "3")), "numbers are not strings");
        assert!(
            f(b().publisher_id("compute").payload("state", "act")),
            "all must match"
        );
        assert!(!f(b().publisher_id("compute").payload("state", "x")));
        let mut anonymous = n();
        anonymous.publisher_id = None;
        anonymous.payload = json!("text");
        assert!(!b()
            .publisher_id(".*")
            .build()
            .expect("valid")
            .matches(&anonymous));
        assert!(!b()
            .payload("state", ".*")
            .build()
            .expect("valid")
            .matches(&anonymous));
        assert!(b()
            .event_type(".*")
            .build()
            .expect("valid")
            .matches(&anonymous));
    }

    #[test]
    fn invalid_expression_names_the_field() {
        let e = NotificationFilter::builder()
            .payload("state", "(")
            .build()
            .expect_err("invalid");
        assert!(e.to_string().contains("payload[\"state\"]"), "{e}");
        let e = NotificationFilter::builder()
            .event_type("[")
            .build()
            .expect_err("invalid");
        assert!(e.to_string().contains("event_type"), "{e}");
    }
}
