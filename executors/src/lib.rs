//! How an oslo-messaging RPC or notification server runs each incoming
//! request.
//!
//! Three strategies implement [`Executor`]:
//! * [`AsyncExecutor`] (`"async"`): each job is a tokio task, at most
//!   `pool_size` in flight;
//! * [`ThreadPoolExecutor`] (`"threading"`): `pool_size` dedicated OS
//!   threads, so jobs may call blocking code freely;
//! * [`InlineExecutor`] (`"inline"`, alias `"blocking"`): each job runs inside
//!   `submit`, one at a time, in order.
//!
//! All of them apply back-pressure instead of dropping jobs, survive
//! panicking jobs, and offer an exact [`Executor::drain`].
//! [`run_blocking`] lets job code call synchronous functions without stalling
//! an async runtime.
//!
//! ```
//! use oslo_messaging_executors::{by_name, run_blocking};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let executor = by_name("async", 4).expect("known executor");
//! let (tx, rx) = tokio::sync::oneshot::channel();
//! executor
//!     .submit(Box::pin(async move {
//!         let sum = run_blocking(|| (1..=10).sum::<u32>()).await.unwrap();
//!         tx.send(sum).unwrap();
//!     }))
//!     .await;
//! executor.drain().await;
//! assert_eq!(rx.await.unwrap(), 55);
//! assert!(by_name("gevent", 4).is_err());
//! # }
//! ```
#![deny(missing_docs)]

mod async_pool;
mod blocking;
mod executor;
mod inline;
mod thread_pool;

use std::sync::Arc;

pub use async_pool::AsyncExecutor;
pub use blocking::{on_pool_thread, run_blocking, BlockingPanic};
pub use executor::{Executor, Job};
pub use inline::InlineExecutor;
pub use thread_pool::ThreadPoolExecutor;

/// Names [`by_name`] accepts, in the order error messages list them.
/// (`"blocking"` is also accepted, as oslo.messaging's alias for `"inline"`.)
pub const EXECUTOR_NAMES: &[&str] = &["async", "threading", "inline"];

/// Why [`by_name`] could not build an executor: the name is unknown, or the
/// requested `pool_size` is 0.
#[derive(Debug, thiserror::Error)]
#[error("{}", match self.pool_size {
    Some(size) => format!("executor \"{}\" needs a pool_size of at least 1 (got {size})", self.name),
    None => format!("unknown executor \"{}\"; known executors: {}", self.name, EXECUTOR_NAMES.join(", ")),
})]
pub struct UnknownExecutor {
    name: String,
    /// `Some(size)` when the name was fine but the pool size was rejected.
    pool_size: Option<usize>,
}

impl UnknownExecutor {
    /// The executor name that was requested.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the name was valid and only the pool size (0) was rejected.
    pub fn is_invalid_pool_size(&self) -> bool {
        self.pool_size.is_some()
    }
}

/// Build the executor registered under `name`, sized by `pool_size`.
///
/// `"async"` gives an [`AsyncExecutor`] with `pool_size` jobs in flight,
/// `"threading"` a [`ThreadPoolExecutor`] with `pool_size` threads, and
/// `"inline"` or its alias `"blocking"` an [`InlineExecutor`] (which ignores
/// the size). Names are case-sensitive. A `pool_size` of 0 is rejected for
/// every name, since it is always a configuration mistake.
///
/// # Errors
/// [`UnknownExecutor`] for a name outside [`EXECUTOR_NAMES`] (plus
/// `"blocking"`), or for `pool_size == 0`.
pub fn by_name(name: &str, pool_size: usize) -> Result<Arc<dyn Executor>, UnknownExecutor> {
    let known = EXECUTOR_NAMES.contains(&name) || name == "blocking";
    if !known || pool_size == 0 {
        return Err(UnknownExecutor {
            name: name.to_owned(),
            pool_size: known.then_some(pool_size),
        });
    }
    Ok(match name {
        "async" => Arc::new(AsyncExecutor::new(pool_size)),
        "threading" => Arc::new(ThreadPoolExecutor::new(pool_size)),
        _ => Arc::new(InlineExecutor::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_its_executor() {
        for &name in EXECUTOR_NAMES {
            assert_eq!(by_name(name, 2).unwrap().name(), name);
        }
        assert!(format!("{:?}", by_name("async", 3).unwrap()).contains("max_in_flight: 3"));
        assert!(format!("{:?}", by_name("threading", 2).unwrap()).contains("threads: 2"));
    }

    #[test]
    fn blocking_is_an_alias_for_inline() {
        assert_eq!(by_name("blocking", 1).unwrap().name(), "inline");
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = by_name("eventlet", 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown executor \"eventlet\"; known executors: async, threading, inline"
        );
        assert_eq!(err.name(), "eventlet");
        assert!(!err.is_invalid_pool_size());
        assert!(by_name("Async", 4).is_err(), "names are case-sensitive");
    }

    #[test]
    fn zero_pool_size_is_rejected() {
        for name in ["async", "threading", "inline", "blocking"] {
            let err = by_name(name, 0).unwrap_err();
            assert!(err.is_invalid_pool_size());
            assert_eq!(
                err.to_string(),
                format!("executor \"{name}\" needs a pool_size of at least 1 (got 0)")
            );
        }
        // An unknown name wins over a bad size.
        assert!(!by_name("nope", 0).unwrap_err().is_invalid_pool_size());
    }
}
