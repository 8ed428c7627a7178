//! Interoperability with Python oslo.messaging 18.3.1 when both sides use
//! the `[oslo_messaging_rabbit]` preset of its 2026 admin guide (quorum
//! queues, transient quorum queues, the queue manager, stream fanout,
//! prefetch 10): calls with results, context, namespaces and errors both
//! ways, casts, a Rust and a Python server sharing a topic queue and a
//! fanout stream, notifications with pools both ways.
//!
//! Every scenario runs twice: on the main RabbitMQ 3.10 broker, and on a
//! private RabbitMQ 4 node that refuses what 4.3 refuses (started once for
//! this test binary, see `support::rabbitmq4`).
//!
//! Each test has a control exchange of its own (the preset declares it
//! durable; the machine's `openstack` is non-durable and shared) and
//! deletes what either side declared: topic, server, stream, pool and
//! reply queues (queue-manager names are stable, so they would otherwise
//! wait 30 minutes for `x-expires`). Needs the broker at 127.0.0.1:5672 and
//! the interop venv, like `interop.rs`.

mod interop_support;
mod support;

use interop_support::RustListener;
use interop_support::{run_peer, unique, within, Peer, QueueCleanup, BROKER_URL, PATIENCE};
use oslo_messaging_core::config::Config;
use oslo_messaging_core::conformance::{context, test_endpoint, ProbeHandles};
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::{
    Context, MessagingError, Notifier, Priority, RpcClient, RpcServer, Target, Transport,
    TransportUrl,
};
use oslo_messaging_driver_rabbit::RabbitDriver;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use support::rabbitmq4::Rabbitmq4Node;

/// The preset, as `[oslo_messaging_rabbit]` options.
const PRESET: [(&str, &str); 5] = [
    ("rabbit_quorum_queue", "true"),
    ("rabbit_transient_quorum_queue", "true"),
    ("use_queue_manager", "true"),
    ("rabbit_stream_fanout", "true"),
    ("rabbit_qos_prefetch_count", "10"),
];

/// The broker a scenario runs on.
struct Broker {
    /// `rabbit://...` for both sides.
    url: String,
    /// `amqp://...` for the cleanup.
    amqp: String,
}

impl Broker {
    fn main() -> Broker {
        Broker {
            url: BROKER_URL.to_owned(),
            amqp: "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
        }
    }

    fn rabbitmq4() -> Broker {
        static NODE: OnceLock<Rabbitmq4Node> = OnceLock::new();
        // The first scenario starts the node (about 3 s); the others wait.
        let node = NODE.get_or_init(Rabbitmq4Node::start);
        Broker {
            url: node.url(),
            amqp: node.amqp_url(),
        }
    }
}

/// One test's world: its broker, topic and control exchange, what to delete.
struct World {
    url: String,
    topic: String,
    exchange: String,
    cleanup: QueueCleanup,
    drivers: Vec<Arc<RabbitDriver>>,
}

impl World {
    fn new(broker: &Broker, what: &str, servers: &[&str]) -> World {
        let (topic, exchange) = (unique(what), unique("x"));
        let cleanup = QueueCleanup::on(&broker.amqp);
        cleanup.rpc_topic(&topic, servers);
        cleanup.queue(&format!("{topic}_fanout"));
        cleanup.exchange(&exchange);
        World {
            url: broker.url.clone(),
            topic,
            exchange,
            cleanup,
            drivers: Vec::new(),
        }
    }

    /// A Rust transport with the preset and this world's control exchange.
    fn transport(&mut self) -> Transport {
        let mut config = Config::builder().set("DEFAULT", "control_exchange", &self.exchange);
        for (option, value) in PRESET {
            config = config.set("oslo_messaging_rabbit", option, value);
        }
        let config = config.build().expect("config");
        let url = TransportUrl::parse(&self.url).expect("url");
        let driver = Arc::new(RabbitDriver::new(&url, &config).expect("driver"));
        self.drivers.push(driver.clone());
        Transport::with_driver(driver, url, &config).expect("transport")
    }

    /// `peer.py` arguments for this world: its broker (the last `--url`
    /// wins), its exchange and the preset.
    fn peer_args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        args.extend(["--url".to_owned(), self.url.clone()]);
        args.extend(["--exchange".to_owned(), self.exchange.clone()]);
        for (option, value) in PRESET {
            args.extend(["--rabbit".to_owned(), format!("{option}={value}")]);
        }
        args
    }

    async fn python_server(&self, server: &str) -> Peer {
        Peer::start("serve", &self.topic, &self.peer_args(&["--server", server])).await
    }

    /// `peer.py call`: the line it printed; its reply queue is deleted at the end.
    async fn py_call(
        &self,
        ctx: &Context,
        method: &str,
        args: Value,
        server: Option<&str>,
    ) -> Value {
        let (args, ctx) = (args.to_string(), Value::Object(ctx.clone()).to_string());
        let timeout = PATIENCE.as_secs().to_string();
        let mut extra = vec![
            "--method",
            method,
            "--args",
            &args,
            "--context",
            &ctx,
            "--timeout",
            &timeout,
        ];
        if let Some(s) = server {
            extra.extend(["--server", s]);
        }
        run_peer(&self.cleanup, "call", &self.topic, &self.peer_args(&extra)).await
    }

    async fn py_cast_record(&self, value: Value, fanout: bool) {
        let args = json!({ "value": value }).to_string();
        let mut extra = vec!["--method", "record", "--args", &args];
        if fanout {
            extra.push("--fanout");
        }
        let line = run_peer(&self.cleanup, "cast", &self.topic, &self.peer_args(&extra)).await;
        assert_eq!(line, json!({"event": "sent"}));
    }

    /// Closes the Rust transports.
    async fn close(&self) {
        for d in &self.drivers {
            d.cleanup().await;
        }
    }
}

/// Registers what the Rust drivers declared (queue-manager names are known
/// only to them) before the cleanup, a field, deletes everything: also
/// when the test failed.
impl Drop for World {
    fn drop(&mut self) {
        for d in &self.drivers {
            for q in d.declared_queues() {
                self.cleanup.queue(&q);
            }
            for x in d.declared_exchanges() {
                self.cleanup.exchange(&x);
            }
        }
    }
}

fn result(line: &Value) -> &Value {
    line.get("result")
        .unwrap_or_else(|| panic!("expected a result, got {line}"))
}

async fn rust_server(t: &Transport, topic: &str, name: &str) -> (RpcServer, ProbeHandles) {
    let (endpoint, probe) = test_endpoint(name, None, "1.3");
    let server = RpcServer::builder(t, Target::server(topic, name))
        .endpoint(endpoint)
        .build()
        .expect("server");
    within("Rust server start", server.start())
        .await
        .expect("the Rust server starts with the preset");
    (server, probe)
}

async fn stop(server: RpcServer) {
    within("server stop", server.stop()).await.expect("stop");
    within("server wait", server.wait()).await.expect("wait");
}

/// The next `record` line a Python server printed: (server, value).
async fn py_record(peer: &mut Peer) -> (String, Value) {
    let line = peer.next_line(PATIENCE).await;
    assert_eq!(line["event"], "record", "expected a record line: {line}");
    (
        line["server"].as_str().expect("server").to_owned(),
        line["value"].clone(),
    )
}

async fn rust_record(probe: &mut ProbeHandles) -> (String, Value) {
    within("a record on the Rust server", probe.records.recv())
        .await
        .expect("the server is running")
}

async fn rust_client_calls_and_casts_to_python_server(broker: Broker) {
    let mut w = World::new(&broker, "preset_r2p", &["py1"]);
    let mut server = w.python_server("py1").await;
    let t = w.transport();
    let client = RpcClient::new(&t, Target::topic(&w.topic));
    let ctx = context("ada");
    let sum = within("add", client.call(&ctx, "add", json!({"a": 40, "b": 2}))).await;
    assert_eq!(sum.expect("add"), json!(42));
    // Python's `whoami` answers the request context it got.
    let seen = within("whoami", client.call(&ctx, "whoami", json!({}))).await;
    let seen = seen.expect("whoami");
    assert_eq!(seen["user"], ctx["user"], "{seen}");
    let e = within("fail", client.call(&ctx, "fail", json!({"message": "no"})))
        .await
        .expect_err("a remote error");
    match e {
        MessagingError::Remote(f) => {
            assert_eq!((f.class.as_str(), f.message.as_str()), ("ValueError", "no"))
        }
        other => panic!("expected a remote ValueError, got {other:?}"),
    }
    within("cast", client.cast(&ctx, "record", json!({"value": "c"})))
        .await
        .expect("cast");
    assert_eq!(py_record(&mut server).await, ("py1".into(), json!("c")));
    let fanout = client.clone().with_fanout(true);
    within("fanout", fanout.cast(&ctx, "record", json!({"value": "f"})))
        .await
        .expect("fanout cast");
    assert_eq!(py_record(&mut server).await, ("py1".into(), json!("f")));
    server.finish().await;
    w.close().await;
}

async fn python_client_calls_and_casts_to_rust_server(broker: Broker) {
    let mut w = World::new(&broker, "preset_p2r", &["rs1"]);
    let t = w.transport();
    let (server, mut probe) = rust_server(&t, &w.topic, "rs1").await;
    let ctx = context("bob");
    let sum = w.py_call(&ctx, "add", json!({"a": 1, "b": 2}), None).await;
    assert_eq!(result(&sum), &json!(3));
    let seen = w.py_call(&ctx, "context", json!({}), Some("rs1")).await;
    assert_eq!(result(&seen)["user"], ctx["user"], "{seen}");
    let failed = w
        .py_call(&ctx, "fail", json!({"message": "bad"}), None)
        .await;
    assert_eq!(failed["error"]["type"], "ValueError", "{failed}");
    assert_eq!(failed["error"]["first_line"], "bad", "{failed}");
    let missing = w.py_call(&ctx, "nope", json!({}), None).await;
    assert_eq!(missing["error"]["exc_type"], "NoSuchMethod", "{missing}");
    // The Python caller runs the queue manager too: its reply queue is
    // `reply_<hostname>:<processname>:<N>`, a durable quorum queue.
    let reply_q = sum["reply_queue"].as_str().expect("the Python reply queue");
    assert!(
        reply_q.starts_with("reply_") && reply_q.contains(":peer.py:"),
        "{reply_q}"
    );
    w.py_cast_record(json!("c"), false).await;
    assert_eq!(rust_record(&mut probe).await, ("rs1".into(), json!("c")));
    w.py_cast_record(json!("f"), true).await;
    assert_eq!(rust_record(&mut probe).await, ("rs1".into(), json!("f")));
    stop(server).await;
    w.close().await;
}

/// A Rust and a Python server declare the same quorum topic queue and the
/// same fanout stream without a conflict; calls reach both through the
/// shared queue, and every fanout cast, from either language, reaches both.
async fn rust_and_python_servers_share_a_topic_queue_and_a_fanout_stream(broker: Broker) {
    let mut w = World::new(&broker, "preset_shared", &["rs1", "py1"]);
    let t = w.transport();
    let (server, mut probe) = rust_server(&t, &w.topic, "rs1").await;
    let mut python = w.python_server("py1").await;
    let client = RpcClient::new(&t, Target::topic(&w.topic));
    let ctx = context("ivy");
    let (mut rust, mut py) = (0, 0);
    for _ in 0..8 {
        let who = within("whoami", client.call(&ctx, "whoami", json!({})))
            .await
            .expect("whoami");
        if who == json!("rs1") {
            rust += 1;
        } else {
            py += 1;
        }
    }
    assert!(
        rust >= 1 && py >= 1,
        "both servers answer: rust {rust}, python {py}"
    );

    let fanout = client.clone().with_fanout(true);
    within(
        "Rust fanout",
        fanout.cast(&ctx, "record", json!({"value": "from-rust"})),
    )
    .await
    .expect("fanout");
    w.py_cast_record(json!("from-python"), true).await;
    let mut on_rust = vec![
        rust_record(&mut probe).await.1,
        rust_record(&mut probe).await.1,
    ];
    let mut on_python = vec![
        py_record(&mut python).await.1,
        py_record(&mut python).await.1,
    ];
    for got in [&mut on_rust, &mut on_python] {
        got.sort_by_key(Value::to_string);
        assert_eq!(got, &[json!("from-python"), json!("from-rust")]);
    }
    stop(server).await;
    python.finish().await;
    w.close().await;
}

async fn notifications_with_pools_cross_both_ways(broker: Broker) {
    let mut w = World::new(&broker, "preset_notify", &[]);
    let pool = unique("pool");
    w.cleanup.notification_topic(&w.topic, &[&pool]);
    let payload = json!({"big": 18446744073709551616_u128, "name": "vm-1"});

    let t = w.transport();
    let mut listener = RustListener::start(&t, &w.topic, &pool).await;
    let payload_text = payload.to_string();
    let extra = w.peer_args(&[
        "--publisher-id",
        "python.preset",
        "--event-type",
        "preset.p2r",
        "--priority",
        "info",
        "--payload",
        &payload_text,
    ]);
    let line = run_peer(&w.cleanup, "notify", &w.topic, &extra).await;
    assert_eq!(line, json!({"event": "sent"}));
    let n = listener.next().await;
    assert_eq!(
        (n.event_type.as_str(), n.payload.to_string()),
        ("preset.p2r", payload_text.clone())
    );
    listener.stop().await;

    let mut python = Peer::start(
        "listen",
        &w.topic,
        &w.peer_args(&["--pool", &pool, "--count", "1"]),
    )
    .await;
    let notifier = Notifier::builder(&t)
        .publisher_id("rust.preset")
        .driver("messagingv2")
        .topics([w.topic.as_str()])
        .build()
        .expect("notifier");
    within(
        "notify",
        notifier.notify_checked(&context("u"), Priority::Warn, "preset.r2p", payload.clone()),
    )
    .await
    .expect("sent");
    let line = python.next_line(PATIENCE).await;
    assert_eq!(line["event_type"], "preset.r2p", "{line}");
    assert_eq!(line["payload"].to_string(), payload_text, "{line}");
    python.finish().await;
    w.close().await;
}

/// Each scenario as a test on the main broker and one on RabbitMQ 4.
macro_rules! on_both_brokers {
    ($($case:ident),* $(,)?) => {
        mod on_rabbitmq_3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Broker::main()).await
                }
            )*
        }
        mod on_rabbitmq_4 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Broker::rabbitmq4()).await
                }
            )*
        }
    };
}

on_both_brokers!(
    rust_client_calls_and_casts_to_python_server,
    python_client_calls_and_casts_to_rust_server,
    rust_and_python_servers_share_a_topic_queue_and_a_fanout_stream,
    notifications_with_pools_cross_both_ways,
);
