//! # oslo-messaging-driver-fake
//!
//! An in-memory driver for the `fake://` scheme, so services can be
//! unit-tested with no broker. It keeps a broker's semantics: a topic queue
//! is shared round robin by the servers on it, each server has its own
//! queue, fanout reaches every server, replies go to the caller, calls
//! expire with their timeout, notifications wait in `topic.priority` queues
//! (or a pool's queue) and can be requeued.
//!
//! Transports that name the same virtual host (`fake:///myvhost`) share one
//! broker for the life of the process; different virtual hosts are isolated.
//!
//! A binary that builds its transport only from a URL must keep this crate
//! linked by naming it once:
//!
//! ```
//! use oslo_messaging_driver_fake as _;
//!
//! let transport = oslo_messaging_core::Transport::from_url("fake://").expect("fake driver is linked");
//! assert_eq!(transport.driver().name(), "fake");
//! ```
#![deny(missing_docs)]

mod broker;
mod driver;
mod listener;
mod queue;

use std::sync::Arc;

use oslo_messaging_core::config::{Config, OptionGroup};
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::{Result, TransportUrl};

pub use driver::FakeDriver;

/// The URL schemes this driver serves.
pub const SCHEMES: &[&str] = &["fake"];

/// Options of the fake driver: there are none, so any option in a `fake://`
/// URL's query is refused as unknown rather than silently ignored.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FakeOptions {}

impl OptionGroup for FakeOptions {
    const NAME: &'static str = "oslo_messaging_fake";
}

fn factory(url: &TransportUrl, config: &Config) -> Result<Arc<dyn Driver>> {
    config.driver_group::<FakeOptions>(url)?;
    let defaults = config.default_group()?;
    let vhost = url.virtual_host.as_deref().unwrap_or("/");
    Ok(Arc::new(FakeDriver::new(vhost, defaults.control_exchange)))
}

oslo_messaging_core::register_driver!(SCHEMES, factory);
