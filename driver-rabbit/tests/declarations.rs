//! Declarations the broker refuses, on the main broker: the durability
//! fallback oslo.messaging makes for a shared control exchange
//! (`inequivalent arg 'durable'`), and every other `PRECONDITION_FAILED`
//! returned at once, naming the queue or exchange and the argument. Every
//! queue and exchange the tests declare is deleted.

use std::sync::Arc;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::{Driver, Listener, SendMode, SendOptions};
use oslo_messaging_core::{MessagingError, RpcMessage, Target, TransportUrl};
use oslo_messaging_driver_rabbit::RabbitDriver;

mod support;

use support::{raw_connection, within, MAIN_URL as URL};

fn unique(what: &str) -> String {
    support::unique("decl", what)
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
    support::delete_declared(URL, drivers.iter().copied(), exchanges).await;
}

/// Whether `queue` exists and is durable: a passive declare finds it,
/// then a durable declare with `arguments` is accepted only if it is
/// durable (on raw connections).
async fn is_durable(queue: &str, arguments: FieldTable) -> bool {
    let c = raw_connection().await;
    let ch = c.create_channel().await.expect("channel");
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .unwrap_or_else(|e| panic!("queue {queue} does not exist: {e}"));
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let answer = ch.queue_declare(queue.into(), durable, arguments).await;
    let _ = c.close(200, "bye".into()).await;
    answer.is_ok()
}

fn quorum() -> FieldTable {
    let mut t = FieldTable::default();
    t.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    t
}

/// Services with durable options join a control exchange another service
/// declared non-durable, as oslo.messaging does: a warning, then that
/// exchange, and the classic queues bound to it, are declared non-durable
/// (as Python declares them after its fallback, so a Python peer finds
/// them as it expects), so servers start and casts go out. Quorum queues,
/// which cannot be non-durable, stay durable, bound to the non-durable
/// exchange (Python's fallback fails there). Without the fallback each
/// step below is refused with `inequivalent arg 'durable'`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_services_join_a_non_durable_control_exchange_as_python_does() {
    let exchange = unique("x");
    let (topic, quorum_topic) = (unique("topic"), unique("qtopic"));
    let legacy = driver(&[]);
    let durable = driver(&[("amqp_durable_queues", "true")]);
    let quorum_server = driver(&[("rabbit_quorum_queue", "true")]);
    let client = driver(&[("amqp_durable_queues", "true")]);
    let at = |topic: &str, server: &str| Target::server(topic, server).with_exchange(&exchange);
    let outcome = async {
        let mut l_legacy = within("the legacy server", legacy.listen(&at(&topic, "legacy")))
            .await
            .expect("the legacy server declares the exchange non-durable");
        let mut l_durable = within("the durable server", durable.listen(&at(&topic, "durable")))
            .await
            .expect("the durable server falls back and starts");
        let mut l_quorum = within(
            "the quorum server",
            quorum_server.listen(&at(&quorum_topic, "q")),
        )
        .await
        .expect("the quorum server falls back for the exchange and starts");
        // A client that declared nothing yet: the publisher's fallback.
        within(
            "the durable client's cast",
            send_cast(&client, &at(&topic, "legacy"), "to_legacy"),
        )
        .await
        .expect("the durable client falls back and sends");
        assert_eq!(next_method(&mut l_legacy).await, "to_legacy");
        for (l, to) in [
            (&mut l_durable, at(&topic, "durable")),
            (&mut l_quorum, at(&quorum_topic, "q")),
        ] {
            within("the legacy cast", send_cast(&legacy, &to, "hello"))
                .await
                .expect("legacy cast");
            assert_eq!(next_method(l).await, "hello");
        }
        for q in [topic.clone(), format!("{topic}.durable")] {
            assert!(
                !is_durable(&q, FieldTable::default()).await,
                "{q} is non-durable, as Python declares it"
            );
        }
        for q in [quorum_topic.clone(), format!("{quorum_topic}.q")] {
            assert!(
                is_durable(&q, quorum()).await,
                "{q} is a durable quorum queue"
            );
        }
        l_legacy.stop().await;
        l_durable.stop().await;
        l_quorum.stop().await;
    };
    let finished = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    clean_up(&[&legacy, &durable, &quorum_server, &client], &[exchange]).await;
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
