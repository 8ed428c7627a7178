//! Interoperability with Python oslo.messaging 18.3.1's kafka driver
//! (confluent-kafka), both ways, with pools, against the broker at
//! 127.0.0.1:9092. The Python side is `interop/peer.py`, run in the venv
//! `scripts/interop-venv.sh` makes.

mod support;

#[path = "../../interop/peer.rs"]
mod peer;

use std::collections::BTreeSet;

use oslo_messaging_core::notify::{Notifier, NotifySendExt};
use oslo_messaging_core::{Context, Priority, Transport};
use peer::{within, Peer, RustListener, PATIENCE};
use serde_json::{json, Value};

/// The URL both sides use: no virtual host (see the `topics` module docs).
const URL: &str = support::BROKER_URL;

fn notifier(t: &Transport, topic: &str) -> Notifier {
    Notifier::builder(t)
        .driver("messagingv2")
        .topics([topic])
        .publisher_id("rust.host1")
        .build()
        .expect("notifier")
}

/// `peer.py notify`, once: what Python's Notifier sends over its kafka driver.
async fn python_notify(topic: &str, event_type: &str, payload: &Value) {
    let mut peer = Peer::spawn_at(
        URL,
        "notify",
        topic,
        &[
            "--publisher-id",
            "py.host1",
            "--event-type",
            event_type,
            "--priority",
            "info",
            "--payload",
            &payload.to_string(),
            "--context",
            r#"{"user": "alice", "request_id": "req-1"}"#,
        ],
    );
    assert_eq!(peer.next_line(PATIENCE).await, json!({"event": "sent"}));
    peer.finish().await;
}

/// A Python notification reaches a Rust listener with every field, the
/// payload's big integers and key order intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_notifications_reach_a_rust_listener() {
    let t = support::transport_with_partitions(1);
    let topic = support::unique("py_to_rust");
    let pool = support::unique("pool");
    let mut listener = RustListener::start(&t, &topic, &pool).await;
    let payload = json!({"z": 1, "a": 18446744073709551617u128, "m": {"k": [1, "two"]}});
    python_notify(&topic, "compute.instance.create.end", &payload).await;
    let n = listener.next().await;
    assert_eq!(n.publisher_id.as_deref(), Some("py.host1"));
    assert_eq!(n.event_type, "compute.instance.create.end");
    assert_eq!(n.priority, Priority::Info);
    assert_eq!(
        n.payload.to_string(),
        payload.to_string(),
        "order and exact integers kept"
    );
    assert_eq!(n.context["user"], "alice");
    assert_eq!(n.context["request_id"], "req-1");
    listener.stop().await;
}

/// A Rust notification reaches a Python listener in a pool: the pool is
/// the consumer group on both sides, so the Python listener resumes where
/// the group's Rust member committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_notifications_reach_a_python_listener_in_a_pool() {
    let t = support::transport_with_partitions(1);
    let topic = support::unique("rust_to_py");
    let pool = support::unique("pool");
    // A Rust member of the pool makes the topic and commits the group's
    // start offset; the Python member then starts from it, not from
    // "latest" (which would race with the send below).
    RustListener::start(&t, &topic, &pool).await.stop().await;
    let mut py = Peer::start_at(URL, "listen", &topic, &["--pool", &pool, "--count", "2"]).await;
    let n = notifier(&t, &topic);
    let context: Context = json!({"user": "bob", "project_id": "p1"})
        .as_object()
        .cloned()
        .expect("object");
    n.info(
        &context,
        "volume.create.start",
        json!({"size": 1, "id": "v1"}),
    )
    .await
    .expect("sent");
    n.warn(&context, "volume.create.end", json!({"size": 1}))
        .await
        .expect("sent");
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(py.next_line(PATIENCE).await);
    }
    seen.sort_by_key(|l| l["event_type"].as_str().map(str::to_owned));
    assert_eq!(seen[0]["event_type"], "volume.create.end");
    assert_eq!(seen[0]["priority"], "warn");
    assert_eq!(seen[1]["publisher_id"], "rust.host1");
    assert_eq!(seen[1]["payload"], json!({"size": 1, "id": "v1"}));
    assert_eq!(seen[1]["ctxt"]["user"], "bob");
    assert_eq!(seen[1]["ctxt"]["project_id"], "p1");
    assert!(seen[1]["metadata"]["message_id"].is_string(), "{}", seen[1]);
    py.finish().await;
}

/// A Python and a Rust listener in one pool share a two-partition topic's
/// records (each once, between them); another pool gets every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_rust_listeners_share_a_pool_and_each_pool_gets_everything() {
    let t = support::transport_with_partitions(2);
    let topic = support::unique("shared");
    let (shared, other) = (
        support::unique("shared_pool"),
        support::unique("other_pool"),
    );
    RustListener::start(&t, &topic, &shared).await.stop().await;
    let mut py = Peer::start_at(
        URL,
        "listen",
        &topic,
        &["--pool", &shared, "--count", "1000"],
    )
    .await;
    let mut rust = RustListener::start(&t, &topic, &shared).await;
    let mut everything = RustListener::start(&t, &topic, &other).await;
    let n = notifier(&t, &topic);
    const N: usize = 40;
    for i in 0..N {
        n.info(&Context::new(), &format!("e.{i}"), json!({"i": i}))
            .await
            .expect("sent");
    }
    let mut all = BTreeSet::new();
    for _ in 0..N {
        all.insert(everything.next().await.event_type);
    }
    assert_eq!(all.len(), N, "the other pool got every record once");
    // The shared pool: each record once, on either side.
    let (mut from_rust, mut from_py) = (Vec::new(), Vec::new());
    while from_rust.len() + from_py.len() < N {
        tokio::select! {
            n = rust.next() => from_rust.push(n.event_type),
            line = py.next_line(PATIENCE) => from_py.push(line["event_type"].as_str().expect("event type").to_owned()),
        }
    }
    let union: BTreeSet<String> = from_rust.iter().chain(&from_py).cloned().collect();
    assert_eq!(union, all, "the pool got every record");
    assert_eq!(from_rust.len() + from_py.len(), N, "and none twice");
    // With records spread at random over two partitions, one each: both
    // sides get some (all 40 on one partition has odds of 2^-39).
    assert!(
        !from_rust.is_empty() && !from_py.is_empty(),
        "rust {from_rust:?} python {from_py:?}"
    );
    within("rust stop", rust.stop()).await;
    within("other stop", everything.stop()).await;
    py.finish().await;
}
