//! The health of the queues a driver consumes, for
//! [`Driver::health`](oslo_messaging_core::driver::Driver::health): one
//! [`Tracked`] per subscription (its queues stop and resume together),
//! listed in the driver's [`Registry`] from its start to its stop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use oslo_messaging_core::health::{ConsumerHealth, ConsumerState};
use oslo_messaging_core::MessagingError;

use crate::lock;

/// The subscriptions running on a driver.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    running: Mutex<Vec<Arc<Tracked>>>,
}

impl Registry {
    pub fn add(&self, tracked: Arc<Tracked>) {
        lock(&self.running).push(tracked);
    }

    pub fn remove(&self, tracked: &Arc<Tracked>) {
        lock(&self.running).retain(|t| !Arc::ptr_eq(t, tracked));
    }

    /// One entry per queue of every running subscription.
    pub fn snapshot(&self) -> Vec<ConsumerHealth> {
        lock(&self.running)
            .iter()
            .flat_map(|t| t.snapshot())
            .collect()
    }
}

/// One subscription's queues: what state they are in, and how many
/// messages each delivered.
#[derive(Debug)]
pub(crate) struct Tracked {
    queues: Vec<(String, Arc<AtomicU64>)>,
    status: Mutex<Status>,
}

#[derive(Debug)]
struct Status {
    state: ConsumerState,
    last_error: Option<String>,
    recoveries: u64,
}

impl Tracked {
    /// Consuming `queues` (a name given twice, a pool bound by several
    /// routing keys, is one queue).
    pub fn new<'a>(queues: impl IntoIterator<Item = &'a str>) -> Arc<Self> {
        let mut list: Vec<(String, Arc<AtomicU64>)> = Vec::new();
        for q in queues {
            if !list.iter().any(|(name, _)| name == q) {
                list.push((q.to_owned(), Arc::default()));
            }
        }
        Arc::new(Self {
            queues: list,
            status: Mutex::new(Status {
                state: ConsumerState::Consuming,
                last_error: None,
                recoveries: 0,
            }),
        })
    }

    /// The delivery counter of `queue`.
    pub fn deliveries(&self, queue: &str) -> Arc<AtomicU64> {
        self.queues
            .iter()
            .find(|(name, _)| name == queue)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    }

    /// The consumers stopped (`why`); the driver is consuming again.
    pub fn stopped(&self, why: &str) {
        let mut s = lock(&self.status);
        s.state = ConsumerState::Recovering;
        s.last_error = Some(why.to_owned());
    }

    /// An attempt to consume again failed: `Failed` when the broker
    /// refused a declaration, else still `Recovering`.
    pub fn attempt_failed(&self, e: &MessagingError) {
        let mut s = lock(&self.status);
        s.state = match e {
            MessagingError::BrokerRefused { .. } => ConsumerState::Failed,
            _ => ConsumerState::Recovering,
        };
        s.last_error = Some(e.to_string());
    }

    /// Consuming again.
    pub fn resumed(&self) {
        let mut s = lock(&self.status);
        s.state = ConsumerState::Consuming;
        s.recoveries += 1;
        oslo_messaging_core::telemetry::metrics::consumer_recovered("rabbitmq");
    }

    fn snapshot(&self) -> Vec<ConsumerHealth> {
        let s = lock(&self.status);
        self.queues
            .iter()
            .map(|(queue, n)| ConsumerHealth {
                queue: queue.clone(),
                state: s.state,
                last_error: s.last_error.clone(),
                deliveries: n.load(Ordering::Relaxed),
                recoveries: s.recoveries,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_reports_each_queue_and_its_recovery() {
        let registry = Registry::default();
        let t = Tracked::new(["pool", "pool", "topic.s1"]);
        registry.add(t.clone());
        t.deliveries("pool").fetch_add(3, Ordering::Relaxed);
        let h = registry.snapshot();
        assert_eq!(h.len(), 2, "a pool bound twice is one queue: {h:?}");
        assert_eq!((h[0].queue.as_str(), h[0].deliveries), ("pool", 3));
        assert!(h.iter().all(|c| c.state == ConsumerState::Consuming));

        t.stopped("cancelled by the broker");
        assert!(registry
            .snapshot()
            .iter()
            .all(|c| c.state == ConsumerState::Recovering
                && c.last_error.as_deref() == Some("cancelled by the broker")));
        t.attempt_failed(&MessagingError::BrokerRefused {
            operation: "declare queue \"pool\"".into(),
            reason: "PRECONDITION_FAILED".into(),
        });
        assert_eq!(registry.snapshot()[0].state, ConsumerState::Failed);
        t.attempt_failed(&MessagingError::connection(crate::DRIVER, "reset"));
        assert_eq!(registry.snapshot()[0].state, ConsumerState::Recovering);
        t.resumed();
        let h = registry.snapshot();
        assert_eq!((h[1].state, h[1].recoveries), (ConsumerState::Consuming, 1));

        registry.remove(&t);
        assert!(
            registry.snapshot().is_empty(),
            "a stopped subscription is not listed"
        );
    }
}
