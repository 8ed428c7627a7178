//! [`InlineExecutor`]: run each job in place, one at a time.

use crate::executor::{run_guarded, Executor, Job};

/// Runs each job inside [`submit`](Executor::submit) itself: one message at
/// a time, in order.
///
/// `submit` returns only after the job has finished. If several tasks share
/// one `InlineExecutor`, a fair async mutex still serialises their jobs in
/// the order `submit` was called. Needs no runtime of its own.
#[derive(Debug, Default)]
pub struct InlineExecutor {
    turn: tokio::sync::Mutex<()>,
}

impl InlineExecutor {
    /// A new inline executor.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl Executor for InlineExecutor {
    fn name(&self) -> &'static str {
        "inline"
    }

    async fn submit(&self, job: Job) {
        let _turn = self.turn.lock().await;
        run_guarded(job, "inline").await;
    }

    async fn drain(&self) {
        // A job still running holds the lock; waiting for it is enough.
        drop(self.turn.lock().await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn submit_returns_after_the_job_in_order() {
        let exec = InlineExecutor::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        for i in 0..5 {
            let log2 = log.clone();
            exec.submit(Box::pin(async move {
                log2.lock().unwrap().push(format!("start {i}"));
                tokio::task::yield_now().await;
                log2.lock().unwrap().push(format!("end {i}"));
            }))
            .await;
            assert_eq!(log.lock().unwrap().last(), Some(&format!("end {i}")));
        }
        let expected: Vec<_> = (0..5)
            .flat_map(|i| [format!("start {i}"), format!("end {i}")])
            .collect();
        assert_eq!(*log.lock().unwrap(), expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_executor_runs_one_job_at_a_time() {
        let exec = Arc::new(InlineExecutor::new());
        let running = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let mut submitters = Vec::new();
        for _ in 0..4 {
            let (exec, running, max_seen) = (exec.clone(), running.clone(), max_seen.clone());
            submitters.push(tokio::spawn(async move {
                for _ in 0..10 {
                    let (running, max_seen) = (running.clone(), max_seen.clone());
                    exec.submit(Box::pin(async move {
                        max_seen.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
                        tokio::task::yield_now().await;
                        running.fetch_sub(1, SeqCst);
                    }))
                    .await;
                }
            }));
        }
        for s in submitters {
            s.await.unwrap();
        }
        exec.drain().await;
        assert_eq!(max_seen.load(SeqCst), 1);
    }

    #[tokio::test]
    async fn survives_panicking_job() {
        let exec = InlineExecutor::new();
        exec.submit(Box::pin(async { panic!("job exploded") }))
            .await;
        let ran = Arc::new(AtomicUsize::new(0));
        let ran2 = ran.clone();
        exec.submit(Box::pin(async move {
            ran2.fetch_add(1, SeqCst);
        }))
        .await;
        exec.drain().await;
        assert_eq!(ran.load(SeqCst), 1);
    }
}
