//! [`ThreadPoolExecutor`]: a fixed pool of OS threads, one job per thread at
//! a time.

use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::blocking::mark_pool_thread;
use crate::executor::{run_guarded, Executor, Job};

/// A job on its way to a worker, with the capacity slot it occupies.
struct Task {
    job: Job,
    slot: OwnedSemaphorePermit,
}

/// Runs jobs on a fixed pool of OS threads named `oslo-exec-{i}`.
///
/// Each worker owns a current-thread tokio runtime (all drivers enabled) and
/// `block_on`s one job at a time, so synchronous blocking code inside a job
/// stalls only that worker, never the runtime that called
/// [`submit`](Executor::submit). Tasks a job `tokio::spawn`s land on the
/// worker's runtime and only make progress while that worker runs a job.
///
/// Hand-off is bounded: `submit` first takes one of `threads` semaphore
/// slots (waiting while every thread is busy), then sends the job over a
/// channel; the slot is released when the job finishes or panics.
/// Submitting from inside a job to the same, fully busy pool waits forever.
///
/// Dropping the executor closes the channel: each worker finishes its current
/// (and any already handed-off) job, then exits on its own. `Drop` does not
/// join the threads, because it may run inside a tokio runtime or on a worker
/// itself (last `Arc` released by a job), where a blocking join could stall
/// the runtime or deadlock. Call [`drain`](Executor::drain) first to wait for
/// outstanding work.
pub struct ThreadPoolExecutor {
    threads: u32,
    slots: Arc<Semaphore>,
    sender: Option<mpsc::Sender<Task>>,
    // Kept (not joined) so tests can observe worker exit.
    #[cfg_attr(not(test), allow(dead_code))]
    handles: Vec<JoinHandle<()>>,
}

impl ThreadPoolExecutor {
    /// Start a pool of `threads` worker threads.
    ///
    /// # Panics
    /// If `threads` is 0 or exceeds `u32::MAX`, or if a worker thread or its
    /// tokio runtime cannot be created.
    pub fn new(threads: usize) -> Self {
        assert!(
            threads > 0,
            "ThreadPoolExecutor: threads must be at least 1"
        );
        let count = u32::try_from(threads).expect("ThreadPoolExecutor: too many threads");
        let (sender, receiver) = mpsc::channel::<Task>();
        let receiver = Arc::new(Mutex::new(receiver));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let receiver = Arc::clone(&receiver);
                let ready = ready_tx.clone();
                std::thread::Builder::new()
                    .name(format!("oslo-exec-{i}"))
                    .spawn(move || worker(receiver, ready))
                    .expect("ThreadPoolExecutor: failed to spawn worker thread")
            })
            .collect();
        drop(ready_tx);
        for _ in 0..threads {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("ThreadPoolExecutor: worker runtime failed: {e}"),
                Err(_) => panic!("ThreadPoolExecutor: worker exited during startup"),
            }
        }
        Self {
            threads: count,
            slots: Arc::new(Semaphore::new(threads)),
            sender: Some(sender),
            handles,
        }
    }

    /// Number of worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.threads as usize
    }
}

/// Body of one worker thread: take tasks until the channel closes.
fn worker(receiver: Arc<Mutex<mpsc::Receiver<Task>>>, ready: mpsc::Sender<Result<(), String>>) {
    mark_pool_thread();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    drop(ready);
    loop {
        // Only the idle worker holding the lock waits in recv(); the others
        // wait for the lock. The guard is released before the job runs.
        let next = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(Task { job, slot }) = next else { break };
        runtime.block_on(run_guarded(job, "threading"));
        drop(slot);
    }
}

impl std::fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("threads", &self.threads)
            .field("idle_slots", &self.slots.available_permits())
            .finish()
    }
}

#[async_trait::async_trait]
impl Executor for ThreadPoolExecutor {
    fn name(&self) -> &'static str {
        "threading"
    }

    async fn submit(&self, job: Job) {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("executor semaphore is never closed");
        let sender = self.sender.as_ref().expect("sender lives until drop");
        if let Err(mpsc::SendError(task)) = sender.send(Task { job, slot }) {
            // Unreachable while workers live; never drop a job regardless.
            tracing::error!("thread pool workers are gone; running job inline");
            run_guarded(task.job, "threading").await;
        }
    }

    async fn drain(&self) {
        // Each unfinished job holds a slot until it completes.
        let _all = self
            .slots
            .acquire_many(self.threads)
            .await
            .expect("executor semaphore is never closed");
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        // Closing the channel makes idle workers' recv() fail so they exit.
        self.sender.take();
    }
}

#[cfg(test)]
mod tests;
