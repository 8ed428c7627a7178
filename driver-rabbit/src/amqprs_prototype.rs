//! PROTOTYPE for issue 18 (feature `amqprs-prototype`, off by default):
//! the driver's hot path on amqprs, a tokio-native AMQP client, to measure
//! whether it pays before porting the driver.
//!
//! What it does, with the wire format of the lapin driver: calls (reply
//! queue `reply_<uuid>` with `x-expires`, no confirm on the request, as the
//! driver), casts and notifications (publisher confirms, awaited), an RPC
//! server on `<topic>` and `<topic>.<server>` (acked before dispatch,
//! replies mandatory on a confirm channel whose confirms are not awaited,
//! as the driver's are checked later), and notification listeners (acked
//! after the callback). Its connections run on a runtime of their own, as
//! the driver's do (DESIGN.md, heartbeats).
//!
//! What it leaves out, so its figures are an upper bound on what a port
//! gains: reconnection and consumer recovery, every option but the
//! defaults, fanout, compression, TLS, health, retries. Chosen at run time
//! with `OSLO_MESSAGING_RABBIT_CLIENT=amqprs` when built with the feature.

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicNackArguments, BasicPublishArguments, Channel,
    ConfirmSelectArguments, ConsumerMessage, ExchangeDeclareArguments, QueueBindArguments,
    QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, FieldTable, FieldValue, Nack, Return};
use async_trait::async_trait;
use futures::stream::{BoxStream, SelectAll};
use futures::StreamExt;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::{
    Driver, IncomingNotification, IncomingRequest, Listener, NotificationHandle, PendingReply,
    ReplyEvent, RequestHandle, Retry, SendMode, SendOptions,
};
use oslo_messaging_core::message::{
    Context, NotificationFormat, Priority, ReplyResult, RpcMessage,
};
use oslo_messaging_core::{address, DriverError, MessagingError, Result, Target, TransportUrl};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot, OnceCell};

use crate::io_runtime::IoRuntime;
use crate::lock;
use crate::wire::{self, CallInfo, ReplyPart};

/// An amqprs error as the driver's connection error.
fn failed(what: &str, e: &amqprs::error::Error) -> MessagingError {
    MessagingError::connection(
        crate::DRIVER,
        format!("amqprs prototype: cannot {what}: {e}"),
    )
}

/// Properties of every message: JSON, UTF-8, persistent, and a call's
/// expiration in milliseconds.
fn properties(expiration: Option<std::time::Duration>) -> BasicProperties {
    let mut p = BasicProperties::default();
    p.with_content_type("application/json")
        .with_content_encoding("utf-8")
        .with_delivery_mode(2);
    if let Some(d) = expiration {
        p.with_expiration(&d.as_millis().to_string());
    }
    p.finish()
}

/// Settles the confirms of one channel by delivery tag.
#[derive(Default)]
struct Confirms {
    next_tag: u64,
    waiting: HashMap<u64, oneshot::Sender<bool>>,
}

/// The callback every channel has: confirms, and a broker cancel logged
/// (amqprs ignores a cancel on a channel without a callback).
struct Callback(Arc<Mutex<Confirms>>);

impl Callback {
    fn settle(&self, tag: u64, multiple: bool, acked: bool) {
        let mut c = lock(&self.0);
        let tags: Vec<u64> = match multiple {
            true => c.waiting.keys().copied().filter(|t| *t <= tag).collect(),
            false => vec![tag],
        };
        for t in tags {
            if let Some(tx) = c.waiting.remove(&t) {
                let _ = tx.send(acked);
            }
        }
    }
}

#[async_trait]
impl ChannelCallback for Callback {
    async fn close(
        &mut self,
        _: &Channel,
        close: CloseChannel,
    ) -> std::result::Result<(), amqprs::error::Error> {
        tracing::warn!(%close, "amqprs prototype: the broker closed a channel");
        lock(&self.0).waiting.clear();
        Ok(())
    }
    async fn cancel(
        &mut self,
        _: &Channel,
        cancel: Cancel,
    ) -> std::result::Result<(), amqprs::error::Error> {
        tracing::warn!(
            tag = cancel.consumer_tag(),
            "amqprs prototype: the broker cancelled a consumer"
        );
        Ok(())
    }
    async fn flow(
        &mut self,
        _: &Channel,
        active: bool,
    ) -> std::result::Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _: &Channel, ack: Ack) {
        self.settle(ack.delivery_tag(), ack.mutiple(), true);
    }
    async fn publish_nack(&mut self, _: &Channel, nack: Nack) {
        self.settle(nack.delivery_tag(), nack.multiple(), false);
    }
    async fn publish_return(&mut self, _: &Channel, ret: Return, _: BasicProperties, _: Vec<u8>) {
        tracing::warn!(%ret, "amqprs prototype: a mandatory message was returned");
    }
}

/// A channel with its callback, in confirm mode or not.
struct Lane {
    channel: Channel,
    confirms: Arc<Mutex<Confirms>>,
}

impl Lane {
    async fn open(connection: &Connection, confirm: bool) -> Result<Self> {
        let channel = connection
            .open_channel(None)
            .await
            .map_err(|e| failed("open a channel", &e))?;
        let confirms = Arc::new(Mutex::new(Confirms::default()));
        channel
            .register_callback(Callback(confirms.clone()))
            .await
            .map_err(|e| failed("register a channel callback", &e))?;
        if confirm {
            channel
                .confirm_select(ConfirmSelectArguments::default())
                .await
                .map_err(|e| failed("enable publisher confirms", &e))?;
        }
        Ok(Self { channel, confirms })
    }

    /// Publishes; with `confirm`, the receiver of the broker's answer.
    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: Vec<u8>,
        props: BasicProperties,
        mandatory: bool,
        confirm: bool,
    ) -> Result<Option<oneshot::Receiver<bool>>> {
        let answer = confirm.then(|| {
            let mut c = lock(&self.confirms);
            c.next_tag += 1;
            let (tx, rx) = oneshot::channel();
            let tag = c.next_tag;
            c.waiting.insert(tag, tx);
            rx
        });
        let mut args = BasicPublishArguments::new(exchange, routing_key);
        args.mandatory(mandatory);
        self.channel
            .basic_publish(props, body, args.finish())
            .await
            .map_err(|e| failed("publish", &e))?;
        Ok(answer)
    }
}

/// The connections, opened on first use.
struct Conns {
    publish: Connection,
    consume: Connection,
    /// Requests of calls (no confirms).
    calls: Lane,
    /// Confirm channels, one per publish in flight.
    idle: Mutex<Vec<Lane>>,
    declared: Mutex<HashSet<String>>,
}

/// The deliveries of a channel's consumers, merged.
type Deliveries = SelectAll<BoxStream<'static, ConsumerMessage>>;

/// Calls waiting for replies, by `_msg_id`.
type Waiters = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<ReplyEvent>>>>;

/// The prototype driver.
pub(crate) struct AmqprsDriver {
    args: OpenConnectionArguments,
    control_exchange: String,
    conns: OnceCell<Arc<Conns>>,
    reply_q: OnceCell<String>,
    waiters: Waiters,
    io: IoRuntime,
}

impl AmqprsDriver {
    pub fn new(url: &TransportUrl, config: &Config) -> Result<Self> {
        let host = url.hosts.first().ok_or_else(|| {
            MessagingError::InvalidTransportUrl("the transport URL names no host".into())
        })?;
        let mut args = OpenConnectionArguments::new(
            &host.hostname,
            host.port.unwrap_or(5672),
            host.username.as_deref().unwrap_or("guest"),
            host.password.as_deref().unwrap_or("guest"),
        );
        args.virtual_host(url.virtual_host.as_deref().unwrap_or("/"))
            .heartbeat(60);
        Ok(Self {
            args: args.finish(),
            control_exchange: config.default_group()?.control_exchange,
            conns: OnceCell::new(),
            reply_q: OnceCell::new(),
            waiters: Arc::default(),
            io: IoRuntime::new()?,
        })
    }

    /// Opens a connection on the driver's runtime, where its reader,
    /// writer and heartbeat tasks then run.
    async fn open(&self) -> Result<Connection> {
        let args = self.args.clone();
        self.io
            .handle()
            .spawn(async move { Connection::open(&args).await })
            .await
            .map_err(|e| {
                MessagingError::connection(crate::DRIVER, format!("amqprs prototype: {e}"))
            })?
            .map_err(|e| failed("connect", &e))
    }

    async fn conns(&self) -> Result<Arc<Conns>> {
        self.conns
            .get_or_try_init(|| async {
                let publish = self.open().await?;
                let consume = self.open().await?;
                let calls = Lane::open(&publish, false).await?;
                Ok(Arc::new(Conns {
                    publish,
                    consume,
                    calls,
                    idle: Mutex::default(),
                    declared: Mutex::default(),
                }))
            })
            .await
            .cloned()
    }

    /// Declares the topic exchange `exchange` (and `queue` bound to it by
    /// `routing_key`) once, as the driver's legacy defaults make them.
    async fn declare(
        &self,
        conns: &Conns,
        exchange: &str,
        queue: Option<(&str, &str)>,
    ) -> Result<()> {
        let key = match queue {
            Some((q, _)) => format!("q:{q}"),
            None => format!("x:{exchange}"),
        };
        if lock(&conns.declared).contains(&key) {
            return Ok(());
        }
        let lane = Lane::open(&conns.publish, false).await?;
        let ch = &lane.channel;
        ch.exchange_declare(ExchangeDeclareArguments::new(exchange, "topic"))
            .await
            .map_err(|e| failed("declare an exchange", &e))?;
        if let Some((q, routing_key)) = queue {
            ch.queue_declare(QueueDeclareArguments::new(q))
                .await
                .map_err(|e| failed("declare a queue", &e))?;
            ch.queue_bind(QueueBindArguments::new(q, exchange, routing_key))
                .await
                .map_err(|e| failed("bind a queue", &e))?;
        }
        let _ = lane.channel.close().await;
        lock(&conns.declared).insert(key);
        Ok(())
    }

    /// Publishes on a confirm channel of the pool and waits for the confirm.
    async fn publish_confirmed(
        &self,
        conns: &Conns,
        exchange: &str,
        routing_key: &str,
        body: Vec<u8>,
        props: BasicProperties,
    ) -> Result<()> {
        let idle = lock(&conns.idle).pop();
        let lane = match idle {
            Some(l) => l,
            None => Lane::open(&conns.publish, true).await?,
        };
        let answer = lane
            .publish(exchange, routing_key, body, props, false, true)
            .await?;
        let acked = match answer {
            Some(rx) => rx.await.unwrap_or(false),
            None => true,
        };
        lock(&conns.idle).push(lane);
        match acked {
            true => Ok(()),
            false => Err(MessagingError::MessageDeliveryFailure(DriverError::new(
                crate::DRIVER,
                format!("the broker refused the message to {exchange:?} / {routing_key:?}"),
            ))),
        }
    }

    /// The reply queue, declared and consumed on first use; its replies
    /// are routed to the waiting calls on the caller's runtime.
    async fn reply_queue(&self, conns: &Conns) -> Result<String> {
        self.reply_q
            .get_or_try_init(|| async {
                let name = format!("reply_{}", wire::new_id());
                let lane = Lane::open(&conns.consume, false).await?;
                let mut arguments = FieldTable::new();
                let key = "x-expires".try_into().map_err(|_| {
                    MessagingError::connection(crate::DRIVER, "bad argument name".to_owned())
                })?;
                arguments.insert(key, FieldValue::I(1_800_000));
                let mut declare = QueueDeclareArguments::new(&name);
                declare.arguments(arguments);
                lane.channel
                    .queue_declare(declare.finish())
                    .await
                    .map_err(|e| failed("declare the reply queue", &e))?;
                let mut consume = BasicConsumeArguments::new(&name, "");
                consume.manual_ack(false);
                let (_, mut replies) = lane
                    .channel
                    .basic_consume_rx(consume.finish())
                    .await
                    .map_err(|e| failed("consume the reply queue", &e))?;
                let waiters = self.waiters.clone();
                tokio::spawn(async move {
                    let _lane = lane;
                    while let Some(m) = replies.recv().await {
                        if let Some(body) = m.content {
                            route(&waiters, &body);
                        }
                    }
                    tracing::warn!("amqprs prototype: the reply consumer ended");
                });
                Ok(name)
            })
            .await
            .cloned()
    }

    /// Declares and consumes `queues` (name, routing key) on one channel.
    async fn consume(
        &self,
        exchange: &str,
        queues: &[(String, String)],
    ) -> Result<(Channel, Deliveries)> {
        let conns = self.conns().await?;
        for (q, key) in queues {
            self.declare(&conns, exchange, Some((q, key))).await?;
        }
        let lane = Lane::open(&conns.consume, false).await?;
        let mut all = SelectAll::new();
        for (q, _) in queues {
            let mut consume = BasicConsumeArguments::new(q, "");
            consume.manual_ack(true);
            let (_, deliveries) = lane
                .channel
                .basic_consume_rx(consume.finish())
                .await
                .map_err(|e| failed("consume a queue", &e))?;
            all.push(
                futures::stream::unfold(deliveries, |mut rx| async move {
                    rx.recv().await.map(|m| (m, rx))
                })
                .boxed(),
            );
        }
        Ok((lane.channel, all))
    }
}

/// Hands a reply to its call.
fn route(waiters: &Waiters, body: &[u8]) {
    let Ok(u) = wire::unpack(body) else {
        tracing::warn!("amqprs prototype: dropping a malformed reply");
        return;
    };
    let Some(msg_id) = u.msg_id else { return };
    let event = match wire::reply(&u.body) {
        Ok(ReplyPart::Failure(f)) => ReplyEvent::Final(Err(f)),
        Ok(ReplyPart::Result { value, .. }) => ReplyEvent::Final(Ok(value)),
        Ok(ReplyPart::End) => ReplyEvent::Final(Ok(Value::Null)),
        Ok(ReplyPart::KeepAlive) => ReplyEvent::KeepAlive,
        Err(e) => ReplyEvent::Failed(e),
    };
    if let Some(tx) = lock(waiters).get(&msg_id) {
        let _ = tx.send(event);
    }
}

/// Forgets a call when its `PendingReply` is dropped.
struct Unregister(Waiters, String);

impl Drop for Unregister {
    fn drop(&mut self) {
        lock(&self.0).remove(&self.1);
    }
}

#[async_trait]
impl Driver for AmqprsDriver {
    fn name(&self) -> &'static str {
        crate::DRIVER
    }

    async fn send(
        &self,
        target: &Target,
        context: &Context,
        message: RpcMessage,
        mode: SendMode,
        _: SendOptions,
    ) -> Result<Option<PendingReply>> {
        let topic = target.require_topic("send")?;
        let conns = self.conns().await?;
        let exchange = target.exchange.as_deref().unwrap_or(&self.control_exchange);
        self.declare(&conns, exchange, None).await?;
        let routing_key = address::request_routing_key(topic, target);
        match mode {
            SendMode::Cast => {
                let body = wire::request_body(context, &message, None);
                self.publish_confirmed(&conns, exchange, &routing_key, body, properties(None))
                    .await?;
                Ok(None)
            }
            SendMode::Call {
                timeout,
                call_monitor_timeout,
            } => {
                let reply_q = self.reply_queue(&conns).await?;
                let msg_id = wire::new_id();
                let (tx, rx) = mpsc::unbounded_channel();
                lock(&self.waiters).insert(msg_id.clone(), tx);
                let guard = Unregister(self.waiters.clone(), msg_id.clone());
                let call = CallInfo {
                    msg_id: &msg_id,
                    reply_q: &reply_q,
                    call_monitor_timeout,
                };
                let body = wire::request_body(context, &message, Some(&call));
                conns
                    .calls
                    .publish(
                        exchange,
                        &routing_key,
                        body,
                        properties(Some(timeout)),
                        false,
                        false,
                    )
                    .await?;
                Ok(Some(PendingReply::new(rx, Some(Box::new(guard)))))
            }
        }
    }

    async fn send_notification(
        &self,
        target: &Target,
        context: &Context,
        message: Map<String, Value>,
        format: NotificationFormat,
        _: Retry,
    ) -> Result<()> {
        let key = target.require_topic("send a notification")?;
        let exchange = target.exchange.as_deref().unwrap_or(&self.control_exchange);
        let conns = self.conns().await?;
        self.declare(&conns, exchange, Some((key, key))).await?;
        let body = wire::notification_body(context, message, format);
        self.publish_confirmed(&conns, exchange, key, body, properties(None))
            .await
    }

    async fn listen(&self, target: &Target) -> Result<Box<dyn Listener<IncomingRequest>>> {
        let topic = target.require_topic("listen")?;
        let server = target.server.as_deref().unwrap_or_default();
        let exchange = target.exchange.as_deref().unwrap_or(&self.control_exchange);
        let server_q = address::server_queue(topic, server);
        let queues = [
            (topic.to_owned(), topic.to_owned()),
            (server_q.clone(), server_q),
        ];
        let (channel, deliveries) = self.consume(exchange, &queues).await?;
        let conns = self.conns().await?;
        let replies = Lane::open(&conns.publish, true).await?;
        Ok(Box::new(RpcListener {
            channel,
            deliveries,
            replies: Arc::new(replies),
        }))
    }

    async fn listen_for_notifications(
        &self,
        targets_and_priorities: &[(Target, Priority)],
        pool: Option<&str>,
    ) -> Result<Box<dyn Listener<IncomingNotification>>> {
        let Some((target, _)) = targets_and_priorities.first() else {
            return Err(MessagingError::InvalidTarget("no target".into()));
        };
        let exchange = target
            .exchange
            .as_deref()
            .unwrap_or(&self.control_exchange)
            .to_owned();
        let mut queues = Vec::new();
        for (target, priority) in targets_and_priorities {
            let topic = target.require_topic("listen for notifications")?;
            let key = address::notification_topic(topic, *priority);
            queues.push((pool.unwrap_or(&key).to_owned(), key));
        }
        let (channel, deliveries) = self.consume(&exchange, &queues).await?;
        Ok(Box::new(NotifyListener {
            channel,
            deliveries,
        }))
    }

    async fn cleanup(&self) {
        if let Some(conns) = self.conns.get() {
            let _ = conns.publish.clone().close().await;
            let _ = conns.consume.clone().close().await;
        }
    }
}

/// Settles one delivery, and for calls replies.
struct Handle {
    channel: Channel,
    tag: u64,
    reply: Option<(Arc<Lane>, String, String)>,
}

impl Handle {
    async fn ack(&self) -> Result<()> {
        self.channel
            .basic_ack(BasicAckArguments::new(self.tag, false))
            .await
            .map_err(|e| failed("acknowledge", &e))
    }
}

#[async_trait]
impl RequestHandle for Handle {
    async fn acknowledge(&self) -> Result<()> {
        self.ack().await
    }

    async fn reply(&self, reply: ReplyResult) -> Result<()> {
        let Some((lane, reply_q, msg_id)) = &self.reply else {
            return Ok(());
        };
        let body = wire::reply_body(msg_id, &reply);
        // Confirmed, but not awaited: the driver checks reply confirms later.
        drop(
            lane.publish("", reply_q, body, properties(None), true, true)
                .await?,
        );
        Ok(())
    }

    async fn heartbeat(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl NotificationHandle for Handle {
    async fn acknowledge(&self) -> Result<()> {
        self.ack().await
    }

    async fn requeue(&self) -> Result<()> {
        self.channel
            .basic_nack(BasicNackArguments::new(self.tag, false, true))
            .await
            .map_err(|e| failed("requeue", &e))
    }
}

struct RpcListener {
    channel: Channel,
    deliveries: Deliveries,
    replies: Arc<Lane>,
}

#[async_trait]
impl Listener<IncomingRequest> for RpcListener {
    async fn next(&mut self) -> Option<IncomingRequest> {
        loop {
            let m = self.deliveries.next().await?;
            let (Some(deliver), Some(body)) = (m.deliver, m.content) else {
                continue;
            };
            let tag = deliver.delivery_tag();
            let Ok(mut u) = wire::unpack(&body) else {
                let _ = self
                    .channel
                    .basic_ack(BasicAckArguments::new(tag, false))
                    .await;
                continue;
            };
            let wants_reply = u.msg_id.is_some() && u.reply_q.is_some();
            let message_id = u.msg_id.clone();
            let reply = match (u.reply_q.take(), u.msg_id.take()) {
                (Some(q), Some(id)) => Some((self.replies.clone(), q, id)),
                _ => None,
            };
            let handle = Handle {
                channel: self.channel.clone(),
                tag,
                reply,
            };
            match wire::request(&mut u.body) {
                Ok(message) => {
                    return Some(IncomingRequest {
                        context: u.context,
                        message,
                        wants_reply,
                        call_monitor_timeout: u.call_monitor_timeout,
                        message_id,
                        handle: Box::new(handle),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "amqprs prototype: dropping a malformed request");
                    let _ = handle.ack().await;
                }
            }
        }
    }

    async fn stop(&mut self) {
        self.deliveries = SelectAll::new();
    }
}

struct NotifyListener {
    channel: Channel,
    deliveries: Deliveries,
}

#[async_trait]
impl Listener<IncomingNotification> for NotifyListener {
    async fn next(&mut self) -> Option<IncomingNotification> {
        loop {
            let m = self.deliveries.next().await?;
            let (Some(deliver), Some(body)) = (m.deliver, m.content) else {
                continue;
            };
            let handle = Handle {
                channel: self.channel.clone(),
                tag: deliver.delivery_tag(),
                reply: None,
            };
            match wire::unpack(&body) {
                Ok(u) => {
                    return Some(IncomingNotification {
                        context: u.context,
                        message: u.body,
                        handle: Box::new(handle),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "amqprs prototype: dropping a malformed notification");
                    let _ = handle.ack().await;
                }
            }
        }
    }

    async fn stop(&mut self) {
        self.deliveries = SelectAll::new();
    }
}
