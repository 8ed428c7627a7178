//! The core conformance suite on the Kafka driver with
//! `delivery_semantics = at-least-once`, which claims requeue.

mod support;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::conformance::Harness;

fn harness() -> Harness {
    Harness::new(|mut config: Config| async move {
        config.set_override(
            "oslo_messaging_kafka",
            "delivery_semantics",
            "at-least-once",
        );
        support::transport_with(&config)
    })
}

oslo_messaging_core::conformance_suite!(harness());
