//! Watching live traffic without taking it from anyone: what
//! `oslo-messaging tap` prints.
//!
//! A [`Tap`] declares a private queue (server-named, exclusive,
//! auto-delete: it goes with the tap's connection) and binds it to the
//! exchanges and routing keys the traffic is published to, so the broker
//! gives the tap a copy of each message and the servers and listeners
//! still get theirs:
//!
//! - RPC of a topic ([`Tapped::Rpc`]): the control exchange with
//!   `<topic>.#` (the topic and each of its servers, whose names may hold
//!   dots; or `<topic>.<server>` for one server), and the fanout exchange
//!   `<topic>_fanout` when it exists;
//! - notifications ([`Tapped::Notifications`]): the control exchange with
//!   `<topic>.*` (every priority).
//!
//! Replies cannot be copied that way: oslo.messaging sends them through
//! the default exchange (`impl_rabbit.py`, `direct_send`), which takes no
//! binding. With `replies`, the tap also binds to RabbitMQ's firehose,
//! `amq.rabbitmq.trace` with `publish.` (what is published to the default
//! exchange), which carries them while the operator has turned tracing on
//! for the virtual host (`rabbitmqctl trace_on -p <vhost>`); each reply to
//! a call the tap saw is then printed with the call's method and the time
//! it took (the firehose carries every reply of the virtual host: the
//! others are not the tap's business and are skipped).
//!
//! Every [`TapEvent`] is one JSON object; secrets are masked in it as
//! oslo.utils' `mask_dict_password` masks them
//! ([`oslo_messaging_core::redact::mask_secrets`]).
//!
//! The tap's queue holds at most [`MAX_LENGTH`] messages: when the tap
//! falls behind, the broker drops the oldest copies (`x-overflow:
//! drop-head`, which never refuses the services' own publishes), and the
//! tap says so when it starts.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::Connection;
use oslo_messaging_core::config::{Config, DefaultGroup};
use oslo_messaging_core::{redact, Result, TransportUrl};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::endpoints::Endpoints;
use crate::io_runtime::IoRuntime;
use crate::lapin_error::error;
use crate::link::Link;
use crate::options::RabbitOptions;
use crate::wire;

/// The firehose exchange of RabbitMQ's tracer.
pub const FIREHOSE: &str = "amq.rabbitmq.trace";

/// How many calls the tap remembers while it waits for their replies.
const PENDING_CALLS: usize = 10_000;

/// The most messages the tap's queue holds (`x-max-length`).
pub const MAX_LENGTH: i64 = 10_000;

/// Messages the broker sends the tap before it acknowledges them, and
/// decoded ones waiting to be printed.
const PREFETCH: u16 = 256;

/// What to tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tapped {
    /// Requests to a topic: to all its servers, or to `server` only.
    Rpc {
        /// The topic.
        topic: String,
        /// One server of it.
        server: Option<String>,
    },
    /// Notifications of a topic, every priority (`<topic>.*`).
    Notifications {
        /// The topic, e.g. `notifications`.
        topic: String,
    },
}

/// One message the tap saw, as one JSON object:
///
/// - a request: `{"direction": "request", "type": "call"|"cast"|"fanout",
///   "exchange", "routing_key", "method", "namespace", "version", "args",
///   "context", "msg_id", "reply_queue", "size"}`;
/// - a notification: `{"direction": "notification", "exchange",
///   "routing_key", "event_type", "priority", "publisher_id", "payload",
///   "context", "message_id", "timestamp", "size"}`;
/// - a reply to a call the tap saw: `{"direction": "reply", "msg_id",
///   "reply_queue", "method" (the call's), "elapsed_ms" (since the tap saw
///   the call), "result" | "failure": {"class", "module", "message"} |
///   "keepalive": true, "size"}`;
/// - a message the tap could not decode: `{"direction": "malformed",
///   "exchange", "routing_key", "error", "size"}`.
///
/// `size` is the body's size on the wire, in bytes (compressed, when it
/// was). Secrets are masked ([`mask_secrets`]).
pub type TapEvent = Map<String, Value>;

/// A running tap; see the module documentation.
pub struct Tap {
    deliveries: mpsc::Receiver<lapin::Result<lapin::message::Delivery>>,
    calls: HashMap<String, (Instant, String)>,
    order: VecDeque<String>,
    notes: Vec<String>,
    queue: String,
    connection: Arc<Connection>,
    _link: Link,
    _io: IoRuntime,
}

impl Tap {
    /// Connects to the broker of `url` (with the `[oslo_messaging_rabbit]`
    /// options of `config`, `[DEFAULT] control_exchange` unless `exchange`
    /// is given), declares the tap's queue, binds it and consumes it.
    ///
    /// # Errors
    /// Bad options; a connection failure (one attempt); the broker
    /// refusing the queue or a binding to the control exchange (it does
    /// not exist until a service declared it) or to the firehose.
    pub async fn start(
        url: &TransportUrl,
        config: &Config,
        exchange: Option<&str>,
        tapped: &[Tapped],
        replies: bool,
    ) -> Result<Tap> {
        let opts: RabbitOptions = config.driver_group(url)?;
        opts.validate()?;
        let defaults: DefaultGroup = config.default_group()?;
        let exchange = exchange.unwrap_or(&defaults.control_exchange).to_owned();
        let io = IoRuntime::new()?;
        let link = Link::new("tap", Endpoints::new(url, &opts)?, opts, io.handle());
        let connection = link.connection(Some(0)).await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| error("open a channel", &e))?;
        let queue = channel
            .queue_declare(
                ShortString::from(""),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                queue_arguments(),
            )
            .await
            .map_err(|e| error("declare the tap's queue", &e))?
            .name()
            .to_string();
        let mut notes = vec![format!(
            "the tap's queue holds at most {MAX_LENGTH} messages: when the tap falls behind, the oldest are dropped"
        )];
        for (exchange, key, optional) in bindings(&exchange, tapped, replies) {
            // A binding the broker refuses closes its channel: each has its own.
            let bind = connection
                .create_channel()
                .await
                .map_err(|e| error("open a channel", &e))?;
            let bound = bind
                .queue_bind(
                    ShortString::from(queue.as_str()),
                    ShortString::from(exchange.as_str()),
                    ShortString::from(key.as_str()),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await;
            match bound {
                Ok(()) => {
                    notes.push(format!("tapping exchange {exchange:?} routing key {key:?}"));
                    let _ = bind.close(200, "bound".into()).await;
                }
                Err(e) if optional => notes.push(format!(
                    "not tapping exchange {exchange:?} (routing key {key:?}): {}",
                    error("bind", &e)
                )),
                Err(e) => {
                    return Err(error(
                        &format!(
                        "bind the tap's queue to exchange {exchange:?} with routing key {key:?}"
                    ),
                        &e,
                    ))
                }
            }
        }
        if replies {
            notes.push(format!(
                "replies appear only while RabbitMQ's tracer is on for the virtual host (rabbitmqctl trace_on -p {})",
                url.virtual_host.as_deref().unwrap_or("/")
            ));
        }
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await
            .map_err(|e| error("set the tap's prefetch", &e))?;
        let mut consumer = channel
            .basic_consume(
                ShortString::from(queue.as_str()),
                ShortString::from(""),
                BasicConsumeOptions {
                    exclusive: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| error("consume the tap's queue", &e))?;
        // Bounded, and acknowledged once handed over: a tap that prints
        // slowly holds at most PREFETCH messages here, the rest wait in
        // its queue.
        let (tx, deliveries) = mpsc::channel(usize::from(PREFETCH));
        io.handle().spawn(async move {
            let _channel = channel;
            while let Some(d) = consumer.next().await {
                let failed = d.is_err();
                let acker = d.as_ref().ok().map(|d| d.acker.clone());
                if tx.send(d).await.is_err() || failed {
                    return;
                }
                if let Some(acker) = acker {
                    let _ = acker.ack(BasicAckOptions::default()).await;
                }
            }
        });
        Ok(Tap {
            deliveries,
            calls: HashMap::new(),
            order: VecDeque::new(),
            notes,
            queue,
            connection,
            _link: link,
            _io: io,
        })
    }

    /// What the tap bound and what it could not, one line each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The tap's private queue.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The next message; `None` when the connection closed (or the
    /// broker cancelled the tap's consumer).
    ///
    /// # Errors
    /// The consumer failed (the connection was lost); the tap is over.
    pub async fn next(&mut self) -> Option<Result<TapEvent>> {
        loop {
            let delivery = match self.deliveries.recv().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(error("consume the tap's queue", &e))),
            };
            if let Some(event) = self.decode(&delivery) {
                return Some(Ok(event));
            }
        }
    }

    /// Closes the tap's connection (its queue goes with it).
    pub async fn close(self) {
        let _ = self.connection.close(200, "tap done".into()).await;
    }

    fn decode(&mut self, d: &lapin::message::Delivery) -> Option<TapEvent> {
        let size = d.data.len();
        if d.exchange.as_str() == FIREHOSE {
            return self.reply(d.properties.headers().as_ref(), &d.data, size);
        }
        let (exchange, key) = (d.exchange.as_str(), d.routing_key.as_str());
        let mut u = match unpack(d.properties.headers().as_ref(), &d.data) {
            Ok(u) => u,
            Err(e) => return Some(malformed(exchange, key, &e.to_string(), size)),
        };
        let mut event = Map::new();
        if u.body.contains_key("event_type") {
            event.insert("direction".into(), json!("notification"));
            event.insert("exchange".into(), json!(exchange));
            event.insert("routing_key".into(), json!(key));
            for field in ["event_type", "priority", "publisher_id", "payload"] {
                event.insert(field.into(), u.body.remove(field).unwrap_or(Value::Null));
            }
            event.insert("context".into(), Value::Object(u.context));
            for field in ["message_id", "timestamp"] {
                event.insert(field.into(), u.body.remove(field).unwrap_or(Value::Null));
            }
        } else {
            let request = match wire::request(&mut u.body) {
                Ok(r) => r,
                Err(e) => return Some(malformed(exchange, key, &e.to_string(), size)),
            };
            let kind = match (&u.msg_id, exchange.ends_with("_fanout")) {
                (_, true) => "fanout",
                (Some(_), false) => "call",
                (None, false) => "cast",
            };
            if let Some(id) = &u.msg_id {
                self.remember(id, &request.method);
            }
            event.insert("direction".into(), json!("request"));
            event.insert("type".into(), json!(kind));
            event.insert("exchange".into(), json!(exchange));
            event.insert("routing_key".into(), json!(key));
            event.insert("method".into(), json!(request.method));
            event.insert("namespace".into(), json!(request.namespace));
            event.insert("version".into(), json!(request.version));
            event.insert("args".into(), Value::Object(request.args));
            event.insert("context".into(), Value::Object(u.context));
            event.insert("msg_id".into(), json!(u.msg_id));
            event.insert("reply_queue".into(), json!(u.reply_q));
        }
        event.insert("size".into(), json!(size));
        Some(masked(event))
    }

    /// A message the firehose copied from the default exchange: a reply
    /// (anything else sent there is not the tap's business).
    fn reply(&mut self, trace: Option<&FieldTable>, data: &[u8], size: usize) -> Option<TapEvent> {
        let routed = trace.and_then(|t| match t.inner().get("routing_keys") {
            Some(AMQPValue::FieldArray(keys)) => keys.as_slice().first().and_then(text),
            _ => None,
        });
        // The published message's own headers (its `compression`).
        let headers = trace.and_then(|t| match t.inner().get("properties") {
            Some(AMQPValue::FieldTable(p)) => match p.inner().get("headers") {
                Some(AMQPValue::FieldTable(h)) => Some(h.clone()),
                _ => None,
            },
            _ => None,
        });
        let u = unpack(headers.as_ref(), data).ok()?;
        let msg_id = u.msg_id?;
        // Every reply of the virtual host goes through the firehose: only
        // those of calls the tap saw are its business.
        let (seen, method) = self.calls.get(&msg_id)?.clone();
        let part = wire::reply(&u.body).ok()?;
        let last = matches!(
            part,
            wire::ReplyPart::Failure(_)
                | wire::ReplyPart::End
                | wire::ReplyPart::Result { ending: true, .. }
        );
        let mut event = Map::new();
        event.insert("direction".into(), json!("reply"));
        event.insert("msg_id".into(), json!(msg_id));
        event.insert("reply_queue".into(), json!(routed));
        event.insert("method".into(), json!(method));
        event.insert(
            "elapsed_ms".into(),
            json!((seen.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0),
        );
        match part {
            wire::ReplyPart::Result { value, .. } => {
                event.insert("result".into(), value);
            }
            wire::ReplyPart::Failure(f) => {
                event.insert(
                    "failure".into(),
                    json!({"class": f.class, "module": f.module, "message": f.message}),
                );
            }
            wire::ReplyPart::End => {
                event.insert("result".into(), Value::Null);
            }
            wire::ReplyPart::KeepAlive => {
                event.insert("keepalive".into(), json!(true));
            }
        }
        event.insert("size".into(), json!(size));
        if last {
            self.calls.remove(&msg_id);
        }
        Some(masked(event))
    }

    /// Remembers a call until its reply, forgetting the oldest beyond
    /// [`PENDING_CALLS`].
    fn remember(&mut self, msg_id: &str, method: &str) {
        if self.order.len() >= PENDING_CALLS {
            if let Some(old) = self.order.pop_front() {
                self.calls.remove(&old);
            }
        }
        self.order.push_back(msg_id.to_owned());
        self.calls
            .insert(msg_id.to_owned(), (Instant::now(), method.to_owned()));
    }
}

/// A body as it was sent: decompressed and unpacked, without the trace
/// headers the driver's listeners merge into the context.
fn unpack(headers: Option<&FieldTable>, data: &[u8]) -> Result<wire::Unpacked> {
    wire::unpack(&crate::compression::decompressed(headers, data)?)
}

/// The tap's queue's arguments: at most [`MAX_LENGTH`] messages, the
/// oldest dropped first.
fn queue_arguments() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(MAX_LENGTH));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("drop-head".into()),
    );
    args
}

fn text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn malformed(exchange: &str, key: &str, why: &str, size: usize) -> TapEvent {
    let mut event = Map::new();
    event.insert("direction".into(), json!("malformed"));
    event.insert("exchange".into(), json!(exchange));
    event.insert("routing_key".into(), json!(key));
    event.insert("error".into(), json!(why));
    event.insert("size".into(), json!(size));
    event
}

/// `(exchange, routing key, optional)` of every binding of a tap.
fn bindings(exchange: &str, tapped: &[Tapped], replies: bool) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for t in tapped {
        match t {
            Tapped::Rpc {
                topic,
                server: Some(server),
            } => {
                out.push((
                    exchange.to_owned(),
                    oslo_messaging_core::address::server_queue(topic, server),
                    false,
                ));
            }
            Tapped::Rpc {
                topic,
                server: None,
            } => {
                out.push((exchange.to_owned(), format!("{topic}.#"), false));
                out.push((
                    oslo_messaging_core::address::fanout_exchange(topic),
                    String::new(),
                    true,
                ));
            }
            Tapped::Notifications { topic } => {
                out.push((exchange.to_owned(), format!("{topic}.*"), false));
            }
        }
    }
    if replies {
        out.push((FIREHOSE.to_owned(), "publish.".to_owned(), false));
    }
    out
}

fn masked(event: TapEvent) -> TapEvent {
    let mut v = Value::Object(event);
    redact::mask_secrets(&mut v);
    match v {
        Value::Object(m) => m,
        _ => unreachable!("masking keeps an object an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_is_tapped_on_every_server_and_its_fanout_a_server_alone() {
        let all = bindings(
            "nova",
            &[Tapped::Rpc {
                topic: "compute".into(),
                server: None,
            }],
            false,
        );
        assert_eq!(
            all,
            vec![
                ("nova".into(), "compute.#".into(), false),
                ("compute_fanout".into(), "".into(), true),
            ]
        );
        let one = bindings(
            "nova",
            &[Tapped::Rpc {
                topic: "compute".into(),
                server: Some("h1".into()),
            }],
            true,
        );
        assert_eq!(
            one,
            vec![
                ("nova".into(), "compute.h1".into(), false),
                (FIREHOSE.into(), "publish.".into(), false),
            ]
        );
    }
}
