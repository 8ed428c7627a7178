//! Running synchronous code from async jobs: [`run_blocking`] and
//! [`on_pool_thread`].

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::executor::panic_message;

thread_local! {
    static ON_POOL_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True when the current thread is one of a
/// [`ThreadPoolExecutor`](crate::ThreadPoolExecutor)'s workers.
pub fn on_pool_thread() -> bool {
    ON_POOL_THREAD.with(Cell::get)
}

/// Mark the current thread as a pool worker (called once per worker thread).
pub(crate) fn mark_pool_thread() {
    ON_POOL_THREAD.with(|flag| flag.set(true));
}

/// The panic of a closure run by [`run_blocking`], carrying its message.
#[derive(Debug, thiserror::Error)]
#[error("blocking code panicked: {0}")]
pub struct BlockingPanic(
    /// The panic message (or a placeholder for non-string payloads).
    pub String,
);

/// Run a synchronous closure without stalling an async runtime.
///
/// On a [`ThreadPoolExecutor`](crate::ThreadPoolExecutor) worker
/// ([`on_pool_thread`] is true) `f` runs directly: that thread is dedicated to
/// the current job, so blocking it is the point. Anywhere else `f` runs on
/// [`tokio::task::spawn_blocking`], which requires a tokio runtime.
///
/// A panic in `f` is returned as `Err(BlockingPanic(message))` instead of
/// unwinding into the caller. If the runtime shuts down before the blocking
/// task runs, that is also reported as a `BlockingPanic`.
pub async fn run_blocking<F, R>(f: F) -> Result<R, BlockingPanic>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let caught = if on_pool_thread() {
        catch_unwind(AssertUnwindSafe(f))
    } else {
        tokio::task::spawn_blocking(move || catch_unwind(AssertUnwindSafe(f)))
            .await
            .map_err(|join_error| BlockingPanic(join_error.to_string()))?
    };
    caught.map_err(|payload| BlockingPanic(panic_message(payload.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Executor, ThreadPoolExecutor};

    #[tokio::test]
    async fn returns_the_closure_value_off_the_caller_thread() {
        let caller = std::thread::current().id();
        let (value, ran_on) = run_blocking(|| (6 * 7, std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!(value, 42);
        assert_ne!(ran_on, caller, "should run on tokio's blocking pool");
        assert!(!on_pool_thread());
    }

    #[tokio::test]
    async fn panic_becomes_blocking_panic_error() {
        let err = run_blocking(|| -> u32 { panic!("disk on fire") })
            .await
            .unwrap_err();
        assert_eq!(err.0, "disk on fire");
        assert_eq!(err.to_string(), "blocking code panicked: disk on fire");
        // Still usable afterwards.
        assert_eq!(run_blocking(|| 1).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn runs_inline_on_a_pool_thread() {
        let pool = ThreadPoolExecutor::new(1);
        let (tx, rx) = tokio::sync::oneshot::channel();
        pool.submit(Box::pin(async move {
            let outer = std::thread::current().name().map(str::to_owned);
            let inner = run_blocking(|| std::thread::current().name().map(str::to_owned))
                .await
                .unwrap();
            let panicked = run_blocking(|| panic!("inline boom")).await;
            tx.send((outer, inner, panicked.map_err(|e| e.0))).unwrap();
        }))
        .await;
        let (outer, inner, panicked) = rx.await.unwrap();
        assert_eq!(outer.as_deref(), Some("oslo-exec-0"));
        assert_eq!(inner, outer, "run_blocking must not leave the pool thread");
        assert_eq!(panicked, Err::<(), _>("inline boom".to_owned()));
        pool.drain().await;
    }
}
