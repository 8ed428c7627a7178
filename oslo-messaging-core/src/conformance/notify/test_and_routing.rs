//! The `test` and `routing` notifier drivers.

use super::*;

/// The `test` driver records in memory, by instance and by name.
pub async fn notify_test_driver_records(h: &Harness) {
    let t = h.transport().await;
    let mine = TestNotifierDriver::new();
    let event = h.unique("notify.test.event");
    let n = Notifier::builder(&t)
        .driver("test")
        .driver_instance(Arc::new(mine.clone()))
        .topics(["tt"])
        .retry(Some(1))
        .publisher_id("p")
        .build()
        .expect("builds");
    n.error(&ctx(json!({"user": "u"})), &event, json!({"x": 1}))
        .await
        .expect("recorded");
    let got = mine.notifications();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(
        (r.priority, r.topics.as_slice(), r.retry),
        (Priority::Error, &["tt".to_owned()][..], Some(1))
    );
    assert_eq!(
        (
            &r.message["event_type"],
            &r.message["priority"],
            &r.message["payload"]
        ),
        (&json!(event), &json!("ERROR"), &json!({"x": 1}))
    );
    assert_eq!(r.context["user"], "u");
    let global: Vec<_> = TestNotifierDriver::global()
        .notifications()
        .into_iter()
        .filter(|g| g.message["event_type"] == json!(event))
        .collect();
    assert_eq!(
        global, got,
        "the name \"test\" records into the global sink"
    );
    mine.reset();
    assert!(mine.notifications().is_empty());
}

/// The routing driver sends each notification to the drivers its rules accept.
pub async fn notify_routing_driver_routes_per_rules(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_routing");
    let ev = h.unique("ev");
    let path = std::env::temp_dir().join(format!("{}.yaml", h.unique("routing")));
    let rules = format!(
        "group_a:\n  messagingv2:\n    accepted_events: ['{ev}.compute.*']\n  test:\n    accepted_priorities: [ERROR]\n\
         group_b:\n  messagingv2:\n    accepted_priorities: [critical]\n"
    );
    std::fs::write(&path, rules).expect("write rules file");
    let built = Notifier::builder(&t)
        .driver("routing")
        .routing_config(&path)
        .topics([&topic])
        .build();
    let _ = std::fs::remove_file(&path);
    let n = built.expect("routing notifier builds");
    let (tx, mut rx) = unbounded_channel();
    let l = listen(&t, &topic, vec![recorder("all", &tx).build()], |b| b).await;
    for (p, e) in [
        (Priority::Info, "compute.start"),
        (Priority::Error, "network.up"),
        (Priority::Error, "compute.fail"),
        (Priority::Critical, "network.down"),
        (Priority::Info, "network.noise"),
        (Priority::Info, "compute.marker"),
    ] {
        n.notify(&Context::new(), p, &format!("{ev}.{e}"), json!({}))
            .await
            .expect("sent");
    }
    let got = recv_n(h, &mut rx, 4, "the routed notifications").await;
    let on = |p: Priority| -> Vec<String> {
        got.iter()
            .filter(|(_, n)| n.priority == p)
            .map(|(_, n)| n.event_type.replace(&format!("{ev}."), ""))
            .collect()
    };
    assert_eq!(
        on(Priority::Info),
        ["compute.start", "compute.marker"],
        "network.noise matches no rule"
    );
    assert_eq!(
        on(Priority::Error),
        ["compute.fail"],
        "network.up goes to the test driver only"
    );
    assert_eq!(on(Priority::Critical), ["network.down"]);
    let recorded: Vec<String> = TestNotifierDriver::global()
        .notifications()
        .into_iter()
        .filter_map(|r| {
            r.message["event_type"]
                .as_str()
                .and_then(|e| e.strip_prefix(&format!("{ev}.")))
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(recorded, ["network.up", "compute.fail"]);
    let err = Notifier::builder(&t)
        .driver("routing")
        .routing_config(path.with_extension("missing"))
        .build()
        .expect_err("no file");
    assert!(matches!(err, MessagingError::RoutingRules(_)), "{err}");
    shutdown(&l).await;
}
