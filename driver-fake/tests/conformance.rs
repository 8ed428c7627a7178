//! The core conformance suite over `fake://`; each case gets its own virtual
//! host so cases running in parallel never see each other's queues.

use oslo_messaging_core::conformance::Harness;
// Keep the driver linked: this binary only reaches it through the URL scheme.
use oslo_messaging_core::Transport;
use oslo_messaging_driver_fake as _;

fn harness() -> Harness {
    Harness::new(|config| async move {
        Transport::new(&config, Some("fake:///conformance")).expect("fake transport")
    })
}

oslo_messaging_core::conformance_suite!(harness());
