//! Pools are consumer groups: listeners of one pool share a topic's
//! partitions, each pool gets every record, and when a member leaves, the
//! others take its partitions over without losing what is sent after.

mod support;

#[path = "../../interop/peer.rs"]
mod peer;

use std::collections::BTreeSet;

use oslo_messaging_core::notify::{Notifier, NotifySendExt};
use oslo_messaging_core::Context;
use peer::RustListener;
use serde_json::json;

async fn send(n: &Notifier, range: std::ops::Range<usize>) -> BTreeSet<String> {
    let mut sent = BTreeSet::new();
    for i in range {
        let e = format!("e.{i:03}");
        n.info(&Context::new(), &e, json!({})).await.expect("sent");
        sent.insert(e);
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_of_a_pool_share_partitions_and_take_over_a_leaving_members() {
    let t = support::transport_with_partitions(4);
    let topic = support::unique("pools");
    let (a, b) = (support::unique("pool_a"), support::unique("pool_b"));
    let mut a1 = RustListener::start(&t, &topic, &a).await;
    let mut a2 = RustListener::start(&t, &topic, &a).await;
    let mut b1 = RustListener::start(&t, &topic, &b).await;
    let n = Notifier::builder(&t)
        .driver("messagingv2")
        .topics([topic.as_str()])
        .publisher_id("p")
        .build()
        .expect("notifier");

    let sent = send(&n, 0..40).await;
    let mut in_b = BTreeSet::new();
    while in_b.len() < sent.len() {
        assert!(
            in_b.insert(b1.next().await.event_type),
            "pool b got a record twice"
        );
    }
    assert_eq!(in_b, sent, "pool b got every record");
    let (mut by_a1, mut by_a2) = (BTreeSet::new(), BTreeSet::new());
    while by_a1.len() + by_a2.len() < sent.len() {
        tokio::select! {
            n = a1.next() => assert!(by_a1.insert(n.event_type)),
            n = a2.next() => assert!(by_a2.insert(n.event_type)),
        }
    }
    assert!(
        by_a1.is_disjoint(&by_a2),
        "a record went to both members of pool a"
    );
    assert_eq!(&by_a1 | &by_a2, sent, "pool a got every record");
    // Four partitions, two each, records spread at random: both get some.
    assert!(
        !by_a1.is_empty() && !by_a2.is_empty(),
        "{by_a1:?} {by_a2:?}"
    );

    // a2 leaves: a1 is given its partitions and gets all that follows.
    a2.stop().await;
    let later = send(&n, 40..60).await;
    let mut by_a1_later = BTreeSet::new();
    while by_a1_later.len() < later.len() {
        assert!(by_a1_later.insert(a1.next().await.event_type));
    }
    assert_eq!(by_a1_later, later);
    a1.stop().await;
    b1.stop().await;
}
