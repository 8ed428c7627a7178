//! [`NotificationListener`]: receives notifications and runs them on endpoints.

use std::sync::Arc;
use std::time::Duration;

use oslo_messaging_executors::{Executor, Job};

use super::dispatcher::NotifyDispatcher;
use super::endpoint::NotificationEndpoint;
use crate::driver::{Capability, IncomingNotification};
use crate::error::{MessagingError, Result};
use crate::message::Priority;
use crate::rpc::server::{ExecutorChoice, DEFAULT_EXECUTOR};
use crate::serializer::{NoOpSerializer, Serializer};
use crate::server_loop::{Batching, Process, ServerLoop};
use crate::target::Target;
use crate::transport::Transport;

/// A notification listener (Python's `get_notification_listener` and
/// `get_batch_notification_listener`). Lifecycle: [`start`](Self::start),
/// [`stop`](Self::stop) (no new messages), [`wait`](Self::wait) (messages
/// taken are finished); a waited listener can be started again.
///
/// It subscribes to every `(target, priority)` for the priorities its
/// endpoints handle; listeners with the same [pool](NotificationListenerBuilder::pool)
/// share the messages, each pool (and the listeners without one) gets its
/// own copy. Endpoints run in order, each behind its filter; a message is
/// acknowledged once they return, or requeued when one asks for it (or
/// fails or panics) and requeueing is allowed. A malformed message (no or
/// unknown priority, no event type) is logged and acknowledged.
///
/// ```no_run
/// # async fn demo(transport: oslo_messaging_core::Transport) -> oslo_messaging_core::Result<()> {
/// use oslo_messaging_core::message::Priority;
/// use oslo_messaging_core::notify::{NotificationEndpoint, NotificationListener, NotificationResult};
/// use oslo_messaging_core::Target;
/// let endpoint = NotificationEndpoint::builder(())
///     .on(Priority::Info, |_state, n| async move {
///         println!("{} from {:?}: {}", n.event_type, n.publisher_id, n.payload);
///         Ok(NotificationResult::Handled)
///     })
///     .build();
/// let listener = NotificationListener::builder(&transport, vec![Target::topic("notifications")])
///     .endpoint(endpoint)
///     .pool("billing")
///     .build()?;
/// listener.start().await?;
/// // ... later
/// listener.stop().await?;
/// listener.wait().await?;
/// # Ok(()) }
/// ```
pub struct NotificationListener {
    transport: Transport,
    subscriptions: Vec<(Target, Priority)>,
    pool: Option<String>,
    batching: Batching,
    is_batch: bool,
    dispatcher: NotifyDispatcher,
    runner: ServerLoop,
}

impl std::fmt::Debug for NotificationListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationListener")
            .field("subscriptions", &self.subscriptions)
            .field("pool", &self.pool)
            .field("batching", &self.batching)
            .finish_non_exhaustive()
    }
}

/// Builds a [`NotificationListener`].
pub struct NotificationListenerBuilder {
    transport: Transport,
    targets: Vec<Target>,
    endpoints: Vec<NotificationEndpoint>,
    pool: Option<String>,
    allow_requeue: bool,
    executor: ExecutorChoice,
    serializer: Arc<dyn Serializer>,
    batch: Option<Batching>,
}

impl NotificationListener {
    /// Start building a listener for `targets` (each needs a topic).
    pub fn builder(transport: &Transport, targets: Vec<Target>) -> NotificationListenerBuilder {
        NotificationListenerBuilder {
            transport: transport.clone(),
            targets,
            endpoints: Vec::new(),
            pool: None,
            allow_requeue: false,
            executor: ExecutorChoice::Named(DEFAULT_EXECUTOR.to_owned()),
            serializer: Arc::new(NoOpSerializer),
            batch: None,
        }
    }

    /// The `(target, priority)` pairs it subscribes to.
    pub fn subscriptions(&self) -> &[(Target, Priority)] {
        &self.subscriptions
    }

    /// Start receiving notifications.
    ///
    /// # Errors
    /// [`MessagingError::ServerState`] when already running, or stopped and
    /// not waited; the driver's errors when it cannot listen.
    pub async fn start(&self) -> Result<()> {
        let driver = self.transport.driver().clone();
        let subscriptions = self.subscriptions.clone();
        let pool = self.pool.clone();
        let dispatcher = self.dispatcher.clone();
        let batch = self.is_batch;
        let process: Process<IncomingNotification> =
            Arc::new(move |messages: Vec<IncomingNotification>| -> Job {
                let dispatcher = dispatcher.clone();
                Box::pin(async move {
                    if batch {
                        dispatcher.process_batch(messages).await;
                    } else {
                        for m in messages {
                            dispatcher.process_one(m).await;
                        }
                    }
                })
            });
        let open = || async move {
            driver
                .listen_for_notifications(&subscriptions, pool.as_deref())
                .await
        };
        self.runner.start(open, self.batching, process).await
    }

    /// Stop receiving; returns when no new message will be taken.
    ///
    /// # Errors
    /// [`MessagingError::ServerState`] when not running.
    pub async fn stop(&self) -> Result<()> {
        self.runner.stop().await
    }

    /// Wait for the messages taken before [`stop`](Self::stop) to be settled.
    ///
    /// # Errors
    /// [`MessagingError::ServerState`] when called before `stop`.
    pub async fn wait(&self) -> Result<()> {
        self.runner.wait().await
    }

    /// Whether it is receiving.
    pub async fn is_running(&self) -> bool {
        self.runner.is_running().await
    }
}

impl NotificationListenerBuilder {
    /// Add an endpoint (tried in the order added).
    pub fn endpoint(mut self, endpoint: NotificationEndpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// Share messages with the other listeners of this pool (default: none;
    /// the listener reads the default `<topic>.<priority>` queues).
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    /// Honour requeue requests (default: false, as in Python: everything
    /// is acknowledged).
    pub fn allow_requeue(mut self, allow: bool) -> Self {
        self.allow_requeue = allow;
        self
    }

    /// Run callbacks on the executor of this name: `async` (default),
    /// `threading` or `inline` (one message at a time, in order).
    pub fn executor(mut self, name: impl Into<String>) -> Self {
        self.executor = ExecutorChoice::Named(name.into());
        self
    }

    /// Run callbacks on this executor.
    pub fn executor_instance(mut self, executor: Arc<dyn Executor>) -> Self {
        self.executor = ExecutorChoice::Given(executor);
        self
    }

    /// Serializer for payloads and contexts.
    pub fn serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.serializer = serializer;
        self
    }

    /// Make a batch listener: callbacks ([`on_batch`](super::NotificationEndpointBuilder::on_batch))
    /// get up to `size` notifications, fewer when `timeout` passes first
    /// (`None`: wait for a full batch).
    pub fn batch(mut self, size: usize, timeout: Option<Duration>) -> Self {
        self.batch = Some(Batching { size, timeout });
        self
    }

    /// Finish the listener (it is not started).
    ///
    /// # Errors
    /// [`MessagingError::InvalidTarget`] for no target or one without a
    /// topic; [`MessagingError::Config`] for no endpoint callbacks, a batch
    /// size of 0, or an endpoint whose callbacks do not fit the listener
    /// (single callbacks on a batch listener or the reverse); an unknown
    /// executor name; [`MessagingError::Unsupported`] for `allow_requeue`
    /// on a driver that cannot requeue ([`Capability::Requeue`]).
    pub fn build(self) -> Result<NotificationListener> {
        if self.targets.is_empty() {
            return Err(MessagingError::InvalidTarget(
                "a notification listener needs at least one target".into(),
            ));
        }
        for t in &self.targets {
            t.require_topic("listen for notifications")?;
        }
        let batch = self.batch.is_some();
        if self.batch.is_some_and(|b| b.size == 0) {
            return Err(MessagingError::Config(
                "notification batch size must be at least 1".into(),
            ));
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            match e.batch_kind() {
                Some(kind) if kind == batch => {}
                Some(_) if batch => {
                    return Err(config(
                        i,
                        "has single callbacks (on) but the listener is a batch listener",
                    ))
                }
                Some(_) => {
                    return Err(config(
                        i,
                        "has batch callbacks (on_batch) but the listener is not a batch listener",
                    ))
                }
                None if e.priorities().next().is_none() => {
                    return Err(config(i, "has no callbacks"))
                }
                None => {
                    return Err(config(
                        i,
                        "mixes single (on) and batch (on_batch) callbacks",
                    ))
                }
            }
        }
        let driver = self.transport.driver();
        if self.allow_requeue && !driver.capabilities().supports(Capability::Requeue) {
            return Err(MessagingError::Unsupported {
                driver: driver.name(),
                operation: "requeueing notifications (allow_requeue)".into(),
            });
        }
        let executor = self.executor.resolve(&self.transport)?;
        let topic = match &self.targets[..] {
            [one] => one.topic.clone().unwrap_or_default(),
            _ => "*".to_owned(),
        };
        let dispatcher = NotifyDispatcher::new(self.endpoints, self.serializer, self.allow_requeue)
            .observed(self.transport.observer().cloned(), topic);
        let priorities = dispatcher.priorities();
        if priorities.is_empty() {
            return Err(MessagingError::Config(
                "a notification listener needs at least one endpoint".into(),
            ));
        }
        let subscriptions = self
            .targets
            .iter()
            .flat_map(|t| priorities.iter().map(move |p| (t.clone(), *p)))
            .collect();
        Ok(NotificationListener {
            transport: self.transport,
            subscriptions,
            pool: self.pool,
            batching: self.batch.unwrap_or(Batching::SINGLE),
            is_batch: batch,
            dispatcher,
            runner: ServerLoop::new(executor, "notification listener"),
        })
    }
}

fn config(index: usize, problem: &str) -> MessagingError {
    MessagingError::Config(format!("notification endpoint #{index} {problem}"))
}
