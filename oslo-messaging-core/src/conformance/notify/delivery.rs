//! Delivery: fields, formats, topics, filters, disabled notifiers, malformed messages.

use super::*;

/// A payload keeps its integers exact and its key order.
pub async fn notify_payload_keeps_exact_integers_and_key_order(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_exact");
    let (tx, mut rx) = unbounded_channel();
    let l = listen(&t, &topic, vec![recorder("all", &tx).build()], |b| b).await;
    let n = notifier(&t, "messagingv2", &topic, "conformance.host1");
    let payload = crate::conformance::rpc::exact_json_sample();
    n.notify(
        &ctx(json!({"user": "alice"})),
        Priority::Info,
        "compute.exact",
        payload.clone(),
    )
    .await
    .expect("sent");
    let got = recv_n(h, &mut rx, 1, "the notification").await;
    assert_eq!(got[0].1.payload.to_string(), payload.to_string());
    shutdown(&l).await;
}

/// Every priority arrives with publisher, event type, payload, context and metadata.
pub async fn notify_every_priority_arrives_with_fields(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_fields");
    let (tx, mut rx) = unbounded_channel();
    let l = listen(&t, &topic, vec![recorder("all", &tx).build()], |b| b).await;
    let n = notifier(&t, "messagingv2", &topic, "conformance.host1");
    let context = ctx(json!({"user": "alice", "request_id": "req-1", "auth_token": "tok"}));
    for (i, p) in Priority::ALL.into_iter().enumerate() {
        n.notify(
            &context,
            p,
            &format!("compute.{p}"),
            json!({"n": i, "nested": {"k": [1, 2]}}),
        )
        .await
        .expect("sent");
    }
    let uuid =
        regex::Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .expect("regex");
    let ts = regex::Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$").expect("regex");
    let mut got = recv_n(
        h,
        &mut rx,
        Priority::ALL.len(),
        "one notification per priority",
    )
    .await;
    // Each priority is a queue (topic) of its own: no order between them.
    got.sort_by_key(|(_, n)| Priority::ALL.iter().position(|p| *p == n.priority));
    let mut ids = BTreeSet::new();
    for (i, (_, got)) in got.iter().enumerate() {
        let p = Priority::ALL[i];
        assert_eq!(
            (got.priority, got.event_type.as_str()),
            (p, format!("compute.{p}").as_str())
        );
        assert_eq!(got.publisher_id.as_deref(), Some("conformance.host1"));
        assert_eq!(got.payload, json!({"n": i, "nested": {"k": [1, 2]}}));
        assert_eq!(
            (&got.context["user"], &got.context["request_id"]),
            (&json!("alice"), &json!("req-1"))
        );
        assert!(
            got.context.get("auth_token").is_none_or(Value::is_null),
            "tokens are redacted: {:?}",
            got.context
        );
        let id = got.metadata.message_id.clone().expect("message_id");
        assert!(uuid.is_match(&id), "message_id {id}");
        let stamp = got.metadata.timestamp.as_deref().expect("timestamp");
        assert!(ts.is_match(stamp), "timestamp {stamp}");
        ids.insert(id);
    }
    assert_eq!(ids.len(), Priority::ALL.len(), "message ids are unique");
    shutdown(&l).await;
}

/// The `messaging` (1.0) and `messagingv2` (2.0) drivers both reach a listener.
pub async fn notify_v1_and_v2_formats_arrive(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_formats");
    let (tx, mut rx) = unbounded_channel();
    let l = listen(&t, &topic, vec![recorder("all", &tx).build()], |b| b).await;
    notifier(&t, "messaging", &topic, "p1")
        .info(&Context::new(), "sent.v1", json!({"v": 1}))
        .await
        .expect("v1");
    notifier(&t, "messagingv2", &topic, "p2")
        .info(&Context::new(), "sent.v2", json!({"v": 2}))
        .await
        .expect("v2");
    let got = recv_n(h, &mut rx, 2, "both formats").await;
    assert_eq!(
        events(&got),
        [("all", "sent.v1".into()), ("all", "sent.v2".into())]
    );
    assert_eq!(
        (&got[0].1.payload, &got[1].1.payload),
        (&json!({"v": 1}), &json!({"v": 2}))
    );
    // The raw driver call in either format, too.
    let mut raw = Map::new();
    for (k, v) in [
        ("event_type", json!("raw")),
        ("priority", json!("INFO")),
        ("payload", json!(null)),
        ("publisher_id", json!(null)),
    ] {
        raw.insert(k.into(), v);
    }
    for format in [NotificationFormat::V1, NotificationFormat::V2] {
        t.driver()
            .send_notification(
                &Target::topic(format!("{topic}.info")),
                &Context::new(),
                raw.clone(),
                format,
                None,
            )
            .await
            .expect("raw send");
        assert_eq!(
            recv(h, &mut rx, "raw notification").await.1.publisher_id,
            None
        );
    }
    shutdown(&l).await;
}

/// A notifier sends on each of its topics; `prepare` changes topics and publisher.
pub async fn notify_multiple_topics_and_prepare(h: &Harness) {
    let t = h.transport().await;
    let (t1, t2) = (h.unique("notify_topic_a"), h.unique("notify_topic_b"));
    let (tx1, mut rx1) = unbounded_channel();
    let (tx2, mut rx2) = unbounded_channel();
    let l1 = listen(&t, &t1, vec![recorder("a", &tx1).build()], |b| b).await;
    let l2 = listen(&t, &t2, vec![recorder("b", &tx2).build()], |b| b).await;
    let n = Notifier::builder(&t)
        .driver("messagingv2")
        .topics([&t1, &t2])
        .publisher_id("orig")
        .build()
        .expect("builds");
    n.info(&Context::new(), "both", json!({}))
        .await
        .expect("sent");
    n.prepare()
        .with_topics([&t2])
        .with_publisher_id("other")
        .info(&Context::new(), "only_b", json!({}))
        .await
        .expect("sent");
    n.info(&Context::new(), "marker", json!({}))
        .await
        .expect("sent");
    let a = recv_n(h, &mut rx1, 2, "topic a").await;
    assert_eq!(
        events(&a),
        [("a", "both".into()), ("a", "marker".into())],
        "only_b must not reach topic a"
    );
    let b = recv_n(h, &mut rx2, 3, "topic b").await;
    assert_eq!(
        events(&b),
        [
            ("b", "both".into()),
            ("b", "only_b".into()),
            ("b", "marker".into())
        ]
    );
    assert_eq!(
        (
            b[0].1.publisher_id.as_deref(),
            b[1].1.publisher_id.as_deref()
        ),
        (Some("orig"), Some("other"))
    );
    assert_eq!(
        a[0].1.metadata.message_id, b[0].1.metadata.message_id,
        "one notification, two topics"
    );
    shutdown(&l1).await;
    shutdown(&l2).await;
}

/// Filters on each field, Python `re.match` semantics; endpoints run in order.
pub async fn notify_filters_select_by_each_field(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_filters");
    let (tx, mut rx) = unbounded_channel();
    let f = NotificationFilter::builder;
    let filtered = |label, filter: NotificationFilterBuilder| {
        recorder(label, &tx)
            .filter(filter.build().expect("valid filter"))
            .build()
    };
    let endpoints = vec![
        filtered("pub", f().publisher_id("compute")),
        filtered("evt", f().event_type(r"instance\.create")),
        filtered("ctx", f().context("user", "^alice$")),
        filtered(
            "meta",
            f().metadata("timestamp", r"\d{4}-\d{2}-\d{2} ")
                .metadata("message_id", "[0-9a-f]{8}-"),
        ),
        filtered("nometa", f().metadata("nope", ".*")),
        filtered("payload", f().payload("state", "^active$")),
        filtered("both", f().publisher_id("compute").payload("state", "act")),
        recorder("any", &tx).build(),
    ];
    let l = listen(&t, &topic, endpoints, |b| b).await;
    let alice = ctx(json!({"user": "alice"}));
    notifier(&t, "messagingv2", &topic, "compute.host1")
        .info(&alice, "instance.create.end", json!({"state": "active"}))
        .await
        .expect("m1");
    notifier(&t, "messagingv2", &topic, "network.compute")
        .info(
            &ctx(json!({"user": "alice2"})),
            "port.instance.create",
            json!({"state": 1}),
        )
        .await
        .expect("m2");
    notifier(&t, "messagingv2", &topic, "compute.x")
        .info(&Context::new(), "instance.createx", json!("text"))
        .await
        .expect("m3");
    Notifier::builder(&t)
        .driver("messagingv2")
        .topics([&topic])
        .build()
        .expect("builds")
        .info(&alice, "marker", json!({"state": "active"}))
        .await
        .expect("marker");
    let mut got = Vec::new();
    while got
        .last()
        .is_none_or(|(l, n): &Record| !(*l == "any" && n.event_type == "marker"))
    {
        got.push(recv(h, &mut rx, "filtered records up to the marker").await);
    }
    let m = |l, e: &str| (l, e.to_owned());
    assert_eq!(
        events(&got),
        [
            m("pub", "instance.create.end"),
            m("evt", "instance.create.end"),
            m("ctx", "instance.create.end"),
            m("meta", "instance.create.end"),
            m("payload", "instance.create.end"),
            m("both", "instance.create.end"),
            m("any", "instance.create.end"),
            m("meta", "port.instance.create"),
            m("any", "port.instance.create"),
            m("pub", "instance.createx"),
            m("evt", "instance.createx"),
            m("meta", "instance.createx"),
            m("any", "instance.createx"),
            m("ctx", "marker"),
            m("meta", "marker"),
            m("payload", "marker"),
            m("any", "marker"),
        ]
    );
    shutdown(&l).await;
}

/// A notifier without drivers (or with `noop`) sends nothing.
pub async fn notify_disabled_notifier_sends_nothing(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_disabled");
    let (tx, mut rx) = unbounded_channel();
    let l = listen(&t, &topic, vec![recorder("all", &tx).build()], |b| b).await;
    let none = Notifier::builder(&t)
        .drivers(Vec::<String>::new())
        .topics([&topic])
        .build()
        .expect("builds");
    let noop = notifier(&t, "noop", &topic, "p");
    assert!(!none.is_enabled() && !noop.is_enabled());
    none.info(&Context::new(), "from.none", json!({}))
        .await
        .expect("accepted");
    noop.info(&Context::new(), "from.noop", json!({}))
        .await
        .expect("accepted");
    let on = notifier(&t, "messagingv2", &topic, "p");
    assert!(on.is_enabled());
    on.info(&Context::new(), "marker", json!({}))
        .await
        .expect("sent");
    assert_eq!(
        recv(h, &mut rx, "the marker").await.1.event_type,
        "marker",
        "a disabled notifier sent something"
    );
    shutdown(&l).await;
}

/// Malformed notifications are dropped; the listener keeps serving.
pub async fn notify_malformed_notification_is_dropped(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_malformed");
    let (tx, mut rx) = unbounded_channel();
    let l = listen(&t, &topic, vec![recorder("all", &tx).build()], |b| b).await;
    let target = Target::topic(format!("{topic}.info"));
    for bad in [
        json!({"event_type": "no.priority"}),
        json!({"priority": "INFO"}),
        json!({"priority": "LOUD", "event_type": "e"}),
        json!({"priority": 3, "event_type": 4}),
    ] {
        let bad = bad.as_object().cloned().expect("object");
        t.driver()
            .send_notification(&target, &Context::new(), bad, NotificationFormat::V2, None)
            .await
            .expect("raw send");
    }
    notifier(&t, "messagingv2", &topic, "p")
        .info(&Context::new(), "marker", json!({}))
        .await
        .expect("sent");
    assert_eq!(recv(h, &mut rx, "the marker").await.1.event_type, "marker");
    assert!(l.is_running().await);
    shutdown(&l).await;
}

/// The driver contract: sending a notification declares its default queue
/// `<topic>.<priority>` (as oslo.messaging's notifier does), so what is
/// sent before any listener starts waits there and the first listener
/// (without a pool) gets it.
pub async fn notify_sent_before_any_listener_is_kept(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("notify_early");
    let n = notifier(&t, "messagingv2", &topic, "conformance.host1");
    n.notify_checked(
        &ctx(json!({"user": "alice"})),
        Priority::Warn,
        "compute.early",
        json!({"n": 1}),
    )
    .await
    .expect("sent and confirmed");
    let (tx, mut rx) = unbounded_channel();
    let l = listen(&t, &topic, vec![recorder("all", &tx).build()], |b| b).await;
    let got = recv_n(h, &mut rx, 1, "the notification sent before listening").await;
    assert_eq!(
        (got[0].1.priority, got[0].1.event_type.as_str()),
        (Priority::Warn, "compute.early")
    );
    shutdown(&l).await;
}
