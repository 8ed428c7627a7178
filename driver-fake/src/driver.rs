//! [`FakeDriver`]: the `Driver` implementation over the in-memory broker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use oslo_messaging_core::driver::{
    Driver, IncomingNotification, IncomingRequest, Listener, PendingReply, Retry, SendMode,
    SendOptions,
};
use oslo_messaging_core::message::{Context, NotificationFormat, Priority, RpcMessage};
use oslo_messaging_core::{address, MessagingError, Result, Target};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::broker::{broker_for, Broker, NotifyDelivery, RpcDelivery};
use crate::listener::{NotifyListener, RpcListener, Subscription};

/// The in-memory driver. Every `fake://` transport of a process that names
/// the same virtual host shares one broker, so a client and a server built
/// from separate transports talk to each other.
pub struct FakeDriver {
    broker: Arc<Broker>,
    control_exchange: String,
}

impl std::fmt::Debug for FakeDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDriver")
            .field("control_exchange", &self.control_exchange)
            .finish_non_exhaustive()
    }
}

static CONSUMER_IDS: AtomicU64 = AtomicU64::new(1);

impl FakeDriver {
    /// A driver on the broker of `vhost`, using `control_exchange` for
    /// targets without an exchange.
    pub fn new(vhost: &str, control_exchange: impl Into<String>) -> Self {
        Self {
            broker: broker_for(vhost),
            control_exchange: control_exchange.into(),
        }
    }

    fn exchange<'a>(&'a self, target: &'a Target) -> &'a str {
        target.exchange.as_deref().unwrap_or(&self.control_exchange)
    }

    fn consumer_id(&self) -> u64 {
        CONSUMER_IDS.fetch_add(1, Ordering::Relaxed)
    }
}

/// RPC topic and server queues are kept per exchange, so that a request
/// sent before any server listens waits for a server of its own exchange.
fn rpc_queue(exchange: &str, name: &str) -> String {
    format!("{exchange}/{name}")
}

#[async_trait]
impl Driver for FakeDriver {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn send(
        &self,
        target: &Target,
        context: &Context,
        message: RpcMessage,
        mode: SendMode,
        options: SendOptions,
    ) -> Result<Option<PendingReply>> {
        let topic = target.require_topic("send")?;
        let (reply_to, pending, expires_at, call_monitor_timeout) = match mode {
            SendMode::Cast => (None, None, None, None),
            SendMode::Call {
                timeout,
                call_monitor_timeout,
            } => {
                let (tx, rx) = mpsc::unbounded_channel();
                (
                    Some(tx),
                    Some(PendingReply::new(rx, None)),
                    Some(Instant::now() + timeout),
                    call_monitor_timeout,
                )
            }
        };
        let delivery = RpcDelivery {
            context: context.clone(),
            message,
            reply_to,
            call_monitor_timeout,
            expires_at,
        };
        let exchange = self.exchange(target);
        if target.fanout {
            let delivered =
                self.broker
                    .rpc()
                    .publish(&address::fanout_exchange(topic), "", delivery);
            tracing::trace!(topic, delivered, "fanout cast");
        } else {
            let key = address::request_routing_key(topic, target);
            let mut router = self.broker.rpc();
            if options.at_least_once {
                if router.publish(exchange, &key, delivery) == 0 {
                    return Err(MessagingError::MessageUndeliverable {
                        exchange: exchange.to_owned(),
                        routing_key: key,
                    });
                }
            } else {
                router
                    .declare_bound(exchange, &key, &rpc_queue(exchange, &key))
                    .publish(delivery);
            }
        }
        Ok(pending)
    }

    async fn send_notification(
        &self,
        target: &Target,
        context: &Context,
        message: Map<String, Value>,
        _format: NotificationFormat,
        _retry: Retry,
    ) -> Result<()> {
        let key = target.require_topic("send a notification")?;
        let exchange = self.exchange(target);
        let mut router = self.broker.notify();
        // Like the rabbit notifier, make sure the default queue exists so
        // notifications wait for a listener instead of vanishing.
        router.declare_bound(exchange, key, key);
        router.publish(
            exchange,
            key,
            NotifyDelivery {
                context: context.clone(),
                message,
            },
        );
        Ok(())
    }

    async fn listen(&self, target: &Target) -> Result<Box<dyn Listener<IncomingRequest>>> {
        target.check_server()?;
        let topic = target.require_topic("listen")?;
        let server = target.server.as_deref().unwrap_or_default();
        let exchange = self.exchange(target);
        let server_queue = address::server_queue(topic, server);
        let fanout_exchange = address::fanout_exchange(topic);
        let fanout_queue = address::fanout_queue(topic, &uuid::Uuid::new_v4().simple().to_string());
        let queues = {
            let mut router = self.broker.rpc();
            vec![
                router.declare_bound(exchange, topic, &rpc_queue(exchange, topic)),
                router.declare_bound(exchange, &server_queue, &rpc_queue(exchange, &server_queue)),
                router.declare_bound(&fanout_exchange, "", &fanout_queue),
            ]
        };
        let broker = self.broker.clone();
        let on_stop = Box::new(move || broker.rpc().delete_queue(&fanout_queue));
        Ok(Box::new(RpcListener {
            sub: Subscription::new(self.consumer_id(), queues, Some(on_stop)),
            _broker: self.broker.clone(),
        }))
    }

    async fn listen_for_notifications(
        &self,
        targets_and_priorities: &[(Target, Priority)],
        pool: Option<&str>,
    ) -> Result<Box<dyn Listener<IncomingNotification>>> {
        let mut queues = Vec::new();
        {
            let mut router = self.broker.notify();
            for (target, priority) in targets_and_priorities {
                let topic = target.require_topic("listen for notifications")?;
                let key = address::notification_topic(topic, *priority);
                let q = router.declare_bound(self.exchange(target), &key, pool.unwrap_or(&key));
                if !queues.iter().any(|known| Arc::ptr_eq(known, &q)) {
                    queues.push(q);
                }
            }
        }
        Ok(Box::new(NotifyListener {
            sub: Subscription::new(self.consumer_id(), queues, None),
            _broker: self.broker.clone(),
        }))
    }

    async fn cleanup(&self) {}
}
