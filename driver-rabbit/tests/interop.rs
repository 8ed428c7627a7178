//! Interoperability with the real Python oslo.messaging (18.3.1) over the
//! RabbitMQ broker at 127.0.0.1:5672: Rust and Python clients, servers,
//! notifiers and listeners talk to each other.
//!
//! The Python side is `interop/peer.py`, run in the venv that
//! `scripts/interop-venv.sh` makes. These tests need the broker: without it
//! they fail.

mod interop_support;

use interop_support::roles::{py_call, py_result, python_server, RustServer};
use interop_support::RustListener;
use interop_support::{run_peer, rust_transport, unique, within, Peer, QueueCleanup, PATIENCE};
use oslo_messaging_core::conformance::context;
use oslo_messaging_core::{
    Context, MessagingError, Notifier, Priority, RpcClient, Target, Transport,
};
use oslo_messaging_driver_rabbit as _;
use serde_json::{json, Value};

// --- helpers -------------------------------------------------------------------

/// The sent context arrived: every key with its value; the only extra key
/// allowed is Python's `client_timeout` (unpack_context adds it, `null`
/// unless the caller used a call monitor timeout).
fn assert_context_arrived(sent: &Context, got: &Value) {
    let got = got
        .as_object()
        .unwrap_or_else(|| panic!("context is not an object: {got}"));
    for (k, v) in sent {
        assert_eq!(got.get(k), Some(v), "context key {k:?}; got {got:?}");
    }
    for (k, v) in got {
        if !sent.contains_key(k) {
            assert_eq!(
                (k.as_str(), v),
                ("client_timeout", &Value::Null),
                "unexpected context key; got {got:?}"
            );
        }
    }
}

/// A context with tokens, as a notifier sends it: tokens blanked.
fn notification_contexts(user: &str) -> (Context, Context) {
    let mut sent = context(user);
    sent.insert("auth_token".into(), json!("s3cr3t"));
    let mut expected = sent.clone();
    expected.insert("auth_token".into(), Value::Null);
    (sent, expected)
}

/// `peer.py cast` of `record(value)`, fanned out or not.
async fn py_cast_record(cleanup: &QueueCleanup, topic: &str, value: Value, fanout: bool) {
    let mut extra = vec![
        "--method".to_owned(),
        "record".to_owned(),
        "--args".to_owned(),
        json!({ "value": value }).to_string(),
    ];
    if fanout {
        extra.push("--fanout".to_owned());
    }
    let line = run_peer(cleanup, "cast", topic, &extra).await;
    assert_eq!(line, json!({"event": "sent"}));
}

/// The next `record` line a Python server printed: (server, value).
async fn py_record(peer: &mut Peer) -> (String, Value) {
    let line = peer.next_line(PATIENCE).await;
    assert_eq!(line["event"], "record", "expected a record line: {line}");
    let server = line["server"].as_str().expect("server name").to_owned();
    (server, line["value"].clone())
}

fn rust_notifier(transport: &Transport, topic: &str, driver: &str) -> Notifier {
    Notifier::builder(transport)
        .publisher_id("rust.interop")
        .driver(driver)
        .topics([topic])
        .build()
        .expect("notifier builds")
}

// --- the harness itself ------------------------------------------------------

/// Python to Python through the harness: checks the peer, the venv and the
/// cleanup guard independently of the Rust driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_python_peers_talk_to_each_other() {
    let cleanup = QueueCleanup::new();
    let topic = unique("harness");
    cleanup.rpc_topic(&topic, &["py1"]);
    let mut server = python_server(&topic, "py1").await;
    let ctx = context("self");

    let sum = py_call(&cleanup, &topic, &ctx, "add", json!({"a": 3, "b": 4})).await;
    assert_eq!(py_result(sum), json!(7));
    let seen = py_call(&cleanup, &topic, &ctx, "whoami", json!({})).await;
    assert_context_arrived(&ctx, &py_result(seen));
    let line = py_call(&cleanup, &topic, &ctx, "fail", json!({"message": "py"})).await;
    assert_eq!(
        (&line["error"]["type"], &line["error"]["first_line"]),
        (&json!("ValueError"), &json!("py")),
        "error: {line}"
    );
    py_cast_record(&cleanup, &topic, json!("c"), true).await;
    assert_eq!(py_record(&mut server).await, ("py1".into(), json!("c")));
    server.finish().await;
}

// --- RPC: Rust client, Python server ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_calls_python_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("rpc_r2p");
    cleanup.rpc_topic(&topic, &["py1"]);
    let _server = python_server(&topic, "py1").await;
    let t = rust_transport();
    let client = RpcClient::new(&t, Target::topic(&topic));
    let ctx = context("alice");

    let sum = within("add", client.call(&ctx, "add", json!({"a": 2, "b": 40}))).await;
    assert_eq!(sum.expect("add"), json!(42));

    let nested = json!({"list": [1, "two", null, {"three": 3.5}], "flag": true});
    let echoed = within(
        "echo",
        client.call(&ctx, "echo", json!({ "value": nested })),
    )
    .await;
    assert_eq!(echoed.expect("echo"), nested);

    let mut rich = context("bob");
    rich.insert("roles".into(), json!(["admin", "member"]));
    rich.insert("is_admin".into(), json!(true));
    let seen = within("whoami", client.call(&rich, "whoami", json!({}))).await;
    assert_context_arrived(&rich, &seen.expect("whoami"));

    let ns = client.clone().with_namespace("ns").with_version("2.1");
    let which = within("which", ns.call(&ctx, "which", json!({}))).await;
    assert_eq!(which.expect("which"), json!("ns-2.1"));

    let err = within(
        "fail",
        client.call(&ctx, "fail", json!({"message": "no such thing"})),
    )
    .await
    .expect_err("fail raises");
    let f = err
        .remote()
        .unwrap_or_else(|| panic!("expected a remote error, got {err}"));
    assert!(matches!(err, MessagingError::Remote(_)));
    assert_eq!(
        (f.class.as_str(), f.module.as_str(), f.message.as_str()),
        ("ValueError", "builtins", "no such thing")
    );
    t.cleanup().await;
}

// --- RPC: Python client, Rust server ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_calls_rust_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("rpc_p2r");
    cleanup.rpc_topic(&topic, &["rs1"]);
    let t = rust_transport();
    let server = RustServer::start(&t, &topic, "rs1").await;
    let ctx = context("carol");

    let sum = py_call(&cleanup, &topic, &ctx, "add", json!({"a": 20, "b": 22})).await;
    assert_eq!(py_result(sum), json!(42));

    let nested = json!({"k": [1, {"deep": null}], "s": "ünïcode"});
    let echoed = py_call(&cleanup, &topic, &ctx, "echo", json!({ "value": nested })).await;
    assert_eq!(py_result(echoed), nested);

    let mut rich = context("dave");
    rich.insert("project_id".into(), json!("p-1"));
    let seen = py_call(&cleanup, &topic, &rich, "context", json!({})).await;
    assert_context_arrived(&rich, &py_result(seen));

    // A builtins ValueError is rebuilt as a ValueError in Python.
    let line = py_call(
        &cleanup,
        &topic,
        &ctx,
        "fail",
        json!({"message": "bad value from rust"}),
    )
    .await;
    let e = &line["error"];
    assert_eq!(
        (
            &e["type"],
            &e["is_value_error"],
            &e["is_remote_error"],
            &e["first_line"]
        ),
        (
            &json!("ValueError"),
            &json!(true),
            &json!(false),
            &json!("bad value from rust")
        ),
        "error: {line}"
    );

    // A class from a module Python may not import becomes a RemoteError.
    let line = py_call(
        &cleanup,
        &topic,
        &ctx,
        "fail",
        json!({"message": "not allowed", "module": "nova.exception"}),
    )
    .await;
    let e = &line["error"];
    assert_eq!(
        (
            &e["type"],
            &e["is_remote_error"],
            &e["exc_type"],
            &e["value"]
        ),
        (
            &json!("RemoteError"),
            &json!(true),
            &json!("ValueError"),
            &json!("not allowed")
        ),
        "error: {line}"
    );
    server.stop().await;
    t.cleanup().await;
}

// --- casts --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_casts_reach_python_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("cast_r2p");
    cleanup.rpc_topic(&topic, &["py1"]);
    let mut server = python_server(&topic, "py1").await;
    let t = rust_transport();
    let client = RpcClient::new(&t, Target::topic(&topic));
    let ctx = context("erin");

    within(
        "cast",
        client.cast(&ctx, "record", json!({"value": {"n": 1}})),
    )
    .await
    .expect("cast to the topic");
    assert_eq!(
        py_record(&mut server).await,
        ("py1".into(), json!({"n": 1}))
    );

    let direct = client.clone().with_server("py1");
    within("cast", direct.cast(&ctx, "record", json!({"value": 2})))
        .await
        .expect("cast to the server");
    assert_eq!(py_record(&mut server).await, ("py1".into(), json!(2)));
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_casts_reach_rust_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("cast_p2r");
    cleanup.rpc_topic(&topic, &["rs1"]);
    let t = rust_transport();
    let mut server = RustServer::start(&t, &topic, "rs1").await;

    py_cast_record(&cleanup, &topic, json!(["a", 1]), false).await;
    assert_eq!(server.next_record().await, ("rs1".into(), json!(["a", 1])));
    server.stop().await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_fanout_reaches_every_python_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("fan_r2p");
    cleanup.rpc_topic(&topic, &["py1", "py2"]);
    let mut a = python_server(&topic, "py1").await;
    let mut b = python_server(&topic, "py2").await;
    let t = rust_transport();
    let client = RpcClient::new(&t, Target::topic(&topic)).with_fanout(true);

    within(
        "fanout cast",
        client.cast(&context("f"), "record", json!({"value": "all"})),
    )
    .await
    .expect("fanout cast");
    assert_eq!(py_record(&mut a).await, ("py1".into(), json!("all")));
    assert_eq!(py_record(&mut b).await, ("py2".into(), json!("all")));
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_fanout_reaches_every_rust_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("fan_p2r");
    cleanup.rpc_topic(&topic, &["rs1", "rs2"]);
    let t = rust_transport();
    let mut a = RustServer::start(&t, &topic, "rs1").await;
    let mut b = RustServer::start(&t, &topic, "rs2").await;

    py_cast_record(&cleanup, &topic, json!({"to": "everyone"}), true).await;
    assert_eq!(
        a.next_record().await,
        ("rs1".into(), json!({"to": "everyone"}))
    );
    assert_eq!(
        b.next_record().await,
        ("rs2".into(), json!({"to": "everyone"}))
    );
    a.stop().await;
    b.stop().await;
    t.cleanup().await;
}

// --- notifications ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_notifications_reach_python_listener_pool() {
    let cleanup = QueueCleanup::new();
    let topic = unique("notif_r2p");
    let pool = unique("pool");
    cleanup.notification_topic(&topic, &[&pool]);
    let mut listener = Peer::start("listen", &topic, &["--pool", &pool, "--count", "2"]).await;
    let t = rust_transport();
    let (sent, expected) = notification_contexts("gina");

    let v2 = rust_notifier(&t, &topic, "messagingv2");
    within(
        "notify",
        v2.notify(
            &sent,
            Priority::Warn,
            "compute.instance.update",
            json!({"id": 7}),
        ),
    )
    .await
    .expect("notify v2");
    let line = listener.next_line(PATIENCE).await;
    assert_python_notification(
        &line,
        &expected,
        "warn",
        "compute.instance.update",
        json!({"id": 7}),
    );

    // The 1.0 format (no envelope) is understood too.
    let v1 = rust_notifier(&t, &topic, "messaging");
    within(
        "notify",
        v1.notify(&sent, Priority::Sample, "metering.sample", json!([1, 2, 3])),
    )
    .await
    .expect("notify v1");
    let line = listener.next_line(PATIENCE).await;
    assert_python_notification(
        &line,
        &expected,
        "sample",
        "metering.sample",
        json!([1, 2, 3]),
    );
    listener.finish().await;
    t.cleanup().await;
}

fn assert_python_notification(
    line: &Value,
    expected_ctx: &Context,
    priority: &str,
    event_type: &str,
    payload: Value,
) {
    assert_eq!(
        (
            &line["publisher_id"],
            &line["event_type"],
            &line["priority"],
            &line["payload"]
        ),
        (
            &json!("rust.interop"),
            &json!(event_type),
            &json!(priority),
            &payload
        ),
        "notification: {line}"
    );
    assert_context_arrived(expected_ctx, &line["ctxt"]);
    for key in ["message_id", "timestamp"] {
        assert!(
            line["metadata"][key]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "metadata {key} missing: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_notifications_reach_rust_listener_pool() {
    let cleanup = QueueCleanup::new();
    let topic = unique("notif_p2r");
    let pool = unique("pool");
    cleanup.notification_topic(&topic, &[&pool]);
    let t = rust_transport();
    let mut listener = RustListener::start(&t, &topic, &pool).await;
    let (sent, expected) = notification_contexts("hank");

    for (driver, priority, event_type, payload) in [
        (
            "messagingv2",
            Priority::Error,
            "volume.attach.error",
            json!({"vol": "v-1"}),
        ),
        (
            "messaging",
            Priority::Audit,
            "identity.audit",
            json!("plain"),
        ),
    ] {
        let extra = [
            "--publisher-id".to_owned(),
            "python.interop".to_owned(),
            "--event-type".to_owned(),
            event_type.to_owned(),
            "--priority".to_owned(),
            priority.as_str().to_owned(),
            "--payload".to_owned(),
            payload.to_string(),
            "--driver".to_owned(),
            driver.to_owned(),
            "--context".to_owned(),
            Value::Object(sent.clone()).to_string(),
        ];
        let line = run_peer(&cleanup, "notify", &topic, &extra).await;
        assert_eq!(line, json!({"event": "sent"}));
        let n = listener.next().await;
        assert_eq!(
            (
                n.publisher_id.as_deref(),
                n.event_type.as_str(),
                n.priority,
                &n.payload
            ),
            (Some("python.interop"), event_type, priority, &payload),
            "{driver}: {n:?}"
        );
        assert_context_arrived(&expected, &Value::Object(n.context.clone()));
        assert!(
            n.metadata
                .message_id
                .as_deref()
                .is_some_and(|s| !s.is_empty()),
            "message_id: {n:?}"
        );
        assert!(n.metadata.timestamp.is_some(), "timestamp: {n:?}");
    }
    listener.stop().await;
    t.cleanup().await;
}

// --- a Rust and a Python server on one topic -------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_python_servers_share_a_topic_queue() {
    let cleanup = QueueCleanup::new();
    let topic = unique("shared");
    cleanup.rpc_topic(&topic, &["rs1", "py1"]);
    let t = rust_transport();
    // Each declares the same topic queue `T`: no flag may conflict.
    let server = RustServer::start(&t, &topic, "rs1").await;
    let _python = python_server(&topic, "py1").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let ctx = context("ivy");

    // `whoami` answers the server name in Rust, the request context in Python.
    let (mut rust, mut python) = (0, 0);
    for _ in 0..6 {
        let who = within("whoami", client.call(&ctx, "whoami", json!({})))
            .await
            .expect("whoami");
        if who == json!("rs1") {
            rust += 1;
        } else {
            assert_context_arrived(&ctx, &who);
            python += 1;
        }
    }
    assert!(
        rust >= 1 && python >= 1,
        "both servers answer: rust {rust}, python {python}"
    );
    // Python callers reach the shared queue as well.
    let sum = py_call(&cleanup, &topic, &ctx, "add", json!({"a": 1, "b": 1})).await;
    assert_eq!(py_result(sum), json!(2));
    server.stop().await;
    t.cleanup().await;
}
