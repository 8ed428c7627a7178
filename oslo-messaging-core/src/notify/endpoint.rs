//! [`NotificationEndpoint`]: typed async callbacks per priority.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::filter::NotificationFilter;
use super::notification::Notification;
use crate::message::Priority;

/// What a callback tells the listener to do with the message(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotificationResult {
    /// Done: acknowledge (after the remaining endpoints ran).
    #[default]
    Handled,
    /// Give it back to the queue for redelivery (only when the listener
    /// [allows requeueing](super::NotificationListenerBuilder::allow_requeue);
    /// otherwise it is acknowledged). The remaining endpoints are skipped.
    Requeue,
}

/// An error a callback returns; any `std::error::Error` (and `&str`,
/// `String`) converts into it, so `?` works in callbacks.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

/// What a callback returns. An error (or a panic) is logged and treated as
/// [`NotificationResult::Requeue`], as in Python.
pub type CallbackResult = Result<NotificationResult, CallbackError>;

type SingleFn = Arc<dyn Fn(Notification) -> BoxFuture<'static, CallbackResult> + Send + Sync>;
type BatchFn = Arc<dyn Fn(Vec<Notification>) -> BoxFuture<'static, CallbackResult> + Send + Sync>;

#[derive(Clone)]
enum Callback {
    Single(SingleFn),
    Batch(BatchFn),
}

/// A set of callbacks, one per priority, sharing one state, with an
/// optional [`NotificationFilter`] (Python's endpoint object with `info`,
/// `error`, ... methods and `filter_rule`).
///
/// Callbacks registered with [`on`](NotificationEndpointBuilder::on) get one
/// notification and serve plain listeners; those registered with
/// [`on_batch`](NotificationEndpointBuilder::on_batch) get a batch and serve
/// batch listeners.
#[derive(Clone, Default)]
pub struct NotificationEndpoint {
    filter: Option<NotificationFilter>,
    callbacks: BTreeMap<Priority, Callback>,
}

impl std::fmt::Debug for NotificationEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationEndpoint")
            .field("priorities", &self.priorities().collect::<Vec<_>>())
            .field("filter", &self.filter)
            .finish()
    }
}

/// Builds a [`NotificationEndpoint`].
pub struct NotificationEndpointBuilder<S> {
    state: Arc<S>,
    endpoint: NotificationEndpoint,
}

impl NotificationEndpoint {
    /// Start an endpoint whose callbacks share `state` (they get an `Arc<S>`).
    pub fn builder<S: Send + Sync + 'static>(state: S) -> NotificationEndpointBuilder<S> {
        NotificationEndpointBuilder {
            state: Arc::new(state),
            endpoint: NotificationEndpoint::default(),
        }
    }

    /// The priorities it has callbacks for, lowest first.
    pub fn priorities(&self) -> impl Iterator<Item = Priority> + '_ {
        self.callbacks.keys().copied()
    }

    /// Its filter.
    pub fn filter(&self) -> Option<&NotificationFilter> {
        self.filter.as_ref()
    }

    /// Whether it has batch callbacks (`Some(true)`), single ones
    /// (`Some(false)`), both or none (`None`).
    pub(crate) fn batch_kind(&self) -> Option<bool> {
        let batch = self
            .callbacks
            .values()
            .filter(|c| matches!(c, Callback::Batch(_)))
            .count();
        match (batch, self.callbacks.len()) {
            (_, 0) => None,
            (b, n) if b == n => Some(true),
            (0, _) => Some(false),
            _ => None,
        }
    }

    pub(crate) fn has(&self, priority: Priority) -> bool {
        self.callbacks.contains_key(&priority)
    }

    /// Run the single callback for `priority`; a panic becomes an error.
    /// `None`: no such callback.
    pub(crate) async fn call(&self, priority: Priority, n: Notification) -> Option<CallbackResult> {
        let Some(Callback::Single(f)) = self.callbacks.get(&priority) else {
            return None;
        };
        Some(guard(f(n)).await)
    }

    /// Run the batch callback for `priority`; a panic becomes an error.
    pub(crate) async fn call_batch(
        &self,
        priority: Priority,
        batch: Vec<Notification>,
    ) -> Option<CallbackResult> {
        let Some(Callback::Batch(f)) = self.callbacks.get(&priority) else {
            return None;
        };
        Some(guard(f(batch)).await)
    }
}

async fn guard(fut: BoxFuture<'static, CallbackResult>) -> CallbackResult {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic".to_owned());
            Err(format!("callback panicked: {text}").into())
        }
    }
}

impl<S: Send + Sync + 'static> NotificationEndpointBuilder<S> {
    /// Only notifications passing `filter` reach this endpoint.
    pub fn filter(mut self, filter: NotificationFilter) -> Self {
        self.endpoint.filter = Some(filter);
        self
    }

    /// Handle `priority` one notification at a time (replaces an earlier
    /// callback for it).
    pub fn on<F, Fut>(self, priority: Priority, f: F) -> Self
    where
        F: Fn(Arc<S>, Notification) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CallbackResult> + Send + 'static,
    {
        self.on_priorities([priority], f)
    }

    /// Handle each of `priorities` with the same callback.
    pub fn on_priorities<I, F, Fut>(mut self, priorities: I, f: F) -> Self
    where
        I: IntoIterator<Item = Priority>,
        F: Fn(Arc<S>, Notification) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CallbackResult> + Send + 'static,
    {
        let state = self.state.clone();
        let f: SingleFn = Arc::new(move |n| Box::pin(f(state.clone(), n)));
        for p in priorities {
            self.endpoint
                .callbacks
                .insert(p, Callback::Single(f.clone()));
        }
        self
    }

    /// Handle `priority` in batches (for batch listeners): the callback
    /// gets the batch's notifications of this priority that pass the filter.
    pub fn on_batch<F, Fut>(self, priority: Priority, f: F) -> Self
    where
        F: Fn(Arc<S>, Vec<Notification>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CallbackResult> + Send + 'static,
    {
        self.on_batch_priorities([priority], f)
    }

    /// Handle each of `priorities` in batches with the same callback.
    pub fn on_batch_priorities<I, F, Fut>(mut self, priorities: I, f: F) -> Self
    where
        I: IntoIterator<Item = Priority>,
        F: Fn(Arc<S>, Vec<Notification>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CallbackResult> + Send + 'static,
    {
        let state = self.state.clone();
        let f: BatchFn = Arc::new(move |b| Box::pin(f(state.clone(), b)));
        for p in priorities {
            self.endpoint
                .callbacks
                .insert(p, Callback::Batch(f.clone()));
        }
        self
    }

    /// Finish the endpoint.
    pub fn build(self) -> NotificationEndpoint {
        self.endpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NotificationMetadata;

    fn n() -> Notification {
        Notification {
            context: Default::default(),
            publisher_id: None,
            event_type: "e".into(),
            priority: Priority::Info,
            payload: serde_json::Value::Null,
            metadata: NotificationMetadata::default(),
        }
    }

    #[tokio::test]
    async fn callbacks_errors_and_panics() {
        let e = NotificationEndpoint::builder(5_u32)
            .on(Priority::Info, |s: Arc<u32>, _n| async move {
                Ok(if *s == 5 {
                    NotificationResult::Requeue
                } else {
                    NotificationResult::Handled
                })
            })
            .on(
                Priority::Error,
                |_s, _n| async move { Err("broken".into()) },
            )
            .on(Priority::Critical, |_s, _n| async move { panic!("boom") })
            .build();
        assert_eq!(
            e.priorities().collect::<Vec<_>>(),
            [Priority::Info, Priority::Error, Priority::Critical]
        );
        assert_eq!(e.batch_kind(), Some(false));
        assert_eq!(
            e.call(Priority::Info, n()).await.map(|r| r.ok()),
            Some(Some(NotificationResult::Requeue))
        );
        assert_eq!(
            e.call(Priority::Error, n())
                .await
                .map(|r| r.map_err(|e| e.to_string())),
            Some(Err("broken".into()))
        );
        let panicked = e
            .call(Priority::Critical, n())
            .await
            .expect("has callback")
            .expect_err("panic is an error");
        assert!(panicked.to_string().contains("boom"), "{panicked}");
        assert!(e.call(Priority::Debug, n()).await.is_none());
        assert!(
            e.call_batch(Priority::Info, vec![n()]).await.is_none(),
            "not a batch callback"
        );
        let b = NotificationEndpoint::builder(())
            .on_batch_priorities(
                [Priority::Info, Priority::Warn],
                |_s, batch: Vec<Notification>| async move {
                    assert_eq!(batch.len(), 2);
                    Ok(NotificationResult::Handled)
                },
            )
            .build();
        assert_eq!(b.batch_kind(), Some(true));
        assert_eq!(
            b.call_batch(Priority::Warn, vec![n(), n()])
                .await
                .map(|r| r.ok()),
            Some(Some(NotificationResult::Handled))
        );
        assert_eq!(NotificationEndpoint::default().batch_kind(), None);
        assert!(format!("{b:?}").contains("Warn"));
    }
}
