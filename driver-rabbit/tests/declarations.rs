//! Declarations the broker refuses, on the main broker: the durability
//! fallback oslo.messaging makes for a shared control exchange
//! (`inequivalent arg 'durable'`), and every other `PRECONDITION_FAILED`
//! returned at once, naming the queue or exchange and the argument. Every
//! queue and exchange the tests declare is deleted.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::{Driver, Listener, SendMode, SendOptions};
use oslo_messaging_core::{MessagingError, RpcMessage, Target, TransportUrl};
use oslo_messaging_driver_rabbit::{admin, RabbitDriver};

const URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";
const PATIENCE: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {PATIENCE:?} waiting for {what}"))
}

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "decl{}_{what}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn driver(options: &[(&str, &str)]) -> Arc<RabbitDriver> {
    let mut config = Config::builder();
    for (option, value) in options {
        config = config.set("oslo_messaging_rabbit", *option, *value);
    }
    let config = config.build().expect("config");
    let url = TransportUrl::parse(URL).expect("url");
    Arc::new(RabbitDriver::new(&url, &config).expect("driver"))
}

fn cast(method: &str) -> RpcMessage {
    RpcMessage {
        method: method.into(),
        args: Default::default(),
        namespace: None,
        version: None,
    }
}

async fn send_cast(d: &RabbitDriver, target: &Target, method: &str) -> Result<(), MessagingError> {
    d.send(
        target,
        &Default::default(),
        cast(method),
        SendMode::Cast,
        SendOptions::new(Some(0)),
    )
    .await
    .map(|_| ())
}

/// The method of the next request `l` receives (acknowledged).
async fn next_method(
    l: &mut Box<dyn Listener<oslo_messaging_core::driver::IncomingRequest>>,
) -> String {
    let r = within("a request", l.next()).await.expect("listening");
    r.handle.acknowledge().await.expect("ack");
    r.message.method
}

/// Closes `drivers`, then deletes what they declared and `exchanges`.
async fn clean_up(drivers: &[&Arc<RabbitDriver>], exchanges: &[String]) {
    let mut queues = Vec::new();
    for d in drivers {
        d.cleanup().await;
        queues.extend(d.declared_queues());
    }
    let url = TransportUrl::parse(URL).expect("url");
    admin::delete(&url, &Config::defaults(), &queues, exchanges)
        .await
        .expect("delete what the test declared");
}

/// Declares `queue` durable with no arguments on a raw connection: the
/// broker accepts it only if the queue exists durable (or not at all).
async fn is_durable(queue: &str) -> bool {
    let c = lapin::Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("raw connection");
    let ch = c.create_channel().await.expect("channel");
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let answer = ch
        .queue_declare(queue.into(), options, FieldTable::default())
        .await;
    let _ = c.close(200, "bye".into()).await;
    answer.is_ok()
}

/// A service with durable options (`amqp_durable_queues`) joins a control
/// exchange another service declared non-durable: as oslo.messaging, it
/// logs a warning and declares that exchange (and a queue that exists
/// non-durable) non-durable, so its server starts and its casts go out;
/// its own new queues stay durable. Without the fallback each step below
/// is refused with `inequivalent arg 'durable'`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_services_join_a_non_durable_control_exchange_as_python_does() {
    let exchange = unique("x");
    let topic = unique("topic");
    let legacy = driver(&[]);
    let server = driver(&[("amqp_durable_queues", "true")]);
    let client = driver(&[("amqp_durable_queues", "true")]);
    let at = |server: &str| Target::server(&topic, server).with_exchange(&exchange);
    let outcome = async {
        let mut l_legacy = within("the legacy server", legacy.listen(&at("legacy")))
            .await
            .expect("the legacy server declares the exchange non-durable");
        let mut l_durable = within("the durable server", server.listen(&at("durable")))
            .await
            .expect("the durable server falls back and starts");
        // A client that declared nothing yet: the publisher's fallback.
        within(
            "the durable client's cast",
            send_cast(&client, &at("legacy"), "to_legacy"),
        )
        .await
        .expect("the durable client falls back and sends");
        assert_eq!(next_method(&mut l_legacy).await, "to_legacy");
        within(
            "the legacy cast",
            send_cast(&legacy, &at("durable"), "to_durable"),
        )
        .await
        .expect("legacy cast");
        assert_eq!(next_method(&mut l_durable).await, "to_durable");
        // The shared topic queue existed non-durable; the durable server's
        // own queue is new, and durable as configured.
        assert!(
            !is_durable(&topic).await,
            "{topic} stays as it was declared first"
        );
        assert!(
            is_durable(&format!("{topic}.durable")).await,
            "the durable server's own queue is durable"
        );
        l_legacy.stop().await;
        l_durable.stop().await;
    };
    let finished = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    clean_up(&[&legacy, &server, &client], &[exchange]).await;
    if let Err(panic) = finished {
        std::panic::resume_unwind(panic);
    }
}

/// Every other `PRECONDITION_FAILED` is returned at once (not retried, not
/// worked around): a topic queue that exists as a classic queue, declared
/// by a service configured for quorum queues. The error names the queue,
/// the argument and the broker's text. The reverse durability mismatch (a
/// durable exchange declared non-durable) is refused too, as in Python.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_precondition_failures_are_refused_naming_queue_and_argument() {
    let exchange = unique("x");
    let topic = unique("topic");
    let classic = driver(&[("amqp_durable_queues", "true")]);
    let quorum = driver(&[("rabbit_quorum_queue", "true")]);
    let legacy = driver(&[]);
    let target = Target::server(&topic, "s1").with_exchange(&exchange);
    let outcome = async {
        let mut l = within("the classic server", classic.listen(&target))
            .await
            .expect("durable classic queues");
        let refused = within("the quorum server's refusal", quorum.listen(&target))
            .await
            .err()
            .expect("a classic queue cannot be declared as a quorum queue");
        let not_durable = within("the non-durable server's refusal", legacy.listen(&target))
            .await
            .err()
            .expect("a durable exchange cannot be declared non-durable");
        l.stop().await;
        (refused, not_durable)
    };
    let finished = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    clean_up(
        &[&classic, &quorum, &legacy],
        std::slice::from_ref(&exchange),
    )
    .await;
    let (refused, not_durable) = finished.unwrap_or_else(|p| std::panic::resume_unwind(p));
    match &refused {
        MessagingError::BrokerRefused { operation, reason } => {
            assert_eq!(operation, &format!("declare queue {topic:?}"), "{refused}");
            for part in [
                "PRECONDITION_FAILED",
                "inequivalent arg 'x-queue-type'",
                "quorum",
            ] {
                assert!(reason.contains(part), "{part:?} not in {refused}");
            }
        }
        other => panic!("expected BrokerRefused, got {other:?}"),
    }
    match &not_durable {
        MessagingError::BrokerRefused { operation, reason } => {
            assert_eq!(operation, &format!("declare exchange {exchange:?}"));
            assert!(
                reason.contains("inequivalent arg 'durable'"),
                "{not_durable}"
            );
        }
        other => panic!("expected BrokerRefused, got {other:?}"),
    }
}
