//! The core conformance suite on the Kafka driver, against the broker at
//! 127.0.0.1:9092: the notification cases run, the RPC and requeue cases
//! check that the driver refuses them (it claims neither).

mod support;

use oslo_messaging_core::conformance::Harness;

fn harness() -> Harness {
    Harness::new(|config| async move { support::transport_with(&config) })
}

oslo_messaging_core::conformance_suite!(harness());
