//! Fault scenarios: what the driver does when the network, the broker or
//! the application misbehaves. Each test waits for events (replies, state
//! changes), never for time to pass; bounded waits only turn a hang into a
//! failure. Tests that stop or cut off a broker use their own nodes or a
//! proxy in front of the main broker; every queue they declare is deleted.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::BasicPublishOptions;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::conformance::ProbeHandles;
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::health::ConnectionState;
use oslo_messaging_core::rpc::{RpcClient, RpcServer};
use oslo_messaging_core::{MessagingError, Target, Transport, TransportUrl};
use oslo_messaging_driver_rabbit::RabbitDriver;
use serde_json::{json, Value};
use support::proxy::Proxy;

use support::{stop, within, MAIN_URL as MAIN, PATIENCE};

fn unique(what: &str) -> String {
    support::unique("faults", what)
}

/// A transport whose driver the test keeps, to delete what it declared.
struct Side {
    transport: Transport,
    driver: Arc<RabbitDriver>,
}

/// A failed test deletes what it declared on the main broker too (the
/// proxy's sides are there; a private node's names are not, and a name
/// that is not there is skipped).
impl Drop for Side {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let exchanges = self
                .driver
                .declared_exchanges()
                .into_iter()
                .filter(|x| x != "openstack")
                .collect();
            support::delete_on_main_blocking(self.driver.declared_queues(), exchanges);
        }
    }
}

impl Side {
    fn new(url: &str) -> Side {
        let url = TransportUrl::parse(url).expect("url");
        let config = Config::defaults();
        let driver = Arc::new(RabbitDriver::new(&url, &config).expect("driver"));
        let transport = Transport::with_driver(driver.clone(), url, &config).expect("transport");
        Side { transport, driver }
    }

    /// Closes the connections and deletes every queue and non-shared
    /// exchange the driver declared, on the broker of `admin_url`.
    async fn clean_up(&self, admin_url: &str) {
        support::delete_declared(admin_url, [&self.driver], &[]).await;
    }
}

async fn serve(t: &Transport, topic: &str) -> (RpcServer, ProbeHandles) {
    support::serve(t, Target::server(topic, "s1")).await
}

async fn add(client: &RpcClient, a: i64, b: i64) -> Result<Value, MessagingError> {
    within(
        "call",
        client.call(&Default::default(), "add", json!({"a": a, "b": b})),
    )
    .await
}

/// Scenario 2: the network goes silent without closing the socket. The
/// driver's probe declares the connection dead after
/// `heartbeat_timeout_threshold` (not TCP, not lapin's two missed
/// heartbeats), a call in flight fails with a clear error, and when the
/// network comes back the server and the client resume by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_network_is_detected_and_survived() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().expect("addr"));
    let url = format!(
        "rabbit://guest:guest@127.0.0.1:{}/?heartbeat_timeout_threshold=2",
        proxy.port()
    );
    let server_side = Side::new(&url);
    let client_side = Side::new(&url);
    let topic = unique("silent");
    let (server, probe) = serve(&server_side.transport, &topic).await;
    let client = RpcClient::new(&client_side.transport, Target::topic(&topic))
        .with_timeout(Duration::from_secs(45));
    assert_eq!(add(&client, 1, 2).await.expect("before"), json!(3));

    // A call in flight: the server holds it at the gate.
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call(&Default::default(), "wait_gate", json!({}))
                .await
        })
    };
    within("the call reaching the server", probe.gate.entered()).await;
    proxy.pause();
    let silent_since = Instant::now();
    let e = within("the in-flight call to fail", in_flight)
        .await
        .expect("task")
        .expect_err("the connection went silent");
    let detected_after = silent_since.elapsed();
    assert!(matches!(e, MessagingError::Connection(_)), "{e}");
    let health = client_side.transport.health();
    let consume = health
        .connections
        .iter()
        .find(|c| c.purpose == "consume")
        .expect("consume connection");
    assert!(
        consume
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no answer from the broker for 2s")),
        "declared dead by the driver's probe: {health:?}"
    );
    println!("silent peer detected after {detected_after:?} (threshold 2 s, probe every 0.67 s)");
    // The server's probe declares its side dead on its own clock, up to a
    // probe interval later: wait for that before the network comes back.
    support::until_health(
        "the server's side declared dead",
        &server_side.transport,
        |h| {
            h.connections
                .iter()
                .all(|c| c.state != ConnectionState::Connected)
        },
    )
    .await;

    proxy.resume();
    probe.gate.open();
    assert_eq!(
        add(&client, 20, 22)
            .await
            .expect("after the network is back"),
        json!(42)
    );
    for side in [&client_side, &server_side] {
        let h = side.transport.health();
        assert!(h.connections.iter().any(|c| c.reconnects >= 1), "{h:?}");
    }
    within("server stop", server.stop()).await.expect("stop");
    within("server wait", server.wait()).await.expect("wait");
    client_side.clean_up(MAIN).await;
    server_side.clean_up(MAIN).await;
}

/// Scenario 10: a client cut off for longer than
/// `rabbit_transient_queues_ttl` (1 s): the broker gives up on its silent
/// connection and, once nothing consumes it for a second, its reply queue
/// expires. When the network is back the client reconnects, and its next
/// call is answered: the reply queue is declared again before the request
/// goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_queue_that_expired_while_cut_off_is_declared_again() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().expect("addr"));
    let client_side = Side::new(&format!(
        "rabbit://guest:guest@127.0.0.1:{}/?heartbeat_timeout_threshold=2&rabbit_transient_queues_ttl=1",
        proxy.port()
    ));
    let server_side = Side::new(MAIN);
    let topic = unique("expired");
    let (server, _probe) = serve(&server_side.transport, &topic).await;
    let client = RpcClient::new(&client_side.transport, Target::topic(&topic))
        .with_timeout(Duration::from_secs(45));
    assert_eq!(add(&client, 1, 2).await.expect("before"), json!(3));
    let reply_queue = client_side
        .driver
        .declared_queues()
        .into_iter()
        .find(|q| q.starts_with("reply_"))
        .expect("the client's reply queue");

    proxy.pause();
    let cut_at = Instant::now();
    // Watched with rabbitmqctl: a passive declare would count as a use
    // and keep the queue from expiring.
    within("the reply queue to expire", async {
        while queue_listed(&reply_queue).await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    println!(
        "the reply queue expired {:?} after the cut",
        cut_at.elapsed()
    );

    proxy.resume();
    assert_eq!(
        add(&client, 20, 22)
            .await
            .expect("answered on a reply queue declared again"),
        json!(42)
    );
    within("server stop", server.stop()).await.expect("stop");
    within("server wait", server.wait()).await.expect("wait");
    client_side.clean_up(MAIN).await;
    server_side.clean_up(MAIN).await;
}

/// Publishes raw bodies straight to `queue` on the main broker.
async fn publish_raw(queue: &str, bodies: &[Vec<u8>]) {
    let plain: Vec<(Vec<u8>, Option<&str>)> = bodies.iter().map(|b| (b.clone(), None)).collect();
    publish_raw_compressed(queue, &plain).await;
}

/// Publishes raw bodies to `queue`, each with the `compression` header it
/// names (kombu's), if any.
async fn publish_raw_compressed(queue: &str, bodies: &[(Vec<u8>, Option<&str>)]) {
    let connection = lapin::Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("raw connection");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(Default::default())
        .await
        .expect("confirms");
    for (body, compression) in bodies {
        let mut properties = lapin::BasicProperties::default();
        if let Some(c) = compression {
            let mut headers = lapin::types::FieldTable::default();
            headers.insert(
                "compression".into(),
                lapin::types::AMQPValue::LongString((*c).into()),
            );
            properties = properties.with_headers(headers);
        }
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .expect("publish")
            .await
            .expect("confirmed");
    }
    let _ = connection.close(200, "done".into()).await;
}

/// `rabbitmqctl list_queues name <columns>` on the main broker, one queue a
/// line (listing does not count as a use of a queue, as a passive declare
/// does).
fn list_queues(columns: &[&str]) -> String {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "name"])
        .args(columns)
        .output()
        .expect("rabbitmqctl");
    assert!(out.status.success(), "rabbitmqctl: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `messages` and `messages_unacknowledged` of a queue on the main broker.
fn queue_depth(queue: &str) -> (u64, u64) {
    let text = list_queues(&["messages", "messages_unacknowledged"]);
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&queue))
                .then(|| (f[1].parse().unwrap_or(99), f[2].parse().unwrap_or(99)))
        })
        .unwrap_or_else(|| panic!("queue {queue} not listed: {text}"))
}

/// Whether the main broker lists `queue`.
async fn queue_listed(queue: &str) -> bool {
    let text = tokio::task::spawn_blocking(|| list_queues(&[]))
        .await
        .expect("task");
    text.lines().any(|l| l.trim() == queue)
}

/// Scenario 6: bad messages on a server's queue are logged and dropped
/// (acknowledged, never requeued), and the server keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_dropped_and_the_server_keeps_serving() {
    let side = Side::new(MAIN);
    let topic = unique("bad");
    let (server, mut probe) = serve(&side.transport, &topic).await;
    let envelope = |inner: Value| {
        json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
            .to_string()
            .into_bytes()
    };
    let oversized = envelope(json!({"method": "echo", "args": {"value": "x".repeat(8 << 20)}}));
    let bad: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        b"\xff\xfe binary".to_vec(),
        br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#.to_vec(),
        br#"{"oslo.version": "2.0", "oslo.message": "{broken"}"#.to_vec(),
        envelope(json!({"args": {}})),
        envelope(json!({"method": 5})),
        envelope(json!({"method": "add", "args": [1, 2]})),
        envelope(json!({"method": "add", "args": {"a": 1, "b": 2}, "namespace": "nope"})),
        oversized,
    ];
    publish_raw(&format!("{topic}.s1"), &bad).await;
    let client = RpcClient::new(&side.transport, Target::server(&topic, "s1"))
        .with_timeout(Duration::from_secs(30));
    // Requests are taken in order: once this is answered, every bad one was handled.
    assert_eq!(add(&client, 2, 3).await.expect("still serving"), json!(5));
    assert_eq!(
        queue_depth(&format!("{topic}.s1")),
        (0, 0),
        "nothing requeued"
    );
    // A malformed call that names its reply queue gets an error, not silence.
    let e = within(
        "unknown namespace",
        client.prepare().with_namespace("nope").call(
            &Default::default(),
            "add",
            json!({"a": 1, "b": 1}),
        ),
    )
    .await
    .expect_err("no endpoint in that namespace");
    assert!(
        e.remote().is_some_and(|f| f.class == "UnsupportedVersion"),
        "{e}"
    );
    assert_eq!(add(&client, 40, 2).await.expect("still serving"), json!(42));

    // Compressed requests (kombu_compression, as a Python service with it
    // on sends them) are decompressed; a compression header that names no
    // codec, or a body that does not decompress, is dropped like any
    // malformed message, and the server goes on.
    let record = |value: &str| envelope(json!({"method": "record", "args": {"value": value}}));
    let zlib = |body: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(body).expect("zlib");
        e.finish().expect("zlib")
    };
    let bz2 = |body: &[u8]| {
        use std::io::Write;
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        e.write_all(body).expect("bz2");
        e.finish().expect("bz2")
    };
    publish_raw_compressed(
        &format!("{topic}.s1"),
        &[
            (zlib(&record("gzip")), Some("application/x-gzip")),
            (record("brotli"), Some("application/x-brotli")),
            (b"not zlib".to_vec(), Some("application/x-gzip")),
            (bz2(&record("bz2")), Some("application/x-bz2")),
        ],
    )
    .await;
    // Casts are handled concurrently: their order is not kept.
    let mut got = Vec::new();
    for _ in 0..2 {
        let (_, value) = within("a compressed cast", probe.records.recv())
            .await
            .expect("records open");
        got.push(value.as_str().expect("a string").to_owned());
    }
    got.sort();
    assert_eq!(got, ["bz2", "gzip"]);
    assert_eq!(add(&client, 1, 1).await.expect("still serving"), json!(2));
    within("server stop", server.stop()).await.expect("stop");
    within("server wait", server.wait()).await.expect("wait");
    side.clean_up(MAIN).await;
}

/// How the application's runtime is blocked in scenario 1.
#[derive(Clone, Copy, Debug)]
enum AppRuntime {
    CurrentThread,
    MultiThread,
}

/// Scenario 1: the application's runtime is blocked for 15 s (7.5 times
/// the 2 s heartbeat threshold) while a server and a client are connected.
/// The driver's connections live on its own threads, so nothing is lost:
/// no reconnection, no error, and the next call succeeds. Runs on the
/// node `url` names; returns the connections' health after the block.
fn block_the_application(
    kind: AppRuntime,
    url: &str,
) -> Vec<oslo_messaging_core::health::ConnectionHealth> {
    let url = format!("{url}?heartbeat_timeout_threshold=2");
    let runtime = match kind {
        AppRuntime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        AppRuntime::MultiThread => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    }
    .enable_all()
    .build()
    .expect("application runtime");
    let topic = unique("blocked");
    let side = Side::new(&url);
    let health = runtime.block_on(async {
        let (server, _probe) = serve(&side.transport, &topic).await;
        let client = RpcClient::new(&side.transport, Target::topic(&topic))
            .with_timeout(Duration::from_secs(30));
        assert_eq!(add(&client, 1, 1).await.expect("before"), json!(2));
        // The fault: every worker of the application's runtime sleeps in
        // blocking code (not a wait for anything).
        match kind {
            AppRuntime::CurrentThread => std::thread::sleep(Duration::from_secs(15)),
            AppRuntime::MultiThread => {
                let workers: Vec<_> = (0..2)
                    .map(|_| tokio::spawn(async { std::thread::sleep(Duration::from_secs(15)) }))
                    .collect();
                for w in workers {
                    w.await.expect("blocking task");
                }
            }
        }
        assert_eq!(add(&client, 2, 2).await.expect("after"), json!(4));
        let health = side.transport.health().connections;
        within("server stop", server.stop()).await.expect("stop");
        within("server wait", server.wait()).await.expect("wait");
        health
    });
    runtime.block_on(side.clean_up(&url));
    health
}

fn assert_untouched(kind: AppRuntime, health: &[oslo_messaging_core::health::ConnectionHealth]) {
    assert_eq!(health.len(), 2, "{kind:?}: {health:?}");
    for c in health {
        assert_eq!(
            (c.state, c.reconnects, c.last_error.as_deref()),
            (
                oslo_messaging_core::health::ConnectionState::Connected,
                0,
                None
            ),
            "{kind:?}: {c:?}"
        );
    }
}

/// Scenario 1 on a node of its own, whose log must not mention missed
/// heartbeats.
fn blocked_application_on_own_node(kind: AppRuntime) {
    let node = TestNode::start();
    let health = block_the_application(kind, &node.url());
    assert_untouched(kind, &health);
    let log = node.log_text();
    assert!(!log.is_empty(), "the node's log is readable");
    assert!(
        !log.to_lowercase().contains("missed heartbeats"),
        "{kind:?}: the broker saw missed heartbeats"
    );
}

#[test]
fn blocked_current_thread_application_keeps_its_connections() {
    blocked_application_on_own_node(AppRuntime::CurrentThread);
}

#[test]
fn blocked_multi_thread_application_keeps_its_connections() {
    blocked_application_on_own_node(AppRuntime::MultiThread);
}

/// Closes every connection of this test process on the main broker
/// (connection names carry the pid); returns how many it closed.
fn close_my_connections() -> usize {
    let marker = format!(":{}:", std::process::id());
    let out = std::process::Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .expect("rabbitmqctl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut closed = 0;
    for line in text.lines().filter(|l| l.contains(&marker)) {
        let Some(pid) = line.split_whitespace().next() else {
            continue;
        };
        let status = std::process::Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "churn test"])
            .status()
            .expect("rabbitmqctl");
        if status.success() {
            closed += 1;
        }
    }
    closed
}

/// Scenario 7: while thousands of calls run, the broker closes the
/// client's and the server's connections again and again. Every call
/// returns its result or a clear error, none outlives its timeout, and
/// after each round of closures calls are answered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_churn_never_hangs_a_call() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    const ROUNDS: usize = 5;
    const ANSWERED_PER_ROUND: usize = 400;
    const CONCURRENCY: usize = 16;
    let timeout = Duration::from_secs(5);
    let side = Side::new(MAIN);
    let topic = unique("churn");
    let (server, _probe) = serve(&side.transport, &topic).await;
    let client = RpcClient::new(&side.transport, Target::topic(&topic))
        .with_timeout(timeout)
        .with_retry(Some(3));
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..CONCURRENCY {
        let (client, tx, next) = (client.clone(), tx.clone(), next.clone());
        let (answered, stop) = (answered.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(SeqCst) {
                let i = next.fetch_add(1, SeqCst);
                let started = Instant::now();
                let r = client
                    .call(&Default::default(), "add", json!({"a": i, "b": 1}))
                    .await;
                if r.is_ok() {
                    answered.fetch_add(1, SeqCst);
                }
                let _ = tx.send((i, r, started.elapsed()));
            }
        });
    }
    drop(tx);
    // The churn: close our connections, then wait until calls are answered
    // again, five times over.
    let churn = {
        let (answered, stop) = (answered.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + PATIENCE;
            let mut closed = 0;
            for round in 1..=ROUNDS + 1 {
                while answered.load(SeqCst) < round * ANSWERED_PER_ROUND {
                    assert!(
                        Instant::now() < deadline,
                        "calls stopped being answered in round {round}"
                    );
                    std::thread::yield_now();
                }
                // Calls can be answered between two listings of the
                // broker's connections while ours are reconnecting: list
                // again until there is one to close.
                if round <= ROUNDS {
                    loop {
                        let now = close_my_connections();
                        if now > 0 {
                            closed += now;
                            break;
                        }
                        assert!(
                            Instant::now() < deadline,
                            "no connection of ours to close in round {round}"
                        );
                    }
                }
            }
            stop.store(true, SeqCst);
            closed
        })
    };
    let (mut ok, mut failed) = (0usize, Vec::new());
    while let Some((i, r, took)) = within("the calls", rx.recv()).await {
        assert!(
            took < timeout + Duration::from_secs(2),
            "call {i} took {took:?}, past its {timeout:?} timeout"
        );
        match r {
            Ok(v) => {
                assert_eq!(v, json!(i + 1));
                ok += 1;
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        MessagingError::Connection(_)
                            | MessagingError::MessageDeliveryFailure(_)
                            | MessagingError::MessagingTimeout { .. }
                    ),
                    "call {i}: unexpected error {e}"
                );
                failed.push(e.to_string());
            }
        }
    }
    let closed = within("the churn", churn).await.expect("churn task");
    assert!(closed >= ROUNDS, "the broker closed {closed} connections");
    assert!(ok >= (ROUNDS + 1) * ANSWERED_PER_ROUND);
    println!(
        "churn: {closed} connections closed in {ROUNDS} rounds; {ok} calls answered, {} failed with clear errors",
        failed.len()
    );
    within("server stop", server.stop()).await.expect("stop");
    within("server wait", server.wait()).await.expect("wait");
    side.clean_up(MAIN).await;
}

// --- scenarios on nodes of the test's own ---------------------------------------

use oslo_messaging_core::notify::{
    NotificationEndpoint, NotificationListener, NotificationResult, Notifier,
};
use oslo_messaging_core::Priority;
use support::node::TestNode;

/// Starts a private node without blocking the test's runtime.
async fn own_node() -> TestNode {
    tokio::task::spawn_blocking(TestNode::start)
        .await
        .expect("node start")
}

/// A listener on `topic` that sends the `n` of every payload it handles.
async fn counting_listener(
    t: &Transport,
    topic: &str,
) -> (
    NotificationListener,
    tokio::sync::mpsc::UnboundedReceiver<u64>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = NotificationEndpoint::builder(tx)
        .on_priorities(Priority::ALL, |tx, n| async move {
            let _ = tx.send(n.payload["n"].as_u64().unwrap_or(u64::MAX));
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(t, vec![Target::topic(topic)])
        .endpoint(endpoint)
        .build()
        .expect("listener");
    within("listener start", listener.start())
        .await
        .expect("listener starts");
    (listener, rx)
}

fn notifier(t: &Transport, topic: &str) -> Notifier {
    Notifier::builder(t)
        .driver("messagingv2")
        .topics([topic])
        .publisher_id("faults")
        .retry(None)
        .build()
        .expect("notifier")
}

/// A server and a notification listener on one transport, a client and a
/// notifier on another, all on `url`.
struct Rig {
    server_side: Side,
    client_side: Side,
    server: RpcServer,
    listener: NotificationListener,
    received: tokio::sync::mpsc::UnboundedReceiver<u64>,
    client: RpcClient,
    notifier: Notifier,
}

impl Rig {
    async fn start(url: &str, name: &str) -> Rig {
        let (server_side, client_side) = (Side::new(url), Side::new(url));
        let topic = unique(name);
        let (server, _probe) = serve(&server_side.transport, &topic).await;
        let notify_topic = format!("{topic}_notify");
        let (listener, received) = counting_listener(&server_side.transport, &notify_topic).await;
        let client = RpcClient::new(&client_side.transport, Target::topic(&topic))
            .with_timeout(Duration::from_secs(60));
        let notifier = notifier(&client_side.transport, &notify_topic);
        assert_eq!(add(&client, 1, 2).await.expect("before"), json!(3));
        Rig {
            server_side,
            client_side,
            server,
            listener,
            received,
            client,
            notifier,
        }
    }

    /// Sends notifications numbered `numbers`, each confirmed.
    async fn notify(&self, numbers: std::ops::Range<u64>) {
        for n in numbers {
            within(
                "notify",
                self.notifier.notify_checked(
                    &Default::default(),
                    Priority::Info,
                    "e",
                    json!({"n": n}),
                ),
            )
            .await
            .expect("confirmed");
        }
    }

    /// Waits until the listener has seen every number of `all` (duplicates
    /// allowed: notifications are at least once).
    async fn expect_notifications(&mut self, all: std::ops::Range<u64>) {
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < all.clone().count() {
            let n = within("every confirmed notification", self.received.recv())
                .await
                .expect("listener open");
            seen.insert(n);
        }
        assert_eq!(seen, all.collect());
    }

    async fn stop(self) {
        support::stop_listener(&self.listener).await;
        within("server stop", self.server.stop())
            .await
            .expect("stop");
        within("server wait", self.server.wait())
            .await
            .expect("wait");
        self.client_side.driver.cleanup().await;
        self.server_side.driver.cleanup().await;
    }
}

/// Scenario 3: the broker restarts. `retry=0` fails fast while it is down,
/// a call and notifications sent with `retry=None` complete once it is
/// back, the server and the listener resume by themselves, and every
/// confirmed notification (durable queue, persistent messages) arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_is_survived() {
    use oslo_messaging_core::conformance::prometheus;
    let reconnects = |purpose| {
        let labels = [("messaging_system", "rabbitmq"), ("purpose", purpose)];
        prometheus::value("oslo_messaging_connection_reconnects_total", &labels)
    };
    let before = [reconnects("publish"), reconnects("consume")];
    let node = own_node().await;
    let url = format!("{}?amqp_durable_queues=true", node.url());
    let mut rig = Rig::start(&url, "restart").await;
    let client = rig.client.clone();
    const BEFORE: u64 = 20;
    const DURING: u64 = 10;
    rig.notify(0..BEFORE).await;

    let stopped = {
        let node = Arc::new(node);
        let n = node.clone();
        tokio::task::spawn_blocking(move || n.stop())
            .await
            .expect("stop");
        node
    };
    let e = within(
        "a retry=0 cast while the broker is down",
        client.clone().with_retry(Some(0)).cast(
            &Default::default(),
            "add",
            json!({"a": 1, "b": 1}),
        ),
    )
    .await
    .expect_err("the broker is down");
    assert!(
        matches!(e, MessagingError::MessageDeliveryFailure(_)),
        "{e}"
    );
    let pending_call = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call(&Default::default(), "add", json!({"a": 20, "b": 22}))
                .await
        })
    };
    let pending_notifications = {
        let notifier = rig.notifier.clone();
        tokio::spawn(async move {
            for n in BEFORE..BEFORE + DURING {
                notifier
                    .notify_checked(&Default::default(), Priority::Info, "e", json!({"n": n}))
                    .await?;
            }
            Ok::<(), MessagingError>(())
        })
    };
    let n = stopped.clone();
    tokio::task::spawn_blocking(move || n.restart())
        .await
        .expect("restart");
    let back = Instant::now();
    assert_eq!(
        within("the call made while down", pending_call)
            .await
            .expect("task")
            .expect("answered"),
        json!(42)
    );
    println!(
        "the call made while the broker was down was answered {:?} after it came back",
        back.elapsed()
    );
    within("notifications made while down", pending_notifications)
        .await
        .expect("task")
        .expect("confirmed");
    rig.expect_notifications(0..BEFORE + DURING).await;
    for side in [&rig.server_side, &rig.client_side] {
        let h = side.transport.health();
        assert!(h.is_connected(), "{h:?}");
        assert!(h.connections.iter().all(|c| c.reconnects >= 1), "{h:?}");
    }
    // The same, as metrics (the process's: other tests of this binary
    // may add to them while this one runs, never take away).
    for (purpose, before) in ["publish", "consume"].into_iter().zip(before) {
        assert!(
            reconnects(purpose) - before >= 2.0,
            "both transports' {purpose} connections reconnected:\n{}",
            prometheus::recorder().render()
        );
    }
    rig.stop().await;
    // The node and everything on it go with `stopped`.
}

/// Scenario 5: the broker raises a memory alarm. Publishing waits (a call
/// ends with its timeout, a cast waits until the alarm clears) and the
/// health snapshot says the publishing connection is blocked, while
/// consumers on the other connection keep receiving and acknowledging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_broker_holds_publishers_not_consumers() {
    let node = Arc::new(own_node().await);
    let url = node.url();
    let (consumer_side, producer_side) = (Side::new(&url), Side::new(&url));
    let topic = unique("alarm");
    let producer = notifier(&producer_side.transport, &topic);
    // Queued before the alarm (the notifier declares the queue), consumed during it.
    const QUEUED: u64 = 50;
    for n in 0..QUEUED {
        within(
            "notify",
            producer.notify_checked(&Default::default(), Priority::Info, "e", json!({"n": n})),
        )
        .await
        .expect("confirmed");
    }
    let n = node.clone();
    tokio::task::spawn_blocking(move || n.set_memory_alarm(true))
        .await
        .expect("alarm");

    // A publish now waits: the cast does not complete while the alarm is on.
    let waiting_cast = {
        let producer = producer.clone();
        tokio::spawn(async move {
            producer
                .notify_checked(
                    &Default::default(),
                    Priority::Info,
                    "e",
                    json!({"n": QUEUED}),
                )
                .await
        })
    };
    // Consumers keep working: a fresh listener drains what was queued.
    let (listener, mut received) = counting_listener(&consumer_side.transport, &topic).await;
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < QUEUED as usize {
        seen.insert(
            within("queued notifications", received.recv())
                .await
                .expect("open"),
        );
    }
    assert_eq!(seen, (0..QUEUED).collect());
    assert!(
        !waiting_cast.is_finished(),
        "a publish went through a memory alarm"
    );
    let client = RpcClient::new(&producer_side.transport, Target::topic(&topic))
        .with_timeout(Duration::from_secs(2));
    let e = within(
        "a call during the alarm",
        client.call(&Default::default(), "add", json!({"a": 1, "b": 1})),
    )
    .await
    .expect_err("blocked");
    assert!(matches!(e, MessagingError::MessagingTimeout { .. }), "{e}");
    let blocked = producer_side
        .transport
        .health()
        .connections
        .into_iter()
        .find(|c| c.purpose == "publish")
        .expect("publish connection");
    assert!(blocked.blocked, "{blocked:?}");

    let n = node.clone();
    tokio::task::spawn_blocking(move || n.set_memory_alarm(false))
        .await
        .expect("clear");
    within("the cast once the alarm clears", waiting_cast)
        .await
        .expect("task")
        .expect("confirmed after the alarm");
    assert_eq!(within("the last one", received.recv()).await, Some(QUEUED));
    support::stop_listener(&listener).await;
    producer_side.driver.cleanup().await;
    consumer_side.driver.cleanup().await;
}

/// Scenario 4: a three-node cluster with quorum queues, and a URL naming
/// all three. The node the client publishes through stops: calls and
/// notifications go on through another node, and no confirmed
/// notification is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_failover_loses_no_confirmed_notification() {
    let (nodes, url) = cluster("rabbit_quorum_queue=true&rabbit_transient_quorum_queue=true").await;
    let mut rig = Rig::start(&url, "failover").await;
    const EACH: u64 = 20;
    rig.notify(0..EACH).await;
    let host = rig
        .client_side
        .transport
        .health()
        .connections
        .into_iter()
        .find(|c| c.purpose == "publish")
        .and_then(|c| c.host)
        .expect("the client's node");
    let victim = nodes
        .iter()
        .find(|n| host == format!("127.0.0.1:{}", n.amqp_port()))
        .expect("one of the three")
        .clone();
    tokio::task::spawn_blocking(move || victim.stop())
        .await
        .expect("stop a node");

    assert_eq!(
        add(&rig.client, 20, 22)
            .await
            .expect("through another node"),
        json!(42)
    );
    rig.notify(EACH..2 * EACH).await;
    rig.expect_notifications(0..2 * EACH).await;
    let now_on = rig.client_side.transport.health();
    assert!(
        now_on
            .connections
            .iter()
            .all(|c| c.host.as_deref() != Some(host.as_str())),
        "moved off {host}: {now_on:?}"
    );
    rig.stop().await;
}

/// Scenario 8: the node holding a quorum queue's leader stops. The server
/// consumes the queue through another node; the queue elects a leader on
/// a remaining node, the server's consumer goes on (re-attached by the
/// broker, or cancelled and consumed again by the driver), its health says
/// `consuming`, and calls to the queue are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_leader_loss_is_survived_by_its_consumers() {
    use oslo_messaging_core::health::ConsumerState;
    // The first host is where both sides connect first (round-robin).
    let (nodes, url) = cluster("rabbit_quorum_queue=true").await;
    let topic = unique("leader");
    // The topic queue is declared through node 2 first: its leader is there.
    let raw =
        lapin::Connection::connect(&nodes[1].amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("raw connection to node 2");
    let ch = raw.create_channel().await.expect("channel");
    let mut quorum = lapin::types::FieldTable::default();
    quorum.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    ch.queue_declare(
        topic.as_str().into(),
        lapin::options::QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        quorum,
    )
    .await
    .expect("the topic queue, led by node 2");
    let _ = raw.close(200, "bye".into()).await;
    let leader = tokio::task::block_in_place(|| leader_of(&nodes[0], &topic));
    assert_eq!(leader, nodes[1].name(), "the leader is on node 2");

    let server_side = Side::new(&url);
    let client_side = Side::new(&url);
    let (server, _probe) = serve(&server_side.transport, &topic).await;
    let client = RpcClient::new(&client_side.transport, Target::topic(&topic))
        .with_timeout(Duration::from_secs(45));
    assert_eq!(add(&client, 1, 2).await.expect("before"), json!(3));

    let victim = nodes[1].clone();
    tokio::task::spawn_blocking(move || victim.stop())
        .await
        .expect("stop node 2");
    assert_eq!(
        add(&client, 20, 22)
            .await
            .expect("answered under a new leader"),
        json!(42)
    );
    let new_leader = tokio::task::block_in_place(|| leader_of(&nodes[0], &topic));
    assert_ne!(new_leader, nodes[1].name(), "a new leader was elected");
    let health = server_side.transport.health();
    let topic_consumer = health
        .consumers
        .iter()
        .find(|c| c.queue == topic)
        .expect("the topic queue's consumer");
    assert_eq!(topic_consumer.state, ConsumerState::Consuming, "{health:?}");
    println!(
        "leader moved from {} to {new_leader}; the consumer recovered {} time(s)",
        nodes[1].name(),
        topic_consumer.recoveries
    );
    stop(&server).await;
    client_side.driver.cleanup().await;
    server_side.driver.cleanup().await;
}

/// Scenario 9: RabbitMQ's consumer timeout. A notification endpoint holds
/// its notification, unacknowledged, past the node's `consumer_timeout`
/// (1 s, checked every 100 ms): the broker closes the consuming channel
/// (`PRECONDITION_FAILED - delivery acknowledgement on channel .. timed
/// out`). The driver logs it, consumes again on a new channel of the same
/// connection, the notification is delivered again (notifications are at
/// least once), later ones arrive, the late acknowledgement of the held
/// one harms nothing, and health says `consuming`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_timeout_is_survived_by_the_listener() {
    use oslo_messaging_core::health::ConsumerState;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut log = support::logs::subscribe();
    let node = tokio::task::spawn_blocking(|| {
        TestNode::start_with(&support::node::Extras {
            config: "consumer_timeout = 1000\n".into(),
            advanced: "[{rabbit, [{channel_tick_interval, 100}]}].\n".into(),
            ..Default::default()
        })
    })
    .await
    .expect("node start");
    let (side, sender) = (Side::new(&node.url()), Side::new(&node.url()));
    let topic = unique("ctimeout");
    let (handled_tx, mut handled) = tokio::sync::mpsc::unbounded_channel();
    let (release, released) = tokio::sync::watch::channel(false);
    // The first delivery of notification 0 is held until released.
    let endpoint = NotificationEndpoint::builder((handled_tx, released, AtomicBool::new(false)))
        .on_priorities(Priority::ALL, |state, n| async move {
            let (tx, released, held_once) = &*state;
            let number = n.payload["n"].as_u64().unwrap_or(u64::MAX);
            let _ = tx.send(number);
            if number == 0 && !held_once.swap(true, Ordering::SeqCst) {
                let mut released = released.clone();
                let _ = released.wait_for(|r| *r).await;
            }
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(&side.transport, vec![Target::topic(&topic)])
        .endpoint(endpoint)
        .build()
        .expect("listener");
    within("listener start", listener.start())
        .await
        .expect("starts");
    let notifier = notifier(&sender.transport, &topic);
    let context = Default::default();
    let notify = |n: u64| notifier.notify_checked(&context, Priority::Info, "e", json!({"n": n}));
    within("notify 0", notify(0)).await.expect("confirmed");
    assert_eq!(within("0, held", handled.recv()).await, Some(0));
    let t0 = Instant::now();
    within(
        "the timeout in the log",
        support::logs::wait_for(&mut log, &["consumers stopped", &format!("{topic}.info")]),
    )
    .await;
    within(
        "the resumption in the log",
        support::logs::wait_for(&mut log, &["consumers resumed", &format!("{topic}.info")]),
    )
    .await;
    println!(
        "consuming again {:?} after the held notification arrived",
        t0.elapsed()
    );
    assert_eq!(
        within("0, delivered again", handled.recv()).await,
        Some(0),
        "unacknowledged, so delivered again"
    );
    release.send(true).expect("released");
    for n in 1..=3 {
        within("notify", notify(n)).await.expect("confirmed");
        assert_eq!(
            within("the next notification", handled.recv()).await,
            Some(n)
        );
    }
    let health = side.transport.health();
    let consumer = &health.consumers[0];
    assert_eq!(consumer.state, ConsumerState::Consuming, "{health:?}");
    assert!(consumer.recoveries >= 1, "{health:?}");
    assert!(
        consumer
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("PRECONDITION_FAILED") && e.contains("timed out")),
        "{health:?}"
    );
    support::stop_listener(&listener).await;
    sender.driver.cleanup().await;
    side.driver.cleanup().await;
}

/// The node name of `queue`'s leader, as `node` lists it.
fn leader_of(node: &TestNode, queue: &str) -> String {
    let out = node.ctl(&["list_queues", "--silent", "name", "leader"]);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{queue}\t")).map(str::to_owned))
        .unwrap_or_default()
}

/// A fresh three-node cluster, and a transport URL naming its nodes in
/// order, with `query`.
async fn cluster(query: &str) -> (Vec<Arc<TestNode>>, String) {
    let nodes: Vec<Arc<TestNode>> = tokio::task::spawn_blocking(TestNode::cluster3)
        .await
        .expect("cluster")
        .into_iter()
        .map(Arc::new)
        .collect();
    let hosts: Vec<String> = nodes
        .iter()
        .map(|n| format!("guest:guest@127.0.0.1:{}", n.amqp_port()))
        .collect();
    let url = format!("rabbit://{}/?{query}", hosts.join(","));
    (nodes, url)
}
