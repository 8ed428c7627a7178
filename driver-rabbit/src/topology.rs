//! Exchanges and queues exactly as Python oslo.messaging declares them
//! (names, types, durable and auto-delete flags, queue arguments), so that
//! Rust and Python peers can declare the same queue without a conflict.
//!
//! | use | exchange (type) | queue | routing key |
//! |---|---|---|---|
//! | RPC to a topic | target exchange or control exchange (topic) | `topic` | `topic` |
//! | RPC to a server | same | `topic.server` | `topic.server` |
//! | fanout | `topic_fanout` (fanout) | `topic_fanout_<unique>` | `topic` |
//! | fanout, `rabbit_stream_fanout` | `topic_fanout` (fanout) | `topic_fanout` (a stream, shared) | `topic` |
//! | replies | default `""` | `reply_<unique>` | queue name |
//! | notifications | target exchange or control exchange (topic) | `topic.priority` or the pool | `topic.priority` |
//!
//! `<unique>` is a uuid4 in hex, or with `use_queue_manager` the queue
//! manager's `<hostname>:<processname>:<N>` (see `crate::queue_manager`).
//!
//! Durability fallback (oslo.messaging's `Consumer.declare` and
//! `Connection._publish`): when the broker refuses a declaration with
//! `PRECONDITION_FAILED - inequivalent arg 'durable'` (another service
//! declared the shared control exchange, or the queue, with the other
//! durability first), a warning is logged and that exchange or queue is
//! declared non-durable from then on by this driver. As in Python, an
//! exchange's fallback makes the queue being bound to it non-durable too
//! (so Python peers that fall back find the queue as they declare it),
//! except a quorum queue or a stream, which cannot be non-durable: those
//! stay durable, bound to the non-durable exchange (where Python's own
//! fallback fails, as RabbitMQ refuses a non-durable quorum queue). Every other
//! refusal is returned as it is, naming the exchange or queue and the
//! broker's text, and not retried.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ExchangeKind};
use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use oslo_messaging_core::{address, Result};

use crate::lapin_error::error;
use crate::lock;
use crate::options::RabbitOptions;
use crate::queue_manager::QueueManager;

/// An exchange to declare.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExchangeSpec {
    pub name: String,
    pub fanout: bool,
    pub durable: bool,
    pub auto_delete: bool,
}

/// A queue to declare, and the exchange it is bound to (none for reply queues).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueSpec {
    pub name: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
    pub binding: Option<(ExchangeSpec, String)>,
    /// A stream queue (`rabbit_stream_fanout`): consumed from an offset,
    /// shared by every server of the topic, never deleted by a driver.
    pub stream: bool,
}

/// Which of oslo.messaging's queue kinds a queue is: the options that
/// shape its arguments differ.
#[derive(Clone, Copy)]
enum Kind {
    /// Topic, server and notification queues: `rabbit_quorum_queue`, no TTL.
    Lasting,
    /// Reply and fanout queues: `rabbit_transient_quorum_queue`, TTL.
    Transient,
}

/// Builds the specs from the driver's options.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    opts: RabbitOptions,
    queue_manager: Option<QueueManager>,
}

impl Topology {
    pub fn new(opts: RabbitOptions) -> Self {
        let queue_manager = opts
            .use_queue_manager
            .then(|| QueueManager::new(&opts.hostname, &opts.processname));
        Self {
            opts,
            queue_manager,
        }
    }

    /// The unique part of a reply or fanout queue's name: the queue
    /// manager's next name, or a uuid4 in hex.
    ///
    /// # Errors
    /// The queue manager's (its state file).
    pub fn unique_name(&self) -> Result<String> {
        match &self.queue_manager {
            Some(qm) => qm.next_name(),
            None => Ok(crate::wire::new_id()),
        }
    }

    /// Whether reply and fanout queues stay on the broker when the driver
    /// closes: with the queue manager their names come back after a
    /// restart, so they are left to expire (`x-expires`), as Python does.
    pub fn keeps_transient_queues(&self) -> bool {
        self.queue_manager.is_some()
    }

    /// Whether a server deletes its fanout queue `spec` when it stops: not
    /// with the queue manager (see above), and never a stream, which the
    /// other servers of the topic share (oslo.messaging's `Connection.close`).
    pub fn deletes_on_stop(&self, spec: &QueueSpec) -> bool {
        !self.keeps_transient_queues() && !spec.stream
    }

    /// The topic exchange of RPC and notifications.
    pub fn topic_exchange(&self, name: &str) -> ExchangeSpec {
        ExchangeSpec {
            name: name.to_owned(),
            fanout: false,
            durable: self.opts.durable(),
            auto_delete: self.opts.amqp_auto_delete,
        }
    }

    /// `<topic>_fanout`.
    pub fn fanout_exchange(&self, topic: &str) -> ExchangeSpec {
        ExchangeSpec {
            name: address::fanout_exchange(topic),
            fanout: true,
            durable: self.opts.rabbit_transient_quorum_queue,
            auto_delete: true,
        }
    }

    /// A topic or server queue of an RPC server, bound by its own name.
    pub fn rpc_queue(&self, exchange: &str, name: &str) -> QueueSpec {
        self.lasting_queue(exchange, name, name)
    }

    /// A notification queue: `queue` (the pool, or the routing key) bound by
    /// `routing_key`. Also the default queue a notifier declares.
    pub fn notification_queue(&self, exchange: &str, queue: &str, routing_key: &str) -> QueueSpec {
        self.lasting_queue(exchange, queue, routing_key)
    }

    fn lasting_queue(&self, exchange: &str, queue: &str, routing_key: &str) -> QueueSpec {
        QueueSpec {
            name: queue.to_owned(),
            durable: self.opts.durable(),
            auto_delete: self.opts.amqp_auto_delete,
            arguments: self.queue_arguments(Kind::Lasting),
            binding: Some((self.topic_exchange(exchange), routing_key.to_owned())),
            stream: false,
        }
    }

    /// A server's own fanout queue `<topic>_fanout_<unique>`, or with
    /// `rabbit_stream_fanout` the topic's shared stream `<topic>_fanout`
    /// (durable, `x-queue-type: stream` and `x-max-age` only, as
    /// oslo.messaging's `_get_queue_arguments` replaces every other
    /// argument).
    ///
    /// # Errors
    /// As [`unique_name`](Self::unique_name).
    pub fn fanout_queue(&self, topic: &str) -> Result<QueueSpec> {
        let binding = Some((self.fanout_exchange(topic), topic.to_owned()));
        if self.opts.rabbit_stream_fanout {
            let mut arguments = FieldTable::default();
            arguments.insert("x-queue-type".into(), string("stream"));
            let ttl = self.opts.rabbit_transient_queues_ttl;
            if ttl > 0 {
                arguments.insert("x-max-age".into(), string(&format!("{ttl}s")));
            }
            return Ok(QueueSpec {
                name: address::fanout_stream(topic),
                durable: true,
                auto_delete: false,
                arguments,
                binding,
                stream: true,
            });
        }
        Ok(QueueSpec {
            name: address::fanout_queue(topic, &self.unique_name()?),
            durable: self.opts.rabbit_transient_quorum_queue,
            auto_delete: false,
            arguments: self.queue_arguments(Kind::Transient),
            binding,
            stream: false,
        })
    }

    /// The transport's reply queue, reached through the default exchange.
    pub fn reply_queue(&self, name: &str) -> QueueSpec {
        QueueSpec {
            name: name.to_owned(),
            durable: self.opts.rabbit_transient_quorum_queue,
            auto_delete: false,
            arguments: self.queue_arguments(Kind::Transient),
            binding: None,
            stream: false,
        }
    }

    /// Arguments of `basic.consume`: for a stream, `x-stream-offset` (the
    /// string `last`, or the offset to resume from) and nothing else, as
    /// oslo.messaging's `Consumer.declare`; otherwise
    /// `x-cancel-on-ha-failover` with `enable_cancel_on_failover`.
    pub fn consumer_arguments(&self, stream_offset: Option<StreamOffset>) -> FieldTable {
        let mut t = FieldTable::default();
        if let Some(offset) = stream_offset {
            let value = match offset {
                StreamOffset::Last => string("last"),
                StreamOffset::At(n) => int(n),
            };
            t.insert("x-stream-offset".into(), value);
        } else if self.opts.enable_cancel_on_failover {
            t.insert("x-cancel-on-ha-failover".into(), AMQPValue::Boolean(true));
        }
        t
    }

    /// As oslo.messaging's `_get_queue_arguments`.
    fn queue_arguments(&self, kind: Kind) -> FieldTable {
        let o = &self.opts;
        let (quorum, ttl) = match kind {
            Kind::Lasting => (o.rabbit_quorum_queue, 0),
            Kind::Transient => (
                o.rabbit_transient_quorum_queue,
                o.rabbit_transient_queues_ttl,
            ),
        };
        let mut t = FieldTable::default();
        if o.rabbit_ha_queues {
            t.insert("x-ha-policy".into(), string("all"));
        }
        if quorum {
            t.insert("x-queue-type".into(), string("quorum"));
            for (key, value) in [
                ("x-delivery-limit", o.rabbit_quorum_delivery_limit),
                ("x-max-in-memory-length", o.rabbit_quorum_max_memory_length),
                ("x-max-in-memory-bytes", o.rabbit_quorum_max_memory_bytes),
            ] {
                if value > 0 {
                    t.insert(key.into(), int(value));
                }
            }
        }
        if ttl > 0 {
            t.insert("x-expires".into(), int(ttl.saturating_mul(1000)));
        }
        t
    }
}

/// Where a stream consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamOffset {
    /// The last chunk of the stream (a new consumer, or after a cancel).
    Last,
    /// This offset: the one after the last delivery seen, after a reconnection.
    At(u64),
}

fn string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// An integer typed as py-amqp types it: 32-bit when it fits, else 64-bit,
/// so RabbitMQ sees arguments equivalent to a Python peer's.
fn int(v: u64) -> AMQPValue {
    match i32::try_from(v) {
        Ok(small) => AMQPValue::LongInt(small),
        Err(_) => AMQPValue::LongLongInt(i64::try_from(v).unwrap_or(i64::MAX)),
    }
}

/// The names of every exchange and queue a driver declared, and those the
/// broker holds as non-durable where we asked for durable (see the module
/// docs: durability fallback).
#[derive(Debug, Default)]
pub(crate) struct Declared {
    exchanges: Mutex<BTreeSet<String>>,
    queues: Mutex<BTreeSet<String>>,
    non_durable: Mutex<HashSet<(Entity, String)>>,
}

/// What a declaration declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Entity {
    Exchange,
    Queue,
}

impl Entity {
    fn noun(self) -> &'static str {
        match self {
            Entity::Exchange => "exchange",
            Entity::Queue => "queue",
        }
    }
}

impl Declared {
    pub fn exchanges(&self) -> Vec<String> {
        lock(&self.exchanges).iter().cloned().collect()
    }

    pub fn queues(&self) -> Vec<String> {
        lock(&self.queues).iter().cloned().collect()
    }

    /// The durability to declare `name` with: `durable`, unless the broker
    /// refused it as durable before.
    fn durable(&self, entity: Entity, name: &str, durable: bool) -> bool {
        durable && !self.fell_back(entity, name)
    }

    /// Whether `name` is declared non-durable after a refusal.
    fn fell_back(&self, entity: Entity, name: &str) -> bool {
        lock(&self.non_durable).contains(&(entity, name.to_owned()))
    }

    /// Declares `name` non-durable from now on if `refusal` is the broker's
    /// `inequivalent arg 'durable'` for a durable declaration of it;
    /// `true` if so (the declaration is to be made again, on a new
    /// channel: the broker closed this one). Bounded: the next attempt is
    /// not durable, and a refusal of that is returned as it is.
    fn fall_back(&self, entity: Entity, name: &str, durable: bool, refusal: &lapin::Error) -> bool {
        if !durable || !refusal.to_string().contains("inequivalent arg 'durable'") {
            return false;
        }
        tracing::warn!(
            error = %refusal,
            "{} {name:?} exists on the broker as non-durable, probably because of conflicting \
             configurations between services; declaring it non-durable, as oslo.messaging does",
            entity.noun()
        );
        self.mark_non_durable(entity, name);
        true
    }

    fn mark_non_durable(&self, entity: Entity, name: &str) {
        lock(&self.non_durable).insert((entity, name.to_owned()));
    }
}

/// Declares `exchanges`, then `queues` with their exchanges and bindings,
/// on a channel of their own (closed when done), with the durability
/// fallback of the module docs.
///
/// # Errors
/// [`MessagingError::BrokerRefused`](oslo_messaging_core::MessagingError::BrokerRefused)
/// naming the exchange, queue or binding and the broker's text (for
/// example a queue that exists with another type or other arguments); a
/// connection error.
pub(crate) async fn declare(
    connection: &Connection,
    exchanges: &[ExchangeSpec],
    queues: &[QueueSpec],
    declared: &Declared,
) -> Result<()> {
    let mut channel = open_channel(connection).await?;
    for spec in exchanges {
        while let Err(again) = declare_exchange(&channel, spec, declared).await? {
            tracing::debug!(exchange = %again, "declaring again on a new channel");
            channel = open_channel(connection).await?;
        }
    }
    for spec in queues {
        while let Err(again) = declare_queue(&channel, spec, declared).await? {
            tracing::debug!(name = %again, "declaring again on a new channel");
            channel = open_channel(connection).await?;
        }
    }
    Ok(())
}

/// Whether `spec` asks for a queue type (quorum, stream): always durable.
fn has_queue_type(spec: &QueueSpec) -> bool {
    spec.arguments.inner().contains_key("x-queue-type")
}

async fn open_channel(connection: &Connection) -> Result<Channel> {
    connection
        .create_channel()
        .await
        .map_err(|e| error("open a channel to declare queues and exchanges", &e))
}

/// `Ok(Err(name))`: to be declared again, non-durable (see [`Declared::fall_back`]).
type Declaration = Result<std::result::Result<(), String>>;

async fn declare_exchange(
    channel: &Channel,
    spec: &ExchangeSpec,
    declared: &Declared,
) -> Declaration {
    if spec.name.is_empty() {
        return Ok(Ok(()));
    }
    lock(&declared.exchanges).insert(spec.name.clone());
    let kind = if spec.fanout {
        ExchangeKind::Fanout
    } else {
        ExchangeKind::Topic
    };
    let durable = declared.durable(Entity::Exchange, &spec.name, spec.durable);
    let outcome = channel
        .exchange_declare(
            ShortString::from(spec.name.as_str()),
            kind,
            ExchangeDeclareOptions {
                durable,
                auto_delete: spec.auto_delete,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    match outcome {
        Ok(()) => Ok(Ok(())),
        Err(e) if declared.fall_back(Entity::Exchange, &spec.name, durable, &e) => {
            Ok(Err(spec.name.clone()))
        }
        Err(e) => Err(error(&format!("declare exchange {:?}", spec.name), &e)),
    }
}

async fn declare_queue(channel: &Channel, spec: &QueueSpec, declared: &Declared) -> Declaration {
    if let Some((exchange, _)) = &spec.binding {
        let again = declare_exchange(channel, exchange, declared).await?;
        // As Python's `_declare_fallback_nondurable`: a queue bound to an
        // exchange that fell back is declared non-durable too, so that a
        // Python peer (which falls back both) finds it as it declares it;
        // but not a quorum queue or a stream, which cannot be non-durable
        // (Python fails there).
        if declared.fell_back(Entity::Exchange, &exchange.name) && !has_queue_type(spec) {
            declared.mark_non_durable(Entity::Queue, &spec.name);
        }
        if let Err(again) = again {
            return Ok(Err(again));
        }
    }
    lock(&declared.queues).insert(spec.name.clone());
    let durable = declared.durable(Entity::Queue, &spec.name, spec.durable);
    let outcome = channel
        .queue_declare(
            ShortString::from(spec.name.as_str()),
            QueueDeclareOptions {
                durable,
                auto_delete: spec.auto_delete,
                ..QueueDeclareOptions::default()
            },
            spec.arguments.clone(),
        )
        .await;
    match outcome {
        Ok(_) => {}
        Err(e) if declared.fall_back(Entity::Queue, &spec.name, durable, &e) => {
            return Ok(Err(spec.name.clone()))
        }
        Err(e) => return Err(error(&format!("declare queue {:?}", spec.name), &e)),
    }
    if let Some((exchange, key)) = &spec.binding {
        channel
            .queue_bind(
                ShortString::from(spec.name.as_str()),
                ShortString::from(exchange.name.as_str()),
                ShortString::from(key.as_str()),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| {
                error(
                    &format!(
                        "bind queue {:?} to exchange {:?} with routing key {key:?}",
                        spec.name, exchange.name
                    ),
                    &e,
                )
            })?;
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(f: impl FnOnce(&mut RabbitOptions)) -> Topology {
        let mut o = RabbitOptions::default();
        f(&mut o);
        Topology::new(o)
    }

    fn args(spec: &QueueSpec) -> Vec<(String, AMQPValue)> {
        spec.arguments
            .inner()
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn defaults_match_python_flags() {
        let t = topology(|_| {});
        let q = t.rpc_queue("openstack", "compute.host1");
        assert_eq!((q.durable, q.auto_delete), (false, false));
        assert!(args(&q).is_empty());
        let (ex, key) = q.binding.clone().expect("bound");
        assert_eq!(
            (ex.name.as_str(), ex.fanout, ex.durable),
            ("openstack", false, false)
        );
        assert_eq!(key, "compute.host1");

        let f = t.fanout_queue("compute").expect("a uuid name");
        assert!(f.name.starts_with("compute_fanout_") && f.name.len() == 15 + 32);
        assert_eq!((f.durable, f.auto_delete), (false, false));
        assert_eq!(
            args(&f),
            [("x-expires".into(), AMQPValue::LongInt(1_800_000))]
        );
        let (fx, fkey) = f.binding.clone().expect("bound");
        assert_eq!(
            (fx.name.as_str(), fx.fanout, fx.auto_delete),
            ("compute_fanout", true, true)
        );
        assert_eq!(fkey, "compute");

        let r = t.reply_queue("reply_x");
        assert!(r.binding.is_none());
        assert_eq!(
            args(&r),
            [("x-expires".into(), AMQPValue::LongInt(1_800_000))]
        );
        assert!(t.consumer_arguments(None).inner().is_empty());
    }

    #[test]
    fn quorum_ha_durable_and_ttl_options_shape_declarations() {
        let t = topology(|o| {
            o.rabbit_quorum_queue = true;
            o.rabbit_quorum_delivery_limit = 5;
            o.rabbit_transient_queues_ttl = 0;
        });
        let q = t.notification_queue("nova", "pool1", "notifications.info");
        assert!(q.durable, "quorum queues are durable");
        assert_eq!(
            args(&q),
            [
                ("x-delivery-limit".into(), AMQPValue::LongInt(5)),
                ("x-queue-type".into(), string("quorum")),
            ]
        );
        assert!(
            args(&t.reply_queue("r")).is_empty(),
            "ttl 0 disables x-expires"
        );

        let t = topology(|o| {
            o.rabbit_ha_queues = true;
            o.amqp_auto_delete = true;
            o.enable_cancel_on_failover = true;
            o.rabbit_transient_quorum_queue = true;
        });
        let q = t.rpc_queue("openstack", "topic");
        assert!(q.auto_delete && !q.durable);
        assert_eq!(args(&q), [("x-ha-policy".into(), string("all"))]);
        let r = t.reply_queue("r");
        assert!(r.durable);
        assert_eq!(args(&r).len(), 3, "ha, quorum and ttl: {:?}", args(&r));
        assert_eq!(t.consumer_arguments(None).inner().len(), 1);
        assert_eq!(
            int(u64::from(u32::MAX)),
            AMQPValue::LongLongInt(4_294_967_295)
        );
    }

    #[test]
    fn stream_fanout_is_one_shared_stream_per_topic_as_python_declares_it() {
        let t = topology(|o| {
            o.rabbit_transient_quorum_queue = true;
            o.rabbit_stream_fanout = true;
            o.rabbit_qos_prefetch_count = 10;
            o.rabbit_ha_queues = true;
            o.enable_cancel_on_failover = true;
        });
        let f = t.fanout_queue("compute").expect("a stream");
        assert_eq!(f.name, "compute_fanout");
        assert!(f.stream && f.durable && !f.auto_delete);
        // Every other argument (here x-ha-policy, quorum, x-expires) is replaced.
        assert_eq!(
            args(&f),
            [
                ("x-max-age".into(), string("1800s")),
                ("x-queue-type".into(), string("stream")),
            ]
        );
        let (fx, key) = f.binding.clone().expect("bound");
        assert_eq!(
            (fx.name.as_str(), fx.fanout, fx.durable, fx.auto_delete),
            ("compute_fanout", true, true, true)
        );
        assert_eq!(key, "compute");
        assert!(!t.deletes_on_stop(&f), "a stream is shared: never deleted");
        assert_eq!(
            t.consumer_arguments(Some(StreamOffset::Last))
                .inner()
                .get("x-stream-offset"),
            Some(&string("last"))
        );
        let resumed = t.consumer_arguments(Some(StreamOffset::At(42)));
        assert_eq!(
            resumed.inner().iter().collect::<Vec<_>>(),
            [(&"x-stream-offset".into(), &AMQPValue::LongInt(42))],
            "only the offset, as Python replaces x-cancel-on-ha-failover"
        );

        let no_ttl = topology(|o| {
            o.rabbit_transient_quorum_queue = true;
            o.rabbit_stream_fanout = true;
            o.rabbit_transient_queues_ttl = 0;
        });
        let f = no_ttl.fanout_queue("compute").expect("a stream");
        assert_eq!(args(&f), [("x-queue-type".into(), string("stream"))]);

        let classic = topology(|_| {});
        let f = classic.fanout_queue("compute").expect("a queue");
        assert!(!f.stream && classic.deletes_on_stop(&f));
    }
}
