//! The core conformance suite against the real broker at 127.0.0.1:5672
//! (the same cases as `fake://`). It fails, not skips, when the broker is
//! down. After each case, every queue and exchange the case's drivers
//! declared is deleted (the control exchange `openstack` is shared, so it stays).

mod support;

use std::sync::{Arc, Mutex};

use oslo_messaging_core::conformance::Harness;
use oslo_messaging_core::{config::Config, Transport, TransportUrl};
use oslo_messaging_driver_rabbit::RabbitDriver;

const URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

fn harness() -> Harness {
    let drivers: Arc<Mutex<Vec<Arc<RabbitDriver>>>> = Arc::default();
    let made = drivers.clone();
    Harness::new(move |config: Config| {
        let made = made.clone();
        async move {
            let url = TransportUrl::parse(URL).expect("url");
            let driver = Arc::new(RabbitDriver::new(&url, &config).expect("rabbit driver"));
            made.lock().expect("lock").push(driver.clone());
            Transport::with_driver(driver, url, &config).expect("transport")
        }
    })
    .with_teardown(move || {
        let drivers: Vec<Arc<RabbitDriver>> = drivers.lock().expect("lock").drain(..).collect();
        async move { support::delete_declared(URL, &drivers, &[]).await }
    })
}

oslo_messaging_core::conformance_suite!(harness());
