//! # oslo-messaging-driver-rabbit
//!
//! The RabbitMQ driver for the `rabbit://` and `kombu://` schemes, on
//! [lapin], speaking the wire format of Python oslo.messaging: a Rust
//! service joins an existing OpenStack deployment and talks to Python
//! services on the same broker, both ways, and can even share a topic
//! queue with them.
//!
//! - Exchanges, queues and their flags as oslo.messaging declares them
//!   (see the table in the `topology` module docs and `../shared/DESIGN.md`).
//! - Publishes are confirmed by the broker: casts and notifications wait
//!   for their confirm; a call's request does not (its reply proves
//!   delivery); a reply's confirm is checked after the server moved on.
//!   Replies carry the mandatory flag, so a missing reply queue is noticed
//!   and the reply sent again until the queue appears or time runs out.
//! - Every `[oslo_messaging_rabbit]` option, read from configuration or the
//!   URL query; see [`RabbitOptions`]. Options it cannot honour are refused.
//! - Connections and consumers run on a runtime the driver owns.
//!
//! A binary that builds its transport only from a URL must keep this crate
//! linked by naming it once:
//!
//! ```no_run
//! use oslo_messaging_driver_rabbit as _;
//!
//! let transport = oslo_messaging_core::Transport::from_url(
//!     "rabbit://guest:guest@127.0.0.1:5672/?rabbit_qos_prefetch_count=10",
//! )?;
//! assert_eq!(transport.driver().name(), "rabbit");
//! # Ok::<(), oslo_messaging_core::MessagingError>(())
//! ```
#![deny(missing_docs)]

pub mod admin;
mod compression;
mod consumers;
mod driver;
mod endpoints;
mod io_runtime;
mod lapin_error;
mod link;
mod listener;
mod options;
mod publisher;
mod queue_manager;
mod reply_queue;
mod reply_sender;
mod shared;
mod socket;
mod subscription;
pub mod tap;
mod topology;
mod wire;

/// Entry points for the fuzz targets in `fuzz/` (and their regression
/// tests): the driver's decoders, fed arbitrary input. Not part of the
/// API's promises; hidden from the documentation.
#[doc(hidden)]
pub mod fuzzing {
    use lapin::types::{AMQPValue, FieldTable};

    /// Decodes `data` as a delivery whose `compression` header is
    /// `compression`, as a listener does: decompressed, unpacked, then read
    /// as an RPC request and as a reply. Returns whether it unpacked. Must
    /// never panic, hang or allocate without bound, whatever the input.
    pub fn decode_delivery(compression: Option<&str>, data: &[u8]) -> bool {
        let headers = compression.map(|c| {
            let mut t = FieldTable::default();
            t.insert("compression".into(), AMQPValue::LongString(c.into()));
            t
        });
        let Ok(mut u) = crate::wire::unpack_delivery(headers.as_ref(), data) else {
            return false;
        };
        let _ = crate::wire::reply(&u.body);
        let _ = crate::wire::request(&mut u.body);
        true
    }

    /// What the `message_body` target does with its input: the first byte
    /// picks the `compression` header (none, gzip, bz2, an unknown codec),
    /// the rest is decoded by [`decode_delivery`] and as a notification
    /// and a failure (`oslo_messaging_core::fuzzing`).
    pub fn message_body(data: &[u8]) {
        let (codec, body) = match data.split_first() {
            Some((b, rest)) => {
                let codec = match b % 4 {
                    0 => None,
                    1 => Some("application/x-gzip"),
                    2 => Some("application/x-bz2"),
                    _ => Some("application/x-lz4"),
                };
                (codec, rest)
            }
            None => (None, data),
        };
        decode_delivery(codec, body);
        oslo_messaging_core::fuzzing::decode_notification_and_failure(body);
    }
}

use std::sync::Arc;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::{Result, TransportUrl};

pub use driver::RabbitDriver;

/// Locks `m`. A panic of another holder does not make the lock unusable
/// for the rest of the driver (the rule every module of the driver uses).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
pub use options::{RabbitOptions, GROUP};

/// The URL schemes this driver serves (`kombu` is oslo.messaging's alias).
pub const SCHEMES: &[&str] = &["rabbit", "kombu"];

/// The driver's name in errors and logs.
pub const DRIVER: &str = "rabbit";

fn factory(url: &TransportUrl, config: &Config) -> Result<Arc<dyn Driver>> {
    Ok(Arc::new(RabbitDriver::new(url, config)?))
}

oslo_messaging_core::register_driver!(SCHEMES, factory);
