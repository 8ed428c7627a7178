//! [`Notifier`]: builds notifications and hands them to its drivers.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::api::NotifySend;
use super::drivers::{by_name, NotifierDriver};
use super::notification::build_message;
use crate::driver::Retry;
use crate::error::Result;
use crate::message::{Context, Priority};
use crate::serializer::{NoOpSerializer, Serializer};
use crate::telemetry::{Failed, Operation};
use crate::transport::Transport;

/// Context keys blanked before a context is sent (Python sends a redacted
/// copy of the request context, without its tokens).
const REDACTED_CONTEXT_KEYS: &[&str] = &["auth_token", "service_token"];

/// Sends notifications through its drivers. Cheap to clone; the `with_*`
/// methods return a copy with one setting changed (Python's `prepare`).
///
/// Each notification is built once: `message_id` (uuid4), `publisher_id`,
/// `event_type`, `priority` (upper case), `payload` (through the
/// serializer) and `timestamp` (UTC, `YYYY-MM-DD HH:MM:SS.ffffff`); the
/// context goes through the serializer with `auth_token` and
/// `service_token` blanked. As in Python, a failing driver is logged and
/// does not stop the others, and [`notify`](Self::notify) does not report
/// it (use [`notify_checked`](Self::notify_checked) to get it).
///
/// ```no_run
/// # async fn demo(transport: oslo_messaging_core::Transport) -> oslo_messaging_core::Result<()> {
/// use oslo_messaging_core::notify::{Notifier, NotifySendExt};
/// use serde_json::json;
/// let notifier = Notifier::builder(&transport)
///     .publisher_id("compute.host1")
///     .driver("messagingv2")
///     .topics(["notifications"])
///     .build()?;
/// notifier.info(&Default::default(), "compute.instance.create.end", json!({"id": 42})).await?;
/// notifier.prepare().with_publisher_id("compute.host2").warn(&Default::default(), "compute.slow", json!({})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Notifier {
    drivers: Arc<[Arc<dyn NotifierDriver>]>,
    publisher_id: Option<String>,
    topics: Vec<String>,
    retry: Retry,
    serializer: Arc<dyn Serializer>,
    observer: Option<Arc<crate::telemetry::Observer>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("publisher_id", &self.publisher_id)
            .field("topics", &self.topics)
            .field("retry", &self.retry)
            .field("drivers", &self.drivers.len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Notifier`]; unset options come from `[oslo_messaging_notifications]`.
pub struct NotifierBuilder {
    transport: Transport,
    publisher_id: Option<String>,
    names: Option<Vec<String>>,
    instances: Vec<Arc<dyn NotifierDriver>>,
    topics: Option<Vec<String>>,
    retry: Option<Retry>,
    serializer: Arc<dyn Serializer>,
    routing_config: Option<PathBuf>,
}

impl Notifier {
    /// Start building a notifier sending through `transport`.
    pub fn builder(transport: &Transport) -> NotifierBuilder {
        NotifierBuilder {
            transport: transport.clone(),
            publisher_id: None,
            names: None,
            instances: Vec::new(),
            topics: None,
            retry: None,
            serializer: Arc::new(NoOpSerializer),
            routing_config: None,
        }
    }

    /// A copy to adjust with the `with_*` methods; it shares the drivers.
    pub fn prepare(&self) -> Self {
        self.clone()
    }

    /// This notifier with another publisher id.
    pub fn with_publisher_id(mut self, publisher_id: impl Into<String>) -> Self {
        self.publisher_id = Some(publisher_id.into());
        self
    }

    /// This notifier sending on other topics.
    pub fn with_topics<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// This notifier with another retry setting (`None`: retry forever).
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The publisher id sent with each notification.
    pub fn publisher_id(&self) -> Option<&str> {
        self.publisher_id.as_deref()
    }

    /// The topics notifications are sent on.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Whether notifications go anywhere: false when there is no driver or
    /// only `noop` ones.
    pub fn is_enabled(&self) -> bool {
        self.drivers.iter().any(|d| !d.is_noop())
    }

    /// Send a notification to every driver. Driver failures are logged and
    /// not returned, as in Python.
    ///
    /// # Errors
    /// The serializer's error for the payload.
    pub async fn notify(
        &self,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: Value,
    ) -> Result<()> {
        let _ = self.send(context, priority, event_type, payload).await?;
        Ok(())
    }

    /// As [`notify`](Self::notify), but returns the first driver failure
    /// (after every driver was tried).
    ///
    /// # Errors
    /// The serializer's error; the first driver's failure.
    pub async fn notify_checked(
        &self,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: Value,
    ) -> Result<()> {
        self.send(context, priority, event_type, payload)
            .await?
            .map_or(Ok(()), Err)
    }

    async fn send(
        &self,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: Value,
    ) -> Result<Option<crate::MessagingError>> {
        let payload = self.serializer.serialize_entity(context, payload)?;
        let mut safe = context.clone();
        for key in REDACTED_CONTEXT_KEYS {
            if let Some(v) = safe.get_mut(*key) {
                *v = Value::Null;
            }
        }
        let mut context = self.serializer.serialize_context(safe);
        let message: Map<String, Value> =
            build_message(self.publisher_id.as_deref(), event_type, priority, payload);
        // One span (of the first topic: the context carries one
        // traceparent), one count per topic.
        let ops: Vec<Operation> = match &self.observer {
            Some(o) if self.is_enabled() => self
                .topics
                .iter()
                .enumerate()
                .map(|(i, topic)| {
                    let destination = crate::address::notification_topic(topic, priority);
                    match i {
                        0 => o.start_notify(&destination, &mut context),
                        _ => o.start_counted("notify", &destination),
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut first = None;
        for driver in self.drivers.iter() {
            if let Err(e) = driver
                .notify(&context, &message, priority, &self.topics, self.retry)
                .await
            {
                tracing::error!(
                    event_type,
                    message_id = message["message_id"].as_str().unwrap_or_default(),
                    "Problem '{e}' attempting to send to notification system"
                );
                first.get_or_insert(e);
            }
        }
        for op in ops {
            op.finish(first.as_ref().map(Failed::of_error));
        }
        Ok(first)
    }
}

#[async_trait]
impl NotifySend for Notifier {
    async fn notify(
        &self,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: Value,
    ) -> Result<()> {
        Notifier::notify(self, context, priority, event_type, payload).await
    }
}

impl NotifierBuilder {
    /// The publisher id, e.g. `compute.host1` (default: none, sent as null).
    pub fn publisher_id(mut self, publisher_id: impl Into<String>) -> Self {
        self.publisher_id = Some(publisher_id.into());
        self
    }

    /// Add the driver of this name (one of [`DRIVER_NAMES`](super::DRIVER_NAMES)).
    pub fn driver(mut self, name: impl Into<String>) -> Self {
        self.names.get_or_insert_with(Vec::new).push(name.into());
        self
    }

    /// Use these driver names instead of the `driver` option; an empty list
    /// disables the notifier.
    pub fn drivers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Add a driver instance. A notifier given instances but no names does
    /// not read the `driver` option.
    pub fn driver_instance(mut self, driver: Arc<dyn NotifierDriver>) -> Self {
        self.instances.push(driver);
        self
    }

    /// The topics to send on (default: the `topics` option, `["notifications"]`).
    pub fn topics<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.topics = Some(topics.into_iter().map(Into::into).collect());
        self
    }

    /// How often a send is retried (default: the `retry` option; -1 means `None`, forever).
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Serializer for payloads and contexts.
    pub fn serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.serializer = serializer;
        self
    }

    /// The YAML rules file of the `routing` driver (see [`routing`](super::routing)).
    pub fn routing_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.routing_config = Some(path.into());
        self
    }

    /// Finish the notifier, loading its drivers.
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`](crate::MessagingError::InvalidOption)
    /// for an unknown driver name (listing the valid ones); a bad option;
    /// [`MessagingError::RoutingRules`](crate::MessagingError::RoutingRules)
    /// for the `routing` driver without a valid rules file.
    pub fn build(self) -> Result<Notifier> {
        let options = self.transport.config().notifications_group()?;
        let names = match self.names {
            Some(names) => names,
            None if self.instances.is_empty() => options.driver,
            None => Vec::new(),
        };
        let mut drivers = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for name in &names {
            if !seen.contains(&name.as_str()) {
                seen.push(name);
                drivers.push(by_name(
                    name,
                    &self.transport,
                    self.routing_config.as_deref(),
                )?);
            }
        }
        drivers.extend(self.instances);
        Ok(Notifier {
            drivers: drivers.into(),
            publisher_id: self.publisher_id,
            topics: self.topics.unwrap_or(options.topics),
            retry: self
                .retry
                .unwrap_or_else(|| u32::try_from(options.retry).ok()),
            serializer: self.serializer,
            observer: self.transport.observer().cloned(),
        })
    }
}

#[cfg(test)]
#[path = "notifier_tests.rs"]
mod tests;
