//! The load generator every sending benchmark shares: `concurrency`
//! senders take sequence numbers until the count is reached or the
//! duration is over, each timing its sends; a progress line goes to stderr
//! every second once a run has lasted a few seconds.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::stats::Report;

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

/// What one sender measured.
struct Tally {
    latency_us: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// Drives `send(seq)` under `load` and reports what happened.
pub async fn drive<F, Fut>(
    load: &Load,
    label: &str,
    err: &mut (dyn Write + Send),
    send: F,
) -> Report
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let send = Arc::new(send);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = load.duration.map(|d| started + d);
    let count = load.count;
    let senders: Vec<_> = (0..load.concurrency)
        .map(|_| {
            let (send, next, done) = (send.clone(), next.clone(), done.clone());
            tokio::spawn(async move {
                let mut tally = Tally {
                    latency_us: new_histogram(),
                    errors: 0,
                    first_error: None,
                };
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if count.is_some_and(|c| seq >= c) {
                        break;
                    }
                    let t = Instant::now();
                    match send(seq).await {
                        Ok(()) => {
                            let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                            tally.latency_us.saturating_record(us.max(1));
                        }
                        Err(e) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(e);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                tally
            })
        })
        .collect();
    let all = futures::future::join_all(senders);
    tokio::pin!(all);
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + QUIET_FOR,
        Duration::from_secs(1),
    );
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            _ = ticks.tick() => {
                let n = done.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                let _ = writeln!(err, "{label}: {n} sent in {secs:.0} s ({:.0}/s)", n as f64 / secs);
                let _ = err.flush();
            }
        }
    };
    let elapsed = started.elapsed();
    let mut latency = new_histogram();
    let (mut errors, mut first_error) = (0, None);
    for r in results {
        match r {
            Ok(t) => {
                let _ = latency.add(&t.latency_us);
                errors += t.errors;
                first_error = first_error.or(t.first_error);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(format!("a sender failed: {e}"));
            }
        }
    }
    Report::new(
        label,
        &latency,
        errors,
        first_error,
        elapsed,
        load.payload_bytes,
    )
}

/// Microseconds from 1 µs to an hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant, valid histogram bounds")
}
