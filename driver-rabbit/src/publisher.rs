//! Publishing with publisher confirms, over a pool of channels on the
//! publishing connection.
//!
//! Every publish waits for the broker's confirm, as oslo.messaging's
//! `confirm_publish` does: a message the broker refused (`nack`) is a
//! [`MessagingError::MessageDeliveryFailure`], and a mandatory message no
//! queue took is a [`MessagingError::MessageUndeliverable`]. Exchanges (and
//! the default queue of a notification) are declared once per connection.
//!
//! A call's request is the exception: it goes out on a channel without
//! confirms, since the reply proves delivery and the call's timeout covers
//! a loss (one broker round trip less per call), unless the call asks for
//! `at_least_once`. A reply's confirm is checked later, off the server's
//! path ([`Publisher::publish_confirm_later`], `crate::reply_sender`).
//!
//! The pool keeps at most `rpc_conn_pool_size` channels; idle channels
//! above `conn_pool_min_size` are closed after `conn_pool_ttl` seconds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;

use lapin::options::{BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};
use oslo_messaging_core::driver::Retry;
use oslo_messaging_core::{DriverError, MessagingError, Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::compression::Codec;
use crate::lapin_error::error;
use crate::link::Link;
use crate::lock;
use crate::options::RabbitOptions;
use crate::topology::{declare, Declared, ExchangeSpec, QueueSpec};
use crate::DRIVER;

/// The routing key of [`Publisher::probe`]'s message (no queue has it).
const PROBE_ROUTING_KEY: &str = "oslo_messaging.probe";

/// How long [`Publisher::probe`] waits for the broker's answer.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What to declare before publishing (once per connection). Named, so the
/// usual case (declared already) costs a lookup and no allocation; the
/// declaration is built only when it is sent.
pub(crate) enum Declare<'a> {
    /// Nothing (the default exchange).
    Nothing,
    /// An exchange.
    Exchange {
        name: &'a str,
        spec: &'a (dyn Fn() -> ExchangeSpec + Sync),
    },
    /// A queue with its exchange and binding.
    Queue {
        name: &'a str,
        spec: &'a (dyn Fn() -> QueueSpec + Sync),
    },
}

/// One message to publish.
pub(crate) struct Outgoing<'a> {
    pub declare: Declare<'a>,
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub properties: BasicProperties,
    pub mandatory: bool,
    /// Wait for the broker's confirm (otherwise use a channel without confirms).
    pub confirm: bool,
}

/// The exchanges (`[0]`) and queues (`[1]`) declared on the connection of
/// `generation`.
#[derive(Default)]
struct DeclaredOn {
    generation: u64,
    names: [HashSet<String>; 2],
}

#[derive(Clone, Copy)]
enum Kind {
    Exchange = 0,
    Queue = 1,
}

struct Idle {
    channel: Channel,
    generation: u64,
    since: Instant,
}

/// The pool of confirm-mode channels.
pub(crate) struct Publisher {
    link: Arc<Link>,
    /// Idle channels without confirms (`[0]`) and with (`[1]`).
    idle: [Mutex<Vec<Idle>>; 2],
    permits: Arc<Semaphore>,
    min_idle: usize,
    ttl: Duration,
    declared: Mutex<DeclaredOn>,
    names: Arc<Declared>,
    codec: Option<Codec>,
}

/// A channel taken from the pool.
struct Lease {
    channel: Channel,
    generation: u64,
    confirm: bool,
    _permit: OwnedSemaphorePermit,
}

/// How one attempt ended when it did not succeed.
enum Failure {
    /// Final: report it.
    Fatal(MessagingError),
    /// The connection failed; another attempt may succeed.
    Retryable(MessagingError),
}

impl Publisher {
    /// A pool on `link`; bodies are compressed with `codec`
    /// (`kombu_compression`).
    pub fn new(
        link: Arc<Link>,
        names: Arc<Declared>,
        opts: &RabbitOptions,
        codec: Option<Codec>,
    ) -> Self {
        Self {
            link,
            codec,
            idle: [Mutex::new(Vec::new()), Mutex::new(Vec::new())],
            permits: Arc::new(Semaphore::new(opts.rpc_conn_pool_size)),
            min_idle: opts.conn_pool_min_size,
            ttl: Duration::from_secs(opts.conn_pool_ttl),
            declared: Mutex::default(),
            names,
        }
    }

    /// Publishes `msg` and waits for the broker's confirm; connection
    /// failures are retried up to `retry` times (`None`: without limit).
    ///
    /// # Errors
    /// See the module docs; [`MessagingError::MessageDeliveryFailure`] when
    /// retries run out; [`MessagingError::Connection`] when the broker
    /// refuses the connection (credentials, virtual host, TLS).
    pub async fn publish(&self, msg: &Outgoing<'_>, retry: Retry) -> Result<()> {
        let mut failures: u32 = 0;
        loop {
            let remaining = retry.map(|limit| limit.saturating_sub(failures));
            let lease = match self.lease(remaining, msg.confirm).await {
                Ok(lease) => lease,
                Err(MessagingError::Connection(cause)) if !self.link.is_refused() => {
                    return Err(MessagingError::MessageDeliveryFailure(
                        DriverError::new(
                            DRIVER,
                            format!(
                                "not sent to exchange {:?} with routing key {:?}: {}",
                                msg.exchange,
                                msg.routing_key,
                                cause.message()
                            ),
                        )
                        .with_source(cause),
                    ))
                }
                Err(e) => return Err(e),
            };
            match self.attempt(&lease, msg).await {
                Ok(()) => {
                    self.give_back(lease);
                    return Ok(());
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retryable(e)) => {
                    if retry.is_some_and(|limit| failures >= limit) {
                        return Err(MessagingError::MessageDeliveryFailure(
                            DriverError::new(
                                DRIVER,
                                format!("not sent after {} attempt(s): {e}", failures + 1),
                            )
                            .with_source(e),
                        ));
                    }
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, exchange = msg.exchange, "publish failed; retrying");
                }
            }
        }
    }

    /// Publishes an empty message to the default exchange with a routing
    /// key no queue has (the broker drops it), then asks for a `basic.qos`
    /// round trip, and waits until the broker answers both or blocks the
    /// connection. The broker sends
    /// `connection.blocked` only to connections that publish during a
    /// resource alarm, so this is how a fresh connection learns that the
    /// broker refuses publishers; the health snapshot then says `blocked`.
    /// Waits at most [`PROBE_TIMEOUT`].
    ///
    /// # Errors
    /// Connection failures (after `retry`); the broker's refusal (e.g. no
    /// write permission on the default exchange); no confirm in time.
    pub async fn probe(&self, retry: Retry) -> Result<()> {
        let lease = self.lease(retry, true).await?;
        let msg = Outgoing {
            declare: Declare::Nothing,
            exchange: "",
            routing_key: PROBE_ROUTING_KEY,
            body: b"",
            properties: BasicProperties::default(),
            mandatory: false,
            confirm: true,
        };
        let confirmed = async {
            let confirm = self
                .basic_publish(&lease, &msg)
                .await
                .map_err(|e| delivery_error(msg.exchange, msg.routing_key, &e))?;
            // A broker in alarm may still take (and confirm) the publish
            // that makes it block the connection, but it reads nothing
            // after it: a round trip behind the publish is answered only
            // by a broker that did not block us.
            lease
                .channel
                .basic_qos(0, BasicQosOptions::default())
                .await
                .map_err(|e| error("probe the publishing connection", &e))?;
            settled(confirm.await, msg.exchange, msg.routing_key)
        };
        let answer = tokio::time::timeout(PROBE_TIMEOUT, async {
            tokio::select! {
                confirmed = confirmed => confirmed.map(|()| true),
                () = self.link.blocked() => Ok(false),
            }
        })
        .await
        .map_err(|_| {
            MessagingError::delivery_failure(
                DRIVER,
                format!(
                    "the broker neither confirmed nor blocked a probe message within {}s",
                    PROBE_TIMEOUT.as_secs()
                ),
            )
        })?;
        // A channel with a publish held back by the broker is not reused.
        if answer? {
            self.give_back(lease);
        }
        Ok(())
    }

    /// Publishes `msg` on a confirm channel, once and without retries, and
    /// returns the broker's confirm to check later (see [`settled`]).
    ///
    /// # Errors
    /// Any failure, connection failures included (nothing is retried).
    pub async fn publish_confirm_later(&self, msg: &Outgoing<'_>) -> Result<PublisherConfirm> {
        let lease = self.lease(Some(0), true).await?;
        let confirm = self.send(&lease, msg).await.map_err(|f| match f {
            Failure::Fatal(e) | Failure::Retryable(e) => e,
        })?;
        self.give_back(lease);
        Ok(confirm)
    }

    async fn attempt(&self, lease: &Lease, msg: &Outgoing<'_>) -> std::result::Result<(), Failure> {
        if !lease.confirm {
            return self.queue(lease, msg).await;
        }
        let outcome = self.send(lease, msg).await?.await;
        settled(outcome, msg.exchange, msg.routing_key).map_err(failure)
    }

    /// Publishes `msg` on a channel without confirms: its frames are queued
    /// for lapin's I/O thread (on the first poll of `basic_publish`), and
    /// the caller does not wait for them to be written, since nothing will
    /// come back for them. A connection known to be down fails at once (and
    /// is retried); one that fails before the frames are written loses them,
    /// as one that fails just after would: the call's timeout covers both.
    async fn queue(&self, lease: &Lease, msg: &Outgoing<'_>) -> std::result::Result<(), Failure> {
        self.declare(lease, &msg.declare).await.map_err(failure)?;
        match self.basic_publish(lease, msg).now_or_never() {
            Some(Err(e)) => Err(failure(delivery_error(msg.exchange, msg.routing_key, &e))),
            Some(Ok(_)) | None => Ok(()),
        }
    }

    /// Declares what `msg` needs and publishes it.
    async fn send(
        &self,
        lease: &Lease,
        msg: &Outgoing<'_>,
    ) -> std::result::Result<PublisherConfirm, Failure> {
        self.declare(lease, &msg.declare).await.map_err(failure)?;
        self.basic_publish(lease, msg)
            .await
            .map_err(|e| failure(delivery_error(msg.exchange, msg.routing_key, &e)))
    }

    async fn declare(&self, lease: &Lease, what: &Declare<'_>) -> Result<()> {
        let (kind, name) = match what {
            Declare::Nothing => return Ok(()),
            Declare::Exchange { name, .. } => (Kind::Exchange, *name),
            Declare::Queue { name, .. } => (Kind::Queue, *name),
        };
        if self.is_declared(lease.generation, kind, name) {
            return Ok(());
        }
        // On a channel of its own: a refused declaration closes its channel.
        let connection = self.link.connection(Some(0)).await?;
        match what {
            Declare::Nothing => {}
            Declare::Exchange { spec, .. } => {
                declare(&connection, &[spec()], &[], &self.names).await?;
            }
            Declare::Queue { spec, .. } => {
                declare(&connection, &[], &[spec()], &self.names).await?;
            }
        }
        let mut declared = lock(&self.declared);
        if declared.generation == lease.generation {
            declared.names[kind as usize].insert(name.to_owned());
        }
        Ok(())
    }

    /// `msg` published on the lease's channel, its body compressed with
    /// `kombu_compression` (the frames are queued on the first poll; the
    /// future ends once they are written).
    async fn basic_publish(
        &self,
        lease: &Lease,
        msg: &Outgoing<'_>,
    ) -> lapin::Result<PublisherConfirm> {
        let options = BasicPublishOptions {
            mandatory: msg.mandatory,
            ..BasicPublishOptions::default()
        };
        let (exchange, key) = (msg.exchange.into(), msg.routing_key.into());
        match self.codec {
            None => {
                let properties = msg.properties.clone();
                lease
                    .channel
                    .basic_publish(exchange, key, options, msg.body, properties)
                    .await
            }
            Some(codec) => {
                let (body, properties) = codec.compress(msg.body, msg.properties.clone());
                lease
                    .channel
                    .basic_publish(exchange, key, options, &body, properties)
                    .await
            }
        }
    }

    fn is_declared(&self, generation: u64, kind: Kind, name: &str) -> bool {
        let mut declared = lock(&self.declared);
        if declared.generation != generation {
            *declared = DeclaredOn {
                generation,
                names: Default::default(),
            };
        }
        declared.names[kind as usize].contains(name)
    }

    async fn lease(&self, retry: Retry, confirm: bool) -> Result<Lease> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| MessagingError::connection(DRIVER, "the driver is shut down"))?;
        let generation = self.link.generation();
        loop {
            let idle = lock(&self.idle[usize::from(confirm)]).pop();
            match idle {
                Some(i) if i.generation == generation && i.channel.status().connected() => {
                    return Ok(Lease {
                        channel: i.channel,
                        generation,
                        confirm,
                        _permit: permit,
                    })
                }
                Some(_) => continue,
                None => break,
            }
        }
        let connection = self.link.connection(retry).await?;
        let generation = self.link.generation();
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| error("open a channel", &e))?;
        if confirm {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| error("enable publisher confirms", &e))?;
        }
        Ok(Lease {
            channel,
            generation,
            confirm,
            _permit: permit,
        })
    }

    fn give_back(&self, lease: Lease) {
        let now = Instant::now();
        let mut idle = lock(&self.idle[usize::from(lease.confirm)]);
        idle.push(Idle {
            channel: lease.channel,
            generation: lease.generation,
            since: now,
        });
        // Oldest first: close idle channels above the minimum once stale.
        while idle.len() > self.min_idle && now.duration_since(idle[0].since) >= self.ttl {
            idle.remove(0);
        }
    }
}

/// What the broker's answer to a publish means: `Ok` once it took the
/// message; [`MessagingError::MessageUndeliverable`] when a mandatory
/// message reached no queue; [`MessagingError::MessageDeliveryFailure`]
/// when it refused it (or closed the channel); [`MessagingError::Connection`]
/// when the connection failed before the answer.
///
/// # Errors
/// As above.
pub(crate) fn settled(
    outcome: lapin::Result<Confirmation>,
    exchange: &str,
    routing_key: &str,
) -> Result<()> {
    match outcome.map_err(|e| delivery_error(exchange, routing_key, &e))? {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)) => {
            Err(MessagingError::MessageUndeliverable {
                exchange: exchange.to_owned(),
                routing_key: routing_key.to_owned(),
            })
        }
        Confirmation::Nack(None) => Err(MessagingError::MessageDeliveryFailure(
            DriverError::new(
                DRIVER,
                format!(
                    "the broker refused the message to exchange {exchange:?} routing key {routing_key:?}"
                ),
            )
            .permanent(),
        )),
    }
}

/// A failed publish of a message to `exchange` with `routing_key`: the
/// broker's refusal (a channel exception, e.g. `NOT_FOUND` for a missing
/// exchange) is a [`MessagingError::MessageDeliveryFailure`] naming them,
/// anything else a connection error.
fn delivery_error(exchange: &str, routing_key: &str, e: &lapin::Error) -> MessagingError {
    let what = format!("publish to exchange {exchange:?} with routing key {routing_key:?}");
    match error(&what, e) {
        MessagingError::BrokerRefused { operation, reason } => {
            MessagingError::MessageDeliveryFailure(
                DriverError::new(DRIVER, format!("{operation}: {reason}"))
                    .permanent()
                    .with_source(e.clone()),
            )
        }
        other => other,
    }
}

/// Retryable when [`MessagingError::is_temporary`] says so (a connection
/// failure: [`error`] makes lapin's hard errors temporary
/// [`MessagingError::Connection`]s); final for anything else: a refused
/// declaration, a returned or refused message.
fn failure(e: MessagingError) -> Failure {
    if e.is_temporary() {
        Failure::Retryable(e)
    } else {
        Failure::Fatal(e)
    }
}
