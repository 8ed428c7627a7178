//! A listener's consumers, kept alive: the queues are declared and
//! consumed on one channel of the consuming connection (with
//! `rabbit_qos_prefetch_count`).
//!
//! The listener polls lapin's consumers itself, so a delivery goes from
//! lapin's I/O thread straight to the task that handles it. When any one
//! consumer ends (connection lost, channel closed, or the consumer
//! cancelled by the broker: its queue was deleted, a quorum queue's leader
//! moved) the listener tells a task on the I/O runtime, which cancels the
//! channel's other consumers, declares and consumes every queue again (on
//! the same connection if it is still up) and hands the new consumers over.
//!
//! A stream queue (`rabbit_stream_fanout`) is consumed from offset `last`;
//! the offset of each delivery (its `x-stream-offset` header) is kept, and
//! after a lost connection the stream is consumed again from the offset
//! after it. After a broker cancel it starts from `last` again, as
//! oslo.messaging does (the stream may have been deleted and its offsets
//! reset).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures::stream::SelectAll;
use futures::{FutureExt, Stream, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicNackOptions, BasicQosOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, Channel, Consumer};
use oslo_messaging_core::Result;
use tokio::sync::{mpsc, oneshot};

use crate::driver::RabbitShared;
use crate::link::error;
use crate::topology::{declare, QueueSpec, StreamOffset};

/// A delivery and the channel it came on (acks go back on that channel).
pub(crate) type Received = (Delivery, Arc<Channel>);

/// One channel's consumers, as the listener polls them.
struct Consumers {
    channel: Arc<Channel>,
    streams: SelectAll<Watched>,
}

/// What one consumer yields.
// Deliveries are nearly every event: boxing them would allocate per message.
#[allow(clippy::large_enum_variant)]
enum Event {
    Delivery(Delivery),
    Failed(lapin::Error),
    /// The consumer ended (the queue's name).
    Ended(String),
}

/// One queue's consumer: says when it ends, and for a stream records the
/// offset of each delivery.
struct Watched {
    consumer: Consumer,
    queue: String,
    offset: Option<Arc<NextOffset>>,
    ended: bool,
}

impl Stream for Watched {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if self.ended {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(match ready!(self.consumer.poll_next_unpin(cx)) {
            Some(Ok(d)) => {
                if let Some(offset) = &self.offset {
                    offset.seen(d.properties.headers().as_ref());
                }
                Event::Delivery(d)
            }
            Some(Err(e)) => Event::Failed(e),
            None => {
                self.ended = true;
                Event::Ended(self.queue.clone())
            }
        }))
    }
}

/// Where a stream's consumer resumes: `-1` for `last`, else the offset
/// after the last delivery seen.
#[derive(Debug)]
struct NextOffset(AtomicI64);

impl NextOffset {
    const LAST: i64 = -1;

    fn new() -> Self {
        Self(AtomicI64::new(Self::LAST))
    }

    fn get(&self) -> StreamOffset {
        match u64::try_from(self.0.load(Ordering::Acquire)) {
            Ok(n) => StreamOffset::At(n),
            Err(_) => StreamOffset::Last,
        }
    }

    /// Records the `x-stream-offset` of a delivery with `headers`
    /// (oslo.messaging's `Consumer._callback`).
    fn seen(&self, headers: Option<&FieldTable>) {
        let offset = headers
            .and_then(|h| h.inner().get("x-stream-offset"))
            .and_then(integer);
        if let Some(n) = offset.filter(|n| *n >= 0) {
            self.0.store(n.saturating_add(1), Ordering::Release);
        }
    }

    fn reset(&self, queue: &str) {
        let was = self.0.swap(Self::LAST, Ordering::AcqRel);
        tracing::warn!(
            queue,
            next_offset = was,
            "a consumer of the subscription was cancelled by the broker; consuming the stream again \
             from offset \"last\", as oslo.messaging does"
        );
    }
}

fn integer(v: &AMQPValue) -> Option<i64> {
    match v {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
        AMQPValue::Timestamp(n) => i64::try_from(*n).ok(),
        _ => None,
    }
}

/// Why a subscription's consumers ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The broker cancelled a consumer; the channel is still open.
    Cancelled,
    /// The channel or the connection was lost.
    Lost,
}

/// Deliveries of a listener's queues, across reconnections.
pub(crate) struct Subscription {
    current: Option<Consumers>,
    /// Consumers of a new channel, after the current ones ended.
    next: mpsc::UnboundedReceiver<Consumers>,
    /// Tells the I/O runtime that the current consumers ended, and why.
    ended: mpsc::UnboundedSender<Ending>,
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
        let offsets: Vec<Option<Arc<NextOffset>>> = queues
            .iter()
            .map(|q| q.stream.then(|| Arc::new(NextOffset::new())))
            .collect();
        let (session, consumers) = Session::start(shared, &queues, &offsets).await?;
        let (next_tx, next) = mpsc::unbounded_channel();
        let (ended, ended_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = oneshot::channel();
        shared.io.spawn(keep_consuming(
            shared.clone(),
            Queues {
                specs: queues,
                offsets,
                own,
            },
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
                Some(Event::Delivery(d)) => return Some((d, current.channel.clone())),
                Some(Event::Failed(e)) => tracing::warn!(error = %e, "consumer failed"),
                Some(Event::Ended(queue)) => {
                    let ending = match current.channel.status().connected() {
                        true => Ending::Cancelled,
                        false => Ending::Lost,
                    };
                    if ending == Ending::Cancelled {
                        tracing::warn!(
                            queue,
                            "the broker cancelled the consumer of the queue (deleted, expired, \
                             or its node or leader went away); declaring and consuming again"
                        );
                    }
                    self.current = None;
                    let _ = self.ended.send(ending);
                }
                None => {
                    self.current = None;
                    let _ = self.ended.send(Ending::Lost);
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
            while let Some(Some(event)) = c.streams.next().now_or_never() {
                if let Event::Delivery(d) = event {
                    requeue(&d.acker).await;
                }
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
    async fn start(
        shared: &RabbitShared,
        queues: &[QueueSpec],
        offsets: &[Option<Arc<NextOffset>>],
    ) -> Result<(Self, Consumers)> {
        let connection = shared.consume_link.connection(None).await?;
        declare(&connection, &[], queues, &shared.declared).await?;
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
        for (q, offset) in queues.iter().zip(offsets) {
            // A pool's queue is bound once per target but consumed once.
            if !consumed.insert(q.name.as_str()) {
                continue;
            }
            let from = offset.as_ref().map(|o| o.get());
            if let Some(from) = from {
                tracing::info!(queue = q.name, offset = ?from, "consuming a stream");
            }
            let consumer = channel
                .basic_consume(
                    q.name.as_str().into(),
                    "".into(),
                    lapin::options::BasicConsumeOptions::default(),
                    shared.topology.consumer_arguments(from),
                )
                .await
                .map_err(|e| error(&format!("consume queue {:?}", q.name), &e))?;
            session.tags.push(consumer.tag().to_string());
            streams.push(Watched {
                consumer,
                queue: q.name.clone(),
                offset: offset.clone(),
                ended: false,
            });
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
    ended: mpsc::UnboundedReceiver<Ending>,
    stop: oneshot::Receiver<oneshot::Sender<()>>,
}

/// What a subscription consumes.
struct Queues {
    specs: Vec<QueueSpec>,
    /// For each of `specs`, where its stream consumer resumes (streams only).
    offsets: Vec<Option<Arc<NextOffset>>>,
    /// Deleted at stop.
    own: Vec<String>,
}

/// Runs on the I/O runtime for the life of a subscription.
async fn keep_consuming(
    shared: Arc<RabbitShared>,
    queues: Queues,
    mut session: Session,
    mut handover: Handover,
) {
    let own = &queues.own;
    loop {
        let ending = tokio::select! {
            asked = &mut handover.stop => return finish(&session, own, asked.ok()).await,
            ended = handover.ended.recv() => match ended {
                Some(ending) => ending,
                // The listener is gone without stopping.
                None => return finish(&session, own, None).await,
            },
        };
        tracing::warn!(
            queues = ?queues.specs.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
            cause = ?ending,
            "consumers stopped (connection lost or consumer cancelled); subscribing again"
        );
        if ending == Ending::Cancelled {
            // The channel's other consumers are still delivering: stop them.
            session.cancel().await;
            for (q, offset) in queues.specs.iter().zip(&queues.offsets) {
                if let Some(offset) = offset {
                    offset.reset(&q.name);
                }
            }
        }
        loop {
            tokio::select! {
                asked = &mut handover.stop => return finish(&session, own, asked.ok()).await,
                started = Session::start(&shared, &queues.specs, &queues.offsets) => match started {
                    Ok((s, consumers)) => {
                        tracing::info!(
                            queues = ?queues.specs.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
                            "consumers resumed"
                        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_resumes_after_the_last_offset_seen_and_restarts_from_last_after_a_reset() {
        let next = NextOffset::new();
        assert_eq!(next.get(), StreamOffset::Last);
        let mut headers = FieldTable::default();
        headers.insert("x-stream-offset".into(), AMQPValue::LongLongInt(41));
        next.seen(Some(&headers));
        assert_eq!(next.get(), StreamOffset::At(42));
        next.seen(None);
        next.seen(Some(&FieldTable::default()));
        assert_eq!(
            next.get(),
            StreamOffset::At(42),
            "deliveries without an offset change nothing"
        );
        next.reset("q");
        assert_eq!(next.get(), StreamOffset::Last);
    }
}
