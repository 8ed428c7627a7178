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
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures::stream::SelectAll;
use futures::{FutureExt, Stream, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicNackOptions, BasicQosOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, Channel, Consumer};
use oslo_messaging_core::Result;
use tokio::sync::{mpsc, oneshot};

use crate::consumers::Tracked;
use crate::lapin_error::error;
use crate::link::retry_delay;
use crate::shared::RabbitShared;
use crate::topology::{declare, QueueSpec, StreamOffset};

/// A delivery and the channel it came on (acks go back on that channel).
pub(crate) type Received = (Delivery, Arc<Channel>);

/// One channel's consumers, as the listener polls them.
struct Consumers {
    channel: Arc<Channel>,
    streams: SelectAll<Watched>,
    /// One of them was cancelled by the broker and the others are being
    /// cancelled: what they received still goes to the listener, then
    /// their streams end.
    draining: bool,
    /// The last error a consumer failed with.
    failure: Option<String>,
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
    deliveries: Arc<AtomicU64>,
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
                self.deliveries.fetch_add(1, Ordering::Relaxed);
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
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    /// The broker cancelled a consumer; the channel is still open.
    Cancelled,
    /// The channel or the connection was lost, with the error a consumer
    /// failed with, if one did (e.g. the broker's `PRECONDITION_FAILED -
    /// delivery acknowledgement on channel 1 timed out`).
    Lost(Option<String>),
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
        let tracked = Tracked::new(queues.iter().map(|q| q.name.as_str()));
        let queues = Queues {
            specs: queues,
            offsets,
            own,
            tracked,
        };
        let (session, consumers) = Session::start(shared, &queues).await?;
        shared.consumers.add(queues.tracked.clone());
        let (next_tx, next) = mpsc::unbounded_channel();
        let (ended, ended_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = oneshot::channel();
        shared.io.spawn(keep_consuming(
            shared.clone(),
            queues,
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
                Some(Event::Failed(e)) => {
                    tracing::warn!(error = %e, "consumer failed");
                    current.failure = Some(e.to_string());
                }
                // The others, cancelled after the first one ended.
                Some(Event::Ended(_)) if current.draining => {}
                Some(Event::Ended(queue)) => {
                    if current.channel.status().connected() {
                        tracing::warn!(
                            queue,
                            "the broker cancelled the consumer of the queue (deleted, expired, \
                             or its node or leader went away); declaring and consuming again"
                        );
                        // What the channel's other consumers received is
                        // still taken, and acknowledged on this channel.
                        current.draining = true;
                        let _ = self.ended.send(Ending::Cancelled);
                    } else {
                        // Nothing received can be acknowledged any more:
                        // the broker delivers it again.
                        let failure = current.failure.take();
                        self.current = None;
                        let _ = self.ended.send(Ending::Lost(failure));
                    }
                }
                None => {
                    let (draining, failure) = (current.draining, current.failure.take());
                    self.current = None;
                    if !draining {
                        let _ = self.ended.send(Ending::Lost(failure));
                    }
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
    async fn start(shared: &RabbitShared, queues: &Queues) -> Result<(Self, Consumers)> {
        let connection = shared.consume_link.connection(None).await?;
        declare(&connection, &[], &queues.specs, &shared.declared).await?;
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
        for (q, offset) in queues.specs.iter().zip(&queues.offsets) {
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
                deliveries: queues.tracked.deliveries(&q.name),
                ended: false,
            });
        }
        let consumers = Consumers {
            channel,
            streams,
            draining: false,
            failure: None,
        };
        Ok((session, consumers))
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
    /// Their health, listed in the driver's registry while running.
    tracked: Arc<Tracked>,
}

impl Queues {
    fn names(&self) -> Vec<&str> {
        self.specs.iter().map(|q| q.name.as_str()).collect()
    }
}

/// Runs on the I/O runtime for the life of a subscription: after the
/// consumers end, consumes again, at once the first time and then on the
/// reconnect schedule (`rabbit_retry_interval` growing by
/// `rabbit_retry_backoff` up to `rabbit_interval_max`) while attempts fail
/// or the broker cancels the new consumers again within
/// `rabbit_interval_max` seconds.
async fn keep_consuming(
    shared: Arc<RabbitShared>,
    queues: Queues,
    mut session: Session,
    mut handover: Handover,
) {
    let mut stop = handover.stop;
    let mut attempts: u32 = 0;
    let mut resumed_at: Option<Instant> = None;
    let outcome = loop {
        let ending = tokio::select! {
            asked = &mut stop => break asked.ok(),
            ended = handover.ended.recv() => match ended {
                Some(ending) => ending,
                // The listener is gone without stopping.
                None => break None,
            },
        };
        let why = match &ending {
            Ending::Cancelled => "consumer cancelled by the broker".to_owned(),
            Ending::Lost(None) => "connection or channel lost".to_owned(),
            Ending::Lost(Some(e)) => format!("connection or channel lost: {e}"),
        };
        queues.tracked.stopped(&why);
        tracing::warn!(queues = ?queues.names(), cause = why, "consumers stopped; subscribing again");
        if ending == Ending::Cancelled {
            // The channel's other consumers are still delivering: stop them.
            tokio::select! {
                asked = &mut stop => break asked.ok(),
                () = session.cancel() => {}
            }
            for (q, offset) in queues.specs.iter().zip(&queues.offsets) {
                if let Some(offset) = offset {
                    offset.reset(&q.name);
                }
            }
        }
        // Cancelled again soon after resuming: back off as for a failure.
        let max = Duration::from_secs(shared.opts.rabbit_interval_max);
        if resumed_at.is_none_or(|t| t.elapsed() >= max) {
            attempts = 0;
        }
        let started = loop {
            if attempts > 0 {
                let pause = retry_delay(&shared.opts, attempts - 1);
                tokio::select! {
                    asked = &mut stop => break Err(asked.ok()),
                    () = tokio::time::sleep(pause) => {}
                }
            }
            attempts = attempts.saturating_add(1);
            tokio::select! {
                asked = &mut stop => break Err(asked.ok()),
                started = Session::start(&shared, &queues) => match started {
                    Ok(started) => break Ok(started),
                    Err(e) => {
                        queues.tracked.attempt_failed(&e);
                        tracing::warn!(
                            queues = ?queues.names(),
                            error = %e,
                            next_attempt_in = ?retry_delay(&shared.opts, attempts - 1),
                            "subscribing again failed"
                        );
                    }
                }
            }
        };
        match started {
            Ok((s, consumers)) => {
                queues.tracked.resumed();
                tracing::info!(queues = ?queues.names(), "consumers resumed");
                resumed_at = Some(Instant::now());
                session = s;
                let _ = handover.next.send(consumers);
            }
            Err(asked) => break asked,
        }
    };
    shared.consumers.remove(&queues.tracked);
    finish(&session, &queues.own, outcome).await;
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
