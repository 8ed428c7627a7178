//! A notification listener: one Kafka consumer in a consumer group,
//! polled on a thread of its own (librdkafka's calls block, and its
//! rebalance callbacks run inside `poll`), handing records to the async
//! side through a bounded buffer.
//!
//! Offsets (`impl_kafka.py` `ConsumerConnection`):
//! - at-most-once (default, as Python): the offsets of the records the
//!   listener takes are committed (synchronously, one commit per batch)
//!   before they are dispatched. Records polled but not yet taken are not
//!   committed, so stopping loses none of them.
//! - at-least-once: a record's offset is committed once it and every
//!   earlier record of its partition are settled; requeue seeks the
//!   partition back to it, so it (and the records after it that were not
//!   yet settled) are delivered again.
//! - `enable_auto_commit = true`: librdkafka commits in the background.
//!
//! On assignment, a partition the group has never committed starts at its
//! end (`auto.offset.reset = latest`, as Python) and that offset is
//! committed at once, so that a rebalance before the first record does not
//! skip what was sent in between. [`KafkaListener::start`] returns once the
//! first assignment is done: what is sent after it returns is received.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use oslo_messaging_core::driver::{IncomingNotification, Listener, NotificationHandle};
use oslo_messaging_core::health::{ConnectionHealth, ConsumerHealth, ConsumerState};
use oslo_messaging_core::telemetry::metrics;
use oslo_messaging_core::telemetry::trace::{self, TRACEPARENT, TRACESTATE};
use oslo_messaging_core::{wire, DriverError, MessagingError, Result};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tokio::sync::{watch, Notify};

use crate::connection::{Change, Connection};
use crate::kafka_error::connection;
use crate::options::Commit;
use crate::DRIVER;

/// How long one `poll` blocks: the bound on how long `stop()` waits.
const POLL_STEP: Duration = Duration::from_millis(100);
/// How long a broker query made during a rebalance may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `start` waits for the group to assign partitions.
pub(crate) const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

type TopicPartition = (String, i32);
type KafkaConsumer = BaseConsumer<ListenerContext>;

/// One record polled and not yet settled.
struct Record {
    topic: String,
    partition: i32,
    offset: i64,
    payload: Vec<u8>,
    /// Its W3C trace-context headers (`traceparent`, `tracestate`).
    trace: Vec<(String, String)>,
}

impl Record {
    fn new(m: &BorrowedMessage<'_>) -> Self {
        let trace = m
            .headers()
            .into_iter()
            .flat_map(|h| h.iter())
            .filter(|h| h.key == TRACEPARENT || h.key == TRACESTATE)
            .filter_map(|h| {
                Some((
                    h.key.to_owned(),
                    std::str::from_utf8(h.value?).ok()?.to_owned(),
                ))
            })
            .collect();
        Record {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            payload: m.payload().unwrap_or_default().to_vec(),
            trace,
        }
    }
}

/// Which offsets of one partition are taken and not yet settled
/// (at-least-once).
#[derive(Default)]
struct Progress {
    pending: BTreeSet<i64>,
    /// The offset after the last one taken.
    next: Option<i64>,
    /// A requeued offset not yet delivered again: nothing at or after it
    /// may be committed.
    floor: Option<i64>,
    committed: Option<i64>,
}

impl Progress {
    /// Registers a record taken for dispatch; `false` when it must be
    /// dropped instead: it lies past a requeued offset, so the seek back
    /// delivers it again (it was polled before the seek took effect).
    fn take(&mut self, offset: i64) -> bool {
        match self.floor {
            Some(f) if offset > f => return false,
            Some(f) if offset == f => self.floor = None,
            _ => {}
        }
        self.pending.insert(offset);
        self.next = Some(self.next.map_or(offset + 1, |n| n.max(offset + 1)));
        true
    }

    /// The offset to commit (the first not settled), if it moved.
    fn commit_point(&mut self) -> Option<i64> {
        let point = [self.floor, self.pending.first().copied(), self.next]
            .into_iter()
            .flatten()
            .min()?;
        if self.committed == Some(point) {
            return None;
        }
        self.committed = Some(point);
        Some(point)
    }
}

#[derive(Default)]
struct Inner {
    buffered: VecDeque<Record>,
    assigned: Vec<TopicPartition>,
    progress: HashMap<TopicPartition, Progress>,
    /// Per partition, the offset the next record should have: the start
    /// offset of its assignment, the offset a requeue sought back to, then
    /// the last record's + 1.
    expected: HashMap<TopicPartition, i64>,
    /// Requeues' seeks so far: a record from a poll that began before the
    /// last one may have been fetched before it, and is not checked.
    seeks: u64,
}

/// The offset gap before `r`: how many offsets its partition skipped
/// (`expected` moves past `r`), records this consumer never got.
/// Notification topics have no compaction or transactions, whose markers
/// leave such gaps legitimately; what remains is records deleted before
/// the group read them (retention, then an offset reset), or a broker
/// that skipped them: tansu 0.6 does when a fetch starts inside a record
/// batch (it answers from the next batch on).
fn skipped(expected: &mut HashMap<TopicPartition, i64>, r: &Record) -> Option<i64> {
    let before = expected.insert((r.topic.clone(), r.partition), r.offset + 1)?;
    (r.offset > before).then(|| r.offset - before)
}

impl Inner {
    /// Takes in a polled record (from a poll that began after `seeks`
    /// seeks); the offset gap before it, when there is one. A gap past a
    /// requeued offset clears the requeue: the record it waits for will
    /// not come.
    fn receive(&mut self, record: Record, seeks: u64) -> Option<i64> {
        let tp = (record.topic.clone(), record.partition);
        let gap = if seeks == self.seeks {
            skipped(&mut self.expected, &record)
        } else {
            // Perhaps fetched before the seek: past the expected offset it
            // may be stale (and is dropped, see `Progress::take`), so only
            // a record at or before it moves it.
            if self.expected.get(&tp).is_none_or(|e| record.offset <= *e) {
                self.expected.insert(tp.clone(), record.offset + 1);
            }
            None
        };
        if gap.is_some() {
            if let Some(p) = self.progress.get_mut(&tp) {
                if p.floor.is_some_and(|f| f < record.offset) {
                    p.floor = None;
                }
            }
        }
        self.buffered.push_back(record);
        gap
    }
}

/// What the consumer thread, its callbacks and the async side share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    wake: Notify,
    /// Signalled when records leave the buffer (or the listener stops):
    /// the consumer thread waits on it while the buffer is full.
    room: Condvar,
    stop: AtomicBool,
    joined: watch::Sender<bool>,
    health: Mutex<ConsumerHealth>,
    /// The consumer's connection (purpose `consume`).
    connection: Connection,
    commit: Commit,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn health_mut(&self) -> MutexGuard<'_, ConsumerHealth> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This listener's consumer, for [`Driver::health`](oslo_messaging_core::driver::Driver::health).
    pub(crate) fn health(&self) -> ConsumerHealth {
        self.health_mut().clone()
    }

    /// This listener's consumer's connection.
    pub(crate) fn connection_health(&self) -> ConnectionHealth {
        self.connection.health()
    }

    /// The consumer cannot consume: its connection is lost.
    fn stopped(&self) {
        let mut h = self.health_mut();
        if h.state == ConsumerState::Consuming {
            h.state = ConsumerState::Recovering;
        }
    }

    /// The consumer consumes again (a record came, partitions were
    /// assigned, or its connection is back): from `recovering`, counted as
    /// a recovery when it had consumed before.
    fn consuming(&self) {
        let mut h = self.health_mut();
        if h.state != ConsumerState::Recovering {
            return;
        }
        h.state = ConsumerState::Consuming;
        if *self.joined.borrow() {
            h.recoveries += 1;
            metrics::consumer_recovered("kafka");
            tracing::info!(driver = DRIVER, queue = %h.queue, "kafka consumer consuming again");
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn commits_after_dispatch(&self) -> bool {
        self.commit == Commit::AfterDispatch
    }
}

/// Callbacks of librdkafka: errors into health, rebalances as the module
/// docs say.
pub(crate) struct ListenerContext {
    shared: Arc<Shared>,
}

impl ClientContext for ListenerContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(driver = DRIVER, %error, reason, "kafka consumer error");
        let change = self.shared.connection.on_error(&error, reason);
        self.shared.health_mut().last_error = Some(format!("{error}: {reason}"));
        if change == Change::Lost {
            self.shared.stopped();
        }
    }

    fn stats_raw(&self, statistics: &[u8]) {
        if self.shared.connection.on_stats(statistics) == Change::Lost {
            self.shared.stopped();
        } else if self.shared.connection.is_connected() && *self.shared.joined.borrow() {
            self.shared.consuming();
        }
    }
}

impl ConsumerContext for ListenerContext {
    fn rebalance(
        &self,
        consumer: &KafkaConsumer,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                tracing::warn!(driver = DRIVER, error = ?other, "kafka rebalance failed");
                self.shared.health_mut().last_error = Some(format!("rebalance failed: {other:?}"));
                self.revoke(consumer, tpl);
            }
        }
    }
}

/// `(topic, partition, offset)` of a list, for logs.
fn offsets(tpl: &TopicPartitionList) -> Vec<(String, i32, Offset)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition(), e.offset()))
        .collect()
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ListenerContext {
    fn assign(&self, consumer: &KafkaConsumer, tpl: &TopicPartitionList) {
        let assigned = partitions(tpl);
        match explicit_offsets(consumer, tpl) {
            Ok((start, first_time)) => {
                {
                    let mut inner = self.shared.lock();
                    for e in start.elements() {
                        if let Offset::Offset(n) = e.offset() {
                            inner
                                .expected
                                .insert((e.topic().to_owned(), e.partition()), n);
                        }
                    }
                }
                tracing::info!(driver = DRIVER, start = ?offsets(&start), "partitions assigned");
                if let Err(e) = consumer.assign(&start) {
                    tracing::warn!(driver = DRIVER, error = %e, "assign failed");
                }
                if first_time.count() > 0 {
                    if let Err(e) = consumer.commit(&first_time, CommitMode::Sync) {
                        tracing::warn!(driver = DRIVER, error = %e, "committing start offsets failed");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(driver = DRIVER, error = %e, partitions = ?assigned,
                    "could not read the group's offsets; starting where librdkafka resolves");
                self.shared
                    .lock()
                    .expected
                    .retain(|tp, _| !assigned.contains(tp));
                if let Err(e) = consumer.assign(tpl) {
                    tracing::warn!(driver = DRIVER, error = %e, "assign failed");
                }
            }
        }
        {
            let mut inner = self.shared.lock();
            inner.progress.retain(|tp, _| assigned.contains(tp));
            inner.assigned = assigned;
        }
        self.shared.consuming();
        self.shared.joined.send_replace(true);
    }

    fn revoke(&self, consumer: &KafkaConsumer, tpl: &TopicPartitionList) {
        let revoked = partitions(tpl);
        tracing::info!(driver = DRIVER, partitions = ?revoked, "partitions revoked");
        let mut commit = TopicPartitionList::new();
        {
            let mut inner = self.shared.lock();
            inner
                .buffered
                .retain(|r| !revoked.contains(&(r.topic.clone(), r.partition)));
            for tp in &revoked {
                if let Some(mut p) = inner.progress.remove(tp) {
                    if let Some(offset) = p.commit_point() {
                        let _ = commit.add_partition_offset(&tp.0, tp.1, Offset::Offset(offset));
                    }
                }
            }
            inner.assigned.retain(|tp| !revoked.contains(tp));
            inner.expected.retain(|tp, _| !revoked.contains(tp));
        }
        if commit.count() > 0 {
            if let Err(e) = consumer.commit(&commit, CommitMode::Sync) {
                tracing::warn!(driver = DRIVER, error = %e, "commit on revoke failed");
            }
        }
        if let Err(e) = consumer.unassign() {
            tracing::warn!(driver = DRIVER, error = %e, "unassign failed");
        }
    }
}

/// The assignment with an explicit start offset per partition: the
/// group's committed offset, else the partition's end. The second list
/// holds the partitions that had none, to commit.
fn explicit_offsets(
    consumer: &KafkaConsumer,
    tpl: &TopicPartitionList,
) -> KafkaResult<(TopicPartitionList, TopicPartitionList)> {
    let committed = consumer.committed_offsets(tpl.clone(), QUERY_TIMEOUT)?;
    let mut start = TopicPartitionList::new();
    let mut first_time = TopicPartitionList::new();
    for e in committed.elements() {
        e.error()?;
        let offset = match e.offset() {
            Offset::Offset(n) => Offset::Offset(n),
            _ => {
                let (_, high) =
                    consumer.fetch_watermarks(e.topic(), e.partition(), QUERY_TIMEOUT)?;
                first_time.add_partition_offset(e.topic(), e.partition(), Offset::Offset(high))?;
                Offset::Offset(high)
            }
        };
        start.add_partition_offset(e.topic(), e.partition(), offset)?;
    }
    Ok((start, first_time))
}

/// A started listener.
pub(crate) struct KafkaListener {
    shared: Arc<Shared>,
    consumer: Option<Arc<KafkaConsumer>>,
    thread: Option<JoinHandle<()>>,
    taken: VecDeque<Record>,
    max_poll_records: usize,
}

/// What [`KafkaListener::start`] needs.
pub(crate) struct ListenerSpec {
    pub(crate) config: ClientConfig,
    pub(crate) topics: Vec<String>,
    pub(crate) group: String,
    pub(crate) commit: Commit,
    pub(crate) max_poll_records: usize,
}

impl KafkaListener {
    /// Subscribes and waits until the group assigned this consumer its
    /// partitions (possibly none, when other members hold them all).
    ///
    /// # Errors
    /// [`MessagingError::Connection`] when the consumer cannot be made or
    /// the group does not assign within [`JOIN_TIMEOUT`].
    pub(crate) async fn start(spec: ListenerSpec) -> Result<(Self, Arc<Shared>)> {
        let (joined, mut joined_rx) = watch::channel(false);
        let queue = format!("{} (group {})", spec.topics.join(","), spec.group);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            room: Condvar::new(),
            stop: AtomicBool::new(false),
            joined,
            health: Mutex::new(ConsumerHealth {
                queue,
                state: ConsumerState::Recovering,
                last_error: None,
                deliveries: 0,
                recoveries: 0,
            }),
            connection: Connection::new("consume"),
            commit: spec.commit,
        });
        let context = ListenerContext {
            shared: shared.clone(),
        };
        let consumer: KafkaConsumer = spec
            .config
            .create_with_context(context)
            .map_err(|e| connection("create a consumer", e))?;
        let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| connection("subscribe", e))?;
        let consumer = Arc::new(consumer);
        let thread = {
            let (consumer, shared) = (consumer.clone(), shared.clone());
            let cap = spec.max_poll_records;
            std::thread::Builder::new()
                .name("oslo-kafka-consumer".into())
                .spawn(move || poll_loop(&consumer, &shared, cap))
                .map_err(|e| {
                    MessagingError::Connection(
                        DriverError::new(DRIVER, format!("cannot start the consumer thread: {e}"))
                            .with_source(e),
                    )
                })?
        };
        let mut listener = Self {
            shared: shared.clone(),
            consumer: Some(consumer),
            thread: Some(thread),
            taken: VecDeque::new(),
            max_poll_records: spec.max_poll_records,
        };
        let joined = matches!(
            tokio::time::timeout(JOIN_TIMEOUT, joined_rx.wait_for(|j| *j)).await,
            Ok(Ok(_))
        );
        if !joined {
            let why = shared
                .health()
                .last_error
                .unwrap_or_else(|| "no error reported".into());
            listener.stop().await;
            return Err(MessagingError::connection(
                DRIVER,
                format!(
                    "consumer group {:?} assigned no partitions of {:?} within {} s ({why})",
                    spec.group,
                    spec.topics,
                    JOIN_TIMEOUT.as_secs()
                ),
            ));
        }
        Ok((listener, shared))
    }

    /// Takes what is buffered (up to `max_poll_records`), committing it
    /// first at-most-once or registering it at-least-once.
    async fn take_batch(&mut self) -> Option<bool> {
        let batch: Vec<Record> = {
            let mut inner = self.shared.lock();
            let n = inner.buffered.len().min(self.max_poll_records);
            let mut batch: Vec<Record> = inner.buffered.drain(..n).collect();
            self.shared.room.notify_one();
            if self.shared.commits_after_dispatch() {
                batch.retain(|r| {
                    inner
                        .progress
                        .entry((r.topic.clone(), r.partition))
                        .or_default()
                        .take(r.offset)
                });
            }
            batch
        };
        if batch.is_empty() {
            return if self.shared.is_stopped() {
                None
            } else {
                Some(false)
            };
        }
        self.shared.health_mut().deliveries += batch.len() as u64;
        let commit = offsets_of(&batch, true);
        // Kept before the commit is awaited: next() may be cancelled (a
        // batch timeout, stop) and the records must survive it.
        self.taken.extend(batch);
        if self.shared.commit == Commit::BeforeDispatch {
            self.commit_sync(commit, "these records may be delivered again")
                .await;
        }
        Some(true)
    }

    /// Commits `tpl` and waits for the broker's answer (on a blocking
    /// thread); a failure is logged with `if_failed`, what it means.
    async fn commit_sync(&self, tpl: TopicPartitionList, if_failed: &str) {
        let Some(consumer) = self.consumer.clone() else {
            return;
        };
        let done =
            tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync)).await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(driver = DRIVER, error = %e, "commit failed: {if_failed}"),
            Err(e) => tracing::warn!(driver = DRIVER, error = %e, "commit task failed"),
        }
    }

    fn incoming(&self, r: Record) -> Option<IncomingNotification> {
        let settle = self
            .consumer
            .as_ref()
            .filter(|_| self.shared.commits_after_dispatch())
            .map(|c| Settle {
                consumer: Arc::downgrade(c),
                shared: self.shared.clone(),
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset,
            });
        match wire::unpack_nested_context(&r.payload) {
            Ok((mut context, message)) => {
                trace::merge_headers(&mut context, |key| {
                    let (_, value) = r.trace.iter().find(|(k, _)| k == key)?;
                    Some(value.clone())
                });
                Some(IncomingNotification {
                    context,
                    message,
                    handle: Box::new(KafkaHandle { settle }),
                })
            }
            Err(e) => {
                tracing::warn!(driver = DRIVER, topic = %r.topic, partition = r.partition,
                    offset = r.offset, error = %e, "dropping a malformed record");
                if let Some(Err(e)) = settle.map(|s| s.settle(false)) {
                    tracing::warn!(driver = DRIVER, error = %e, "cannot commit past a malformed record");
                }
                None
            }
        }
    }
}

/// For each partition of `records`, the offset after its last record
/// (`after_last`) or of its first one, as a list to commit.
fn offsets_of(records: &[Record], after_last: bool) -> TopicPartitionList {
    let mut at: HashMap<TopicPartition, i64> = HashMap::new();
    for r in records {
        let o = if after_last { r.offset + 1 } else { r.offset };
        let e = at.entry((r.topic.clone(), r.partition)).or_insert(o);
        *e = if after_last { (*e).max(o) } else { (*e).min(o) };
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in at {
        let _ = tpl.add_partition_offset(&topic, partition, Offset::Offset(offset));
    }
    tpl
}

/// The consumer thread: polls until stopped, not polling while the buffer
/// is full.
///
/// It does not pause the partitions instead: librdkafka drops what it
/// prefetched on pause and, on resume, fetches again from the next record
/// to deliver, usually in the middle of a record batch. Kafka answers such
/// a fetch with the whole batch, but tansu (0.6) answers it from the next
/// batch on, so the rest of that batch was never delivered: the lost
/// notifications. While it does not poll, librdkafka's prefetch stays
/// bounded (`queued.max.messages.kbytes`) and heartbeats go on; a handler
/// stuck longer than `max.poll.interval.ms` makes this member leave the
/// group, as Python's listener does.
fn poll_loop(consumer: &KafkaConsumer, shared: &Shared, cap: usize) {
    while !shared.is_stopped() {
        {
            let inner = shared.lock();
            if inner.buffered.len() >= cap {
                // Until records are taken; at most a step, to see a stop.
                let _ = shared
                    .room
                    .wait_timeout(inner, POLL_STEP)
                    .unwrap_or_else(|p| p.into_inner());
                continue;
            }
        }
        let seeks = shared.lock().seeks;
        match consumer.poll(POLL_STEP) {
            None => {}
            Some(Err(e)) => {
                tracing::warn!(driver = DRIVER, error = %e, "kafka poll failed");
                shared.health_mut().last_error = Some(e.to_string());
            }
            Some(Ok(m)) => {
                let gap = shared.lock().receive(Record::new(&m), seeks);
                if let Some(n) = gap {
                    let what = format!(
                        "offset gap: {n} record(s) before offset {} of {}[{}] were never \
                         delivered (the broker skipped them, or they were deleted before \
                         this group read them)",
                        m.offset(),
                        m.topic(),
                        m.partition()
                    );
                    tracing::error!(driver = DRIVER, "{what}");
                    shared.health_mut().last_error = Some(what);
                }
                shared.consuming();
                shared.wake.notify_one();
            }
        }
    }
    // Leave the group now (revoking, and so committing, what is settled).
    consumer.unsubscribe();
    for _ in 0..10 {
        if consumer
            .assignment()
            .map(|a| a.count() == 0)
            .unwrap_or(true)
        {
            break;
        }
        let _ = consumer.poll(POLL_STEP);
    }
    shared.wake.notify_one();
}

#[async_trait]
impl Listener<IncomingNotification> for KafkaListener {
    async fn next(&mut self) -> Option<IncomingNotification> {
        loop {
            while let Some(r) = self.taken.pop_front() {
                if let Some(n) = self.incoming(r) {
                    return Some(n);
                }
            }
            match self.take_batch().await? {
                true => continue,
                false => self.shared.wake.notified().await,
            }
        }
    }

    async fn stop(&mut self) {
        // Records taken (and so committed, at most once) but never handed
        // out: commit their first offsets back, so the group delivers them
        // again instead of losing them.
        let mut undelivered = std::mem::take(&mut self.taken);
        if !undelivered.is_empty() && self.shared.commit == Commit::BeforeDispatch {
            let rewind = offsets_of(undelivered.make_contiguous(), false);
            self.commit_sync(rewind, "records taken but not handled are lost")
                .await;
        }
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        self.shared.room.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        // The last reference closes the consumer, which may block briefly.
        if let Some(consumer) = self.consumer.take() {
            let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        }
        self.shared.health_mut().state = ConsumerState::Recovering;
        self.shared.connection.close();
    }
}

impl Drop for KafkaListener {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}

/// Where a record came from, to settle it at-least-once.
struct Settle {
    /// Weak: a handle kept after the listener stopped must not keep the
    /// consumer (whose drop blocks) alive on an async thread.
    consumer: std::sync::Weak<KafkaConsumer>,
    shared: Arc<Shared>,
    topic: String,
    partition: i32,
    offset: i64,
}

impl Settle {
    /// Acknowledges (`requeue == false`) or requeues the record.
    fn settle(&self, requeue: bool) -> KafkaResult<()> {
        let Some(consumer) = self.consumer.upgrade() else {
            // The listener stopped: what it did not commit is delivered again.
            return Ok(());
        };
        let tp = (self.topic.clone(), self.partition);
        let commit = {
            let mut inner = self.shared.lock();
            if !inner.assigned.contains(&tp) {
                // Revoked meanwhile: its new owner delivers it again.
                return Ok(());
            }
            if requeue {
                inner.buffered.retain(|r| {
                    !(r.topic == self.topic
                        && r.partition == self.partition
                        && r.offset >= self.offset)
                });
                self.shared.room.notify_one();
            }
            let p = inner.progress.entry(tp.clone()).or_default();
            p.pending.remove(&self.offset);
            if requeue {
                p.floor = Some(p.floor.map_or(self.offset, |f| f.min(self.offset)));
                p.next = Some(self.offset);
            }
            p.commit_point()
        };
        if requeue {
            consumer.seek(
                &self.topic,
                self.partition,
                Offset::Offset(self.offset),
                Duration::ZERO,
            )?;
            // After the seek: a poll that began before it is not checked.
            let mut inner = self.shared.lock();
            inner.expected.insert(tp, self.offset);
            inner.seeks += 1;
        }
        if let Some(offset) = commit {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&self.topic, self.partition, Offset::Offset(offset))?;
            consumer.commit(&tpl, CommitMode::Async)?;
        }
        Ok(())
    }
}

/// The handle of a received notification. At-most-once there is nothing
/// to settle (the offset was committed before dispatch) and requeue is
/// unsupported (the driver does not claim it).
struct KafkaHandle {
    settle: Option<Settle>,
}

fn unsupported(operation: &str) -> MessagingError {
    MessagingError::Unsupported {
        driver: DRIVER,
        operation: operation.into(),
    }
}

#[async_trait]
impl NotificationHandle for KafkaHandle {
    async fn acknowledge(&self) -> Result<()> {
        match &self.settle {
            Some(s) => s.settle(false).map_err(|e| connection("commit", e)),
            None => Ok(()),
        }
    }

    async fn requeue(&self) -> Result<()> {
        match &self.settle {
            Some(s) => s.settle(true).map_err(|e| connection("requeue", e)),
            None => Err(unsupported(
                "requeue with delivery_semantics = at-most-once",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{skipped, Inner, Progress, Record};

    #[test]
    fn a_partition_that_skips_offsets_is_caught() {
        let record = |partition, offset| Record {
            topic: "t.info".into(),
            partition,
            offset,
            payload: Vec::new(),
            trace: Vec::new(),
        };
        let mut expected = HashMap::new();
        // Unknown start: the first record sets it.
        assert_eq!(skipped(&mut expected, &record(0, 7)), None);
        assert_eq!(skipped(&mut expected, &record(0, 8)), None);
        assert_eq!(skipped(&mut expected, &record(0, 12)), Some(3));
        assert_eq!(skipped(&mut expected, &record(0, 13)), None);
        // Again (a seek back) is not a gap.
        assert_eq!(skipped(&mut expected, &record(0, 5)), None);
        // Partitions are apart; a start offset is where the next must be.
        expected.insert(("t.info".into(), 1), 100);
        assert_eq!(skipped(&mut expected, &record(1, 100)), None);
        expected.insert(("t.info".into(), 1), 200);
        assert_eq!(skipped(&mut expected, &record(1, 210)), Some(10));
    }

    #[test]
    fn a_gap_past_a_requeue_clears_it_and_records_from_before_a_seek_are_not_checked() {
        let record = |offset| Record {
            topic: "t.info".into(),
            partition: 0,
            offset,
            payload: Vec::new(),
            trace: Vec::new(),
        };
        let tp = ("t.info".to_owned(), 0);
        let mut inner = Inner::default();
        // A requeue of offset 5 sought back to it (one seek so far).
        inner.expected.insert(tp.clone(), 5);
        inner.seeks = 1;
        inner.progress.entry(tp.clone()).or_default().floor = Some(5);
        // From a poll begun before the seek: stale, not checked, and the
        // expected offset stays.
        assert_eq!(inner.receive(record(9), 0), None);
        assert_eq!(inner.expected[&tp], 5);
        // The broker answered the seek from offset 10: a gap of 5, and the
        // requeue no longer holds the partition back.
        assert_eq!(inner.receive(record(10), 1), Some(5));
        assert_eq!(inner.progress[&tp].floor, None);
        assert!(inner.progress.get_mut(&tp).expect("progress").take(10));
        // Unchecked, but at the expected offset: it moves on.
        assert_eq!(inner.receive(record(11), 0), None);
        assert_eq!(inner.expected[&tp], 12);
        assert_eq!(inner.buffered.len(), 3);
    }

    #[test]
    fn commits_stop_at_the_first_unsettled_or_requeued_offset() {
        let mut p = Progress::default();
        for o in 5..9 {
            assert!(p.take(o));
        }
        assert_eq!(p.commit_point(), Some(5), "nothing settled");
        p.pending.remove(&6);
        assert_eq!(p.commit_point(), None, "5 still pending: unchanged");
        p.pending.remove(&5);
        assert_eq!(p.commit_point(), Some(7));
        // Requeue 7: nothing at or after it is committed until it is taken again.
        p.pending.remove(&7);
        p.floor = Some(7);
        p.next = Some(7);
        p.pending.remove(&8);
        assert_eq!(p.commit_point(), None, "still 7");
        assert!(
            !p.take(9),
            "polled before the seek: dropped, it comes again"
        );
        assert_eq!(p.commit_point(), None, "still 7");
        assert!(p.take(7));
        p.pending.remove(&7);
        assert_eq!(p.commit_point(), Some(8));
        assert!(p.take(8));
        p.pending.remove(&8);
        assert_eq!(p.commit_point(), Some(9));
    }
}
