//! Behaviour every executor shares, exercised through `by_name` and
//! `Arc<dyn Executor>`.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use oslo_messaging_executors::{by_name, Executor, Job, EXECUTOR_NAMES};

fn counting_job(done: &Arc<AtomicUsize>) -> Job {
    let done = done.clone();
    Box::pin(async move {
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        done.fetch_add(1, SeqCst);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_executor_survives_panics_and_drains_exactly() {
    for &name in EXECUTOR_NAMES {
        let exec: Arc<dyn Executor> = by_name(name, 2).unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        for round in 0..3 {
            exec.submit(Box::pin(
                async move { panic!("{name} job {round} exploded") },
            ))
            .await;
            for _ in 0..10 {
                exec.submit(counting_job(&done)).await;
            }
        }
        exec.drain().await;
        assert_eq!(done.load(SeqCst), 30, "{name}: drain returned early");
        // Still accepting work after panics and a drain.
        exec.submit(counting_job(&done)).await;
        exec.drain().await;
        assert_eq!(done.load(SeqCst), 31, "{name}");
    }
}

#[tokio::test]
async fn drain_on_an_idle_executor_returns_immediately() {
    for name in ["async", "threading", "inline", "blocking"] {
        by_name(name, 1).unwrap().drain().await;
    }
}

#[tokio::test]
async fn submit_blocks_while_at_capacity_and_resumes_in_order() {
    // One slot: every job must observe that its predecessor finished.
    for name in ["async", "threading"] {
        let exec = by_name(name, 1).unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        for i in 0..8 {
            let order = order.clone();
            exec.submit(Box::pin(async move {
                order.lock().unwrap().push(i);
            }))
            .await;
        }
        exec.drain().await;
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>(), "{name}");
    }
}
