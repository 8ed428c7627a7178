//! The load generator every sending benchmark shares: `concurrency`
//! senders take sequence numbers until the count is reached or the
//! duration is over, each timing its sends; a progress line goes to stderr
//! every second once a run has lasted a few seconds. A signal ends the run
//! at once (the sends under way are dropped) with a report of what was done.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::lock;
use super::stats::{Report, Usage};
use crate::signal::Signal;

/// How much to send.
#[derive(Debug, Clone)]
pub struct Load {
    /// Stop after this many messages (sent or failed).
    pub count: Option<u64>,
    /// Stop taking new messages after this long.
    pub duration: Option<Duration>,
    /// Senders at once.
    pub concurrency: usize,
    /// Bytes of payload per message (for bytes/s).
    pub payload_bytes: usize,
}

/// Runs are this long before the progress line appears.
const QUIET_FOR: Duration = Duration::from_secs(3);

/// What the senders measured together.
struct Tally {
    latency_us: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, outcome: Result<Duration, String>) {
        match outcome {
            Ok(took) => {
                let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                self.latency_us.saturating_record(us.max(1));
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

/// Drives `send(seq)` under `load`, or until `stop` (a signal) completes,
/// and reports what happened, with the signal when one stopped the run.
pub async fn drive<F, Fut>(
    load: &Load,
    label: &str,
    err: &mut (dyn Write + Send),
    stop: impl Future<Output = Signal>,
    send: F,
) -> (Report, Option<Signal>)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let send = Arc::new(send);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    // One histogram for all senders (one each would be ~200 kB per sender).
    let tally = Arc::new(Mutex::new(Tally {
        latency_us: new_histogram(),
        errors: 0,
        first_error: None,
    }));
    let usage = Usage::now();
    let started = Instant::now();
    let deadline = load.duration.map(|d| started + d);
    let count = load.count;
    let senders: Vec<_> = (0..load.concurrency)
        .map(|_| {
            let (send, next, done, tally) =
                (send.clone(), next.clone(), done.clone(), tally.clone());
            tokio::spawn(async move {
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if count.is_some_and(|c| seq >= c) {
                        break;
                    }
                    let t = Instant::now();
                    let outcome = send(seq).await.map(|()| t.elapsed());
                    lock(&tally).record(outcome);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let aborts: Vec<_> = senders.iter().map(|s| s.abort_handle()).collect();
    let all = futures::future::join_all(senders);
    tokio::pin!(all);
    tokio::pin!(stop);
    let mut stopped_by = None;
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + QUIET_FOR,
        Duration::from_secs(1),
    );
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            signal = &mut stop, if stopped_by.is_none() => {
                stopped_by = Some(signal);
                aborts.iter().for_each(tokio::task::AbortHandle::abort);
            }
            _ = ticks.tick() => {
                let n = done.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                let _ = writeln!(err, "{label}: {n} sent in {secs:.0} s ({:.0}/s)", n as f64 / secs);
                let _ = err.flush();
            }
        }
    };
    let elapsed = started.elapsed();
    let mut tally = lock(&tally);
    for r in results {
        match r {
            Err(e) if !e.is_cancelled() => tally.record(Err(format!("a sender failed: {e}"))),
            _ => {}
        }
    }
    let first_error = tally.first_error.take();
    let report = Report::new(
        label,
        &tally.latency_us,
        tally.errors,
        first_error,
        elapsed,
        load.payload_bytes,
    )
    .with_usage_since(usage);
    (report, stopped_by)
}

/// Microseconds from 1 µs to an hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant, valid histogram bounds")
}
