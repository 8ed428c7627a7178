//! A reply whose queue is missing is sent again until the queue appears
//! (`kombu_missing_consumer_retry_timeout`), as oslo.messaging does: the
//! server publishes replies mandatory, the broker returns one that no queue
//! takes, and the driver notices from the publisher confirm, which it
//! checks after the server has moved on. Against the broker at
//! 127.0.0.1:5672; deletes its queues.
//!
//! The test waits for the driver's log event that says the reply came back,
//! so it declares the reply queue only after the first attempt failed.

use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::TransportUrl;
use oslo_messaging_driver_rabbit::admin;
use serde_json::{json, Value};

mod support;
use support::{echo_server, main_transport, MAIN_URL};

const PATIENCE: Duration = Duration::from_secs(30);

/// A request in oslo.messaging's 2.0 envelope, answered to `reply_q`.
fn request(msg_id: &str, reply_q: &str) -> Vec<u8> {
    let inner = json!({
        "method": "echo",
        "args": {"value": 5},
        "_msg_id": msg_id,
        "_reply_q": reply_q,
        "_unique_id": "u-reply-queue-test",
    });
    json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
        .to_string()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_sent_again_until_its_queue_appears() {
    let mut log = support::logs::subscribe();

    let (driver, transport) = main_transport();
    let topic = format!("reply_queue_{}", std::process::id());
    let reply_q = format!("{topic}_late_reply_queue");
    let server = echo_server(&transport, &topic);
    server.start().await.expect("server starts");

    let raw = lapin::Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("raw connection");
    let channel = raw.create_channel().await.expect("channel");
    channel
        .basic_publish(
            "openstack".into(),
            topic.as_str().into(),
            BasicPublishOptions::default(),
            &request("m-late", &reply_q),
            lapin::BasicProperties::default(),
        )
        .await
        .expect("publish");

    let came_back = async {
        loop {
            let line = support::logs::wait_for(&mut log, &["reply"]).await;
            if line.contains("reply not confirmed") || line.contains("reply queue missing") {
                return line;
            }
        }
    };
    let line = tokio::time::timeout(PATIENCE, came_back)
        .await
        .expect("the driver notices that the reply came back");

    let options = QueueDeclareOptions {
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(reply_q.as_str().into(), options, FieldTable::default())
        .await
        .expect("declare the reply queue");
    let mut replies = channel
        .basic_consume(
            reply_q.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume the reply queue");
    let reply = tokio::time::timeout(PATIENCE, replies.next())
        .await
        .expect("the reply arrives once its queue exists")
        .expect("a delivery")
        .expect("no error");

    server.stop().await.expect("stop");
    server.wait().await.expect("wait");
    driver.cleanup().await;
    let _ = raw.close(200, "done".into()).await;
    let url = TransportUrl::parse(MAIN_URL).expect("url");
    admin::delete(&url, &Config::defaults(), &driver.declared_queues(), &[])
        .await
        .expect("delete the queues");

    let envelope: Value = serde_json::from_slice(&reply.data).expect("JSON envelope");
    let inner: Value = serde_json::from_str(envelope["oslo.message"].as_str().expect("message"))
        .expect("JSON message");
    assert_eq!(inner["_msg_id"], "m-late", "{line}: {inner}");
    assert_eq!(inner["result"], 5, "{inner}");
}
