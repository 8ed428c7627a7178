//! A listener's consumers, kept alive: the queues are declared and
//! consumed on one channel of the consuming connection (with
//! `rabbit_qos_prefetch_count`).
//!
//! The listener polls lapin's consumers itself, so a delivery goes from
//! lapin's I/O thread straight to the task that handles it. When the
//! consumers end (connection lost, channel closed, consumer cancelled by
//! the broker) the listener tells a task on the I/O runtime, which declares
//! and consumes the queues again on the next connection and hands the new
//! consumers over.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::SelectAll;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicNackOptions, BasicQosOptions, QueueDeleteOptions};
use lapin::{Acker, Channel, Consumer};
use oslo_messaging_core::Result;
use tokio::sync::{mpsc, oneshot};

use crate::driver::RabbitShared;
use crate::link::error;
use crate::topology::{declare_queue, QueueSpec};

/// A delivery and the channel it came on (acks go back on that channel).
pub(crate) type Received = (Delivery, Arc<Channel>);

/// One channel's consumers, as the listener polls them.
struct Consumers {
    channel: Arc<Channel>,
    streams: SelectAll<Consumer>,
}

/// Deliveries of a listener's queues, across reconnections.
pub(crate) struct Subscription {
    current: Option<Consumers>,
    /// Consumers of a new channel, after the current ones ended.
    next: mpsc::UnboundedReceiver<Consumers>,
    /// Tells the I/O runtime that the current consumers ended.
    ended: mpsc::UnboundedSender<()>,
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
    stopped: bool,
}

impl Subscription {
    /// Declares `queues` and consumes them; `own` of them are deleted at
    /// stop (a server's fanout queue).
    ///
    /// # Errors
    /// Connection failures, or the broker refusing a declaration (only for
    /// the first subscription: later ones are retried).
    pub async fn open(
        shared: &Arc<RabbitShared>,
        queues: Vec<QueueSpec>,
        own: Vec<String>,
    ) -> Result<Self> {
        let (session, consumers) = Session::start(shared, &queues).await?;
        let (next_tx, next) = mpsc::unbounded_channel();
        let (ended, ended_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = oneshot::channel();
        shared.io.spawn(keep_consuming(
            shared.clone(),
            queues,
            own,
            session,
            Handover {
                next: next_tx,
                ended: ended_rx,
                stop: stop_rx,
            },
        ));
        Ok(Self {
            current: Some(consumers),
            next,
            ended,
            stop: Some(stop),
            stopped: false,
        })
    }

    /// The next delivery; `None` once stopped.
    pub async fn next(&mut self) -> Option<Received> {
        if self.stopped {
            return None;
        }
        loop {
            let Some(current) = self.current.as_mut() else {
                self.current = Some(self.next.recv().await?);
                continue;
            };
            match current.streams.next().await {
                Some(Ok(d)) => return Some((d, current.channel.clone())),
                Some(Err(e)) => tracing::warn!(error = %e, "consumer failed"),
                None => {
                    self.current = None;
                    let _ = self.ended.send(());
                }
            }
        }
    }

    /// Cancels the consumers, deletes the subscription's own queues and
    /// gives back what was received but not taken. Channels stay open
    /// until the last message taken is settled.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Some(stop) = self.stop.take() {
            let (done, finished) = oneshot::channel();
            if stop.send(done).is_ok() {
                let _ = finished.await;
            }
        }
        // The broker sent every delivery before its cancel-ok, so what is
        // left is already buffered.
        self.next.close();
        let mut left = self.current.take().into_iter().collect::<Vec<_>>();
        while let Some(c) = self.next.recv().await {
            left.push(c);
        }
        for mut c in left {
            while let Some(Some(Ok(d))) = c.streams.next().now_or_never() {
                requeue(&d.acker).await;
            }
        }
    }
}

/// One channel's consumers, as the I/O runtime keeps them (to cancel them).
struct Session {
    channel: Arc<Channel>,
    tags: Vec<String>,
}

impl Session {
    async fn start(shared: &RabbitShared, queues: &[QueueSpec]) -> Result<(Self, Consumers)> {
        let connection = shared.consume_link.connection(None).await?;
        let channel = Arc::new(
            connection
                .create_channel()
                .await
                .map_err(|e| error("open a channel", &e))?,
        );
        let prefetch = u16::try_from(shared.opts.rabbit_qos_prefetch_count).unwrap_or(u16::MAX);
        if prefetch > 0 {
            channel
                .basic_qos(prefetch, BasicQosOptions::default())
                .await
                .map_err(|e| error("set the prefetch count", &e))?;
        }
        let mut session = Session {
            channel: channel.clone(),
            tags: Vec::new(),
        };
        let mut streams = SelectAll::new();
        let mut consumed = HashSet::new();
        for q in queues {
            declare_queue(&channel, q, &shared.declared).await?;
            // A pool's queue is bound once per target but consumed once.
            if !consumed.insert(q.name.as_str()) {
                continue;
            }
            let consumer = channel
                .basic_consume(
                    q.name.as_str().into(),
                    "".into(),
                    lapin::options::BasicConsumeOptions::default(),
                    shared.topology.consumer_arguments(),
                )
                .await
                .map_err(|e| error(&format!("consume queue {:?}", q.name), &e))?;
            session.tags.push(consumer.tag().to_string());
            streams.push(consumer);
        }
        Ok((session, Consumers { channel, streams }))
    }

    async fn cancel(&self) {
        for tag in &self.tags {
            if let Err(e) = self
                .channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await
            {
                tracing::debug!(error = %e, "cancelling a consumer failed");
            }
        }
    }
}

/// How the I/O runtime and the listener talk.
struct Handover {
    next: mpsc::UnboundedSender<Consumers>,
    ended: mpsc::UnboundedReceiver<()>,
    stop: oneshot::Receiver<oneshot::Sender<()>>,
}

/// Runs on the I/O runtime for the life of a subscription.
async fn keep_consuming(
    shared: Arc<RabbitShared>,
    queues: Vec<QueueSpec>,
    own: Vec<String>,
    mut session: Session,
    mut handover: Handover,
) {
    loop {
        tokio::select! {
            asked = &mut handover.stop => return finish(&session, &own, asked.ok()).await,
            ended = handover.ended.recv() => if ended.is_none() {
                // The listener is gone without stopping.
                return finish(&session, &own, None).await;
            },
        }
        tracing::warn!(
            queues = ?queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
            "consumers stopped (connection lost or consumer cancelled); subscribing again"
        );
        loop {
            tokio::select! {
                asked = &mut handover.stop => return finish(&session, &own, asked.ok()).await,
                started = Session::start(&shared, &queues) => match started {
                    Ok((s, consumers)) => {
                        tracing::info!("consumers resumed");
                        session = s;
                        let _ = handover.next.send(consumers);
                        break;
                    }
                    Err(e) => {
                        let pause = Duration::from_secs(shared.opts.rabbit_retry_interval);
                        tracing::warn!(error = %e, next_attempt_in = ?pause, "subscribing again failed");
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
    }
}

async fn finish(session: &Session, own: &[String], done: Option<oneshot::Sender<()>>) {
    session.cancel().await;
    for q in own {
        if let Err(e) = session
            .channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await
        {
            tracing::debug!(queue = q, error = %e, "deleting a fanout queue failed");
        }
    }
    if let Some(done) = done {
        let _ = done.send(());
    }
}

pub(crate) async fn requeue(acker: &Acker) {
    let options = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    if let Err(e) = acker.nack(options).await {
        tracing::debug!(error = %e, "requeue failed; the broker requeues when the channel closes");
    }
}
