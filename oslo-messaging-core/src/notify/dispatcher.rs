//! Python's `NotificationDispatcher` and `BatchNotificationDispatcher`, with
//! the settling rules of its notification servers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use opentelemetry::context::FutureExt as _;

use crate::telemetry::{Failed, Observer, Operation};

use super::endpoint::{CallbackResult, NotificationEndpoint, NotificationResult};
use super::notification::{parse_message, Notification, ParseError};
use crate::driver::{IncomingNotification, NotificationHandle};
use crate::message::{Context, Priority};
use crate::serializer::Serializer;

#[derive(Clone)]
pub(crate) struct NotifyDispatcher {
    endpoints: Arc<[NotificationEndpoint]>,
    serializer: Arc<dyn Serializer>,
    allow_requeue: bool,
    /// What records consumed notifications, and the topic they are
    /// recorded under (the listener's, or `*` when it has several).
    observed: Option<(Arc<Observer>, String)>,
}

/// What telemetry records of a notification's processing: a requeue (asked
/// for, or a callback that failed) as `error.type` `Requeue`.
fn requeued(requeue: bool) -> Option<Failed> {
    requeue.then(|| Failed::of_class("Requeue", "the notification was requeued"))
}

/// Log a failed callback; it counts as a requeue request.
fn outcome(result: CallbackResult, event_type: &str) -> NotificationResult {
    result.unwrap_or_else(|e| {
        tracing::error!(event_type, "notification callback failed: {e}");
        NotificationResult::Requeue
    })
}

impl NotifyDispatcher {
    pub(crate) fn new(
        endpoints: Vec<NotificationEndpoint>,
        serializer: Arc<dyn Serializer>,
        allow_requeue: bool,
    ) -> Self {
        Self {
            endpoints: endpoints.into(),
            serializer,
            allow_requeue,
            observed: None,
        }
    }

    /// Records what is consumed with `observer`, under `topic`.
    pub(crate) fn observed(mut self, observer: Option<Arc<Observer>>, topic: String) -> Self {
        self.observed = observer.map(|o| (o, topic));
        self
    }

    /// What the span of a received notification needs of its context
    /// (see [`Observer::carrier`]).
    fn carrier(&self, incoming: &IncomingNotification) -> Option<Context> {
        self.observed.as_ref()?.0.carrier(&incoming.context)
    }

    /// Starts recording the processing of notification `n`, received with
    /// `carrier`.
    fn consumed(&self, n: &Notification, carrier: Option<&Context>) -> Option<Operation> {
        let (observer, topic) = self.observed.as_ref()?;
        let destination = crate::address::notification_topic(topic, n.priority);
        Some(observer.start_process_notification(
            &destination,
            carrier,
            n.metadata.message_id.as_deref(),
        ))
    }

    /// The union of the endpoints' priorities.
    pub(crate) fn priorities(&self) -> BTreeSet<Priority> {
        self.endpoints
            .iter()
            .flat_map(NotificationEndpoint::priorities)
            .collect()
    }

    /// Turn a received message into a notification; `Err(requeue?)` when it
    /// cannot be dispatched.
    fn parse(
        &self,
        incoming: IncomingNotification,
    ) -> (Box<dyn NotificationHandle>, Result<Notification, bool>) {
        let IncomingNotification {
            context,
            message,
            handle,
        } = incoming;
        let parsed = parse_message(context, message, &*self.serializer).map_err(|e| match e {
            ParseError::Malformed(e) => {
                tracing::warn!("dropping notification: {e}");
                false
            }
            ParseError::Payload(e) => {
                tracing::error!("cannot deserialize notification payload: {e}");
                true
            }
        });
        (handle, parsed)
    }

    async fn settle(&self, handle: &dyn NotificationHandle, requeue: bool) {
        let settled = if requeue && self.allow_requeue {
            handle.requeue().await
        } else {
            handle.acknowledge().await
        };
        if let Err(e) = settled {
            tracing::warn!("failed to acknowledge or requeue a notification: {e}");
        }
    }

    /// Dispatch one message to the endpoints, then acknowledge or requeue it.
    pub(crate) async fn process_one(&self, incoming: IncomingNotification) {
        let carrier = self.carrier(&incoming);
        let (handle, parsed) = self.parse(incoming);
        let requeue = match parsed {
            Ok(n) => {
                let op = self.consumed(&n, carrier.as_ref());
                let dispatched = self.dispatch(n);
                // The span is current while the endpoints run: what they
                // send is its child.
                let result = match op.as_ref().and_then(Operation::context) {
                    Some(cx) => dispatched.with_context(cx.clone()).await,
                    None => dispatched.await,
                };
                let requeue = result == NotificationResult::Requeue;
                if let Some(op) = op {
                    op.finish(requeued(requeue));
                }
                requeue
            }
            Err(requeue) => requeue,
        };
        self.settle(&*handle, requeue).await;
    }

    /// Endpoints in order; the first requeue (or failure) stops the round.
    async fn dispatch(&self, n: Notification) -> NotificationResult {
        for endpoint in self.endpoints.iter().filter(|e| e.has(n.priority)) {
            if endpoint.filter().is_some_and(|f| !f.matches(&n)) {
                continue;
            }
            if let Some(result) = endpoint.call(n.priority, n.clone()).await {
                if outcome(result, &n.event_type) == NotificationResult::Requeue {
                    return NotificationResult::Requeue;
                }
            }
        }
        NotificationResult::Handled
    }

    /// Dispatch a batch: grouped by priority, each endpoint gets the group's
    /// notifications that pass its filter; a requeue (or failure) requeues
    /// the whole group and stops its round. Then every message is settled.
    pub(crate) async fn process_batch(&self, batch: Vec<IncomingNotification>) {
        let mut handles = Vec::with_capacity(batch.len());
        let mut requeue = Vec::with_capacity(batch.len());
        let mut groups: BTreeMap<Priority, Vec<(usize, Notification)>> = BTreeMap::new();
        // Each message's processing is the batch's: recorded once it is done.
        let mut ops = Vec::new();
        for (i, incoming) in batch.into_iter().enumerate() {
            let carrier = self.carrier(&incoming);
            let (handle, parsed) = self.parse(incoming);
            handles.push(handle);
            match parsed {
                Ok(n) => {
                    requeue.push(false);
                    ops.push((i, self.consumed(&n, carrier.as_ref())));
                    groups.entry(n.priority).or_default().push((i, n));
                }
                Err(r) => requeue.push(r),
            }
        }
        for (priority, group) in groups {
            for endpoint in self.endpoints.iter().filter(|e| e.has(priority)) {
                let selected: Vec<Notification> = group
                    .iter()
                    .filter(|(_, n)| endpoint.filter().is_none_or(|f| f.matches(n)))
                    .map(|(_, n)| n.clone())
                    .collect();
                if selected.is_empty() {
                    continue;
                }
                let Some(result) = endpoint.call_batch(priority, selected).await else {
                    continue;
                };
                if outcome(result, priority.as_str()) == NotificationResult::Requeue {
                    for (i, _) in &group {
                        requeue[*i] = true;
                    }
                    break;
                }
            }
        }
        for (i, op) in ops {
            if let Some(op) = op {
                op.finish(requeued(requeue[i]));
            }
        }
        for (handle, requeue) in handles.iter().zip(requeue) {
            self.settle(&**handle, requeue).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::notify::notification::build_message;
    use crate::notify::NotificationFilter;
    use crate::serializer::NoOpSerializer;

    type Settled = Arc<Mutex<Vec<(String, &'static str)>>>;

    struct Handle(String, Settled);

    #[async_trait]
    impl NotificationHandle for Handle {
        async fn acknowledge(&self) -> crate::Result<()> {
            self.1.lock().expect("lock").push((self.0.clone(), "ack"));
            Ok(())
        }
        async fn requeue(&self) -> crate::Result<()> {
            self.1
                .lock()
                .expect("lock")
                .push((self.0.clone(), "requeue"));
            Ok(())
        }
    }

    fn incoming(settled: &Settled, priority: Priority, event: &str) -> IncomingNotification {
        IncomingNotification {
            context: Default::default(),
            message: build_message(None, event, priority, json!({})),
            handle: Box::new(Handle(event.to_owned(), settled.clone())),
        }
    }

    fn batch_endpoint(
        calls: &Arc<Mutex<Vec<Vec<String>>>>,
        filter: Option<&str>,
    ) -> NotificationEndpoint {
        let b = NotificationEndpoint::builder(calls.clone()).on_batch_priorities(
            [Priority::Info, Priority::Error],
            |calls, batch| async move {
                let events: Vec<String> = batch.into_iter().map(|n| n.event_type).collect();
                let requeue = events.iter().any(|e| e.starts_with("requeue"));
                calls.lock().expect("lock").push(events);
                Ok(if requeue {
                    NotificationResult::Requeue
                } else {
                    NotificationResult::Handled
                })
            },
        );
        match filter {
            Some(f) => b.filter(
                NotificationFilter::builder()
                    .event_type(f)
                    .build()
                    .expect("valid"),
            ),
            None => b,
        }
        .build()
    }

    #[tokio::test]
    async fn batch_requeue_covers_the_whole_priority_group() {
        let settled = Settled::default();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let endpoints = vec![
            batch_endpoint(&calls, Some("requeue")),
            batch_endpoint(&calls, None),
        ];
        let d = NotifyDispatcher::new(endpoints, Arc::new(NoOpSerializer), true);
        let mut malformed = incoming(&settled, Priority::Info, "malformed");
        malformed.message.remove("priority");
        d.process_batch(vec![
            incoming(&settled, Priority::Info, "i1"),
            incoming(&settled, Priority::Error, "requeue.e"),
            malformed,
            incoming(&settled, Priority::Error, "e2"),
            incoming(&settled, Priority::Info, "i2"),
        ])
        .await;
        let calls = calls.lock().expect("lock").clone();
        // info: the filtered endpoint has nothing, the second gets both;
        // error: the filtered endpoint requeues, the second is skipped.
        assert_eq!(
            calls,
            [vec!["i1".to_owned(), "i2".into()], vec!["requeue.e".into()]]
        );
        let settled = settled.lock().expect("lock").clone();
        let s = |e: &str, how| (e.to_owned(), how);
        assert_eq!(
            settled,
            [
                s("i1", "ack"),
                s("requeue.e", "requeue"),
                s("malformed", "ack"),
                s("e2", "requeue"),
                s("i2", "ack")
            ]
        );
    }

    #[tokio::test]
    async fn single_dispatch_settles_by_allow_requeue() {
        for (allow, expected) in [(true, "requeue"), (false, "ack")] {
            let settled = Settled::default();
            let e = NotificationEndpoint::builder(())
                .on(Priority::Info, |_, _| async { Err("fails".into()) })
                .build();
            let d = NotifyDispatcher::new(vec![e], Arc::new(NoOpSerializer), allow);
            d.process_one(incoming(&settled, Priority::Info, "x")).await;
            d.process_one(incoming(&settled, Priority::Debug, "unhandled"))
                .await;
            let got = settled.lock().expect("lock").clone();
            assert_eq!(
                got,
                [("x".to_owned(), expected), ("unhandled".to_owned(), "ack")]
            );
        }
    }
}
