//! A fetch from an offset inside a record batch: a Kafka broker answers
//! with the whole batch and the consumer skips what came before the
//! offset; tansu 0.6 answers from the next batch on. It happens to a
//! listener whose group committed such an offset (as a commit after a
//! batch taken at most once does), and to a requeue (at least once),
//! which seeks back to the requeued record. Either every record from that
//! offset on arrives, or the listener reports the records it never got
//! (log and health), never a silent gap, and its partition goes on.

mod support;

use std::time::Duration;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::notify::{NotificationEndpoint, NotificationListener, NotificationResult};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use oslo_messaging_core::{wire, Context, Priority, Target, Transport};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

const PATIENCE: Duration = Duration::from_secs(60);
/// Records per batch, and the batches written.
const BATCH: usize = 10;
/// The offset the group committed: inside the first batch.
const COMMITTED: usize = 5;

fn body(i: usize) -> Vec<u8> {
    let message = json!({
        "message_id": format!("00000000-0000-4000-8000-{i:012}"),
        "publisher_id": "p",
        "event_type": format!("e.{i:02}"),
        "priority": "INFO",
        "payload": {},
        "timestamp": "2026-12-01 10:00:00.000000",
    });
    wire::notification_body_nested_context(
        &Context::new(),
        message.as_object().cloned().expect("object"),
    )
}

/// Writes records `from..from + BATCH` at once, so that the producer puts
/// them in one batch (it lingers 200 ms for more).
async fn write_batch(producer: &FutureProducer, topic: &str, from: usize) {
    let bodies: Vec<Vec<u8>> = (from..from + BATCH).map(body).collect();
    // Each queued in the producer before any delivery is awaited.
    let deliveries: Vec<_> = bodies
        .iter()
        .map(|b| {
            let record: FutureRecord<'_, (), _> = FutureRecord::to(topic).payload(b);
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("queued")
        })
        .collect();
    for delivery in deliveries {
        tokio::time::timeout(PATIENCE, delivery)
            .await
            .expect("delivered in time")
            .expect("not cancelled")
            .map_err(|(e, _)| e)
            .expect("produced");
    }
}

/// The event types `rx` gets up to the last record's (`e.19`), in order
/// (the listeners read inline); fails the test when it does not come in
/// time (a stalled partition?).
async fn receive_until_last(rx: &mut UnboundedReceiver<String>) -> Vec<String> {
    let last = format!("e.{:02}", 2 * BATCH - 1);
    let mut received = Vec::new();
    while received.last() != Some(&last) {
        let event = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{last} in time (a stalled partition?); got {received:?}"))
            .expect("open");
        received.push(event);
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_broker_skips_are_reported_never_silently_lost() {
    support::require_broker();
    let topic = support::unique("skips");
    let partition_topic = format!("{topic}.info");
    let group = support::unique("group");
    let raw = |extra: &[(&str, &str)]| {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", support::BROKER);
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c
    };
    let admin: AdminClient<DefaultClientContext> = raw(&[]).create().expect("admin");
    admin
        .create_topics(
            &[NewTopic::new(
                &partition_topic,
                1,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await
        .expect("create topics")
        .into_iter()
        .for_each(|r| {
            r.expect("topic created");
        });
    let producer: FutureProducer = raw(&[("linger.ms", "200")]).create().expect("producer");
    write_batch(&producer, &partition_topic, 0).await;
    write_batch(&producer, &partition_topic, BATCH).await;

    // The group's offset, inside the first batch.
    let committer: BaseConsumer = raw(&[("group.id", &group), ("enable.auto.commit", "false")])
        .create()
        .expect("committer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&partition_topic, 0, Offset::Offset(COMMITTED as i64))
        .expect("offset");
    let committed = tokio::task::spawn_blocking(move || committer.commit(&tpl, CommitMode::Sync))
        .await
        .expect("commit task");
    committed.expect("committed");

    let url = format!("{}?consumer_group={group}", support::BROKER_URL);
    let t = Transport::new(&Config::defaults(), Some(&url)).expect("kafka transport");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = NotificationEndpoint::builder(tx)
        .on_priorities([Priority::Info], |tx, n| async move {
            let _ = tx.send(n.event_type);
            Ok(NotificationResult::Handled)
        })
        .build();
    // Inline: in offset order, so that once the last record is in, any
    // other missing one was never delivered.
    let listener = NotificationListener::builder(&t, vec![Target::topic(&topic)])
        .endpoint(endpoint)
        .executor("inline")
        .build()
        .expect("listener");
    support::start(&listener).await;
    let received = receive_until_last(&mut rx).await;
    let health = t.health();
    listener.stop().await.expect("stop");
    listener.wait().await.expect("wait");

    let all: Vec<String> = (COMMITTED..2 * BATCH)
        .map(|i| format!("e.{i:02}"))
        .collect();
    let missing = all.iter().filter(|e| !received.contains(e)).count();
    let reported = health.consumers[0].last_error.clone().unwrap_or_default();
    if missing == 0 {
        assert_eq!(received, all);
        assert!(!reported.contains("offset gap"), "{reported}");
    } else {
        assert!(
            received.iter().all(|e| all.contains(e)),
            "nothing before the committed offset: {received:?}"
        );
        assert!(
            reported.contains(&format!("offset gap: {missing} record(s) before offset"))
                && reported.contains("never delivered"),
            "{missing} missing, reported: {reported:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeue_the_broker_answers_past_is_reported_and_its_partition_goes_on() {
    support::require_broker();
    let topic = support::unique("requeue_skips");
    let url = format!(
        "{}?consumer_group={}&num_partitions=1&delivery_semantics=at-least-once",
        support::BROKER_URL,
        support::unique("group")
    );
    let t = Transport::new(&Config::defaults(), Some(&url)).expect("kafka transport");
    let requeued = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = NotificationEndpoint::builder((tx, requeued.clone()))
        .on_priorities([Priority::Info], |state, n| async move {
            let (tx, requeued) = &*state;
            if n.event_type == format!("e.{COMMITTED:02}") && !requeued.swap(true, Ordering::SeqCst)
            {
                return Ok(NotificationResult::Requeue);
            }
            let _ = tx.send(n.event_type);
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(&t, vec![Target::topic(&topic)])
        .endpoint(endpoint)
        .executor("inline")
        .allow_requeue(true)
        .build()
        .expect("listener");
    support::start(&listener).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", support::BROKER)
        .set("linger.ms", "200")
        .create()
        .expect("producer");
    let partition_topic = format!("{topic}.info");
    write_batch(&producer, &partition_topic, 0).await;
    write_batch(&producer, &partition_topic, BATCH).await;

    let received = receive_until_last(&mut rx).await;
    let health = t.health();
    listener.stop().await.expect("stop");
    listener.wait().await.expect("wait");
    assert!(
        requeued.load(Ordering::SeqCst),
        "e.{COMMITTED:02} was requeued"
    );

    let all: Vec<String> = (0..2 * BATCH).map(|i| format!("e.{i:02}")).collect();
    let missing = all.iter().filter(|e| !received.contains(e)).count();
    let reported = health.consumers[0].last_error.clone().unwrap_or_default();
    if missing == 0 {
        assert!(!reported.contains("offset gap"), "{reported}");
    } else {
        assert!(
            reported.contains("offset gap") && reported.contains("never delivered"),
            "{missing} missing ({received:?}), reported: {reported:?}"
        );
    }
}
