//! `bench raw-server --client amqprs` and `bench raw-client --client
//! amqprs`: the same floor as [`super::raw`] (request/reply on the default
//! exchange, no envelope, no serialization, no dispatch, one connection per
//! process), written on amqprs, a client whose I/O runs as tasks of the
//! application's tokio runtime instead of a thread of its own. Where the
//! two floors differ, the difference is the client's, not the broker's.
//!
//! Only the plain floor: `--oslo-amqp` and `--quorum` are lapin's alone.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicPublishArguments, BasicQosArguments, Channel,
    ConfirmSelectArguments, ConsumerMessage, QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use tokio::sync::oneshot;

use super::raw::{Broker, Calls};
use super::{load, lock, serve_until, topic, Counter};
use crate::args::{GlobalArgs, RawClientArgs, RawServerArgs};
use crate::exit::CliError;
use crate::signal::Signal;

/// How long a raw call waits for its reply without `--timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// An amqprs error as a CLI error that says what was being done.
fn failed(what: &str) -> impl Fn(amqprs::error::Error) -> CliError + '_ {
    move |e| CliError::Unexpected(format!("raw benchmark (amqprs): cannot {what}: {e}"))
}

/// Refuses what only the lapin floor does.
fn plain_only(oslo_amqp: bool, quorum: bool) -> Result<(), CliError> {
    match oslo_amqp || quorum {
        true => Err(CliError::Usage(
            "--client amqprs measures the plain floor only: drop --oslo-amqp and --quorum".into(),
        )),
        false => Ok(()),
    }
}

/// Connects to the broker of the transport URL.
async fn connect(global: &GlobalArgs) -> Result<Connection, CliError> {
    let broker = Broker::of(global)?;
    let mut args = OpenConnectionArguments::new(
        &broker.hostname,
        broker.port,
        &broker.username,
        &broker.password,
    );
    args.virtual_host(&broker.vhost);
    Connection::open(&args).await.map_err(failed("connect"))
}

/// Closes the connection, giving up after a few seconds.
async fn close(connection: Connection) {
    if !matches!(
        tokio::time::timeout(Duration::from_secs(5), connection.close()).await,
        Ok(Ok(()))
    ) {
        tracing::debug!("raw benchmark (amqprs): the connection did not close cleanly");
    }
}

/// Consumes `queue` (declared auto-delete) until the connection closes:
/// answers a message with `reply_to` with its body and correlation id, and
/// acknowledges every message.
async fn answer(
    connection: &Connection,
    queue: &str,
    prefetch: u16,
    counter: Arc<Counter>,
) -> Result<tokio::task::JoinHandle<()>, CliError> {
    let channel = connection
        .open_channel(None)
        .await
        .map_err(failed("open a channel"))?;
    if prefetch > 0 {
        channel
            .basic_qos(BasicQosArguments::new(0, prefetch, false))
            .await
            .map_err(failed("set the prefetch count"))?;
    }
    channel
        .queue_declare(QueueDeclareArguments::transient_autodelete(queue))
        .await
        .map_err(failed("declare the queue"))?;
    let (_, mut deliveries) = channel
        .basic_consume_rx(
            BasicConsumeArguments::new(queue, "")
                .manual_ack(true)
                .finish(),
        )
        .await
        .map_err(failed("consume the queue"))?;
    Ok(tokio::spawn(async move {
        while let Some(ConsumerMessage {
            deliver: Some(deliver),
            basic_properties: Some(properties),
            content: Some(content),
            ..
        }) = deliveries.recv().await
        {
            if let Some(reply_to) = properties.reply_to() {
                let mut reply = BasicProperties::default();
                if let Some(id) = properties.correlation_id() {
                    reply.with_correlation_id(id);
                }
                let sent = channel
                    .basic_publish(
                        reply.finish(),
                        content,
                        BasicPublishArguments::new("", reply_to),
                    )
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "raw-server (amqprs): reply not sent");
                }
            }
            let ack = BasicAckArguments::new(deliver.delivery_tag(), false);
            if let Err(e) = channel.basic_ack(ack).await {
                tracing::warn!(error = %e, "raw-server (amqprs): ack failed");
            }
            counter.count();
        }
    }))
}

/// `bench raw-server --client amqprs`.
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
    plain_only(args.oslo_amqp, args.quorum)?;
    let connection = connect(global).await?;
    let queue = topic(global);
    let counter = Counter::new(args.server.messages);
    let serving = answer(&connection, &queue, args.prefetch, counter.clone()).await?;
    let ready = format!("queue={queue}");
    let served = serve_until(&args.server, &counter, &ready, err, shutdown).await;
    serving.abort();
    close(connection).await;
    served?;
    counter.finish("raw-server", &ready, args.server.json, out, err)?;
    Ok(())
}

/// A confirm channel's publishes waiting for their confirms, by delivery
/// tag (tags count from 1 on each channel after `confirm.select`).
#[derive(Default)]
struct Confirms {
    next_tag: u64,
    waiting: HashMap<u64, oneshot::Sender<bool>>,
}

/// Settles the waiting publishes of one channel from its `basic.ack` and
/// `basic.nack` (with `multiple`, every tag up to the one given).
struct ConfirmCallback(Arc<Mutex<Confirms>>);

impl ConfirmCallback {
    fn settle(&self, tag: u64, multiple: bool, acked: bool) {
        let mut confirms = lock(&self.0);
        let tags: Vec<u64> = match multiple {
            true => confirms
                .waiting
                .keys()
                .copied()
                .filter(|t| *t <= tag)
                .collect(),
            false => vec![tag],
        };
        for t in tags {
            if let Some(tx) = confirms.waiting.remove(&t) {
                let _ = tx.send(acked);
            }
        }
    }
}

#[async_trait::async_trait]
impl ChannelCallback for ConfirmCallback {
    async fn close(
        &mut self,
        _: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        tracing::warn!(%close, "raw-client (amqprs): the broker closed a channel");
        lock(&self.0).waiting.clear();
        Ok(())
    }
    async fn cancel(&mut self, _: &Channel, _: Cancel) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(&mut self, _: &Channel, active: bool) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _: &Channel, ack: Ack) {
        self.settle(ack.delivery_tag(), ack.mutiple(), true);
    }
    async fn publish_nack(&mut self, _: &Channel, nack: Nack) {
        self.settle(nack.delivery_tag(), nack.multiple(), false);
    }
    async fn publish_return(&mut self, _: &Channel, _: Return, _: BasicProperties, _: Vec<u8>) {}
}

/// One sender's channel, and with `--cast` its confirms.
struct Lane {
    channel: Channel,
    confirms: Option<Arc<Mutex<Confirms>>>,
}

/// `bench raw-client --client amqprs`.
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
    plain_only(args.oslo_amqp, args.quorum)?;
    let load = load(&args.load)?;
    let connection = connect(global).await?;
    let queue = topic(global);
    let serving = match args.load.in_process_server {
        true => Some(answer(&connection, &queue, 0, Counter::new(None)).await?),
        false => None,
    };
    // One channel per sender, as the lapin floor has.
    let mut lanes = Vec::with_capacity(load.concurrency);
    for _ in 0..load.concurrency {
        let channel = connection
            .open_channel(None)
            .await
            .map_err(failed("open a channel"))?;
        let confirms = match args.cast {
            false => None,
            true => {
                let confirms = Arc::new(Mutex::new(Confirms::default()));
                channel
                    .register_callback(ConfirmCallback(confirms.clone()))
                    .await
                    .map_err(failed("watch publisher confirms"))?;
                channel
                    .confirm_select(ConfirmSelectArguments::default())
                    .await
                    .map_err(failed("enable publisher confirms"))?;
                Some(confirms)
            }
        };
        lanes.push(Lane { channel, confirms });
    }
    let waiting = Calls::default();
    let reply_to = match args.cast {
        true => None,
        false => Some(consume_replies(&connection, waiting.clone()).await?),
    };
    let kind = if args.cast { "cast" } else { "call" };
    let label = format!("raw-client {kind} x{}", load.concurrency);
    let sender = Arc::new(Sender {
        lanes: Mutex::new(lanes),
        waiting,
        queue,
        reply_to,
        body: vec![b'x'; load.payload_bytes],
        timeout: global.timeout.unwrap_or(DEFAULT_TIMEOUT),
    });
    let (report, stopped_by) = super::load::drive(&load, &label, err, shutdown, move |seq| {
        let sender = sender.clone();
        async move { sender.run(seq).await }
    })
    .await;
    if let Some(s) = serving {
        s.abort();
    }
    close(connection).await;
    report.write(out, args.load.json)?;
    stopped_by.map_or(Ok(()), |s| Err(CliError::Interrupted(s)))
}

/// Declares the client's exclusive, server-named reply queue and routes
/// its messages to the waiting calls; returns the queue's name.
async fn consume_replies(connection: &Connection, waiting: Calls) -> Result<String, CliError> {
    let channel = connection
        .open_channel(None)
        .await
        .map_err(failed("open a channel"))?;
    let (name, _, _) = channel
        .queue_declare(QueueDeclareArguments::exclusive_server_named())
        .await
        .map_err(failed("declare the reply queue"))?
        .ok_or_else(|| CliError::Unexpected("raw benchmark (amqprs): no reply queue".into()))?;
    let (_, mut replies) = channel
        .basic_consume_rx(
            // No acks, as the lapin floor's reply consumer.
            BasicConsumeArguments::new(&name, "")
                .manual_ack(false)
                .finish(),
        )
        .await
        .map_err(failed("consume the reply queue"))?;
    tokio::spawn(async move {
        // The channel lives as long as its consumer.
        let _channel = channel;
        while let Some(message) = replies.recv().await {
            let id = message
                .basic_properties
                .as_ref()
                .and_then(|p| p.correlation_id());
            if let Some(id) = id {
                waiting.answer(id);
            }
        }
        waiting.fail_all();
    });
    Ok(name)
}

/// What every send shares.
struct Sender {
    /// Channels no send is using: as many as senders.
    lanes: Mutex<Vec<Lane>>,
    waiting: Calls,
    queue: String,
    reply_to: Option<String>,
    body: Vec<u8>,
    timeout: Duration,
}

impl Sender {
    async fn run(&self, seq: u64) -> Result<(), String> {
        // There are as many channels as senders.
        let lane = lock(&self.lanes)
            .pop()
            .ok_or("raw-client: no free channel")?;
        let outcome = self.on(&lane, seq).await;
        lock(&self.lanes).push(lane);
        outcome
    }

    async fn on(&self, lane: &Lane, seq: u64) -> Result<(), String> {
        let mut props = BasicProperties::default();
        let mut reply = None;
        if let Some(reply_to) = &self.reply_to {
            let (id, rx) = self.waiting.register(seq);
            props.with_correlation_id(&id).with_reply_to(reply_to);
            reply = Some(rx);
        }
        let confirm = lane.confirms.as_ref().map(|confirms| {
            let mut confirms = lock(confirms);
            confirms.next_tag += 1;
            let (tx, rx) = oneshot::channel();
            let tag = confirms.next_tag;
            confirms.waiting.insert(tag, tx);
            (tag, rx)
        });
        // Forgets a publish the broker will not confirm: not sent (the
        // broker's count did not move), or timed out.
        let forget = |tag: u64, sent: bool| {
            if let Some(confirms) = &lane.confirms {
                let mut confirms = lock(confirms);
                confirms.waiting.remove(&tag);
                if !sent && confirms.next_tag == tag {
                    confirms.next_tag -= 1;
                }
            }
        };
        let published = lane
            .channel
            .basic_publish(
                props.finish(),
                self.body.clone(),
                BasicPublishArguments::new("", &self.queue),
            )
            .await;
        if let Err(e) = published {
            if let Some((tag, _)) = &confirm {
                forget(*tag, false);
            }
            return Err(format!("publish: {e}"));
        }
        if let Some((tag, confirm)) = confirm {
            return match tokio::time::timeout(self.timeout, confirm).await {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err("the broker nacked the publish".into()),
                Ok(Err(_)) => Err("the channel closed before the confirm".into()),
                Err(_) => {
                    forget(tag, true);
                    Err(format!("no publisher confirm within {:?}", self.timeout))
                }
            };
        }
        match reply {
            Some(rx) => self.waiting.wait(seq, rx, self.timeout).await,
            None => Ok(()),
        }
    }
}
