//! # oslo-messaging
//!
//! The one crate an application depends on: the API of
//! `oslo-messaging-core` (transports, RPC, notifications, `#[rpc_interface]`,
//! options), and the drivers its features enable, linked in so that their
//! URL schemes work without naming the driver crates:
//!
//! | feature | driver | schemes |
//! |---|---|---|
//! | `rabbit` (default) | `oslo-messaging-driver-rabbit` | `rabbit`, `kombu` |
//! | `kafka` | `oslo-messaging-driver-kafka` (notifications only) | `kafka` |
//! | `fake` | `oslo-messaging-driver-fake` | `fake` |
//! | `macros` (default) | `#[rpc_interface]` | |
//! | `mock` | `MockRpcSend`, `MockNotifySend` (mockall) | |
//!
//! ```toml
//! [dependencies]
//! oslo-messaging = "0.1"
//! [dev-dependencies]
//! oslo-messaging = { version = "0.1", features = ["fake"] }
//! ```
//!
//! ```
//! # #[cfg(feature = "fake")]
//! # fn main() -> oslo_messaging::Result<()> {
//! let transport = oslo_messaging::Transport::from_url("fake://")?;
//! assert_eq!(transport.driver().name(), "fake");
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "fake"))]
//! # fn main() {}
//! ```
#![deny(missing_docs)]

pub use oslo_messaging_core::*;

/// The RabbitMQ driver (feature `rabbit`): its options, TLS and admin helpers.
#[cfg(feature = "rabbit")]
pub use oslo_messaging_driver_rabbit as rabbit;

/// The Kafka driver (feature `kafka`): its options and topic names.
#[cfg(feature = "kafka")]
pub use oslo_messaging_driver_kafka as kafka;

/// The in-memory driver (feature `fake`).
#[cfg(feature = "fake")]
pub use oslo_messaging_driver_fake as fake;
