//! A listener slower than its notifiers: its buffer fills (at
//! `max_poll_records`), its consumer stops fetching until records are
//! taken, and not one record is lost.
//!
//! Pausing the partitions instead lost records on tansu: librdkafka drops
//! what it prefetched on pause and fetches again on resume from the next
//! record, usually in the middle of a record batch; Kafka answers with the
//! whole batch, tansu 0.6 from the next batch on (its `dynostore` fetch).

mod support;

use std::collections::BTreeSet;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::conformance::context;
use oslo_messaging_core::notify::{
    NotificationEndpoint, NotificationListener, NotificationResult, Notifier, NotifySendExt,
};
use oslo_messaging_core::{Priority, Target, Transport};
use serde_json::json;
use tokio::sync::{mpsc, watch};

const SENT: usize = 400;

/// Await `fut`, failing with `what` after a minute (a hang guard).
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(60), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_holds_the_consumer_back_and_loses_nothing() {
    support::require_broker();
    let url = format!(
        "{}?consumer_group={}&num_partitions=3&max_poll_records=10",
        support::BROKER_URL,
        support::unique("group")
    );
    let t = Transport::new(&Config::defaults(), Some(&url)).expect("kafka transport");
    let topic = support::unique("backpressure");
    let (open, gate) = watch::channel(false);
    let (tx, mut received) = mpsc::unbounded_channel();
    let endpoint = NotificationEndpoint::builder((gate, tx))
        .on_priorities([Priority::Info], |state, n| async move {
            let (gate, tx) = &*state;
            // Held until every notification is sent: the buffer fills.
            let mut gate = gate.clone();
            let _ = gate.wait_for(|open| *open).await;
            let _ = tx.send(n.event_type);
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(&t, vec![Target::topic(&topic)])
        .endpoint(endpoint)
        .build()
        .expect("listener");
    within("listener start", listener.start())
        .await
        .expect("starts");
    let notifier = Notifier::builder(&t)
        .driver("messagingv2")
        .topics([topic.as_str()])
        .publisher_id("p")
        .build()
        .expect("notifier");
    // All at once, so the producer writes batches of several records.
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..SENT {
        let notifier = notifier.clone();
        sends.spawn(async move {
            notifier
                .info(&context("u"), &format!("e.{i:04}"), json!({}))
                .await
                .expect("sent");
        });
    }
    within("sending", async {
        while let Some(sent) = sends.join_next().await {
            sent.expect("a send task");
        }
    })
    .await;
    open.send(true).expect("the endpoint waits");
    let mut seen = BTreeSet::new();
    while seen.len() < SENT {
        let e = within("every notification", received.recv())
            .await
            .expect("open");
        assert!(seen.insert(e.clone()), "{e} twice");
    }
    listener.stop().await.expect("stop");
    listener.wait().await.expect("wait");
}
