//! `bench raw-server` and `bench raw-client`: the floor. The same
//! request/reply and publish/consume patterns as `rpc-server` and
//! `rpc-client`, with lapin alone: no envelope, no serialization, no
//! dispatch, one connection per process, on the application's runtime.
//!
//! - The server consumes the queue named `--topic` (declared auto-delete),
//!   answers a message that has `reply_to` with its body (correlation id
//!   kept, no confirm), and acknowledges every message.
//! - The client publishes `--payload-bytes` bytes to that queue through the
//!   default exchange. A call waits for its reply on the client's own
//!   reply queue (no confirm: the reply proves delivery); with `--cast` it
//!   waits for the publisher confirm instead. This is also the floor for
//!   notifications, which are published and confirmed the same way.
//!
//! With `--oslo-amqp` (on both sides) the messages take the AMQP features
//! oslo.messaging's wire format needs, still without envelope or dispatch:
//! published to a topic exchange (`<queue>.x`) bound to the queue,
//! persistent, with content type and encoding, calls with an expiration,
//! and replies mandatory and confirmed (each on a task of its own, so the
//! server keeps consuming). What separates this floor from the plain one
//! is the broker's work for the wire format.
//!
//! With `--quorum` (on both sides) the queues are what the 2026 preset
//! (`rabbit_quorum_queue`, `rabbit_transient_quorum_queue`) makes them:
//! the server's queue and the client's reply queue (`<queue>.reply`) are
//! durable quorum queues, deleted at the end; with `--prefetch N` the
//! server consumes with that prefetch count (`rabbit_qos_prefetch_count`).
//! Against the plain floor this measures the broker's own cost of quorum
//! queues, which the preset cannot avoid.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use oslo_messaging_core::TransportUrl;
use tokio::sync::oneshot;

use super::{load, lock, serve_until, topic, Counter};
use crate::args::{GlobalArgs, RawClientArgs, RawServerArgs};
use crate::commands::{load_config, url_for, Traffic};
use crate::exit::CliError;
use crate::signal::Signal;

/// How long a raw call waits for its reply without `--timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A lapin error as a CLI error that says what was being done.
fn failed(what: &str) -> impl Fn(lapin::Error) -> CliError + '_ {
    move |e| CliError::Unexpected(format!("raw benchmark: cannot {what}: {e}"))
}

/// The AMQP features of oslo.messaging's wire format, or none; quorum
/// queues or classic ones.
#[derive(Clone, Copy)]
struct Amqp {
    oslo: bool,
    quorum: bool,
}

impl Amqp {
    /// How to declare a queue of the benchmark, and its arguments.
    fn queue(self, classic: QueueDeclareOptions) -> (QueueDeclareOptions, FieldTable) {
        if !self.quorum {
            return (classic, FieldTable::default());
        }
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        (options, arguments)
    }

    /// The exchange requests go to: the topic exchange, or the default one.
    fn exchange(self, queue: &str) -> String {
        match self.oslo {
            true => format!("{queue}.x"),
            false => String::new(),
        }
    }

    /// Properties of every message (`expiration` for calls).
    fn properties(self, expiration: bool) -> BasicProperties {
        if !self.oslo {
            return BasicProperties::default();
        }
        let p = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into());
        match expiration {
            true => p.with_expiration("60000".into()),
            false => p,
        }
    }
}

/// Where a raw floor connects: the first host of the transport URL
/// (`rabbit://` or `kombu://`), its credentials (guest/guest when it has
/// none) and virtual host (`/`).
pub(super) struct Broker {
    pub hostname: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub vhost: String,
}

impl Broker {
    /// The broker of `--url` (or the configuration's transport URL).
    ///
    /// # Errors
    /// A URL that is not `rabbit://` or names no host (usage errors).
    pub(super) fn of(global: &GlobalArgs) -> Result<Self, CliError> {
        let config = load_config(global, &[])?;
        let url = TransportUrl::parse(&url_for(global, &config, Traffic::Rpc)?)?;
        if !matches!(url.driver_name(), "rabbit" | "kombu") {
            return Err(CliError::Usage(format!(
                "the raw benchmarks need a rabbit:// URL, not {}://",
                url.scheme
            )));
        }
        let host = url
            .hosts
            .first()
            .ok_or_else(|| CliError::Usage("the transport URL names no host".into()))?;
        Ok(Self {
            hostname: host.hostname.clone(),
            port: host.port.unwrap_or(5672),
            username: host.username.clone().unwrap_or_else(|| "guest".into()),
            password: host.password.clone().unwrap_or_else(|| "guest".into()),
            vhost: url.virtual_host.clone().unwrap_or_else(|| "/".into()),
        })
    }
}

/// Connects to the broker of the transport URL.
async fn connect(global: &GlobalArgs) -> Result<Arc<Connection>, CliError> {
    let broker = Broker::of(global)?;
    let uri = AMQPUri {
        scheme: AMQPScheme::AMQP,
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo {
                username: broker.username,
                password: broker.password,
            },
            host: broker.hostname,
            port: broker.port,
        },
        vhost: broker.vhost,
        query: AMQPQueryString::default(),
    };
    Connection::connect_uri(uri, ConnectionProperties::default())
        .await
        .map(Arc::new)
        .map_err(failed("connect"))
}

/// Closes the connection, giving up after a few seconds: lapin's close
/// can wait forever when its I/O loop ended on an error meanwhile.
async fn close(connection: &Connection) {
    let closing = connection.close(200, "done".into());
    if !matches!(
        tokio::time::timeout(Duration::from_secs(5), closing).await,
        Ok(Ok(()))
    ) {
        tracing::debug!("raw benchmark: the connection did not close cleanly");
    }
}

/// Consumes `queue` until the connection closes: answers and acknowledges.
async fn answer(
    connection: &Arc<Connection>,
    queue: &str,
    amqp: Amqp,
    prefetch: u16,
    counter: Arc<Counter>,
) -> Result<tokio::task::JoinHandle<()>, CliError> {
    let channel = connection
        .create_channel()
        .await
        .map_err(failed("open a channel"))?;
    if prefetch > 0 {
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(failed("set the prefetch count"))?;
    }
    let (options, arguments) = amqp.queue(QueueDeclareOptions {
        auto_delete: true,
        ..QueueDeclareOptions::default()
    });
    channel
        .queue_declare(queue.into(), options, arguments)
        .await
        .map_err(failed("declare the queue"))?;
    if amqp.oslo {
        let exchange = amqp.exchange(queue);
        let options = ExchangeDeclareOptions {
            auto_delete: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                options,
                FieldTable::default(),
            )
            .await
            .map_err(failed("declare the exchange"))?;
        channel
            .queue_bind(
                queue.into(),
                exchange.as_str().into(),
                queue.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(failed("bind the queue"))?;
    }
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(failed("consume the queue"))?;
    let replies = Replies {
        connection: connection.clone(),
        amqp,
        idle: Arc::default(),
    };
    Ok(tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            let Delivery {
                data,
                properties,
                acker,
                ..
            } = d;
            if let Some(reply_to) = properties.reply_to() {
                let mut props = amqp.properties(false);
                if let Some(id) = properties.correlation_id() {
                    props = props.with_correlation_id(id.clone());
                }
                let reply = (reply_to.to_string(), data, props);
                match amqp.oslo {
                    true => drop(tokio::spawn({
                        let replies = replies.clone();
                        async move { replies.send(reply).await }
                    })),
                    false => replies.send(reply).await,
                }
            }
            if let Err(e) = acker.ack(BasicAckOptions::default()).await {
                tracing::warn!(error = %e, "raw-server: ack failed");
            }
            counter.count();
        }
    }))
}

/// How the raw server replies: one channel without confirms, or confirm
/// channels (one per reply in flight) with `--oslo-amqp`.
#[derive(Clone)]
struct Replies {
    connection: Arc<Connection>,
    amqp: Amqp,
    idle: Arc<Mutex<Vec<Channel>>>,
}

impl Replies {
    async fn send(&self, (reply_to, body, props): (String, Vec<u8>, BasicProperties)) {
        let idle = lock(&self.idle).pop();
        let channel = match idle {
            Some(c) => c,
            None => match self.open().await {
                Ok(c) => c,
                Err(e) => return tracing::warn!(error = %e, "raw-server: no reply channel"),
            },
        };
        let options = BasicPublishOptions {
            mandatory: self.amqp.oslo,
            ..BasicPublishOptions::default()
        };
        let sent = channel
            .basic_publish("".into(), reply_to.as_str().into(), options, &body, props)
            .await;
        let confirmed = match (sent, self.amqp.oslo) {
            (Ok(confirm), true) => confirm.await.map(drop),
            (sent, _) => sent.map(drop),
        };
        match confirmed {
            Ok(()) => lock(&self.idle).push(channel),
            Err(e) => tracing::warn!(error = %e, "raw-server: reply not sent"),
        }
    }

    async fn open(&self) -> lapin::Result<Channel> {
        let channel = self.connection.create_channel().await?;
        if self.amqp.oslo {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
        }
        Ok(channel)
    }
}

/// `bench raw-server`.
///
/// # Errors
/// Bad input, connection failures.
pub async fn server(
    global: &GlobalArgs,
    args: &RawServerArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CliError> {
    let connection = connect(global).await?;
    let queue = topic(global);
    let amqp = Amqp {
        oslo: args.oslo_amqp,
        quorum: args.quorum,
    };
    let prefetch = args.prefetch;
    let args = &args.server;
    let counter = Counter::new(args.messages);
    let serving = answer(&connection, &queue, amqp, prefetch, counter.clone()).await?;
    let ready = format!("queue={queue}");
    let served = serve_until(args, &counter, &ready, err, shutdown).await;
    serving.abort();
    if amqp.quorum {
        delete_queue(&connection, &queue).await;
    }
    close(&connection).await;
    served?;
    counter.finish("raw-server", &ready, args.json, out, err)?;
    Ok(())
}

/// Calls waiting for their replies, by correlation id (the call's
/// sequence number); both raw floors use it.
#[derive(Clone, Default)]
pub(super) struct Calls(Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>);

impl Calls {
    /// Registers call `seq`: its correlation id, and where its reply comes.
    pub(super) fn register(&self, seq: u64) -> (String, oneshot::Receiver<()>) {
        let id = seq.to_string();
        let (tx, rx) = oneshot::channel();
        lock(&self.0).insert(id.clone(), tx);
        (id, rx)
    }

    /// Hands the reply with correlation id `id` to its call, if one waits.
    pub(super) fn answer(&self, id: &str) {
        if let Some(tx) = lock(&self.0).remove(id) {
            let _ = tx.send(());
        }
    }

    /// The reply consumer stopped: the waiting calls fail at once rather
    /// than at their timeout.
    pub(super) fn fail_all(&self) {
        lock(&self.0).clear();
    }

    /// Waits at most `timeout` for call `seq`'s reply.
    pub(super) async fn wait(
        &self,
        seq: u64,
        reply: oneshot::Receiver<()>,
        timeout: Duration,
    ) -> Result<(), String> {
        match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("the reply consumer stopped".into()),
            Err(_) => {
                lock(&self.0).remove(&seq.to_string());
                Err(format!("no reply within {timeout:?}"))
            }
        }
    }
}

/// `bench raw-client`.
///
/// # Errors
/// Bad input, connection failures.
pub async fn client(
    global: &GlobalArgs,
    args: &RawClientArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Result<(), CliError> {
    let load = load(&args.load)?;
    let connection = connect(global).await?;
    let queue = topic(global);
    let amqp = Amqp {
        oslo: args.oslo_amqp,
        quorum: args.quorum,
    };
    let serving = match args.load.in_process_server {
        true => Some(answer(&connection, &queue, amqp, 0, Counter::new(None)).await?),
        false => None,
    };
    // One channel per sender, as the driver's publisher pool leases them.
    let mut channels = Vec::with_capacity(load.concurrency);
    for _ in 0..load.concurrency {
        let channel = connection
            .create_channel()
            .await
            .map_err(failed("open a channel"))?;
        if args.cast {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(failed("enable publisher confirms"))?;
        }
        channels.push(channel);
    }
    let waiting = Calls::default();
    let reply_to = match args.cast {
        true => None,
        false => Some(consume_replies(&connection, &queue, amqp, waiting.clone()).await?),
    };
    let timeout = global.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let exchange = amqp.exchange(&queue);
    let body = vec![b'x'; load.payload_bytes];
    let kind = if args.cast { "cast" } else { "call" };
    let label = format!("raw-client {kind} x{}", load.concurrency);
    let sender_reply_to = reply_to.clone();
    let sender = Arc::new(Sender {
        pool: Mutex::new(channels),
        waiting,
        exchange,
        amqp,
        queue,
        reply_to,
        body,
        timeout,
    });
    let (report, stopped_by) = super::load::drive(&load, &label, err, shutdown, move |seq| {
        let sender = sender.clone();
        async move { sender.run(seq).await }
    })
    .await;
    if let Some(s) = serving {
        s.abort();
    }
    if let (Some(reply_to), true) = (&sender_reply_to, amqp.quorum) {
        delete_queue(&connection, reply_to).await;
    }
    close(&connection).await;
    report.write(out, args.load.json)?;
    stopped_by.map_or(Ok(()), |s| Err(CliError::Interrupted(s)))
}

/// Deletes `queue` (a quorum queue of the benchmark), logging a failure.
async fn delete_queue(connection: &Connection, queue: &str) {
    let deleted = async {
        let channel = connection.create_channel().await?;
        channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await?;
        channel.close(200, "deleted".into()).await
    };
    if let Err(e) = deleted.await {
        tracing::warn!(queue, error = %e, "raw benchmark: could not delete the queue");
    }
}

/// Declares the client's reply queue (server-named and exclusive, or with
/// `--quorum` the quorum queue `<queue>.reply`) and routes its messages to
/// the waiting calls; returns the queue's name.
async fn consume_replies(
    connection: &Connection,
    queue: &str,
    amqp: Amqp,
    waiting: Calls,
) -> Result<String, CliError> {
    let channel = connection
        .create_channel()
        .await
        .map_err(failed("open a channel"))?;
    let (options, arguments) = amqp.queue(QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    });
    let name = match amqp.quorum {
        true => format!("{queue}.reply"),
        false => String::new(),
    };
    let queue = channel
        .queue_declare(name.as_str().into(), options, arguments)
        .await
        .map_err(failed("declare the reply queue"))?;
    let name = queue.name().to_string();
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut consumer = channel
        .basic_consume(
            name.as_str().into(),
            "".into(),
            no_ack,
            FieldTable::default(),
        )
        .await
        .map_err(failed("consume the reply queue"))?;
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            let Some(id) = d.properties.correlation_id() else {
                continue;
            };
            waiting.answer(id.as_str());
        }
        waiting.fail_all();
    });
    Ok(name)
}

/// What every send shares.
struct Sender {
    pool: Mutex<Vec<Channel>>,
    waiting: Calls,
    exchange: String,
    amqp: Amqp,
    queue: String,
    reply_to: Option<String>,
    body: Vec<u8>,
    timeout: Duration,
}

impl Sender {
    async fn run(&self, seq: u64) -> Result<(), String> {
        // There are as many channels as senders.
        let channel = lock(&self.pool)
            .pop()
            .ok_or("raw-client: no free channel")?;
        let outcome = self.on(&channel, seq).await;
        lock(&self.pool).push(channel);
        outcome
    }

    async fn on(&self, channel: &Channel, seq: u64) -> Result<(), String> {
        let mut props = self.amqp.properties(self.reply_to.is_some());
        let mut reply = None;
        if let Some(reply_to) = &self.reply_to {
            let (id, rx) = self.waiting.register(seq);
            props = props
                .with_correlation_id(id.into())
                .with_reply_to(reply_to.as_str().into());
            reply = Some(rx);
        }
        let confirm = channel
            .basic_publish(
                self.exchange.as_str().into(),
                self.queue.as_str().into(),
                BasicPublishOptions::default(),
                &self.body,
                props,
            )
            .await
            .map_err(|e| format!("publish: {e}"))?;
        match reply {
            None => confirm
                .await
                .map(drop)
                .map_err(|e| format!("publisher confirm: {e}")),
            Some(rx) => self.waiting.wait(seq, rx, self.timeout).await,
        }
    }
}
