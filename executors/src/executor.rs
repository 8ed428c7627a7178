//! The [`Executor`] trait, the [`Job`] type and the panic guard shared by
//! every executor.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

/// One unit of work handed to an executor: a boxed, `Send`, `'static`
/// future producing `()` (typically "dispatch this incoming message").
pub type Job = futures::future::BoxFuture<'static, ()>;

/// Strategy deciding how a server runs each incoming request.
///
/// Implementations promise:
/// * [`submit`](Executor::submit) never drops a job; it applies back-pressure
///   by waiting while the executor is at capacity;
/// * a panicking job is caught and logged; it releases its capacity and the
///   executor keeps running later jobs;
/// * [`drain`](Executor::drain) resolves only after every job submitted before
///   the call has finished.
#[async_trait::async_trait]
pub trait Executor: Send + Sync + std::fmt::Debug {
    /// Name under which [`by_name`](crate::by_name) finds it
    /// (`"async"`, `"threading"`, `"inline"`).
    fn name(&self) -> &'static str;

    /// Run `job`. Waits (back-pressure) while the executor is at capacity;
    /// never drops a job. For the inline executor, returns only after the job
    /// has finished.
    async fn submit(&self, job: Job);

    /// Resolves once every job submitted before the call has finished.
    async fn drain(&self);
}

/// Await `job`, catching and logging a panic instead of unwinding into the
/// executor. `executor` names the executor in the log record.
pub(crate) async fn run_guarded(job: Job, executor: &'static str) {
    if let Err(payload) = AssertUnwindSafe(job).catch_unwind().await {
        tracing::error!(
            executor,
            panic = %panic_message(payload.as_ref()),
            "executor job panicked; continuing with later jobs"
        );
    }
}

/// Best-effort human-readable text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_handles_str_string_and_other_payloads() {
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "static");
        let p = std::panic::catch_unwind(|| panic!("formatted {}", 7)).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "formatted 7");
        let p = std::panic::catch_unwind(|| std::panic::panic_any(5_u8)).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "non-string panic payload");
    }

    #[tokio::test]
    async fn run_guarded_swallows_panics() {
        run_guarded(Box::pin(async { panic!("boom") }), "test").await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        run_guarded(Box::pin(async move { tx.send(1).unwrap() }), "test").await;
        assert_eq!(rx.await.unwrap(), 1);
    }
}
