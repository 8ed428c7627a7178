//! `rabbit_stream_fanout` on the main broker, with the preset of
//! oslo.messaging's admin guide (quorum, transient quorum, queue manager,
//! stream fanout, prefetch 10): the servers of a topic share one stream
//! `<topic>_fanout`, each gets every fanout cast, a server resumes after a
//! lost connection from the offset after the last one it saw, and one whose
//! stream was deleted consumes the new stream from `last`. Each test uses
//! its own control exchange (the preset declares exchanges durable, and the
//! machine's `openstack` exchange is non-durable) and deletes every queue
//! and exchange it declared. Tests wait for events (deliveries, the
//! driver's log, health), never for time.

mod support;

use std::sync::Arc;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::conformance::ProbeHandles;
use oslo_messaging_core::health::ConnectionState;
use oslo_messaging_core::rpc::{RpcClient, RpcServer};
use oslo_messaging_core::{Target, Transport, TransportUrl};
use oslo_messaging_driver_rabbit::RabbitDriver;
use serde_json::{json, Value};
use support::proxy::Proxy;

use support::{delete_on_main, raw_connection, stop, within};

fn unique(what: &str) -> String {
    support::unique("stream", what)
}
const PRESET: &str = "rabbit_quorum_queue=true&rabbit_transient_quorum_queue=true\
                      &use_queue_manager=true&rabbit_stream_fanout=true&rabbit_qos_prefetch_count=10";

/// A transport with the preset on the broker at `port`, whose driver the
/// test keeps to delete what it declared.
struct Side {
    transport: Transport,
    driver: Arc<RabbitDriver>,
}

impl Side {
    fn new(port: u16, extra: &str) -> Side {
        let url = format!("rabbit://guest:guest@127.0.0.1:{port}/?{PRESET}{extra}");
        let url = TransportUrl::parse(&url).expect("url");
        let config = Config::defaults();
        let driver = Arc::new(RabbitDriver::new(&url, &config).expect("driver"));
        let transport = Transport::with_driver(driver.clone(), url, &config).expect("transport");
        Side { transport, driver }
    }
}

/// Closes every side, then deletes what they declared and `exchange`.
async fn clean_up(sides: &[&Side], exchange: &str) {
    let drivers = sides.iter().map(|s| &s.driver);
    support::delete_declared(support::MAIN_URL, drivers, &[exchange.to_owned()]).await;
}

async fn serve(
    t: &Transport,
    topic: &str,
    exchange: &str,
    name: &str,
) -> (RpcServer, ProbeHandles) {
    support::serve(t, Target::server(topic, name).with_exchange(exchange)).await
}

fn fanout_client(t: &Transport, topic: &str, exchange: &str) -> RpcClient {
    RpcClient::new(t, Target::topic(topic).with_exchange(exchange)).with_fanout(true)
}

async fn record(client: &RpcClient, n: i64) {
    within(
        "a fanout cast",
        client.cast(&Default::default(), "record", json!({"value": n})),
    )
    .await
    .expect("fanout cast");
}

async fn next_record(probe: &mut ProbeHandles) -> Value {
    within("a fanout cast's delivery", probe.records.recv())
        .await
        .expect("the server is running")
        .1
}

/// The next `n` records, sorted (the server handles casts concurrently).
async fn next_records(probe: &mut ProbeHandles, n: usize) -> Vec<i64> {
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(next_record(probe).await.as_i64().expect("an integer"));
    }
    got.sort_unstable();
    got
}

/// Whether `queue` exists on the main broker (a passive declare).
async fn exists(queue: &str) -> bool {
    let c = raw_connection().await;
    let ch = c.create_channel().await.expect("channel");
    let options = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let found = ch
        .queue_declare(queue.into(), options, Default::default())
        .await
        .is_ok();
    let _ = c.close(200, "bye".into()).await;
    found
}

/// Two servers of a topic consume one stream `<topic>_fanout` and each gets
/// every fanout cast; a server that stops leaves the stream to the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_of_a_topic_share_one_stream_and_each_gets_every_cast() {
    let (topic, exchange) = (unique("topic"), unique("x"));
    let a = Side::new(5672, "");
    let b = Side::new(5672, "");
    let outcome = async {
        let (server_a, mut probe_a) = serve(&a.transport, &topic, &exchange, "a").await;
        let (server_b, mut probe_b) = serve(&b.transport, &topic, &exchange, "b").await;
        let stream = format!("{topic}_fanout");
        assert!(
            a.driver.declared_queues().contains(&stream)
                && b.driver.declared_queues().contains(&stream),
            "one shared stream: {:?} {:?}",
            a.driver.declared_queues(),
            b.driver.declared_queues()
        );
        let client = fanout_client(&a.transport, &topic, &exchange);
        for n in 1..=3 {
            record(&client, n).await;
        }
        for probe in [&mut probe_a, &mut probe_b] {
            assert_eq!(next_records(probe, 3).await, [1, 2, 3]);
        }
        stop(&server_a).await;
        assert!(
            exists(&stream).await,
            "a stopping server leaves the shared stream"
        );
        record(&client, 4).await;
        assert_eq!(next_record(&mut probe_b).await, json!(4));
        stop(&server_b).await;
    };
    let finished = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    clean_up(&[&a, &b], &exchange).await;
    if let Err(panic) = finished {
        std::panic::resume_unwind(panic);
    }
}

/// The server's connection goes silent (a proxy stops forwarding); the
/// driver declares it dead; casts sent meanwhile are kept by the stream;
/// once the network is back the server consumes again from the offset
/// after the last delivery it saw: it gets exactly the missed casts, in
/// order, and none it had already (consuming from `last` again would skip
/// or repeat some).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_resumes_its_stream_after_the_last_offset_it_saw() {
    let (topic, exchange) = (unique("topic"), unique("x"));
    let proxy = Proxy::start("127.0.0.1:5672".parse().expect("addr"));
    let server_side = Side::new(proxy.port(), "&heartbeat_timeout_threshold=2");
    let client_side = Side::new(5672, "");
    let outcome = async {
        let (server, mut probe) = serve(&server_side.transport, &topic, &exchange, "s1").await;
        let client = fanout_client(&client_side.transport, &topic, &exchange);
        record(&client, 1).await;
        assert_eq!(next_record(&mut probe).await, json!(1));

        proxy.pause();
        let dead = "the server's connection declared dead";
        support::until_health(dead, &server_side.transport, |h| {
            h.connections
                .iter()
                .any(|c| c.purpose == "consume" && c.state != ConnectionState::Connected)
        })
        .await;
        record(&client, 2).await;
        record(&client, 3).await;
        proxy.resume();
        record(&client, 4).await;
        assert_eq!(
            next_records(&mut probe, 3).await,
            [2, 3, 4],
            "resumed after the offset of 1"
        );
        stop(&server).await;
    };
    let finished = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    clean_up(&[&server_side, &client_side], &exchange).await;
    if let Err(panic) = finished {
        std::panic::resume_unwind(panic);
    }
}

/// The stream is deleted under a running server: the broker cancels its
/// consumer, the driver logs it, declares the stream again and consumes it
/// (from `last`, as oslo.messaging does after a cancel; RabbitMQ would
/// also take the old offset, past the new stream's end, as "next"), and
/// the next cast arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stream_is_declared_again_and_consumed_from_last() {
    let mut log = support::logs::subscribe();
    let (topic, exchange) = (unique("topic"), unique("x"));
    let side = Side::new(5672, "");
    let outcome = async {
        let (server, mut probe) = serve(&side.transport, &topic, &exchange, "s1").await;
        let client = fanout_client(&side.transport, &topic, &exchange);
        for n in 1..=3 {
            record(&client, n).await;
            assert_eq!(next_record(&mut probe).await, json!(n));
        }
        let stream = format!("{topic}_fanout");
        delete_on_main(std::slice::from_ref(&stream), &[]).await;
        within(
            "the consumer's cancel in the log",
            support::logs::wait_for(&mut log, &["cancelled the consumer", &stream]),
        )
        .await;
        within(
            "the consumers' resumption in the log",
            support::logs::wait_for(&mut log, &["consumers resumed", &stream]),
        )
        .await;
        record(&client, 4).await;
        assert_eq!(next_record(&mut probe).await, json!(4));
        stop(&server).await;
    };
    let finished = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    clean_up(&[&side], &exchange).await;
    if let Err(panic) = finished {
        std::panic::resume_unwind(panic);
    }
}
