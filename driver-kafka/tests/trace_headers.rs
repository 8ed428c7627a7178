//! The W3C trace context in Kafka record headers: a notification's goes
//! out as the headers `traceparent` and `tracestate` (where Kafka
//! instrumentations read it) beside the body's nested `_context` (where
//! Python reads it), and a record that carries it only in its headers
//! reaches the listener with it in its context.

mod support;

use std::time::Duration;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::notify::{
    NotificationEndpoint, NotificationListener, NotificationResult, Notifier, NotifySendExt,
};
use oslo_messaging_core::telemetry::trace::{TRACEPARENT, TRACESTATE};
use oslo_messaging_core::{wire, Context, Priority, Target};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const STATE: &str = "congo=t61rcWkgMzE";
const PATIENCE: Duration = Duration::from_secs(60);

fn header(m: &impl Message, key: &str) -> Option<String> {
    let h = m.headers()?.iter().find(|h| h.key == key)?;
    Some(String::from_utf8(h.value?.to_vec()).expect("utf-8 header"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifications_trace_context_goes_out_as_record_headers() {
    let t = support::transport_with_partitions(1);
    let topic = support::unique("trace_out");
    let notifier = Notifier::builder(&t)
        .driver("messagingv2")
        .topics([topic.as_str()])
        .publisher_id("rust.host1")
        .build()
        .expect("notifier");
    let mut context = Context::new();
    context.insert("user".into(), "alice".into());
    context.insert(TRACEPARENT.into(), PARENT.into());
    context.insert(TRACESTATE.into(), STATE.into());
    tokio::time::timeout(
        PATIENCE,
        notifier.info(&context, "compute.instance.create.end", json!({"id": 1})),
    )
    .await
    .expect("send in time")
    .expect("sent");

    // The one record of the topic, read from its start.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", support::BROKER)
        .set("group.id", support::unique("raw"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("raw consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&format!("{topic}.info"), 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let record = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            assert!(std::time::Instant::now() < deadline, "no record in time");
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => return m.detach(),
                Some(Err(e)) => panic!("poll: {e}"),
                None => {}
            }
        }
    })
    .await
    .expect("poll task");
    assert_eq!(header(&record, TRACEPARENT).as_deref(), Some(PARENT));
    assert_eq!(header(&record, TRACESTATE).as_deref(), Some(STATE));
    // And in the body, where Python reads it.
    let (sent, _) =
        wire::unpack_nested_context(record.payload().expect("payload")).expect("unpacks");
    assert_eq!(sent[TRACEPARENT], PARENT);
    assert_eq!(sent["user"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_with_the_trace_context_only_in_its_headers_is_honoured() {
    // A consumer group of its own: no member of another test's group.
    let t = support::transport_with(&Config::defaults());
    let topic = support::unique("trace_in");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = NotificationEndpoint::builder(tx)
        .on_priorities([Priority::Info], |tx, n| async move {
            let _ = tx.send(n);
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(&t, vec![Target::topic(&topic)])
        .endpoint(endpoint)
        .build()
        .expect("listener");
    support::start(&listener).await;

    // What another Kafka producer sends: Python's body, whose context has
    // no trace context, and the trace context in the record headers.
    let mut context = Context::new();
    context.insert("user".into(), "alice".into());
    let message = json!({
        "message_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "publisher_id": "other.host1",
        "event_type": "compute.instance.create.end",
        "priority": "INFO",
        "payload": {"id": 1},
        "timestamp": "2026-12-01 10:00:00.000000",
    });
    let body = wire::notification_body_nested_context(
        &context,
        message.as_object().cloned().expect("object"),
    );
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", support::BROKER)
        .create()
        .expect("raw producer");
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: TRACEPARENT,
            value: Some(PARENT),
        })
        .insert(Header {
            key: TRACESTATE,
            value: Some(STATE),
        });
    let topic_info = format!("{topic}.info");
    let record: FutureRecord<'_, (), _> = FutureRecord::to(&topic_info)
        .payload(&body)
        .headers(headers);
    producer
        .send(record, PATIENCE)
        .await
        .map_err(|(e, _)| e)
        .expect("produced");

    let n = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("notification in time")
        .expect("notification");
    listener.stop().await.expect("stop");
    listener.wait().await.expect("wait");
    assert_eq!(n.publisher_id.as_deref(), Some("other.host1"));
    assert_eq!(n.context["user"], "alice");
    assert_eq!(n.context[TRACEPARENT], PARENT);
    assert_eq!(n.context[TRACESTATE], STATE);
}
