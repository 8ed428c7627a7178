//! The in-memory broker: one per virtual host, shared by every `fake://`
//! transport of the process that names that virtual host.
//!
//! Exchanges route by exact routing key to bound queues; queues are named
//! per virtual host, as on RabbitMQ. RPC and notification traffic use two
//! such routers because they carry different message types.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Instant;

use oslo_messaging_core::driver::ReplyEvent;
use oslo_messaging_core::message::{Context, RpcMessage};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::queue::Queue;

/// An RPC request in flight.
#[derive(Clone)]
pub(crate) struct RpcDelivery {
    pub context: Context,
    pub message: RpcMessage,
    pub reply_to: Option<mpsc::UnboundedSender<ReplyEvent>>,
    pub call_monitor_timeout: Option<std::time::Duration>,
    /// A call's message expires with the call's timeout, like AMQP `expiration`.
    pub expires_at: Option<Instant>,
}

/// A notification in flight.
#[derive(Clone)]
pub(crate) struct NotifyDelivery {
    pub context: Context,
    pub message: Map<String, Value>,
}

/// routing key -> the queues bound with it, for one exchange.
type Bindings<T> = HashMap<String, Vec<Arc<Queue<T>>>>;

/// Exchanges, bindings and queues for one message type.
pub(crate) struct Router<T> {
    queues: HashMap<String, Arc<Queue<T>>>,
    /// exchange -> routing key -> bound queues
    bindings: HashMap<String, Bindings<T>>,
}

impl<T: Clone + Send + 'static> Router<T> {
    fn new() -> Self {
        Self {
            queues: HashMap::new(),
            bindings: HashMap::new(),
        }
    }

    /// Declare `queue` (if new) and bind it to `exchange` with `key` (if not yet).
    pub(crate) fn declare_bound(
        &mut self,
        exchange: &str,
        key: &str,
        queue: &str,
    ) -> Arc<Queue<T>> {
        // Fast path, no allocation: already declared and bound.
        if let Some(q) = self
            .route(exchange, key)
            .and_then(|bound| bound.iter().find(|q| q.name == queue))
        {
            return q.clone();
        }
        let q = self
            .queues
            .entry(queue.to_owned())
            .or_insert_with(|| Queue::new(queue))
            .clone();
        let bound = self
            .bindings
            .entry(exchange.to_owned())
            .or_default()
            .entry(key.to_owned())
            .or_default();
        if !bound.iter().any(|b| Arc::ptr_eq(b, &q)) {
            bound.push(q.clone());
        }
        q
    }

    /// The queues bound to `exchange` with `key`.
    pub(crate) fn route(&self, exchange: &str, key: &str) -> Option<&[Arc<Queue<T>>]> {
        self.bindings
            .get(exchange)
            .and_then(|keys| keys.get(key))
            .map(Vec::as_slice)
    }

    /// Publish to every queue bound to `exchange` with `key`; how many got it.
    pub(crate) fn publish(&self, exchange: &str, key: &str, item: T) -> usize {
        let Some(queues) = self.route(exchange, key) else {
            return 0;
        };
        if let Some((last, rest)) = queues.split_last() {
            for q in rest {
                q.publish(item.clone());
            }
            last.publish(item);
        }
        queues.len()
    }

    /// Delete a queue and its bindings (auto-delete / expiry of fanout queues).
    pub(crate) fn delete_queue(&mut self, queue: &str) {
        if let Some(q) = self.queues.remove(queue) {
            for keys in self.bindings.values_mut() {
                for bound in keys.values_mut() {
                    bound.retain(|b| !Arc::ptr_eq(b, &q));
                }
            }
        }
    }
}

/// One virtual host.
pub(crate) struct Broker {
    rpc: Mutex<Router<RpcDelivery>>,
    notify: Mutex<Router<NotifyDelivery>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Broker {
    pub(crate) fn rpc(&self) -> MutexGuard<'_, Router<RpcDelivery>> {
        lock(&self.rpc)
    }
    pub(crate) fn notify(&self) -> MutexGuard<'_, Router<NotifyDelivery>> {
        lock(&self.notify)
    }
}

static BROKERS: LazyLock<Mutex<HashMap<String, Arc<Broker>>>> = LazyLock::new(Default::default);

/// The broker of `vhost`, created on first use; it lives for the process.
pub(crate) fn broker_for(vhost: &str) -> Arc<Broker> {
    lock(&BROKERS)
        .entry(vhost.to_owned())
        .or_insert_with(|| {
            Arc::new(Broker {
                rpc: Mutex::new(Router::new()),
                notify: Mutex::new(Router::new()),
            })
        })
        .clone()
}
