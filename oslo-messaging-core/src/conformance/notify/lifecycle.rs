//! Batch listeners and the listener lifecycle.

use super::*;

fn batch_recorder(tx: &UnboundedSender<Vec<String>>) -> NotificationEndpoint {
    NotificationEndpoint::builder(tx.clone())
        .on_batch(Priority::Info, |tx, batch| async move {
            let _ = tx.send(batch.into_iter().map(|n| n.event_type).collect());
            Ok(NotificationResult::Handled)
        })
        .build()
}

/// A batch listener hands a full batch to the callback at once.
pub async fn notify_batch_size_reached_gives_one_batch(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_batch");
    let n = notifier(&t, "messagingv2", &topic, "p");
    let (tx, mut rx) = unbounded_channel();
    let l = listen(&t, &topic, vec![batch_recorder(&tx)], |b| b.batch(3, None)).await;
    for i in 0..3 {
        n.info(&Context::new(), &format!("event.{i}"), json!({}))
            .await
            .expect("sent");
    }
    assert_eq!(
        recv(h, &mut rx, "one batch").await,
        ["event.0", "event.1", "event.2"]
    );
    shutdown(&l).await;
}

/// The batch timeout flushes a partial batch.
pub async fn notify_batch_timeout_flushes_partial_batch(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_batch_timeout");
    let n = notifier(&t, "messagingv2", &topic, "p");
    let (tx, mut rx) = unbounded_channel();
    let l = listen(&t, &topic, vec![batch_recorder(&tx)], |b| {
        b.batch(10, Some(Duration::from_millis(50)))
    })
    .await;
    for i in 0..2 {
        n.info(&Context::new(), &format!("event.{i}"), json!({}))
            .await
            .expect("sent");
    }
    let mut got = Vec::new();
    while got.len() < 2 {
        got.extend(recv(h, &mut rx, "a partial batch").await);
    }
    assert_eq!(got, ["event.0", "event.1"]);
    shutdown(&l).await;
}

/// Build errors and lifecycle misuse are errors; a waited listener restarts.
pub async fn notify_listener_lifecycle_errors(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_lifecycle");
    let (tx, mut rx) = unbounded_channel();
    let b = |targets: Vec<Target>| NotificationListener::builder(&t, targets);
    let build_err = |r: crate::Result<NotificationListener>| r.expect_err("must not build");
    assert!(matches!(
        build_err(b(vec![]).endpoint(recorder("x", &tx).build()).build()),
        MessagingError::InvalidTarget(_)
    ));
    assert!(matches!(
        build_err(
            b(vec![Target::default()])
                .endpoint(recorder("x", &tx).build())
                .build()
        ),
        MessagingError::InvalidTarget(_)
    ));
    let one = || vec![Target::topic(&topic)];
    assert!(matches!(
        build_err(b(one()).build()),
        MessagingError::Config(_)
    ));
    let (btx, _brx) = unbounded_channel();
    assert!(build_err(b(one()).endpoint(batch_recorder(&btx)).build())
        .to_string()
        .contains("batch callbacks"));
    assert!(build_err(
        b(one())
            .endpoint(recorder("x", &tx).build())
            .batch(2, None)
            .build()
    )
    .to_string()
    .contains("single callbacks"));
    assert!(matches!(
        build_err(
            b(one())
                .endpoint(batch_recorder(&btx))
                .batch(0, None)
                .build()
        ),
        MessagingError::Config(_)
    ));
    assert!(matches!(
        build_err(
            b(one())
                .endpoint(recorder("x", &tx).build())
                .executor("nope")
                .build()
        ),
        MessagingError::InvalidOption { .. }
    ));
    let l = b(one())
        .endpoint(
            recorder("x", &tx)
                .on(Priority::Info, |tx, n| async move {
                    let _ = tx.send(("info", n));
                    Ok(NotificationResult::Handled)
                })
                .build(),
        )
        .build()
        .expect("builds");
    assert_eq!(l.subscriptions().len(), Priority::ALL.len());
    let state = |r: crate::Result<()>| matches!(r, Err(MessagingError::ServerState(_)));
    assert!(
        state(l.stop().await) && state(l.wait().await),
        "stop/wait before start"
    );
    l.start().await.expect("start");
    assert!(l.is_running().await);
    assert!(
        state(l.start().await) && state(l.wait().await),
        "start twice, wait before stop"
    );
    l.stop().await.expect("stop");
    assert!(state(l.start().await), "start before wait");
    l.wait().await.expect("wait");
    l.start().await.expect("restart");
    notifier(&t, "messagingv2", &topic, "p")
        .info(&Context::new(), "after.restart", json!({}))
        .await
        .expect("sent");
    let (label, got) = recv(h, &mut rx, "a message after restart").await;
    assert_eq!((label, got.event_type.as_str()), ("info", "after.restart"));
    shutdown(&l).await;
}
