//! Queues that disappear under running servers and listeners (deleted by
//! an operator, expired, lost with their node): the broker cancels the
//! consumer; the driver logs it, declares the queue again, consumes it
//! again, and says so in health. On the main broker; each test has its
//! own control exchange and deletes what it declared. Tests wait for the
//! driver's log events and for deliveries, never for time.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::conformance::ProbeHandles;
use oslo_messaging_core::health::ConsumerState;
use oslo_messaging_core::{
    MessagingError, Notifier, Priority, RpcClient, RpcServer, Target, Transport, TransportUrl,
};
use oslo_messaging_driver_rabbit::RabbitDriver;
use serde_json::json;

/// A transport on the main broker whose control exchange is `exchange`.
struct Side {
    transport: Transport,
    driver: Arc<RabbitDriver>,
    exchange: String,
}

/// A failed test deletes what it declared too.
impl Drop for Side {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut exchanges = self.driver.declared_exchanges();
            exchanges.push(self.exchange.clone());
            support::delete_on_main_blocking(self.driver.declared_queues(), exchanges);
        }
    }
}

impl Side {
    fn new(exchange: &str) -> Side {
        // Before any transport of this binary: the connections gauge
        // counts each connection from its start.
        oslo_messaging_core::conformance::prometheus::recorder();
        let config = Config::builder()
            .set("DEFAULT", "control_exchange", exchange)
            .build()
            .expect("config");
        let url = TransportUrl::parse(MAIN).expect("url");
        let driver = Arc::new(RabbitDriver::new(&url, &config).expect("driver"));
        let transport = Transport::with_driver(driver.clone(), url, &config).expect("transport");
        Side {
            transport,
            driver,
            exchange: exchange.to_owned(),
        }
    }

    async fn clean_up(&self, exchange: &str) {
        support::delete_declared(MAIN, [&self.driver], &[exchange.to_owned()]).await;
    }
}

use support::{delete_on_main as delete, raw_connection, stop, within, MAIN_URL as MAIN};

fn unique(what: &str) -> String {
    support::unique("lostq", what)
}

async fn serve(t: &Transport, topic: &str) -> (RpcServer, ProbeHandles) {
    support::serve(t, Target::server(topic, "s1")).await
}

/// Replaces the exchange `name` with a fanout exchange of the same name,
/// so that declaring the topic exchange again is refused (`inequivalent
/// arg 'type'`); returns the connection that declared it.
async fn replace_with_a_fanout_exchange(name: &str) -> lapin::Connection {
    let raw = raw_connection().await;
    let ch = raw.create_channel().await.expect("channel");
    delete(&[], &[name.to_owned()]).await;
    ch.exchange_declare(
        name.into(),
        lapin::ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("a fanout exchange of the same name");
    raw
}

/// Deletes `queue` and returns how long it took from the deletion to the
/// driver's "consumers resumed" for it.
async fn delete_and_wait_for_recovery(
    log: &mut tokio::sync::broadcast::Receiver<String>,
    queue: &str,
) -> Duration {
    let t0 = Instant::now();
    delete(&[queue.to_owned()], &[]).await;
    within(
        "the cancel in the log",
        support::logs::wait_for(log, &["cancelled the consumer", queue]),
    )
    .await;
    within(
        "the consumers' resumption in the log",
        support::logs::wait_for(log, &["consumers resumed", queue]),
    )
    .await;
    t0.elapsed()
}

/// Each queue of an RPC server (topic, server, fanout) is deleted in turn;
/// each time the server consumes again at once and the next call, cast
/// or fanout cast arrives. Health lists the three queues, consuming, with
/// their recoveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_server_queues_are_declared_again_and_served() {
    use oslo_messaging_core::conformance::prometheus;
    let rabbit = ("messaging_system", "rabbitmq");
    let recoveries = || prometheus::value("oslo_messaging_consumer_recoveries_total", &[rabbit]);
    let recovered_before = recoveries();
    let mut log = support::logs::subscribe();
    let (topic, exchange) = (unique("topic"), unique("x"));
    let side = Side::new(&exchange);
    let (server, mut probe) = serve(&side.transport, &topic).await;
    let fanout_queue = side
        .driver
        .declared_queues()
        .into_iter()
        .find(|q| q.starts_with(&format!("{topic}_fanout_")))
        .expect("the server's fanout queue");
    let to_topic = RpcClient::new(&side.transport, Target::topic(&topic));
    let to_server = RpcClient::new(&side.transport, Target::server(&topic, "s1"));
    let fanout = to_topic.clone().with_fanout(true);

    let server_queue = format!("{topic}.s1");
    for (i, queue) in [&server_queue, &topic, &fanout_queue]
        .into_iter()
        .enumerate()
    {
        let took = delete_and_wait_for_recovery(&mut log, queue).await;
        println!("{queue}: consuming again {took:?} after its deletion");
        let sum = within(
            "a call to the server",
            to_server.call(&Default::default(), "add", json!({"a": i, "b": 1})),
        )
        .await
        .expect("answered after the recovery");
        assert_eq!(sum, json!(i + 1));
        within(
            "a call to the topic",
            to_topic.call(&Default::default(), "add", json!({"a": 1, "b": 1})),
        )
        .await
        .expect("answered after the recovery");
        within(
            "a fanout cast",
            fanout.cast(&Default::default(), "record", json!({"value": i})),
        )
        .await
        .expect("fanout cast");
        let (_, got) = within("the fanout cast", probe.records.recv())
            .await
            .expect("open");
        assert_eq!(got, json!(i));
    }
    let health = side.transport.health();
    assert_eq!(health.consumers.len(), 3, "{health:?}");
    for c in &health.consumers {
        assert_eq!(
            (c.state, c.recoveries),
            (ConsumerState::Consuming, 3),
            "{c:?}"
        );
    }
    assert!(health.is_healthy(), "{health:?}");
    // The same, as metrics (the process's: other tests of this binary
    // may add to them while this one runs, never take away).
    assert!(
        recoveries() - recovered_before >= 3.0,
        "this test's three recoveries"
    );
    let connected = [rabbit, ("purpose", "consume"), ("state", "connected")];
    assert!(prometheus::value("oslo_messaging_connections", &connected) >= 1.0);
    stop(&server).await;
    assert!(
        side.transport.health().consumers.is_empty(),
        "a stopped server has no consumers"
    );
    side.clean_up(&exchange).await;
}

/// Notification queues, of a pool and without one, deleted under running
/// listeners: the next notification arrives on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_notification_queues_are_declared_again() {
    let mut log = support::logs::subscribe();
    let (topic, exchange, pool) = (unique("ntopic"), unique("x"), unique("pool"));
    let side = Side::new(&exchange);
    let mut listeners = Vec::new();
    let mut seen = Vec::new();
    for p in [None, Some(pool.as_str())] {
        let (l, rx) = support::event_type_listener(&side.transport, &topic, p).await;
        listeners.push(l);
        seen.push(rx);
    }
    let notifier = Notifier::builder(&side.transport)
        .publisher_id("lost.queues")
        .driver("messagingv2")
        .topics([topic.as_str()])
        .build()
        .expect("notifier");
    for queue in [format!("{topic}.info"), pool.clone()] {
        let took = delete_and_wait_for_recovery(&mut log, &queue).await;
        println!("{queue}: consuming again {took:?} after its deletion");
        within(
            "notify",
            notifier.notify_checked(&Default::default(), Priority::Info, &queue, json!({})),
        )
        .await
        .expect("sent");
        for rx in &mut seen {
            let got = within("the notification", rx.recv()).await.expect("open");
            assert_eq!(got, queue);
        }
    }
    for l in &listeners {
        support::stop_listener(l).await;
    }
    side.clean_up(&exchange).await;
}

/// A queue that cannot be declared again (its exchange was replaced by
/// one of another type): health says `failed`, with the broker's reason,
/// and the transport is unhealthy; the driver keeps trying on its
/// schedule, and once the conflict is gone it consumes again and the next
/// call is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_shows_a_consumer_that_cannot_come_back_until_it_does() {
    let mut log = support::logs::subscribe();
    let (topic, exchange) = (unique("topic"), unique("x"));
    let side = Side::new(&exchange);
    let (server, _probe) = serve(&side.transport, &topic).await;
    assert!(side.transport.health().is_healthy());

    let raw = replace_with_a_fanout_exchange(&exchange).await;

    let server_queue = format!("{topic}.s1");
    delete(std::slice::from_ref(&server_queue), &[]).await;
    within(
        "the failed attempt in the log",
        support::logs::wait_for(&mut log, &["subscribing again failed", &server_queue]),
    )
    .await;
    let health = side.transport.health();
    assert!(!health.is_healthy(), "{health:?}");
    for c in &health.consumers {
        assert_eq!(c.state, ConsumerState::Failed, "{c:?}");
        let why = c.last_error.as_deref().unwrap_or_default();
        assert!(
            why.contains("inequivalent arg 'type'") && why.contains(&exchange),
            "{why}"
        );
    }

    // The conflict goes; the next attempt (after rabbit_retry_interval) succeeds.
    delete(&[], std::slice::from_ref(&exchange)).await;
    within(
        "the resumption in the log",
        support::logs::wait_for(&mut log, &["consumers resumed", &server_queue]),
    )
    .await;
    let health = side.transport.health();
    assert!(health.is_healthy(), "{health:?}");
    let client = RpcClient::new(&side.transport, Target::server(&topic, "s1"));
    let sum = within(
        "a call",
        client.call(&Default::default(), "add", json!({"a": 2, "b": 2})),
    )
    .await
    .expect("answered");
    assert_eq!(sum, json!(4));
    let _ = raw.close(200, "bye".into()).await;
    stop(&server).await;
    side.clean_up(&exchange).await;
}

/// The reply queue is deleted under a client: the call waiting on it
/// fails at once with an error naming the queue (not at its timeout), and
/// the next call declares the queue again and is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_reply_queue_fails_waiting_calls_and_comes_back_for_the_next() {
    let mut log = support::logs::subscribe();
    let (topic, exchange) = (unique("rtopic"), unique("x"));
    let server_side = Side::new(&exchange);
    let client_side = Side::new(&exchange);
    let (server, probe) = serve(&server_side.transport, &topic).await;
    let client = RpcClient::new(&client_side.transport, Target::topic(&topic))
        .with_timeout(Duration::from_secs(25));
    within(
        "a first call",
        client.call(&Default::default(), "add", json!({"a": 1, "b": 1})),
    )
    .await
    .expect("answered");
    let reply_queue = client_side
        .driver
        .declared_queues()
        .into_iter()
        .find(|q| q.starts_with("reply_"))
        .expect("the client's reply queue");

    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call(&Default::default(), "wait_gate", json!({}))
                .await
        })
    };
    within("the call at the server", probe.gate.entered()).await;
    let t0 = Instant::now();
    delete(std::slice::from_ref(&reply_queue), &[]).await;
    let e = within("the waiting call's failure", waiting)
        .await
        .expect("task")
        .expect_err("its reply queue is gone");
    println!(
        "the waiting call failed {:?} after the deletion: {e}",
        t0.elapsed()
    );
    assert!(e.to_string().contains(&reply_queue), "{e}");
    within(
        "the cancel in the log",
        support::logs::wait_for(&mut log, &["reply queue", "cancelled", &reply_queue]),
    )
    .await;
    probe.gate.open();
    let sum = within(
        "the next call",
        client.call(&Default::default(), "add", json!({"a": 2, "b": 3})),
    )
    .await
    .expect("answered: the reply queue was declared again");
    assert_eq!(sum, json!(5));
    stop(&server).await;
    client_side.clean_up(&exchange).await;
    server_side.clean_up(&exchange).await;
}

/// What a server had received when one of its queues was deleted is still
/// handled, once: the server queue is deleted while the server (inline
/// executor: one request at a time) is held by a request, with more casts
/// received on the topic queue's consumer of the same channel; the
/// server's queues cannot be declared again (the exchange was replaced).
/// Every cast received is handled while the consumer is `failed` (they
/// would otherwise wait, unacknowledged, for the channel to close and the
/// queue to be consumed again), and none is handled twice once the
/// consumers are back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_other_consumers_received_is_handled_once_after_a_cancel() {
    const CASTS: u64 = 20;
    let mut log = support::logs::subscribe();
    let (topic, exchange) = (unique("dtopic"), unique("x"));
    let side = Side::new(&exchange);
    let (endpoint, mut probe) = oslo_messaging_core::conformance::test_endpoint("s1", None, "1.0");
    let server = RpcServer::builder(&side.transport, Target::server(&topic, "s1"))
        .endpoint(endpoint)
        .executor("inline")
        .build()
        .expect("server");
    within("server start", server.start())
        .await
        .expect("starts");
    let client = RpcClient::new(&side.transport, Target::topic(&topic));
    within(
        "the holding cast",
        client.cast(&Default::default(), "wait_gate", json!({})),
    )
    .await
    .expect("cast");
    within("the server held", probe.gate.entered()).await;
    for i in 0..CASTS {
        within(
            "a cast",
            client.cast(&Default::default(), "record", json!({"value": i})),
        )
        .await
        .expect("cast");
    }
    // Every cast is in the server's hands (the broker has none ready).
    let raw = raw_connection().await;
    let ch = raw.create_channel().await.expect("channel");
    within("the casts delivered", async {
        loop {
            let q = ch
                .queue_declare(
                    topic.as_str().into(),
                    lapin::options::QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("the topic queue");
            if q.message_count() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;

    let impostor = replace_with_a_fanout_exchange(&exchange).await;
    let server_queue = format!("{topic}.s1");
    delete(std::slice::from_ref(&server_queue), &[]).await;
    probe.gate.open();
    let mut handled = Vec::new();
    for _ in 0..CASTS {
        let (_, value) = within("a cast received before the cancel", probe.records.recv())
            .await
            .expect("open");
        handled.push(value);
    }
    within(
        "the failed attempt in the log",
        support::logs::wait_for(&mut log, &["subscribing again failed", &server_queue]),
    )
    .await;
    assert!(
        side.transport
            .health()
            .consumers
            .iter()
            .all(|c| c.state == ConsumerState::Failed),
        "the casts were handled while the queues could not be consumed"
    );
    let expected: Vec<_> = (0..CASTS).map(|i| json!(i)).collect();
    assert_eq!(handled, expected, "each once, in order");

    delete(&[], std::slice::from_ref(&exchange)).await;
    within(
        "the resumption in the log",
        support::logs::wait_for(&mut log, &["consumers resumed", &server_queue]),
    )
    .await;
    within(
        "a cast after the recovery",
        client.cast(&Default::default(), "record", json!({"value": "after"})),
    )
    .await
    .expect("cast");
    let (_, next) = within("the cast after the recovery", probe.records.recv())
        .await
        .expect("open");
    assert_eq!(next, json!("after"), "nothing was handled twice");
    let _ = raw.close(200, "bye".into()).await;
    let _ = impostor.close(200, "bye".into()).await;
    stop(&server).await;
    side.clean_up(&exchange).await;
}

/// Calls go on while the server's queue is deleted three times under
/// four callers: every call returns its own request's result or fails
/// with a clear error (`MessageUndeliverable` while the queue is missing,
/// `at_least_once`; `MessagingTimeout` for a request lost with the queue),
/// the server handles no request twice, no reply arrives twice, and once
/// the queue is back every call is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_across_deletions_are_answered_once_or_fail_clearly() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    const CALLERS: u64 = 4;
    let mut log = support::logs::subscribe();
    let mut everything = support::logs::subscribe();
    let (topic, exchange) = (unique("ctopic"), unique("x"));
    let server_side = Side::new(&exchange);
    let client_side = Side::new(&exchange);
    let (server, mut probe) = serve(&server_side.transport, &topic).await;
    let client = RpcClient::new(&client_side.transport, Target::server(&topic, "s1"))
        .with_timeout(Duration::from_secs(3))
        .with_at_least_once(true);
    let stopping = Arc::new(AtomicBool::new(false));
    let (answered_tx, mut answered) = tokio::sync::mpsc::unbounded_channel();
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (client, stopping, answered) =
                (client.clone(), stopping.clone(), answered_tx.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                let mut i = 0u64;
                while !stopping.load(Ordering::SeqCst) {
                    let value = json!([caller, i]);
                    let started = Instant::now();
                    let got = client
                        .call(&Default::default(), "record", json!({"value": value}))
                        .await;
                    if got.is_ok() {
                        let _ = answered.send(caller);
                    }
                    outcomes.push((started, value, got));
                    i += 1;
                }
                outcomes
            })
        })
        .collect();
    // Every caller gets answers before, between and after the deletions.
    let answers_from_each = async |answered: &mut tokio::sync::mpsc::UnboundedReceiver<u64>| {
        let mut seen = HashMap::new();
        while seen.len() < CALLERS as usize || seen.values().any(|n| *n < 5) {
            let caller = within("answers to every caller", answered.recv())
                .await
                .expect("open");
            *seen.entry(caller).or_insert(0u32) += 1;
        }
    };
    answers_from_each(&mut answered).await;
    let server_queue = format!("{topic}.s1");
    let mut back = Instant::now();
    for _ in 0..3 {
        delete_and_wait_for_recovery(&mut log, &server_queue).await;
        back = Instant::now();
        // Answers already queued before the recovery do not count.
        while answered.try_recv().is_ok() {}
        answers_from_each(&mut answered).await;
    }
    stopping.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for caller in callers {
        outcomes.extend(within("the callers end", caller).await.expect("task"));
    }
    stop(&server).await;

    let mut handled = HashMap::new();
    while let Ok((_, value)) = probe.records.try_recv() {
        *handled.entry(value.to_string()).or_insert(0u32) += 1;
    }
    let twice: Vec<_> = handled.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    let (mut ok, mut failed) = (0, 0);
    for (started, value, got) in &outcomes {
        assert!(
            got.is_ok() || *started < back,
            "a call made once the queue was back failed: {got:?}"
        );
        match got {
            Ok(v) => {
                ok += 1;
                assert_eq!(v, &json!(null), "record answers null");
                assert_eq!(
                    handled.get(&value.to_string()),
                    Some(&1),
                    "an answered call was handled once: {value}"
                );
            }
            Err(e) => {
                failed += 1;
                assert!(
                    matches!(
                        e,
                        MessagingError::MessageUndeliverable { .. }
                            | MessagingError::MessagingTimeout { .. }
                    ),
                    "a clear error: {e:?}"
                );
            }
        }
    }
    println!(
        "{} calls: {ok} answered, {failed} failed clearly",
        outcomes.len()
    );
    let mut lines = Vec::new();
    loop {
        match everything.try_recv() {
            Ok(line) => lines.push(line),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                panic!("{n} log lines missed")
            }
            Err(_) => break,
        }
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("dropping a duplicate reply")),
        "no reply arrived twice"
    );
    client_side.clean_up(&exchange).await;
    server_side.clean_up(&exchange).await;
}
