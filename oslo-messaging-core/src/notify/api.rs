//! The sending side of notifications as a trait, so services can be
//! unit-tested with a mock (`mock` feature: `MockNotifySend`).

use async_trait::async_trait;
use serde_json::Value;

use crate::error::Result;
use crate::message::{Context, Priority};

/// What a service needs to send notifications. [`Notifier`](super::Notifier)
/// implements it; with the `mock` feature, `MockNotifySend` does too.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait NotifySend: Send + Sync {
    /// Send a notification of `priority` about `event_type` with `payload`.
    ///
    /// # Errors
    /// As [`Notifier::notify`](super::Notifier::notify).
    async fn notify(
        &self,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: Value,
    ) -> Result<()>;
}

macro_rules! priority_helpers {
    ($($(#[$doc:meta])* $name:ident => $priority:ident),* $(,)?) => {
        /// One method per priority over any [`NotifySend`], as Python's
        /// `notifier.info(ctxt, event_type, payload)`.
        #[async_trait]
        pub trait NotifySendExt: NotifySend {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// As [`NotifySend::notify`].
                async fn $name(&self, context: &Context, event_type: &str, payload: Value) -> Result<()> {
                    self.notify(context, Priority::$priority, event_type, payload).await
                }
            )*
        }
    };
}

priority_helpers! {
    /// Send at `audit` priority.
    audit => Audit,
    /// Send at `debug` priority.
    debug => Debug,
    /// Send at `info` priority.
    info => Info,
    /// Send at `warn` priority.
    warn => Warn,
    /// Send at `error` priority.
    error => Error,
    /// Send at `critical` priority.
    critical => Critical,
    /// Send at `sample` priority (high-frequency, small payloads; the `log`
    /// driver drops these, as in Python).
    sample => Sample,
}

impl<T: NotifySend + ?Sized> NotifySendExt for T {}

#[cfg(all(test, feature = "mock"))]
mod tests {
    use super::*;
    use mockall::predicate::{always, eq};
    use serde_json::json;

    /// A service that notifies through the trait, as applications should.
    async fn create_instance(notifier: &dyn NotifySend, id: u32) -> Result<()> {
        notifier
            .info(
                &Context::new(),
                "compute.instance.create.end",
                json!({"id": id}),
            )
            .await
    }

    #[tokio::test]
    async fn mock_notify_send_records_expectations() {
        let mut mock = MockNotifySend::new();
        mock.expect_notify()
            .with(
                always(),
                eq(Priority::Info),
                eq("compute.instance.create.end"),
                eq(json!({"id": 7})),
            )
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        create_instance(&mock, 7).await.expect("mock accepts");
    }
}
