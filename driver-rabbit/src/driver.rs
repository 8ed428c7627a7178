//! [`RabbitDriver`]: the `Driver` implementation over RabbitMQ.

use std::sync::Arc;

use async_trait::async_trait;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::{
    Driver, IncomingNotification, IncomingRequest, Listener, PendingReply, Retry, SendMode,
    SendOptions,
};
use oslo_messaging_core::health::Health;
use oslo_messaging_core::message::{Context, NotificationFormat, Priority, RpcMessage};
use oslo_messaging_core::{address, Result, Target, TransportUrl};
use serde_json::{Map, Value};

use crate::consumers::Registry;
use crate::endpoints::Endpoints;
use crate::io_runtime::IoRuntime;
use crate::link::Link;
use crate::listener::{NotifyListener, RpcListener};
use crate::options::RabbitOptions;
use crate::publisher::{Declare, Outgoing, Publisher};
use crate::reply_queue::Replies;
use crate::reply_sender::Confirms;
use crate::shared::RabbitShared;
use crate::subscription::Subscription;
use crate::topology::{Declared, Topology};
use crate::wire::{self, CallInfo, RecentIds};

/// The RabbitMQ driver, wire-compatible with Python oslo.messaging.
///
/// It opens two connections lazily, on first use: one to publish (with
/// publisher confirms, over a pool of channels) and one to consume (server
/// queues, notification queues and the reply queue). Both run on a runtime
/// the driver owns, so heartbeats keep flowing whatever the application's
/// runtime is doing.
pub struct RabbitDriver {
    shared: Arc<RabbitShared>,
    publish_link: Arc<Link>,
    publisher: Arc<Publisher>,
    replies: Replies,
    control_exchange: String,
    // Last: dropped after everything that runs on it.
    _io: IoRuntime,
}

impl std::fmt::Debug for RabbitDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitDriver")
            .field("control_exchange", &self.control_exchange)
            .field("reply_queue", &self.replies.name())
            .finish_non_exhaustive()
    }
}

impl RabbitDriver {
    /// A driver for `url` with the `[oslo_messaging_rabbit]` options of
    /// `config` (and of the URL's query). Nothing is connected yet.
    ///
    /// # Errors
    /// [`InvalidOption`](oslo_messaging_core::MessagingError::InvalidOption)
    /// for an unknown, mistyped, inconsistent or unsupported option, or an
    /// unreadable TLS file.
    pub fn new(url: &TransportUrl, config: &Config) -> Result<Self> {
        let opts: RabbitOptions = config.driver_group(url)?;
        opts.validate()?;
        opts.warn_deprecated();
        let control_exchange = config.default_group()?.control_exchange;
        let endpoints = Endpoints::new(url, &opts)?;
        let io = IoRuntime::new()?;
        let link = |purpose| {
            Arc::new(Link::new(
                purpose,
                endpoints.clone(),
                opts.clone(),
                io.handle(),
            ))
        };
        let (publish_link, consume_link) = (link("publish"), link("consume"));
        let topology = Topology::new(opts.clone());
        let declared = Arc::new(Declared::default());
        let replies = Replies::new(consume_link.clone(), topology.clone(), declared.clone())?;
        Ok(Self {
            publisher: Arc::new(Publisher::new(
                publish_link.clone(),
                declared.clone(),
                &opts,
                opts.compression()?,
            )),
            shared: Arc::new(RabbitShared {
                opts,
                topology,
                io: io.handle(),
                consume_link,
                declared,
                confirms: Confirms::start(&io.handle()),
                consumers: Registry::default(),
            }),
            publish_link,
            replies,
            control_exchange,
            _io: io,
        })
    }

    /// The names of the queues this driver has declared so far (server,
    /// fanout, notification and reply queues): for operators' diagnostics,
    /// and for tests that must delete what they created.
    pub fn declared_queues(&self) -> Vec<String> {
        self.shared.declared.queues()
    }

    /// The names of the exchanges this driver has declared so far.
    pub fn declared_exchanges(&self) -> Vec<String> {
        self.shared.declared.exchanges()
    }

    fn exchange<'a>(&'a self, target: &'a Target) -> &'a str {
        target.exchange.as_deref().unwrap_or(&self.control_exchange)
    }
}

#[async_trait]
impl Driver for RabbitDriver {
    fn name(&self) -> &'static str {
        crate::DRIVER
    }

    async fn send(
        &self,
        target: &Target,
        context: &Context,
        message: RpcMessage,
        mode: SendMode,
        options: SendOptions,
    ) -> Result<Option<PendingReply>> {
        let retry = options.retry;
        let topic = target.require_topic("send")?;
        let (body, expiration, pending) = match mode {
            SendMode::Cast => (wire::request_body(context, &message, None), None, None),
            SendMode::Call {
                timeout,
                call_monitor_timeout,
            } => {
                let reply_q = self.replies.ready(retry).await?;
                let msg_id = wire::new_id();
                let (events, guard) = self.replies.register(&msg_id);
                let call = CallInfo {
                    msg_id: &msg_id,
                    reply_q,
                    call_monitor_timeout,
                };
                let body = wire::request_body(context, &message, Some(&call));
                (
                    body,
                    Some(timeout),
                    Some(PendingReply::new(events, Some(guard))),
                )
            }
        };
        let t = &self.shared.topology;
        let (fanout_name, server_key);
        let (exchange, routing_key, expiration, mandatory) = if target.fanout {
            fanout_name = t.fanout_exchange(topic).name;
            (fanout_name.as_str(), "", None, false)
        } else {
            server_key = address::request_routing_key(topic, target);
            (
                self.exchange(target),
                server_key.as_str(),
                expiration,
                options.at_least_once,
            )
        };
        let spec = || match target.fanout {
            true => t.fanout_exchange(topic),
            false => t.topic_exchange(exchange),
        };
        let msg = Outgoing {
            declare: Declare::Exchange {
                name: exchange,
                spec: &spec,
            },
            exchange,
            routing_key,
            body: &body,
            properties: wire::properties(expiration, context),
            mandatory,
            // The reply proves a call's delivery; casts are confirmed.
            confirm: pending.is_none() || mandatory,
        };
        self.publisher.publish(&msg, retry).await?;
        Ok(pending)
    }

    async fn send_notification(
        &self,
        target: &Target,
        context: &Context,
        message: Map<String, Value>,
        format: NotificationFormat,
        retry: Retry,
    ) -> Result<()> {
        let key = target.require_topic("send a notification")?;
        let exchange = self.exchange(target);
        // As oslo.messaging: the default queue is declared so that
        // notifications wait for a listener instead of vanishing.
        let queue = || self.shared.topology.notification_queue(exchange, key, key);
        let body = wire::notification_body(context, message, format);
        let msg = Outgoing {
            declare: Declare::Queue {
                name: key,
                spec: &queue,
            },
            exchange,
            routing_key: key,
            body: &body,
            properties: wire::properties(None, context),
            mandatory: false,
            confirm: true,
        };
        self.publisher.publish(&msg, retry).await
    }

    async fn listen(&self, target: &Target) -> Result<Box<dyn Listener<IncomingRequest>>> {
        target.check_server()?;
        let topic = target.require_topic("listen")?;
        let server = target.server.as_deref().unwrap_or_default();
        let exchange = self.exchange(target);
        let t = &self.shared.topology;
        let fanout = t.fanout_queue(topic)?;
        // A queue manager's fanout queue is left to expire, a stream is shared.
        let own = match t.deletes_on_stop(&fanout) {
            true => vec![fanout.name.clone()],
            false => Vec::new(),
        };
        let queues = [
            t.rpc_queue(exchange, topic),
            t.rpc_queue(exchange, &address::server_queue(topic, server)),
            fanout,
        ];
        let sub = Subscription::open(&self.shared, queues.to_vec(), own).await?;
        Ok(Box::new(RpcListener {
            sub,
            shared: self.shared.clone(),
            publisher: self.publisher.clone(),
            recent: RecentIds::default(),
        }))
    }

    async fn listen_for_notifications(
        &self,
        targets_and_priorities: &[(Target, Priority)],
        pool: Option<&str>,
    ) -> Result<Box<dyn Listener<IncomingNotification>>> {
        let mut queues = Vec::new();
        for (target, priority) in targets_and_priorities {
            let topic = target.require_topic("listen for notifications")?;
            let key = address::notification_topic(topic, *priority);
            queues.push(self.shared.topology.notification_queue(
                self.exchange(target),
                pool.unwrap_or(&key),
                &key,
            ));
        }
        let sub = Subscription::open(&self.shared, queues, Vec::new()).await?;
        Ok(Box::new(NotifyListener { sub }))
    }

    /// Opens both connections, then publishes a probe message (see
    /// `Publisher::probe`) so that a broker refusing publishers (a resource
    /// alarm) shows as `blocked` in [`health`](Driver::health) at once.
    async fn connect(&self, retry: Retry) -> Result<()> {
        self.publish_link.connection(retry).await?;
        self.shared.consume_link.connection(retry).await?;
        self.publisher.probe(retry).await
    }

    fn health(&self) -> Health {
        Health {
            connections: vec![
                self.publish_link.health(),
                self.shared.consume_link.health(),
            ],
            consumers: self.shared.consumers.snapshot(),
        }
    }

    async fn cleanup(&self) {
        self.replies.delete().await;
        self.publish_link.close().await;
        self.shared.consume_link.close().await;
    }
}
