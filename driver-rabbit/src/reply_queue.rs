//! The transport's reply queue: declared and consumed once (on first call),
//! shared by every call, with replies routed to waiting callers by `_msg_id`.
//!
//! A reply with a result and `ending: false` (old servers send the result
//! and the end as two messages) is kept until the end arrives; a reply with
//! neither result nor end is a call-monitor keep-alive. Duplicates (same
//! `_unique_id`) are dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use lapin::options::BasicConsumeOptions;
use oslo_messaging_core::driver::{ReplyEvent, Retry};
use oslo_messaging_core::{MessagingError, Result};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::lapin_error::error;
use crate::link::Link;
use crate::lock;
use crate::topology::{declare, Declared, Topology};
use crate::wire::{self, RecentIds, ReplyPart};

struct Waiter {
    events: mpsc::UnboundedSender<ReplyEvent>,
    result: Option<Value>,
}

#[derive(Default)]
struct Table {
    waiters: HashMap<String, Waiter>,
    recent: RecentIds,
}

/// The reply queue and the calls waiting on it.
pub(crate) struct Replies {
    queue: String,
    link: Arc<Link>,
    topology: Topology,
    declared: Arc<Declared>,
    table: Arc<Mutex<Table>>,
    /// The generation of the connection the consumer runs on, and whether it still runs.
    consuming: tokio::sync::Mutex<Option<(u64, Arc<AtomicBool>)>>,
}

/// When the reply consumer ends (or its task is dropped): marks it dead
/// and fails the calls still waiting.
struct Ended {
    table: Arc<Mutex<Table>>,
    alive: Arc<AtomicBool>,
    queue: String,
}

impl Drop for Ended {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Release);
        let waiters: Vec<Waiter> = lock(&self.table).waiters.drain().map(|(_, w)| w).collect();
        for w in waiters {
            let _ = w.events.send(ReplyEvent::Failed(MessagingError::connection(
                crate::DRIVER,
                format!("the reply queue {} stopped being consumed", self.queue),
            )));
        }
    }
}

/// Removes a waiter when the caller stops waiting.
struct Unregister {
    msg_id: String,
    table: Arc<Mutex<Table>>,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        lock(&self.table).waiters.remove(&self.msg_id);
    }
}

impl Replies {
    /// The replies of a transport, to `reply_<unique>` (see
    /// `Topology::unique_name`); nothing is declared yet.
    ///
    /// # Errors
    /// The queue manager's, when it names the queue.
    pub fn new(link: Arc<Link>, topology: Topology, declared: Arc<Declared>) -> Result<Self> {
        Ok(Self {
            queue: format!("reply_{}", topology.unique_name()?),
            link,
            topology,
            declared,
            table: Arc::default(),
            consuming: tokio::sync::Mutex::new(None),
        })
    }

    /// The reply queue's name, once it is declared and consumed.
    ///
    /// # Errors
    /// Connection failures, or the broker refusing the declaration.
    pub async fn ready(&self, retry: Retry) -> Result<&str> {
        let mut consuming = self.consuming.lock().await;
        let alive = consuming.as_ref().is_some_and(|(g, alive)| {
            *g == self.link.generation() && alive.load(Ordering::Acquire)
        });
        if !alive {
            *consuming = Some(self.consume(retry).await?);
        }
        Ok(&self.queue)
    }

    async fn consume(&self, retry: Retry) -> Result<(u64, Arc<AtomicBool>)> {
        let connection = self.link.connection(retry).await?;
        let generation = self.link.generation();
        declare(
            &connection,
            &[],
            &[self.topology.reply_queue(&self.queue)],
            &self.declared,
        )
        .await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| error("open a channel for the reply queue", &e))?;
        let mut consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                self.topology.consumer_arguments(None),
            )
            .await
            .map_err(|e| error(&format!("consume queue {:?}", self.queue), &e))?;
        tracing::debug!(queue = self.queue, "consuming the reply queue");
        let alive = Arc::new(AtomicBool::new(true));
        let ended = Ended {
            table: self.table.clone(),
            alive: alive.clone(),
            queue: self.queue.clone(),
        };
        // On the caller's runtime: a reply goes from lapin's I/O thread to
        // this task and on to its caller without a stop on the driver's
        // runtime. Should that runtime shut down, `Ended` runs, the consumer
        // is cancelled (lapin cancels a dropped consumer) and the next call
        // consumes again.
        tokio::runtime::Handle::current().spawn(async move {
            // Dropped with the task, however it ends.
            let ended = ended;
            let _channel = channel;
            while let Some(delivery) = consumer.next().await {
                match delivery {
                    Ok(d) => route(&ended.table, d.properties.headers().as_ref(), &d.data),
                    Err(e) => {
                        tracing::warn!(queue = ended.queue, error = %e, "reply consumer failed");
                        break;
                    }
                }
            }
            // Still alive: not ended by `delete` (the transport's cleanup).
            if _channel.status().connected() && ended.alive.load(Ordering::Acquire) {
                tracing::warn!(
                    queue = ended.queue,
                    "the broker cancelled the consumer of the reply queue (deleted, expired, or \
                     its node went away); calls waiting fail now, and the queue is declared \
                     again before the next call"
                );
            }
        });
        Ok((generation, alive))
    }

    /// Registers a call; its events arrive on the receiver until the
    /// returned guard is dropped.
    pub fn register(
        &self,
        msg_id: &str,
    ) -> (
        mpsc::UnboundedReceiver<ReplyEvent>,
        Box<dyn std::any::Any + Send + Sync>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.table).waiters.insert(
            msg_id.to_owned(),
            Waiter {
                events: tx,
                result: None,
            },
        );
        let guard = Unregister {
            msg_id: msg_id.to_owned(),
            table: self.table.clone(),
        };
        (rx, Box::new(guard))
    }

    /// Deletes the reply queue if it was declared: it belongs to this
    /// transport alone, so nothing should wait for its expiry. A queue
    /// manager's queue stays (its name comes back after a restart) and
    /// expires.
    pub async fn delete(&self) {
        let mut consuming = self.consuming.lock().await;
        let Some((_, alive)) = consuming.take() else {
            return;
        };
        // The consumer's end that follows is ours, not the broker's doing.
        alive.store(false, Ordering::Release);
        if self.topology.keeps_transient_queues() {
            return;
        }
        let deleted = async {
            let connection = self.link.connection(Some(0)).await?;
            let channel = connection
                .create_channel()
                .await
                .map_err(|e| error("open a channel", &e))?;
            channel
                .queue_delete(self.queue.as_str().into(), Default::default())
                .await
                .map_err(|e| error("delete the reply queue", &e))?;
            channel
                .close(200, "reply queue deleted".into())
                .await
                .map_err(|e| error("close a channel", &e))
        };
        if let Err(e) = deleted.await {
            tracing::debug!(queue = self.queue, error = %e, "reply queue not deleted; it expires");
        }
    }

    /// The queue's name (declared or not), for cleanup and diagnostics.
    pub fn name(&self) -> &str {
        &self.queue
    }
}

/// Hands one reply message to its waiter.
fn route(table: &Mutex<Table>, headers: Option<&lapin::types::FieldTable>, data: &[u8]) {
    let unpacked = match wire::unpack_delivery(headers, data) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "dropping a malformed reply");
            return;
        }
    };
    let Some(msg_id) = unpacked.msg_id else {
        tracing::warn!("dropping a reply without _msg_id");
        return;
    };
    let part = wire::reply(&unpacked.body);
    let mut t = lock(table);
    if t.recent.seen_before(unpacked.unique_id.as_deref()) {
        tracing::debug!(msg_id, "dropping a duplicate reply");
        return;
    }
    let Some(waiter) = t.waiters.get_mut(&msg_id) else {
        tracing::debug!(msg_id, "no caller waits for this reply (timed out or gone)");
        return;
    };
    let event = match part {
        Ok(ReplyPart::Failure(f)) => ReplyEvent::Final(Err(f)),
        Ok(ReplyPart::Result {
            value,
            ending: true,
        }) => ReplyEvent::Final(Ok(value)),
        Ok(ReplyPart::Result {
            value,
            ending: false,
        }) => {
            waiter.result = Some(value);
            return;
        }
        Ok(ReplyPart::End) => ReplyEvent::Final(Ok(waiter.result.take().unwrap_or(Value::Null))),
        Ok(ReplyPart::KeepAlive) => ReplyEvent::KeepAlive,
        Err(e) => ReplyEvent::Failed(e),
    };
    let _ = waiter.events.send(event);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn waiting(table: &Arc<Mutex<Table>>, msg_id: &str) -> mpsc::UnboundedReceiver<ReplyEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(table).waiters.insert(
            msg_id.into(),
            Waiter {
                events: tx,
                result: None,
            },
        );
        rx
    }

    fn body(inner: Value) -> Vec<u8> {
        json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn two_part_replies_keepalives_and_duplicates() {
        let table = Arc::new(Mutex::new(Table::default()));
        let mut rx = waiting(&table, "m1");
        route(
            &table,
            None,
            &body(
                json!({"result": null, "failure": null, "ending": false, "_msg_id": "m1", "_unique_id": "a"}),
            ),
        );
        assert!(matches!(rx.try_recv(), Ok(ReplyEvent::KeepAlive)));
        route(
            &table,
            None,
            &body(
                json!({"result": 7, "failure": null, "ending": false, "_msg_id": "m1", "_unique_id": "b"}),
            ),
        );
        assert!(rx.try_recv().is_err(), "the result waits for the end");
        route(
            &table,
            None,
            &body(
                json!({"result": 7, "failure": null, "ending": false, "_msg_id": "m1", "_unique_id": "b"}),
            ),
        );
        route(
            &table,
            None,
            &body(
                json!({"result": null, "failure": null, "ending": true, "_msg_id": "m1", "_unique_id": "c"}),
            ),
        );
        match rx.try_recv() {
            Ok(ReplyEvent::Final(Ok(v))) => assert_eq!(v, json!(7)),
            other => panic!("expected the final result, got {other:?}"),
        }
        route(
            &table,
            None,
            &body(
                json!({"result": null, "failure": null, "ending": true, "_msg_id": "m1", "_unique_id": "c"}),
            ),
        );
        assert!(rx.try_recv().is_err(), "duplicate dropped");
    }

    #[test]
    fn unknown_and_malformed_replies_are_dropped() {
        let table = Arc::new(Mutex::new(Table::default()));
        let mut rx = waiting(&table, "m1");
        route(&table, None, b"{not json");
        route(&table, None, &body(json!({"result": 1, "ending": true})));
        route(
            &table,
            None,
            &body(json!({"result": 1, "ending": true, "_msg_id": "other"})),
        );
        assert!(rx.try_recv().is_err());
        route(&table, None, &body(json!({"failure": 5, "_msg_id": "m1"})));
        assert!(matches!(
            rx.try_recv(),
            Ok(ReplyEvent::Failed(MessagingError::MalformedMessage(_)))
        ));
    }
}
