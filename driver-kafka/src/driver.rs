//! [`KafkaDriver`]: notifications over Kafka, as Python oslo.messaging's
//! `impl_kafka.py` `KafkaDriver`. RPC is not supported (Python raises
//! `NotImplementedError`).

use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use oslo_messaging_core::driver::{
    Capabilities, Capability, Driver, IncomingNotification, IncomingRequest, Listener,
    PendingReply, Retry, SendMode, SendOptions,
};
use oslo_messaging_core::health::Health;
use oslo_messaging_core::message::{Context, NotificationFormat, Priority, RpcMessage};
use oslo_messaging_core::telemetry::trace;
use oslo_messaging_core::{wire, MessagingError, Result, Target};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use rdkafka::ClientContext;
use serde_json::{Map, Value};

use crate::connection::Connection;
use crate::kafka_error;
use crate::listener::{KafkaListener, ListenerSpec, Shared};
use crate::options::{Brokers, Commit, KafkaOptions};
use crate::topics::{listen_topic, send_topic, Topics};
use crate::DRIVER;

/// The Kafka driver. Build it from a `kafka://` URL through
/// [`Transport`](oslo_messaging_core::Transport); see the crate docs.
pub struct KafkaDriver {
    options: KafkaOptions,
    commit: Commit,
    brokers: Brokers,
    virtual_host: Option<String>,
    /// The producer, once made, and its connection.
    producer: Mutex<Option<(Producer, Arc<Connection>)>>,
    topics: Topics,
    listeners: Mutex<Vec<Weak<Shared>>>,
}

impl std::fmt::Debug for KafkaDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaDriver")
            .field("brokers", &self.brokers)
            .field("virtual_host", &self.virtual_host)
            .finish_non_exhaustive()
    }
}

impl KafkaDriver {
    pub(crate) fn new(
        options: KafkaOptions,
        brokers: Brokers,
        virtual_host: Option<String>,
    ) -> Result<Self> {
        options.validate()?;
        Ok(Self {
            commit: options.commit()?,
            topics: Topics::new(
                options.client_config(&brokers),
                i32::try_from(options.num_partitions).unwrap_or(-1),
            ),
            options,
            brokers,
            virtual_host,
            producer: Mutex::new(None),
            listeners: Mutex::new(Vec::new()),
        })
    }

    /// The producer, made on first use (`_ensure_producer`).
    fn producer(&self) -> Result<Producer> {
        let mut slot = self.producer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, _)) = &*slot {
            return Ok(p.clone());
        }
        let connection = Arc::new(Connection::new("publish"));
        let p: Producer = self
            .options
            .producer_config(&self.brokers)
            .create_with_context(ProducerContext {
                connection: connection.clone(),
            })
            .map_err(|e| kafka_error::connection("create a producer", e))?;
        *slot = Some((p.clone(), connection));
        Ok(p)
    }

    fn live_listeners(&self) -> Vec<Arc<Shared>> {
        let mut all = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|w| w.upgrade().is_some_and(|s| !s.is_stopped()));
        all.iter().filter_map(Weak::upgrade).collect()
    }
}

/// The producer, with its connection's state in its context.
type Producer = FutureProducer<ProducerContext>;

/// librdkafka's callbacks for the producer: its connection's state.
pub(crate) struct ProducerContext {
    connection: Arc<Connection>,
}

impl ClientContext for ProducerContext {
    fn stats_raw(&self, statistics: &[u8]) {
        self.connection.on_stats(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(driver = DRIVER, %error, reason, "kafka producer error");
        self.connection.on_error(&error, reason);
    }
}

fn no_rpc(operation: &str) -> MessagingError {
    MessagingError::Unsupported {
        driver: DRIVER,
        operation: format!("{operation}: the Kafka driver carries notifications only, as in oslo.messaging (use rabbit:// for RPC)"),
    }
}

/// The W3C trace context of `context` as record headers (`traceparent`,
/// `tracestate`), where Kafka instrumentations read it; none without one.
/// Python's consumer reads the body's nested `_context` and ignores them.
fn trace_headers(context: &Context) -> Option<OwnedHeaders> {
    let mut headers = None;
    for (key, value) in trace::headers(context) {
        headers = Some(headers.unwrap_or_else(OwnedHeaders::new).insert(Header {
            key,
            value: Some(value),
        }));
    }
    headers
}

#[async_trait]
impl Driver for KafkaDriver {
    fn name(&self) -> &'static str {
        DRIVER
    }

    fn capabilities(&self) -> Capabilities {
        let c = Capabilities::none().with(Capability::Notifications);
        if self.commit == Commit::AfterDispatch {
            c.with(Capability::Requeue)
        } else {
            c
        }
    }

    async fn send(
        &self,
        _target: &Target,
        _context: &Context,
        _message: RpcMessage,
        _mode: SendMode,
        _options: SendOptions,
    ) -> Result<Option<PendingReply>> {
        Err(no_rpc("RPC calls and casts"))
    }

    /// Produces the record and waits for the broker to acknowledge it
    /// (Python returns once it is queued in the producer; waiting is what
    /// lets a failure be reported). The format is ignored: records are
    /// always in the 2.0 envelope with a nested `_context`, as Python's,
    /// with the context's trace context also in the record headers
    /// `traceparent` and `tracestate`.
    async fn send_notification(
        &self,
        target: &Target,
        context: &Context,
        message: Map<String, Value>,
        _format: NotificationFormat,
        _retry: Retry,
    ) -> Result<()> {
        let topic = send_topic(
            target.require_topic("send a notification")?,
            self.virtual_host.as_deref(),
        );
        let body = wire::notification_body_nested_context(context, message);
        let producer = self.producer()?;
        self.topics.ensure(std::slice::from_ref(&topic)).await?;
        let mut record: FutureRecord<'_, (), _> = FutureRecord::to(&topic).payload(&body);
        if let Some(headers) = trace_headers(context) {
            record = record.headers(headers);
        }
        match producer.send(record, Timeout::Never).await {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(kafka_error::delivery(
                &format!("produce to topic {topic:?}"),
                e,
            )),
        }
    }

    async fn listen(&self, _target: &Target) -> Result<Box<dyn Listener<IncomingRequest>>> {
        Err(no_rpc("RPC servers"))
    }

    async fn listen_for_notifications(
        &self,
        targets_and_priorities: &[(Target, Priority)],
        pool: Option<&str>,
    ) -> Result<Box<dyn Listener<IncomingNotification>>> {
        let mut topics = targets_and_priorities
            .iter()
            .map(|(t, p)| {
                Ok(listen_topic(
                    t.require_topic("listen for notifications")?,
                    *p,
                ))
            })
            .collect::<Result<Vec<String>>>()?;
        topics.sort();
        topics.dedup();
        self.topics.ensure(&topics).await?;
        // `group or self.group_id`, as Python: an empty pool is none.
        let group = pool
            .filter(|p| !p.is_empty())
            .unwrap_or(&self.options.consumer_group)
            .to_owned();
        let spec = ListenerSpec {
            config: self.options.consumer_config(&self.brokers, &group),
            topics,
            group,
            commit: self.commit,
            max_poll_records: self.options.max_poll_records,
        };
        let (listener, shared) = KafkaListener::start(spec).await?;
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&shared));
        Ok(Box::new(listener))
    }

    async fn cleanup(&self) {
        let producer = self
            .producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((p, connection)) = producer {
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = p.flush(Timeout::After(std::time::Duration::from_secs(10))) {
                    tracing::error!(driver = DRIVER, error = %e, "flush error during producer close");
                }
                connection.close();
            })
            .await;
        }
        tracing::info!("Kafka messaging driver shutdown");
    }

    async fn connect(&self, _retry: Retry) -> Result<()> {
        let producer = self.producer()?;
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Timeout::After(std::time::Duration::from_secs(10)))
                .map(drop)
        })
        .await
        .map_err(|e| {
            MessagingError::connection(DRIVER, format!("the metadata request failed: {e}"))
        })?
        .map_err(|e| kafka_error::connection("reach the brokers", e))
    }

    /// The producer's connection (once made) and each listener's
    /// consumer's (purposes `publish`, `consume`; see `crate::connection`),
    /// and each listener's consumer.
    fn health(&self) -> Health {
        let producer = self
            .producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, connection)| connection.health());
        let listeners = self.live_listeners();
        Health {
            connections: producer
                .into_iter()
                .chain(listeners.iter().map(|s| s.connection_health()))
                .collect(),
            consumers: listeners.iter().map(|s| s.health()).collect(),
        }
    }
}
