//! The core conformance suite with the `[oslo_messaging_rabbit]` preset
//! that oslo.messaging's admin guide recommends in 2026:
//!
//! ```ini
//! rabbit_quorum_queue = true
//! rabbit_transient_quorum_queue = true
//! use_queue_manager = true
//! rabbit_stream_fanout = true
//! rabbit_qos_prefetch_count = 10
//! ```
//!
//! run twice: on the main RabbitMQ 3.10 broker (127.0.0.1:5672), and on a
//! private RabbitMQ 4 node configured as 4.3 behaves by default (transient
//! non-exclusive queues and global QoS refused; see `support::rabbitmq4`),
//! started once for this test binary and stopped when it exits. Both fail,
//! not skip, when their broker cannot be had.
//!
//! Each case has a control exchange of its own (the preset declares
//! exchanges durable; the main broker's `openstack` is non-durable and
//! shared), and after each case every queue and exchange its drivers
//! declared is deleted, streams and queue-manager queues included.

mod support;

use std::sync::{Arc, Mutex, OnceLock};

use oslo_messaging_core::conformance::Harness;
use oslo_messaging_core::{config::Config, Transport, TransportUrl};
use oslo_messaging_driver_rabbit::RabbitDriver;
use support::rabbitmq4::Rabbitmq4Node;

/// The preset, as a transport URL query.
const PRESET: &str = "rabbit_quorum_queue=true&rabbit_transient_quorum_queue=true\
                      &use_queue_manager=true&rabbit_stream_fanout=true&rabbit_qos_prefetch_count=10";

/// A harness on the broker at `base` (`rabbit://user:pass@host:port/`).
fn harness(base: String) -> Harness {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let control_exchange = format!(
        "conf{}_preset_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let url = format!("{base}?{PRESET}");
    let drivers: Arc<Mutex<Vec<Arc<RabbitDriver>>>> = Arc::default();
    let made = drivers.clone();
    let (make_url, exchange) = (url.clone(), control_exchange.clone());
    Harness::new(move |mut config: Config| {
        let made = made.clone();
        let url = TransportUrl::parse(&make_url).expect("url");
        config.set_override("DEFAULT", "control_exchange", exchange.clone());
        async move {
            let driver = Arc::new(RabbitDriver::new(&url, &config).expect("rabbit driver"));
            made.lock().expect("lock").push(driver.clone());
            Transport::with_driver(driver, url, &config).expect("transport")
        }
    })
    .with_teardown(move || {
        let drivers: Vec<Arc<RabbitDriver>> = drivers.lock().expect("lock").drain(..).collect();
        let (url, control_exchange) = (url.clone(), control_exchange.clone());
        async move { support::delete_declared(&url, &drivers, &[control_exchange]).await }
    })
}

/// The preset on the main RabbitMQ 3.10 broker.
mod on_rabbitmq_3 {
    fn harness() -> oslo_messaging_core::conformance::Harness {
        super::harness(super::support::MAIN_URL.to_owned())
    }

    oslo_messaging_core::conformance_suite!(harness());
}

/// The preset on a private RabbitMQ 4 node that refuses what 4.3 refuses.
mod on_rabbitmq_4 {
    use super::*;

    fn node() -> &'static Rabbitmq4Node {
        static NODE: OnceLock<Rabbitmq4Node> = OnceLock::new();
        // Blocks one runtime worker while the first case starts the node;
        // the other cases wait here for it.
        NODE.get_or_init(Rabbitmq4Node::start)
    }

    fn harness() -> Harness {
        super::harness(node().url())
    }

    oslo_messaging_core::conformance_suite!(harness());
}
