//! Interoperability with Python oslo.messaging 18.3.1 under the options
//! its admin guide recommends in 2026 (issue: join a 2026 deployment).
//! So far: `kombu_compression` both ways, gzip (which kombu writes in zlib
//! format) and bzip2, for calls, replies and notifications. (Python's
//! kombu knows bzip2 as `bzip2` or `bzip`, not by the `bz2` that
//! oslo.messaging's help names: a Python service set to `bz2` fails every
//! publish with `KeyError: 'bz2'`; ours accepts all three.)
//!
//! Needs the broker at 127.0.0.1:5672 and the interop venv, like `interop.rs`.

mod interop_support;

use interop_support::RustListener;
use interop_support::{run_peer, unique, within, Peer, QueueCleanup, BROKER_URL, PATIENCE};
use oslo_messaging_core::config::Config;
use oslo_messaging_core::conformance::context;
use oslo_messaging_core::{Notifier, Priority, RpcClient, Target, Transport};
use oslo_messaging_driver_rabbit as _;
use serde_json::{json, Value};

/// A Rust transport with `[oslo_messaging_rabbit] kombu_compression = codec`.
fn compressing_transport(codec: &str) -> Transport {
    let config = Config::builder()
        .set("oslo_messaging_rabbit", "kombu_compression", codec)
        .build()
        .expect("config");
    Transport::new(&config, Some(BROKER_URL)).expect("transport")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_calls_and_replies_cross_both_ways() {
    let cleanup = QueueCleanup::new();
    let topic = unique("compressed_rpc");
    cleanup.rpc_topic(&topic, &["py1"]);
    // The Python server compresses its replies with bzip2; the Rust
    // client compresses its requests with gzip.
    let _server = Peer::start(
        "serve",
        &topic,
        &["--server", "py1", "--rabbit", "kombu_compression=bzip2"],
    )
    .await;
    let t = compressing_transport("gzip");
    let client = RpcClient::new(&t, Target::topic(&topic));
    let value = json!({"text": "x".repeat(10_000), "n": [1, 2, 3]});
    let echoed = within(
        "echo",
        client.call(&context("u"), "echo", json!({ "value": value })),
    )
    .await
    .expect("echo through compression both ways");
    assert_eq!(echoed, value);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_with_compression_calls_a_rust_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("compressed_p2r");
    cleanup.rpc_topic(&topic, &["rs1"]);
    // The Rust server does not compress (its option is off) but reads
    // what the Python client compressed.
    let t = interop_support::rust_transport();
    let server = interop_support::roles::RustServer::start(&t, &topic, "rs1").await;
    let line = py_call_compressed(&cleanup, &topic, "gzip").await;
    assert_eq!(line.get("result"), Some(&json!(42)), "{line}");
    server.stop().await;
    t.cleanup().await;
}

/// `peer.py call add(a=40, b=2)` with `kombu_compression = codec`.
async fn py_call_compressed(cleanup: &QueueCleanup, topic: &str, codec: &str) -> Value {
    let extra = [
        "--method".to_owned(),
        "add".to_owned(),
        "--args".to_owned(),
        json!({"a": 40, "b": 2}).to_string(),
        "--timeout".to_owned(),
        PATIENCE.as_secs().to_string(),
        "--rabbit".to_owned(),
        format!("kombu_compression={codec}"),
    ];
    run_peer(cleanup, "call", topic, &extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_notifications_cross_both_ways() {
    let cleanup = QueueCleanup::new();
    let topic = unique("compressed_notify");
    let pool = unique("pool");
    cleanup.notification_topic(&topic, &[&pool]);
    let payload = json!({"bytes": 18446744073709551616_u128, "text": "y".repeat(5000)});

    // Python notifiers with gzip and bz2, a Rust listener without.
    let t = interop_support::rust_transport();
    let mut listener = RustListener::start(&t, &topic, &pool).await;
    for codec in ["gzip", "bzip2"] {
        let extra = [
            "--publisher-id".to_owned(),
            "python.interop".to_owned(),
            "--event-type".to_owned(),
            format!("compressed.{codec}"),
            "--priority".to_owned(),
            "info".to_owned(),
            "--payload".to_owned(),
            payload.to_string(),
            "--rabbit".to_owned(),
            format!("kombu_compression={codec}"),
        ];
        let line = run_peer(&cleanup, "notify", &topic, &extra).await;
        assert_eq!(line, json!({"event": "sent"}));
        let n = listener.next().await;
        assert_eq!(n.event_type, format!("compressed.{codec}"));
        assert_eq!(n.payload.to_string(), payload.to_string(), "{codec}");
    }
    listener.stop().await;
    t.cleanup().await;

    // A Rust notifier with gzip, a Python listener without.
    let mut python = Peer::start("listen", &topic, &["--pool", &pool, "--count", "1"]).await;
    let rust = compressing_transport("gzip");
    let notifier = Notifier::builder(&rust)
        .publisher_id("rust.interop")
        .driver("messagingv2")
        .topics([topic.as_str()])
        .build()
        .expect("notifier");
    within(
        "notify",
        notifier.notify_checked(
            &context("u"),
            Priority::Info,
            "compressed.r2p",
            payload.clone(),
        ),
    )
    .await
    .expect("sent");
    let line = python.next_line(PATIENCE).await;
    assert_eq!(line["event_type"], "compressed.r2p", "{line}");
    assert_eq!(line["payload"].to_string(), payload.to_string());
    python.finish().await;
    rust.cleanup().await;
}

/// A control exchange declared non-durable by a legacy service, then a
/// Rust and a Python service with `amqp_durable_queues = true` on one
/// topic, the Rust server first: both fall back as oslo.messaging does,
/// the Python server starts on the shared topic queue the Rust server
/// declared, and calls from both languages are answered. (Python's first
/// fallback declares the queue non-durable, as ours does; had the queue
/// been durable, Python's reconnect loop would declare it durable on its
/// next attempt and converge too.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_rust_and_python_services_fall_back_alike_on_a_legacy_exchange() {
    let cleanup = QueueCleanup::new();
    let topic = unique("fallback");
    let exchange = unique("legacy_x");
    cleanup.rpc_topic(&topic, &["legacy", "rs1", "py1"]);
    cleanup.exchange(&exchange);
    let legacy = interop_support::rust_transport();
    let legacy_server =
        interop_support::roles::RustServer::start_in(&legacy, &topic, "legacy", &exchange).await;
    let config = Config::builder()
        .set("oslo_messaging_rabbit", "amqp_durable_queues", "true")
        .build()
        .expect("config");
    let durable = Transport::new(&config, Some(BROKER_URL)).expect("transport");
    let rust_server =
        interop_support::roles::RustServer::start_in(&durable, &topic, "rs1", &exchange).await;
    let _python = Peer::start(
        "serve",
        &topic,
        &[
            "--server",
            "py1",
            "--exchange",
            &exchange,
            "--rabbit",
            "amqp_durable_queues=true",
        ],
    )
    .await;
    let client = RpcClient::new(
        &durable,
        Target::server(&topic, "py1").with_exchange(&exchange),
    );
    let sum = within(
        "a call to the Python server",
        client.call(&context("u"), "add", json!({"a": 2, "b": 3})),
    )
    .await
    .expect("the Python server serves");
    assert_eq!(sum, json!(5));
    let extra = [
        "--method",
        "add",
        "--args",
        r#"{"a": 1, "b": 2}"#,
        "--server",
        "rs1",
        "--exchange",
        &exchange,
        "--rabbit",
        "amqp_durable_queues=true",
        "--timeout",
        "30",
    ];
    let line = run_peer(&cleanup, "call", &topic, &extra).await;
    assert_eq!(line.get("result"), Some(&json!(3)), "{line}");
    rust_server.stop().await;
    legacy_server.stop().await;
    durable.cleanup().await;
    legacy.cleanup().await;
}
