//! Shared pieces of the driver's tests: private RabbitMQ nodes, a TCP
//! proxy, certificates, the driver's log events, and on the main broker
//! transports, servers and housekeeping.
#![allow(dead_code)]

pub mod logs;
pub mod node;
pub mod proxy;
pub mod rabbitmq4;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::conformance::{test_endpoint, ProbeHandles};
use oslo_messaging_core::rpc::{Endpoint, EndpointError, RpcServer};
use oslo_messaging_core::{Target, Transport, TransportUrl};
use oslo_messaging_driver_rabbit::RabbitDriver;
use serde::Deserialize;
use serde_json::Value;

/// The broker every machine of the project runs.
pub const MAIN_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

/// The same broker as an AMQP URI, for raw lapin connections.
pub const MAIN_AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Upper bound for anything that must happen (a reply, a delivery, a log
/// event): it turns a hang into a failure, it never lets things happen.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Awaits `fut`, failing the test with `what` after [`PATIENCE`].
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {PATIENCE:?} waiting for {what}"))
}

/// Waits until `transport`'s health satisfies `holds` (see
/// [`oslo_messaging_core::conformance::until_health`]), failing the test
/// with `what` after [`PATIENCE`].
pub async fn until_health(
    what: &str,
    transport: &Transport,
    holds: impl Fn(&oslo_messaging_core::health::Health) -> bool,
) {
    oslo_messaging_core::conformance::until_health(what, transport, PATIENCE, holds).await;
}

/// `<prefix><pid>_<what>_<n>`: a name no other test, in this run or a
/// concurrent one, uses.
pub fn unique(prefix: &str, what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}_{what}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A started server at `target` with the conformance test endpoint
/// (named after the target's server).
pub async fn serve(t: &Transport, target: Target) -> (RpcServer, ProbeHandles) {
    let name = target.server.clone().unwrap_or_default();
    let (endpoint, probe) = test_endpoint(&name, None, "1.0");
    let server = RpcServer::builder(t, target)
        .endpoint(endpoint)
        .build()
        .expect("server");
    within("server start", server.start())
        .await
        .expect("server starts");
    (server, probe)
}

/// A started listener on `topic` (in `pool`, if any), every priority,
/// handing over the event type of each notification.
pub async fn event_type_listener(
    t: &Transport,
    topic: &str,
    pool: Option<&str>,
) -> (
    oslo_messaging_core::NotificationListener,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use oslo_messaging_core::{
        NotificationEndpoint, NotificationListener, NotificationResult, Priority,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = NotificationEndpoint::builder(tx)
        .on_priorities(Priority::ALL, |tx, n| async move {
            let _ = tx.send(n.event_type);
            Ok(NotificationResult::Handled)
        })
        .build();
    let mut builder =
        NotificationListener::builder(t, vec![Target::topic(topic)]).endpoint(endpoint);
    if let Some(pool) = pool {
        builder = builder.pool(pool);
    }
    let listener = builder.build().expect("listener");
    within("listener start", listener.start())
        .await
        .expect("the listener starts");
    (listener, rx)
}

/// Stops `server` and waits for what it was handling.
pub async fn stop(server: &RpcServer) {
    within("server stop", server.stop()).await.expect("stop");
    within("server wait", server.wait()).await.expect("wait");
}

/// Stops `listener` and waits for what it was handling.
pub async fn stop_listener(listener: &oslo_messaging_core::NotificationListener) {
    within("listener stop", listener.stop())
        .await
        .expect("stop");
    within("listener wait", listener.wait())
        .await
        .expect("wait");
}

/// Deletes `queues` and `exchanges` on the main broker.
pub async fn delete_on_main(queues: &[String], exchanges: &[String]) {
    let url = TransportUrl::parse(MAIN_URL).expect("url");
    oslo_messaging_driver_rabbit::admin::delete(&url, &Config::defaults(), queues, exchanges)
        .await
        .expect("delete on the main broker");
}

/// Closes `drivers`, then deletes on the broker at `url` every queue and
/// exchange they declared (but `openstack`, the main broker's shared
/// control exchange), and `exchanges`.
pub async fn delete_declared<'a>(
    url: &str,
    drivers: impl IntoIterator<Item = &'a Arc<RabbitDriver>>,
    exchanges: &[String],
) {
    use oslo_messaging_core::driver::Driver;
    let (mut queues, mut exchanges) = (Vec::new(), exchanges.to_vec());
    for d in drivers {
        d.cleanup().await;
        queues.extend(d.declared_queues());
        exchanges.extend(
            d.declared_exchanges()
                .into_iter()
                .filter(|x| x != "openstack"),
        );
    }
    for names in [&mut queues, &mut exchanges] {
        names.sort();
        names.dedup();
    }
    let url = TransportUrl::parse(url).expect("url");
    oslo_messaging_driver_rabbit::admin::delete(&url, &Config::defaults(), &queues, &exchanges)
        .await
        .expect("delete what the test declared");
}

/// A raw lapin connection to the main broker.
pub async fn raw_connection() -> lapin::Connection {
    lapin::Connection::connect(MAIN_AMQP, lapin::ConnectionProperties::default())
        .await
        .expect("raw connection to the main broker")
}

/// A driver for the main broker with default options, and its transport.
pub fn main_transport() -> (Arc<RabbitDriver>, Transport) {
    let url = TransportUrl::parse(MAIN_URL).expect("url");
    let config = Config::defaults();
    let driver = Arc::new(RabbitDriver::new(&url, &config).expect("driver"));
    let transport = Transport::with_driver(driver.clone(), url, &config).expect("transport");
    (driver, transport)
}

#[derive(Deserialize)]
struct Echo {
    value: Value,
}

/// A server (not started) on `topic` as `s1` whose `echo(value)` answers `value`.
pub fn echo_server(transport: &Transport, topic: &str) -> RpcServer {
    let endpoint = Endpoint::builder(())
        .method("echo", |_, _, a: Echo| async move {
            Ok::<_, EndpointError>(a.value)
        })
        .build()
        .expect("endpoint");
    RpcServer::builder(transport, Target::server(topic, "s1"))
        .endpoint(endpoint)
        .build()
        .expect("server")
}

/// Deletes `queues` and `exchanges` on the main broker from a thread of
/// its own (with its own runtime), for `Drop` implementations that clean
/// up after a failed test; a failure to delete is printed, not raised.
pub fn delete_on_main_blocking(queues: Vec<String>, exchanges: Vec<String>) {
    let done = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let url = TransportUrl::parse(MAIN_URL).map_err(|e| e.to_string())?;
            let config = Config::defaults();
            let deleting =
                oslo_messaging_driver_rabbit::admin::delete(&url, &config, &queues, &exchanges);
            match tokio::time::timeout(PATIENCE, deleting).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("timed out".to_owned()),
            }
        })
    })
    .join();
    if let Ok(Err(e)) | Err(e) = done.map_err(|_| "cleanup thread panicked".to_owned()) {
        eprintln!("cleanup after a failed test: {e}");
    }
}
