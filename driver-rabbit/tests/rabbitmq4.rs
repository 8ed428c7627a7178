//! Smoke test of `support::rabbitmq4`: a private RabbitMQ 4.x node (from the
//! cached trixie root of `scripts/rabbitmq4`) that behaves like RabbitMQ
//! 4.3's defaults. Needs root; the first run on a machine builds the root
//! (about 1.5 minutes, Debian's mirror). It fails, never skips, when no node
//! can be had. Run with `--nocapture` to see the timings and the driver's
//! error.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ErrorKind};
use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::{Transport, TransportUrl};
use oslo_messaging_driver_rabbit::{admin, RabbitDriver};
use support::rabbitmq4::Rabbitmq4Node;

const PATIENCE: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {PATIENCE:?} waiting for {what}"))
}

async fn connect(url: &str) -> Connection {
    within(
        "an AMQP connection",
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("connect to the RabbitMQ 4 node at {url}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq4_node_refuses_transient_non_exclusive_queues_like_4_3() {
    let t0 = Instant::now();
    let node = Arc::new(
        tokio::task::spawn_blocking(Rabbitmq4Node::start)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
    );
    eprintln!(
        "[rabbitmq4] start: {:?} ({} on port {})",
        t0.elapsed(),
        node.name(),
        node.amqp_port()
    );
    assert_ne!(node.amqp_port(), 5672);
    let n = node.clone();
    let version = tokio::task::spawn_blocking(move || n.version())
        .await
        .expect("version");
    eprintln!("[rabbitmq4] version {version}");
    assert!(version.starts_with("4."), "not RabbitMQ 4: {version:?}");

    let pid = std::process::id();
    let durable_q = format!("omt4-smoke-durable-{pid}");
    let transient_q = format!("omt4-smoke-transient-{pid}");

    // A durable queue is fine.
    let conn = connect(&node.amqp_url()).await;
    let ch = conn.create_channel().await.expect("channel");
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    within(
        "the durable declare",
        ch.queue_declare(durable_q.as_str().into(), durable, FieldTable::default()),
    )
    .await
    .expect("a durable queue is accepted");

    // A transient (non-durable) non-exclusive queue is refused, with a
    // connection error (541 INTERNAL_ERROR) that names the feature.
    let refused = within(
        "the transient declare",
        ch.queue_declare(
            transient_q.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        ),
    )
    .await
    .expect_err("a transient non-exclusive queue must be refused");
    eprintln!("[rabbitmq4] broker refused the transient queue: {refused}");
    match refused.kind() {
        ErrorKind::ProtocolError(amqp) => {
            assert_eq!(amqp.get_id(), 541, "{refused:?}");
            assert!(
                amqp.get_message()
                    .as_str()
                    .contains("transient_nonexcl_queues"),
                "{refused:?}"
            );
        }
        _ => panic!("expected a protocol error 541, got {refused:?}"),
    }

    // The refusal closed the connection: clean up on a fresh one.
    let conn = connect(&node.amqp_url()).await;
    let ch = conn.create_channel().await.expect("channel");
    within(
        "the durable queue's deletion",
        ch.queue_delete(durable_q.as_str().into(), QueueDeleteOptions::default()),
    )
    .await
    .expect("delete the durable queue");
    // Never created; deleting a missing queue is a no-op.
    within(
        "the transient queue's deletion",
        ch.queue_delete(transient_q.as_str().into(), QueueDeleteOptions::default()),
    )
    .await
    .expect("delete the transient queue");
    let _ = conn.close(200, "bye".into()).await;

    // The oslo driver with legacy defaults (transient queues) cannot serve.
    let url = TransportUrl::parse(&node.url()).expect("url");
    let config = Config::defaults();
    let driver = Arc::new(RabbitDriver::new(&url, &config).expect("driver"));
    let transport =
        Transport::with_driver(driver.clone(), url.clone(), &config).expect("transport");
    let topic = format!("omt4_smoke_{pid}");
    let server = support::echo_server(&transport, &topic);
    let error = within("the RPC server's start", server.start())
        .await
        .expect_err("legacy defaults must not work on RabbitMQ 4.3");
    let error_text = error.to_string();
    eprintln!("[rabbitmq4] RPC server with legacy defaults: {error_text}");
    // Refused at once, not retried, naming the broker's reason and the
    // options that avoid it.
    assert!(
        matches!(
            error,
            oslo_messaging_core::MessagingError::BrokerRefused { .. }
        ),
        "{error:?}"
    );
    for part in [
        "transient_nonexcl_queues",
        "rabbit_quorum_queue = true",
        "rabbit_transient_quorum_queue = true",
    ] {
        assert!(error_text.contains(part), "{part:?} not in: {error_text}");
    }
    driver.cleanup().await;
    let exchanges: Vec<String> = driver
        .declared_exchanges()
        .into_iter()
        .filter(|x| x != "openstack")
        .collect();
    if let Err(e) = admin::delete(&url, &config, &driver.declared_queues(), &exchanges).await {
        eprintln!("[rabbitmq4] deleting what the driver declared: {e}");
    }

    let t = Instant::now();
    tokio::task::spawn_blocking(move || drop(node))
        .await
        .expect("stop the node");
    eprintln!(
        "[rabbitmq4] stop: {:?}, total {:?}",
        t.elapsed(),
        t0.elapsed()
    );
}
