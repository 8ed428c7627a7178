//! What the Kafka driver's tests share: the broker (started by
//! `scripts/ensure-kafka`, which `scripts/test` runs) and transports on it.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::notify::NotificationListener;
use oslo_messaging_core::Transport;
use oslo_messaging_driver_kafka as _;

/// The broker the tests use.
pub const BROKER: &str = "127.0.0.1:9092";
/// It as a transport URL.
pub const BROKER_URL: &str = "kafka://127.0.0.1:9092/";

/// A name no other test (in this or a concurrent run) uses.
pub fn unique(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("kafka{}_{what}_{n}", std::process::id())
}

/// Fails the test, saying how to start it, when the broker does not answer.
pub fn require_broker() {
    if std::net::TcpStream::connect(BROKER).is_err() {
        panic!("no Kafka broker on {BROKER}: run scripts/ensure-kafka (scripts/test does)");
    }
}

/// A transport on the Kafka driver with default options, creating topics
/// of `num_partitions` partitions.
pub fn transport_with_partitions(num_partitions: u32) -> Transport {
    require_broker();
    let url = format!("{BROKER_URL}?num_partitions={num_partitions}");
    Transport::new(&Config::defaults(), Some(&url)).expect("kafka transport")
}

/// A transport on the Kafka driver with `config`, its listeners in a
/// consumer group of their own unless a test names a pool, and the topics
/// it creates of one partition, so that each is in order as the
/// conformance cases expect of a queue (Kafka orders within a partition).
pub fn transport_with(config: &Config) -> Transport {
    require_broker();
    let url = format!(
        "{BROKER_URL}?consumer_group={}&num_partitions=1",
        unique("group")
    );
    Transport::new(config, Some(&url)).expect("kafka:// transport (is the driver linked?)")
}

/// Starts `listener`, failing the test when it does not start, or not
/// within 60 seconds (joining a consumer group takes a few).
pub async fn start(listener: &NotificationListener) {
    tokio::time::timeout(Duration::from_secs(60), listener.start())
        .await
        .expect("start in time")
        .expect("starts");
}
