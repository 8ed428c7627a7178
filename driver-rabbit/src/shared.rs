//! What the driver's parts share (the subscriptions and listeners reach the
//! options, topology, I/O runtime and consume connection through it).

use std::sync::Arc;

use crate::consumers::Registry;
use crate::link::Link;
use crate::options::RabbitOptions;
use crate::reply_sender::Confirms;
use crate::topology::{Declared, Topology};

/// What the driver's parts share.
pub(crate) struct RabbitShared {
    pub opts: RabbitOptions,
    pub topology: Topology,
    pub io: tokio::runtime::Handle,
    pub consume_link: Arc<Link>,
    pub declared: Arc<Declared>,
    /// Checks the confirms of replies.
    pub confirms: Confirms,
    /// The running subscriptions' health.
    pub consumers: Registry,
}
