//! Notifications: [`Notifier`] sends them, [`NotificationListener`] receives
//! them, as oslo.messaging's `oslo_messaging.notify` package does.
//!
//! Sending: a [`Notifier`] builds each notification once (message id,
//! publisher, event type, upper-case priority, payload, UTC timestamp) and
//! hands it to its [`NotifierDriver`]s: `messagingv2` and `messaging` (the
//! transport, 2.0 and 1.0 formats, one `<topic>.<priority>` per topic),
//! `log` (a `tracing` event), `noop`, `test` (kept in memory) and `routing`
//! (YAML rules that pick the other drivers per event type and priority).
//! Services that want to unit-test what they send depend on the
//! [`NotifySend`] trait (`mock` feature: `MockNotifySend`).
//!
//! Receiving: a [`NotificationListener`] subscribes to every
//! `(target, priority)` its [`NotificationEndpoint`]s handle and dispatches
//! by Python's rules: endpoints in order, each endpoint's
//! [`NotificationFilter`] first; a message is acknowledged after the
//! endpoints return, or requeued when one asks for it (or fails) and the
//! listener allows requeueing.

mod api;
mod dispatcher;
pub mod drivers;
mod endpoint;
mod filter;
mod fnmatch;
mod listener;
pub(crate) mod notification;
mod notifier;
#[cfg(test)]
mod test_support;

pub use api::{NotifySend, NotifySendExt};
pub use drivers::{routing, RoutingDriver};
pub use drivers::{
    LogDriver, MessagingDriver, NoopDriver, NotifierDriver, RecordedNotification,
    TestNotifierDriver, DRIVER_NAMES,
};
pub use endpoint::{
    CallbackError, CallbackResult, NotificationEndpoint, NotificationEndpointBuilder,
    NotificationResult,
};
pub use filter::{NotificationFilter, NotificationFilterBuilder};
pub use listener::{NotificationListener, NotificationListenerBuilder};
pub use notification::{Notification, NotificationMetadata};
pub use notifier::{Notifier, NotifierBuilder};

#[cfg(feature = "mock")]
pub use api::MockNotifySend;
