//! The driver trait: what a transport implementation provides.
//!
//! Kept small on purpose (send, send_notification, listen,
//! listen_for_notifications, cleanup). Everything that is the same for every
//! driver (context, failure encoding, dispatch, version checks, timeouts)
//! lives in core. A driver that cannot do something returns
//! [`MessagingError::Unsupported`].

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::error::{MessagingError, Result};
use crate::message::{Context, NotificationFormat, Priority, ReplyResult, RpcMessage};
use crate::target::Target;

/// How many times a send is retried on connection failure.
///
/// `None`: until it succeeds; `Some(0)`: not at all; `Some(n)`: n retries.
pub type Retry = Option<u32>;

/// Delivery options of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// Retries on connection failure.
    pub retry: Retry,
    /// Report a request that no queue takes as
    /// [`MessagingError::MessageUndeliverable`] instead of dropping it
    /// (oslo.messaging's `TransportOptions(at_least_once=True)`). As in
    /// oslo.messaging, it applies to requests to a topic or a server, not to
    /// fanout casts.
    pub at_least_once: bool,
}

impl SendOptions {
    /// Options with `retry` and `at_least_once` off.
    pub fn new(retry: Retry) -> Self {
        Self {
            retry,
            at_least_once: false,
        }
    }

    /// Sets [`at_least_once`](Self::at_least_once).
    pub fn with_at_least_once(mut self, at_least_once: bool) -> Self {
        self.at_least_once = at_least_once;
        self
    }
}

/// How a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// Fire and forget (fanout is decided by the target).
    Cast,
    /// Wait for a reply.
    Call {
        /// Overall time limit; drivers use it as the message's time to live.
        timeout: Duration,
        /// Ask the server for keep-alives at half this interval.
        call_monitor_timeout: Option<Duration>,
    },
}

/// What arrives for a pending call.
#[derive(Debug)]
pub enum ReplyEvent {
    /// The server is still working on it (call-monitor keep-alive).
    KeepAlive,
    /// The result, or the remote failure.
    Final(ReplyResult),
    /// The transport gave up on this call (e.g. connection lost).
    Failed(MessagingError),
}

/// The receiving end of a call's replies. Dropping it abandons the call;
/// a driver learns of that through the guard it attached.
#[derive(Debug)]
pub struct PendingReply {
    events: mpsc::UnboundedReceiver<ReplyEvent>,
    _guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl PendingReply {
    /// A pending reply fed by `events`; `guard` is dropped when the caller
    /// stops waiting (use it to deregister the waiter).
    pub fn new(
        events: mpsc::UnboundedReceiver<ReplyEvent>,
        guard: Option<Box<dyn std::any::Any + Send + Sync>>,
    ) -> Self {
        Self {
            events,
            _guard: guard,
        }
    }

    /// The next event; `None` when the driver dropped the sender.
    pub async fn next(&mut self) -> Option<ReplyEvent> {
        self.events.recv().await
    }
}

/// Operations on one received RPC request: it is acknowledged before
/// dispatch (at most once, as oslo.messaging), then replied to. A request
/// cannot be requeued: that is [`NotificationHandle`]'s.
#[async_trait]
pub trait RequestHandle: Send + Sync {
    /// Settle the request with the broker.
    async fn acknowledge(&self) -> Result<()>;
    /// Send the reply of a call. Casts ignore it.
    async fn reply(&self, reply: ReplyResult) -> Result<()>;
    /// Send a call-monitor keep-alive to the caller. Casts ignore it.
    async fn heartbeat(&self) -> Result<()>;
}

/// Operations on one received notification: acknowledged once its
/// endpoint returned, or requeued. A notification cannot be replied to:
/// that is [`RequestHandle`]'s.
#[async_trait]
pub trait NotificationHandle: Send + Sync {
    /// Settle the notification with the broker.
    async fn acknowledge(&self) -> Result<()>;
    /// Give the notification back for redelivery (only called on drivers
    /// that claim [`Capability::Requeue`]).
    async fn requeue(&self) -> Result<()>;
}

/// An RPC request received by a server.
pub struct IncomingRequest {
    /// Request context sent by the caller.
    pub context: Context,
    /// The request.
    pub message: RpcMessage,
    /// Whether the caller waits for a reply.
    pub wants_reply: bool,
    /// The caller's call-monitor timeout: keep-alives go out every half of it.
    pub call_monitor_timeout: Option<Duration>,
    /// The request's id as the caller sent it (oslo.messaging's `msg_id`,
    /// a call's), for `messaging.message.id`; `None` when it has none.
    pub message_id: Option<String>,
    /// Settle and reply.
    pub handle: Box<dyn RequestHandle>,
}

/// A notification received by a listener.
pub struct IncomingNotification {
    /// Request context sent by the notifier.
    pub context: Context,
    /// The notification object: `publisher_id`, `event_type`, `priority`,
    /// `payload`, `message_id`, `timestamp`.
    pub message: Map<String, Value>,
    /// Acknowledge or requeue.
    pub handle: Box<dyn NotificationHandle>,
}

/// A stream of received messages.
#[async_trait]
pub trait Listener<M>: Send {
    /// The next message; `None` once the listener is stopped or closed for good.
    async fn next(&mut self) -> Option<M>;
    /// Stop taking messages. Undelivered messages go back to their queues.
    async fn stop(&mut self);
}

/// One thing a driver may or may not do; see [`Capabilities`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// RPC: calls, casts (to a topic, a server, fanout) and RPC servers.
    /// Without it, [`Driver::send`] and [`Driver::listen`] return
    /// [`MessagingError::Unsupported`].
    Rpc,
    /// Notifications: sending, and listening with pools. Without it,
    /// [`Driver::send_notification`] and
    /// [`Driver::listen_for_notifications`] return
    /// [`MessagingError::Unsupported`].
    Notifications,
    /// A notification listener may give a notification back for
    /// redelivery (`allow_requeue`). Without it, building a listener with
    /// `allow_requeue(true)` fails with [`MessagingError::Unsupported`].
    Requeue,
    /// A notification sent before any listener of its topic exists is kept
    /// for the first listener ([`Driver::send_notification`] declares the
    /// default queue). A behaviour, not an operation: a driver without it
    /// (Kafka, as in Python) delivers to listeners what is sent after they
    /// started.
    RetainsNotificationsBeforeListeners,
}

impl Capability {
    /// Every capability, in declaration order.
    pub const ALL: [Capability; 4] = [
        Capability::Rpc,
        Capability::Notifications,
        Capability::Requeue,
        Capability::RetainsNotificationsBeforeListeners,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The set of [`Capability`] values a driver claims. The conformance suite
/// runs the cases of what a driver claims and checks that the operations
/// it does not claim fail with [`MessagingError::Unsupported`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Capabilities(u8);

impl Capabilities {
    /// Everything: what the RabbitMQ and fake drivers claim.
    pub fn all() -> Self {
        Capability::ALL.into_iter().fold(Self(0), Self::with)
    }

    /// Nothing.
    pub fn none() -> Self {
        Self(0)
    }

    /// This set and `capability`.
    pub fn with(self, capability: Capability) -> Self {
        Self(self.0 | capability.bit())
    }

    /// Whether `capability` is in the set.
    pub fn supports(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(Capability::ALL.into_iter().filter(|c| self.supports(*c)))
            .finish()
    }
}

/// A transport implementation. See the module docs.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// Short name for errors and logs, e.g. `"rabbit"`.
    fn name(&self) -> &'static str;

    /// What this driver supports (all of it unless it says otherwise). It
    /// may depend on the driver's options (Kafka requeues only when it
    /// commits after dispatch).
    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }

    /// Send an RPC request. Returns the pending reply for [`SendMode::Call`],
    /// `None` for casts.
    ///
    /// # Errors
    /// Delivery and connection failures;
    /// [`MessagingError::MessageUndeliverable`] when
    /// [`SendOptions::at_least_once`] is set and no queue takes the request.
    async fn send(
        &self,
        target: &Target,
        context: &Context,
        message: RpcMessage,
        mode: SendMode,
        options: SendOptions,
    ) -> Result<Option<PendingReply>>;

    /// Send a notification; `target.topic` is `<topic>.<priority>`
    /// ([`crate::address::notification_topic`]). The driver first declares
    /// the default queue of that name, bound by that key (oslo.messaging's
    /// notifier does), so that a notification sent before any listener
    /// started is kept for the first one (conformance case
    /// `notify_sent_before_any_listener_is_kept`).
    ///
    /// # Errors
    /// Delivery and connection failures.
    async fn send_notification(
        &self,
        target: &Target,
        context: &Context,
        message: Map<String, Value>,
        format: NotificationFormat,
        retry: Retry,
    ) -> Result<()>;

    /// Receive the RPC requests for `target` (topic, topic.server and fanout).
    ///
    /// # Errors
    /// Connection failures; an invalid target.
    async fn listen(&self, target: &Target) -> Result<Box<dyn Listener<IncomingRequest>>>;

    /// Receive notifications for each `(target, priority)`; listeners of one
    /// `pool` share the messages, each pool gets its own copy.
    ///
    /// # Errors
    /// Connection failures; an invalid target.
    async fn listen_for_notifications(
        &self,
        targets_and_priorities: &[(Target, Priority)],
        pool: Option<&str>,
    ) -> Result<Box<dyn Listener<IncomingNotification>>>;

    /// Release connections and other resources.
    async fn cleanup(&self);

    /// Opens the driver's connections now instead of on first use (a
    /// readiness check at start-up). Drivers without connections do nothing.
    ///
    /// # Errors
    /// The connection failure, with `retry` as for sends.
    async fn connect(&self, retry: Retry) -> Result<()> {
        let _ = retry;
        Ok(())
    }

    /// A snapshot of the driver's connections; none for drivers without.
    fn health(&self) -> crate::health::Health {
        crate::health::Health::default()
    }
}
