//! Tests for the thread-pool executor.

use super::*;
use crate::on_pool_thread;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use tokio::sync::{mpsc as tmpsc, oneshot};

#[tokio::test]
async fn jobs_run_on_named_pool_threads() {
    let pool = ThreadPoolExecutor::new(2);
    assert!(!on_pool_thread());
    let (tx, rx) = oneshot::channel();
    pool.submit(Box::pin(async move {
        let name = std::thread::current().name().map(str::to_owned);
        tx.send((name, on_pool_thread())).unwrap();
    }))
    .await;
    let (name, flagged) = rx.await.unwrap();
    assert!(name.unwrap().starts_with("oslo-exec-"));
    assert!(flagged);
    assert!(!on_pool_thread());
    pool.drain().await;
}

#[tokio::test] // current-thread caller runtime
async fn blocked_job_does_not_stall_the_submitting_runtime() {
    let pool = ThreadPoolExecutor::new(1);
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let (entered_tx, entered_rx) = oneshot::channel();
    let parked = barrier.clone();
    pool.submit(Box::pin(async move {
        entered_tx.send(()).unwrap();
        parked.wait(); // blocks this OS thread until the test releases it
    }))
    .await;
    entered_rx.await.unwrap();
    // The only caller thread still drives other async work.
    let other = tokio::spawn(async {
        tokio::task::yield_now().await;
        40 + 2
    });
    assert_eq!(other.await.unwrap(), 42);
    tokio::task::spawn_blocking(move || barrier.wait())
        .await
        .unwrap();
    pool.drain().await;
}

#[tokio::test]
async fn at_most_threads_jobs_run_at_once() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let running = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let (started_tx, mut started_rx) = tmpsc::unbounded_channel();
    let mut gates = Vec::new();
    let mut jobs = Vec::new();
    for i in 0..5 {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        gates.push(gate_tx);
        let (running, max_seen, started) = (running.clone(), max_seen.clone(), started_tx.clone());
        jobs.push(Box::pin(async move {
            max_seen.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
            started.send(i).unwrap();
            gate_rx.recv().unwrap(); // synchronous block on the pool thread
            running.fetch_sub(1, SeqCst);
        }) as Job);
    }
    let (submitted_tx, mut submitted_rx) = tmpsc::unbounded_channel();
    let submitter = tokio::spawn({
        let pool = pool.clone();
        async move {
            for (i, job) in jobs.into_iter().enumerate() {
                pool.submit(job).await;
                submitted_tx.send(i).unwrap();
            }
        }
    });
    let mut first = [started_rx.recv().await, started_rx.recv().await];
    first.sort();
    assert_eq!(first, [Some(0), Some(1)]);
    assert_eq!(submitted_rx.recv().await, Some(0));
    assert_eq!(submitted_rx.recv().await, Some(1));
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
    // No gate is open, so no slot can free: the third submit must wait.
    assert!(
        submitted_rx.try_recv().is_err(),
        "3rd submit returned early"
    );
    assert!(started_rx.try_recv().is_err(), "3rd job started early");
    assert_eq!(running.load(SeqCst), 2);

    gates[0].send(()).unwrap();
    assert_eq!(started_rx.recv().await, Some(2));
    for gate in &gates[1..] {
        gate.send(()).unwrap();
    }
    submitter.await.unwrap();
    pool.drain().await;
    assert_eq!(max_seen.load(SeqCst), 2);
    assert_eq!(running.load(SeqCst), 0);
}

#[tokio::test]
async fn survives_panicking_job_and_drain_counts_everything() {
    let pool = ThreadPoolExecutor::new(1);
    pool.submit(Box::pin(async { panic!("job exploded") }))
        .await;
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let done = done.clone();
        pool.submit(Box::pin(async move {
            std::thread::sleep(std::time::Duration::from_millis(2)); // blocking work
            done.fetch_add(1, SeqCst);
        }))
        .await;
    }
    pool.drain().await;
    assert_eq!(done.load(SeqCst), 10);
}

#[test]
fn workers_exit_after_drop() {
    let mut pool = ThreadPoolExecutor::new(3);
    let (tx, rx) = mpsc::channel();
    futures::executor::block_on(pool.submit(Box::pin(async move { tx.send(7).unwrap() })));
    let handles = std::mem::take(&mut pool.handles);
    drop(pool);
    for handle in handles {
        handle.join().expect("worker exits cleanly");
    }
    assert_eq!(rx.recv().unwrap(), 7, "queued job still ran before exit");
}
