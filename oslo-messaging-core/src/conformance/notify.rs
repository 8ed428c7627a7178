//! Conformance cases for notifications: notifier → driver → listener.
//!
//! Cases that assert something did *not* arrive use ordering barriers: a
//! later marker on the same queue, with the `inline` executor so records
//! keep the delivery order, or a restart after `stop`/`wait`.
//!
//! The cases live in submodules by theme and are re-exported here, so the
//! suite names them `notify::<case>`.

mod delivery;
mod lifecycle;
mod queues;
mod test_and_routing;

pub use delivery::*;
pub use lifecycle::*;
pub use queues::*;
pub use test_and_routing::*;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::Harness;
use crate::message::{Context, NotificationFormat, Priority};
use crate::notify::*;
use crate::{MessagingError, Target, Transport};

type Rx<T> = UnboundedReceiver<T>;
type Record = (&'static str, Notification);

async fn recv<T>(h: &Harness, rx: &mut Rx<T>, what: &str) -> T {
    match tokio::time::timeout(h.patience, rx.recv()).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("channel closed while waiting for {what}"),
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

async fn recv_n<T>(h: &Harness, rx: &mut Rx<T>, n: usize, what: &str) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(recv(h, rx, what).await);
    }
    out
}

fn ctx(v: Value) -> Context {
    v.as_object().cloned().unwrap_or_default()
}

/// An endpoint builder that forwards every priority as `(label, notification)`.
fn recorder(
    label: &'static str,
    tx: &UnboundedSender<Record>,
) -> NotificationEndpointBuilder<UnboundedSender<Record>> {
    NotificationEndpoint::builder(tx.clone()).on_priorities(
        Priority::ALL,
        move |tx, n| async move {
            let _ = tx.send((label, n));
            Ok(NotificationResult::Handled)
        },
    )
}

fn notifier(t: &Transport, driver: &str, topic: &str, publisher: &str) -> Notifier {
    Notifier::builder(t)
        .driver(driver)
        .topics([topic])
        .publisher_id(publisher)
        .build()
        .expect("notifier builds")
}

/// Build and start a listener on `topic` with the inline executor (ordered records).
async fn listen(
    t: &Transport,
    topic: &str,
    endpoints: Vec<NotificationEndpoint>,
    more: impl FnOnce(NotificationListenerBuilder) -> NotificationListenerBuilder,
) -> NotificationListener {
    let b = endpoints.into_iter().fold(
        NotificationListener::builder(t, vec![Target::topic(topic)]),
        |b, e| b.endpoint(e),
    );
    let l = more(b.executor("inline")).build().expect("listener builds");
    l.start().await.expect("listener starts");
    l
}

async fn shutdown(l: &NotificationListener) {
    l.stop().await.expect("stop");
    l.wait().await.expect("wait");
}

fn events(records: &[Record]) -> Vec<(&'static str, String)> {
    records
        .iter()
        .map(|(l, n)| (*l, n.event_type.clone()))
        .collect()
}
