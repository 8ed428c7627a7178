//! Acknowledge and requeue; pools.

use super::*;

/// Returns `Requeue`, then fails, then panics, then handles: with requeue
/// allowed the message comes back each time; later endpoints are skipped
/// until the first one handles it.
pub async fn notify_requeue_honoured_when_allowed(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_requeue");
    let (tx, mut rx) = unbounded_channel();
    let flaky = NotificationEndpoint::builder((AtomicUsize::new(0), tx.clone()))
        .on(Priority::Info, |s, n| async move {
            let attempt = s.0.fetch_add(1, Ordering::SeqCst);
            let _ = s.1.send(("first", n));
            match attempt {
                0 => Ok(NotificationResult::Requeue),
                1 => Err("endpoint failed".into()),
                2 => panic!("endpoint panicked (expected by the conformance case)"),
                _ => Ok(NotificationResult::Handled),
            }
        })
        .build();
    let l = listen(
        &t,
        &topic,
        vec![flaky, recorder("second", &tx).build()],
        |b| b.allow_requeue(true),
    )
    .await;
    notifier(&t, "messagingv2", &topic, "p")
        .info(&Context::new(), "retry.me", json!({}))
        .await
        .expect("sent");
    let got = recv_n(h, &mut rx, 5, "four deliveries and the second endpoint").await;
    let labels: Vec<_> = got.iter().map(|(l, _)| *l).collect();
    assert_eq!(labels, ["first", "first", "first", "first", "second"]);
    let ids: BTreeSet<_> = got
        .iter()
        .map(|(_, n)| n.metadata.message_id.clone())
        .collect();
    assert_eq!(ids.len(), 1, "the same message came back");
    shutdown(&l).await;
}

/// Without `allow_requeue`, `Requeue`, errors and panics all acknowledge.
pub async fn notify_requeue_ignored_when_not_allowed(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_noreq");
    let (tx, mut rx) = unbounded_channel::<String>();
    let e = NotificationEndpoint::builder(tx)
        .on(Priority::Info, |tx, n| async move {
            let _ = tx.send(n.event_type.clone());
            match n.event_type.as_str() {
                "requeue" => Ok(NotificationResult::Requeue),
                "error" => Err("endpoint failed".into()),
                "panic" => panic!("endpoint panicked (expected by the conformance case)"),
                _ => Ok(NotificationResult::Handled),
            }
        })
        .build();
    let l = listen(&t, &topic, vec![e], |b| b).await;
    let n = notifier(&t, "messagingv2", &topic, "p");
    for event in ["requeue", "error", "panic", "marker1"] {
        n.info(&Context::new(), event, json!({}))
            .await
            .expect("sent");
    }
    assert_eq!(
        recv_n(h, &mut rx, 4, "first round").await,
        ["requeue", "error", "panic", "marker1"]
    );
    // Anything requeued is now delivered before, or waits in the queue ahead of, marker2.
    shutdown(&l).await;
    l.start().await.expect("restart after wait");
    n.info(&Context::new(), "marker2", json!({}))
        .await
        .expect("sent");
    assert_eq!(
        recv(h, &mut rx, "marker2").await,
        "marker2",
        "a message was redelivered although requeue is not allowed"
    );
    shutdown(&l).await;
}

/// Two pools each get every message, once.
pub async fn notify_pools_each_get_every_message(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_pools");
    let (tx1, mut rx1) = unbounded_channel();
    let (tx2, mut rx2) = unbounded_channel();
    let (p1, p2) = (h.unique("pool"), h.unique("pool"));
    let l1 = listen(&t, &topic, vec![recorder("p1", &tx1).build()], |b| {
        b.pool(&p1)
    })
    .await;
    let l2 = listen(&t, &topic, vec![recorder("p2", &tx2).build()], |b| {
        b.pool(&p2)
    })
    .await;
    let n = notifier(&t, "messagingv2", &topic, "p");
    let sent: Vec<String> = (0..4)
        .map(|i| format!("event.{i}"))
        .chain(["marker".into()])
        .collect();
    for e in &sent {
        n.info(&Context::new(), e, json!({})).await.expect("sent");
    }
    for rx in [&mut rx1, &mut rx2] {
        let got: Vec<String> = recv_n(h, rx, 5, "every message in each pool")
            .await
            .into_iter()
            .map(|r| r.1.event_type)
            .collect();
        assert_eq!(
            got, sent,
            "each pool gets each message once, the marker last"
        );
    }
    shutdown(&l1).await;
    shutdown(&l2).await;
}

/// Two listeners in one pool share the messages: each arrives exactly once.
pub async fn notify_listeners_in_one_pool_share_messages(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_shared");
    let pool = h.unique("pool");
    let (tx, mut rx) = unbounded_channel();
    let l1 = listen(&t, &topic, vec![recorder("l1", &tx).build()], |b| {
        b.pool(&pool)
    })
    .await;
    let l2 = listen(&t, &topic, vec![recorder("l2", &tx).build()], |b| {
        b.pool(&pool)
    })
    .await;
    let n = notifier(&t, "messagingv2", &topic, "p");
    for i in 0..6 {
        n.info(&Context::new(), &format!("event.{i}"), json!({}))
            .await
            .expect("sent");
    }
    let got: BTreeSet<String> = recv_n(h, &mut rx, 6, "six messages")
        .await
        .into_iter()
        .map(|r| r.1.event_type)
        .collect();
    assert_eq!(got.len(), 6, "no message twice: {got:?}");
    shutdown(&l1).await;
    shutdown(&l2).await;
    assert!(rx.try_recv().is_err(), "a message was delivered twice");
}
