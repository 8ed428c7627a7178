//! Notifications over any driver, Kafka included: a notifier sends
//! telemetry; two listeners share a pool (`ceilometer`), each taking part
//! of it, while a listener in another pool (`audit`) gets all of it. This
//! is what Ceilometer and Monasca deployments do over `kafka://`.
//!
//! ```text
//! cargo run -p oslo-messaging-examples --bin notifications                                # fake://
//! cargo run -p oslo-messaging-examples --bin notifications -- kafka://127.0.0.1:9092/
//! cargo run -p oslo-messaging-examples --bin notifications -- rabbit://guest:guest@127.0.0.1:5672/
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;

use oslo_messaging_core::{
    Context, NotificationEndpoint, NotificationListener, NotificationResult, Notifier,
    NotifySendExt, Priority, Result, Target, Transport,
};
// The drivers are only reached through the URL scheme: keep them linked.
use oslo_messaging_driver_fake as _;
use oslo_messaging_driver_kafka as _;
use oslo_messaging_driver_rabbit as _;
use serde_json::json;
use tokio::sync::mpsc;

const SAMPLES: usize = 40;

#[tokio::main]
async fn main() -> ExitCode {
    oslo_messaging_examples::main_with_url_arg("notifications example", run).await
}

/// A listener in `pool` on `metering.sample`, reporting `(name, event_type)`.
async fn listener(
    transport: &Transport,
    pool: &str,
    name: &'static str,
    seen: &mpsc::UnboundedSender<(&'static str, String)>,
) -> Result<NotificationListener> {
    let endpoint = NotificationEndpoint::builder(seen.clone())
        .on(Priority::Sample, move |seen, n| async move {
            let _ = seen.send((name, n.event_type));
            Ok(NotificationResult::Handled)
        })
        .build();
    let l = NotificationListener::builder(transport, vec![Target::topic("metering")])
        .endpoint(endpoint)
        .pool(pool)
        .build()?;
    l.start().await?;
    Ok(l)
}

async fn run(transport: Transport) -> Result<()> {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let listeners = [
        listener(&transport, "ceilometer", "ceilometer-1", &seen_tx).await?,
        listener(&transport, "ceilometer", "ceilometer-2", &seen_tx).await?,
        listener(&transport, "audit", "audit", &seen_tx).await?,
    ];
    let notifier = Notifier::builder(&transport)
        .publisher_id("compute.host1")
        .driver("messagingv2")
        .topics(["metering"])
        .build()?;
    for i in 0..SAMPLES {
        notifier
            .sample(
                &Context::new(),
                &format!("cpu.util.{i}"),
                json!({"value": i}),
            )
            .await?;
    }
    // Every sample twice: once in the ceilometer pool, once in audit.
    let mut per_listener = BTreeMap::new();
    for _ in 0..2 * SAMPLES {
        let Some((name, _event)) = seen.recv().await else {
            break;
        };
        *per_listener.entry(name).or_insert(0) += 1;
    }
    for (name, count) in &per_listener {
        println!("{name}: {count} samples");
    }
    let pool: usize = per_listener
        .iter()
        .filter(|(n, _)| n.starts_with("ceilometer"))
        .map(|(_, c)| c)
        .sum();
    println!(
        "pool ceilometer: {pool} of {SAMPLES}; pool audit: {} of {SAMPLES}",
        per_listener.get("audit").unwrap_or(&0)
    );
    for l in &listeners {
        l.stop().await?;
        l.wait().await?;
    }
    transport.cleanup().await;
    println!("done");
    Ok(())
}
