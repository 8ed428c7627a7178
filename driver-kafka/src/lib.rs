//! # oslo-messaging-driver-kafka
//!
//! The `kafka://` driver: notifications over Apache Kafka (or a broker
//! that speaks its protocol), wire-compatible with Python oslo.messaging
//! 18.3.1's `impl_kafka.py`, on librdkafka (the engine under Python's
//! confluent-kafka). As in Python, it carries notifications only: RPC
//! calls, casts and servers fail with
//! [`MessagingError::Unsupported`](oslo_messaging_core::MessagingError::Unsupported).
//!
//! - **URL**: `kafka://[user:pass@]host[:port][,host[:port]...]/` (port
//!   9092 by default). Leave the path empty: see [`topics`].
//! - **Records**: the notification in the 2.0 envelope with the context
//!   nested under `_context` ([`oslo_messaging_core::wire::notification_body_nested_context`]).
//! - **Topics**: `<topic>.<priority>` ([`topics`]).
//! - **Pools**: a listener's pool is its consumer group (`group.id`);
//!   without one, `[oslo_messaging_kafka] consumer_group`. Listeners of one
//!   group share the topics' partitions; each group gets every record.
//! - **Offsets**: committed before dispatch by default, as Python; or
//!   after, with `delivery_semantics = at-least-once`, which also makes
//!   requeue possible. See [`options::KafkaOptions`].
//!
//! ```no_run
//! use oslo_messaging_driver_kafka as _;
//!
//! let transport = oslo_messaging_core::Transport::from_url("kafka://127.0.0.1:9092")
//!     .expect("the kafka driver is linked");
//! assert_eq!(transport.driver().name(), "kafka");
//! ```
#![deny(missing_docs)]

mod connection;
mod driver;
mod kafka_error;
mod listener;
pub mod options;
pub mod topics;

use std::sync::Arc;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::{Result, TransportUrl};

pub use driver::KafkaDriver;
pub use options::{DeliverySemantics, KafkaOptions};

/// The URL schemes this driver serves.
pub const SCHEMES: &[&str] = &["kafka"];

/// The driver's name in errors and logs.
pub const DRIVER: &str = "kafka";

fn factory(url: &TransportUrl, config: &Config) -> Result<Arc<dyn Driver>> {
    let options: KafkaOptions = config.driver_group(url)?;
    let brokers = options::Brokers::from_url(url)?;
    Ok(Arc::new(KafkaDriver::new(
        options,
        brokers,
        url.virtual_host.clone(),
    )?))
}

oslo_messaging_core::register_driver!(SCHEMES, factory);
