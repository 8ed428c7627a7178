//! The `test` notifier driver.

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::NotifierDriver;
use crate::driver::Retry;
use crate::error::Result;
use crate::message::{Context, Priority};

/// One notification a [`TestNotifierDriver`] kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedNotification {
    /// The context, after the notifier's serializer.
    pub context: Context,
    /// The notification object.
    pub message: Map<String, Value>,
    /// Its priority.
    pub priority: Priority,
    /// The topics it was sent on.
    pub topics: Vec<String>,
    /// The retry setting it was sent with.
    pub retry: Retry,
}

/// `test`: keeps notifications in memory for assertions. Clones share one
/// record. Construct your own and pass it with
/// [`NotifierBuilder::driver_instance`](crate::notify::NotifierBuilder::driver_instance),
/// or use the driver name `"test"`, which records into the process-wide
/// [`TestNotifierDriver::global`] (shared by every test of the process:
/// select your records, e.g. by a unique event type).
#[derive(Debug, Clone, Default)]
pub struct TestNotifierDriver {
    records: Arc<Mutex<Vec<RecordedNotification>>>,
}

static GLOBAL: LazyLock<TestNotifierDriver> = LazyLock::new(TestNotifierDriver::default);

impl TestNotifierDriver {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// The record behind the driver name `"test"` (Python's
    /// `oslo_messaging.notify._impl_test.NOTIFICATIONS`).
    pub fn global() -> &'static TestNotifierDriver {
        &GLOBAL
    }

    fn lock(&self) -> MutexGuard<'_, Vec<RecordedNotification>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything recorded so far, oldest first.
    pub fn notifications(&self) -> Vec<RecordedNotification> {
        self.lock().clone()
    }

    /// Forget everything recorded.
    pub fn reset(&self) {
        self.lock().clear();
    }
}

#[async_trait]
impl NotifierDriver for TestNotifierDriver {
    async fn notify(
        &self,
        context: &Context,
        message: &Map<String, Value>,
        priority: Priority,
        topics: &[String],
        retry: Retry,
    ) -> Result<()> {
        self.lock().push(RecordedNotification {
            context: context.clone(),
            message: message.clone(),
            priority,
            topics: topics.to_vec(),
            retry,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn records_and_resets() {
        let m = json!({"event_type": "e"})
            .as_object()
            .cloned()
            .expect("object");
        let t = TestNotifierDriver::new();
        t.clone()
            .notify(&Context::new(), &m, Priority::Info, &["n".into()], Some(2))
            .await
            .expect("records");
        let got = t.notifications();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].priority, got[0].topics.clone(), got[0].retry),
            (Priority::Info, vec!["n".to_owned()], Some(2))
        );
        t.reset();
        assert!(t.notifications().is_empty());
    }
}
