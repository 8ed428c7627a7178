//! Exact JSON across Python oslo.messaging 18.3.1 and the Rust driver:
//! integers past 64 bits stay exact and objects keep their key order, both
//! ways, in arguments, results, contexts and notification payloads (Python
//! ints have no size limit and its dicts keep insertion order).
//!
//! Needs the broker at 127.0.0.1:5672 and the interop venv, like `interop.rs`.

mod interop_support;

use interop_support::roles::{py_call, py_result, python_server, RustServer};
use interop_support::RustListener;
use interop_support::{run_peer, rust_transport, unique, within, Peer, QueueCleanup, PATIENCE};
use oslo_messaging_core::conformance::context;
use oslo_messaging_core::conformance::rpc::exact_json_sample;
use oslo_messaging_core::{Notifier, Priority, RpcClient, Target};
use oslo_messaging_driver_rabbit as _;
use serde_json::{json, Value};

/// `value` as JSON text: what is compared, so that key order and every
/// digit count (`Value`'s `==` ignores key order).
fn text(value: &Value) -> String {
    value.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_and_rust_server_keep_integers_exact_and_keys_in_order() {
    let cleanup = QueueCleanup::new();
    let topic = unique("exact_p2r");
    cleanup.rpc_topic(&topic, &["rs1"]);
    let t = rust_transport();
    let server = RustServer::start(&t, &topic, "rs1").await;
    let sample = exact_json_sample();

    let echoed = py_call(
        &cleanup,
        &topic,
        &context("u"),
        "echo",
        json!({ "value": sample }),
    )
    .await;
    assert_eq!(text(&py_result(echoed)), text(&sample));

    let mut ctx = context("u");
    ctx.insert("quota".into(), sample.clone());
    let seen = py_call(&cleanup, &topic, &ctx, "context", json!({})).await;
    let seen = py_result(seen);
    assert_eq!(text(&seen["quota"]), text(&sample), "context: {seen}");
    server.stop().await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_and_python_server_keep_integers_exact_and_keys_in_order() {
    let cleanup = QueueCleanup::new();
    let topic = unique("exact_r2p");
    cleanup.rpc_topic(&topic, &["py1"]);
    let _server = python_server(&topic, "py1").await;
    let t = rust_transport();
    let client = RpcClient::new(&t, Target::topic(&topic));
    let sample = exact_json_sample();

    let echoed = within(
        "echo",
        client.call(&context("u"), "echo", json!({ "value": sample })),
    )
    .await
    .expect("echo");
    assert_eq!(text(&echoed), text(&sample));

    // Python adds the two integers exactly: 2**63 + 1.
    let big: Value = serde_json::from_str("9223372036854775808").expect("2**63");
    let sum = within(
        "add",
        client.call(&context("u"), "add", json!({"a": big, "b": 1})),
    )
    .await
    .expect("add");
    assert_eq!(text(&sum), "9223372036854775809");

    let mut ctx = context("u");
    ctx.insert("quota".into(), sample.clone());
    let seen = within("whoami", client.call(&ctx, "whoami", json!({})))
        .await
        .expect("whoami");
    assert_eq!(text(&seen["quota"]), text(&sample), "context: {seen}");
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_payloads_stay_exact_both_ways() {
    let cleanup = QueueCleanup::new();
    let topic = unique("exact_notify");
    let pool = unique("pool");
    cleanup.notification_topic(&topic, &[&pool]);
    let sample = exact_json_sample();
    let t = rust_transport();

    // Rust notifier, Python listener.
    let mut listener = Peer::start("listen", &topic, &["--pool", &pool, "--count", "1"]).await;
    let notifier = Notifier::builder(&t)
        .publisher_id("rust.interop")
        .driver("messagingv2")
        .topics([topic.as_str()])
        .build()
        .expect("notifier");
    within(
        "notify",
        notifier.notify_checked(&context("u"), Priority::Info, "exact.r2p", sample.clone()),
    )
    .await
    .expect("sent");
    let line = listener.next_line(PATIENCE).await;
    assert_eq!(text(&line["payload"]), text(&sample), "{line}");
    listener.finish().await;

    // Python notifier, Rust listener.
    let mut rust_listener = RustListener::start(&t, &topic, &pool).await;
    let extra = [
        "--publisher-id".to_owned(),
        "python.interop".to_owned(),
        "--event-type".to_owned(),
        "exact.p2r".to_owned(),
        "--priority".to_owned(),
        "info".to_owned(),
        "--payload".to_owned(),
        sample.to_string(),
    ];
    let line = run_peer(&cleanup, "notify", &topic, &extra).await;
    assert_eq!(line, json!({"event": "sent"}));
    let n = rust_listener.next().await;
    assert_eq!(text(&n.payload), text(&sample));
    rust_listener.stop().await;
    t.cleanup().await;
}
