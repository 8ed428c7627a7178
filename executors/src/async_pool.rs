//! [`AsyncExecutor`]: each job is its own tokio task, with a bounded number
//! in flight.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::executor::{run_guarded, Executor, Job};

/// Runs each job as a `tokio::spawn`ed task, at most `max_in_flight` at once.
///
/// Capacity is a tokio [`Semaphore`]: [`submit`](Executor::submit) waits for
/// an owned permit, which the spawned task releases when the job finishes
/// (or panics). The semaphore is fair, so waiting submitters are served in
/// order. Must be used inside a tokio runtime (jobs go to the runtime that
/// calls `submit`).
#[derive(Debug)]
pub struct AsyncExecutor {
    permits: Arc<Semaphore>,
    max_in_flight: u32,
}

impl AsyncExecutor {
    /// An executor running at most `max_in_flight` jobs concurrently.
    /// Values above `u32::MAX` are clamped to `u32::MAX`.
    ///
    /// # Panics
    /// If `max_in_flight` is 0 (no job could ever run).
    pub fn new(max_in_flight: usize) -> Self {
        assert!(
            max_in_flight > 0,
            "AsyncExecutor: max_in_flight must be at least 1"
        );
        let max_in_flight = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight as usize)),
            max_in_flight,
        }
    }

    /// The concurrency limit this executor was built with.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight as usize
    }
}

#[async_trait::async_trait]
impl Executor for AsyncExecutor {
    fn name(&self) -> &'static str {
        "async"
    }

    async fn submit(&self, job: Job) {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("executor semaphore is never closed");
        tokio::spawn(async move {
            run_guarded(job, "async").await;
            drop(permit);
        });
    }

    async fn drain(&self) {
        // Every submitted-but-unfinished job holds a permit; owning all of
        // them proves those jobs are done. Dropping the guard gives them back.
        let _all = self
            .permits
            .acquire_many(self.max_in_flight)
            .await
            .expect("executor semaphore is never closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use tokio::sync::{mpsc, oneshot};

    /// Let every other ready task on a current-thread runtime run.
    async fn settle() {
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn never_runs_more_than_max_in_flight() {
        let exec = Arc::new(AsyncExecutor::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let (started_tx, mut started_rx) = mpsc::unbounded_channel();
        let mut gates = Vec::new();
        let mut jobs = Vec::new();
        for i in 0..5 {
            let (gate_tx, gate_rx) = oneshot::channel::<()>();
            gates.push(gate_tx);
            let (running, max_seen, started) =
                (running.clone(), max_seen.clone(), started_tx.clone());
            jobs.push(Box::pin(async move {
                let now = running.fetch_add(1, SeqCst) + 1;
                max_seen.fetch_max(now, SeqCst);
                started.send(i).unwrap();
                gate_rx.await.unwrap();
                running.fetch_sub(1, SeqCst);
            }) as Job);
        }
        let (submitted_tx, mut submitted_rx) = mpsc::unbounded_channel();
        let submitter = {
            let exec = exec.clone();
            tokio::spawn(async move {
                for (i, job) in jobs.into_iter().enumerate() {
                    exec.submit(job).await;
                    submitted_tx.send(i).unwrap();
                }
            })
        };
        assert_eq!(started_rx.recv().await, Some(0));
        assert_eq!(started_rx.recv().await, Some(1));
        assert_eq!(submitted_rx.recv().await, Some(0));
        assert_eq!(submitted_rx.recv().await, Some(1));
        settle().await;
        // Both permits are held: the third submit is still waiting.
        assert!(
            submitted_rx.try_recv().is_err(),
            "3rd submit returned early"
        );
        assert!(started_rx.try_recv().is_err(), "3rd job started early");
        assert_eq!(exec.permits.available_permits(), 0);

        // Free one slot: exactly the third job starts.
        gates.remove(0).send(()).unwrap();
        assert_eq!(started_rx.recv().await, Some(2));
        assert_eq!(submitted_rx.recv().await, Some(2));
        for gate in gates {
            gate.send(()).unwrap();
        }
        submitter.await.unwrap();
        exec.drain().await;
        assert_eq!(max_seen.load(SeqCst), 2);
        assert_eq!(running.load(SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drain_waits_for_every_submitted_job() {
        let exec = AsyncExecutor::new(3);
        let done = Arc::new(AtomicUsize::new(0));
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let held = done.clone();
        exec.submit(Box::pin(async move {
            gate_rx.await.unwrap();
            held.fetch_add(1, SeqCst);
        }))
        .await;
        for _ in 0..20 {
            let done = done.clone();
            exec.submit(Box::pin(async move {
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                }
                done.fetch_add(1, SeqCst);
            }))
            .await;
        }
        let (drained_tx, mut drained_rx) = oneshot::channel();
        let drainer = tokio::spawn(async move {
            exec.drain().await;
            drained_tx.send(()).unwrap();
        });
        // The gated job cannot finish, so drain cannot have resolved.
        tokio::task::yield_now().await;
        assert!(drained_rx.try_recv().is_err(), "drain resolved early");
        gate_tx.send(()).unwrap();
        drainer.await.unwrap();
        assert_eq!(done.load(SeqCst), 21);
    }

    #[tokio::test]
    async fn panicking_job_releases_its_permit() {
        // With a single permit, a leaked permit would hang the next submit.
        let exec = AsyncExecutor::new(1);
        exec.submit(Box::pin(async { panic!("job exploded") }))
            .await;
        let (tx, rx) = oneshot::channel();
        exec.submit(Box::pin(async move { tx.send("later job ran").unwrap() }))
            .await;
        exec.drain().await;
        assert_eq!(rx.await.unwrap(), "later job ran");
        assert_eq!(exec.permits.available_permits(), 1);
    }

    #[test]
    #[should_panic(expected = "at least 1")]
    fn zero_capacity_is_rejected() {
        let _ = AsyncExecutor::new(0);
    }
}
