//! Notifier drivers: where a [`Notifier`](super::Notifier) puts each
//! notification. Chosen by name as in oslo.messaging's
//! `[oslo_messaging_notifications] driver` option (see [`DRIVER_NAMES`]),
//! or given as instances. The drivers themselves: [`MessagingDriver`],
//! [`LogDriver`], [`NoopDriver`], [`TestNotifierDriver`] and
//! [`RoutingDriver`].

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::driver::Retry;
use crate::error::{MessagingError, Result};
use crate::message::{Context, NotificationFormat, Priority};
use crate::target::Target;
use crate::transport::Transport;

/// The driver names a notifier accepts.
pub const DRIVER_NAMES: &[&str] = &["messaging", "messagingv2", "routing", "log", "test", "noop"];

/// Sends one notification somewhere.
#[async_trait]
pub trait NotifierDriver: Send + Sync {
    /// Send `message` (the complete notification object: `message_id`,
    /// `publisher_id`, `event_type`, `priority`, `payload`, `timestamp`) at
    /// `priority` on each of `topics`.
    ///
    /// # Errors
    /// Delivery failures; the notifier logs them.
    async fn notify(
        &self,
        context: &Context,
        message: &Map<String, Value>,
        priority: Priority,
        topics: &[String],
        retry: Retry,
    ) -> Result<()>;

    /// True when the driver discards everything (the notifier is then
    /// not [enabled](super::Notifier::is_enabled)).
    fn is_noop(&self) -> bool {
        false
    }
}

/// The driver called `name`, sending through `transport`.
///
/// # Errors
/// [`MessagingError::InvalidOption`] for an unknown name, listing the valid
/// ones; for `routing`, the errors of [`RoutingDriver::from_file`](RoutingDriver::from_file).
pub(crate) fn by_name(
    name: &str,
    transport: &Transport,
    routing_config: Option<&Path>,
) -> Result<Arc<dyn NotifierDriver>> {
    Ok(match name {
        "messaging" => Arc::new(MessagingDriver::new(transport, NotificationFormat::V1)),
        "messagingv2" => Arc::new(MessagingDriver::new(transport, NotificationFormat::V2)),
        "log" => Arc::new(LogDriver),
        "noop" => Arc::new(NoopDriver),
        "test" => Arc::new(TestNotifierDriver::global().clone()),
        "routing" => {
            let path = routing_config.ok_or_else(|| {
                MessagingError::RoutingRules(
                    "the routing driver needs a routing_config file".into(),
                )
            })?;
            Arc::new(RoutingDriver::from_file(path, transport)?)
        }
        other => {
            return Err(MessagingError::invalid_option(
                "oslo_messaging_notifications",
                "driver",
                format!(
                    "unknown notification driver {other:?}; valid drivers: {}",
                    DRIVER_NAMES.join(", ")
                ),
            ))
        }
    })
}

/// `messaging` (1.0 format, bare) and `messagingv2` (2.0 envelope): sends
/// through the transport to target topic `<topic>.<priority>` for each topic.
#[derive(Debug, Clone)]
pub struct MessagingDriver {
    transport: Transport,
    format: NotificationFormat,
}

impl MessagingDriver {
    /// A driver sending in `format` through `transport`.
    pub fn new(transport: &Transport, format: NotificationFormat) -> Self {
        Self {
            transport: transport.clone(),
            format,
        }
    }
}

#[async_trait]
impl NotifierDriver for MessagingDriver {
    /// Every topic is tried; a failed one is logged and the first failure returned.
    async fn notify(
        &self,
        context: &Context,
        message: &Map<String, Value>,
        priority: Priority,
        topics: &[String],
        retry: Retry,
    ) -> Result<()> {
        let mut first = None;
        for topic in topics {
            let target = Target::topic(crate::address::notification_topic(topic, priority));
            let sent = self
                .transport
                .driver()
                .send_notification(&target, context, message.clone(), self.format, retry)
                .await;
            if let Err(e) = sent {
                tracing::error!(topic = %topic, "could not send notification: {e}");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// `noop`: discards every notification.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopDriver;

#[async_trait]
impl NotifierDriver for NoopDriver {
    async fn notify(
        &self,
        _: &Context,
        _: &Map<String, Value>,
        _: Priority,
        _: &[String],
        _: Retry,
    ) -> Result<()> {
        Ok(())
    }
    fn is_noop(&self) -> bool {
        true
    }
}

mod log;
pub mod routing;
mod test;

pub use log::LogDriver;
pub use routing::RoutingDriver;
pub use test::{RecordedNotification, TestNotifierDriver};

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn noop_discards() {
        let m = Map::new();
        NoopDriver
            .notify(&Context::new(), &m, Priority::Info, &[], None)
            .await
            .expect("ok");
        assert!(NoopDriver.is_noop() && !LogDriver.is_noop());
    }
}
