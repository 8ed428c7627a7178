//! A Kafka broker the clients cannot reach for a while: health shows the
//! producer's and the consumer's connections `reconnecting` and the
//! consumer `recovering`, then both `connected` again with a reconnect
//! each and the consumer `consuming` with a recovery, the metrics count
//! them, and a notification sent while the broker was out of reach
//! arrives.
//!
//! The broker is a tansu node of this test's own (in memory), reached
//! through a TCP proxy of the test's, which advertises the proxy's port:
//! cutting the proxy cuts every connection of the clients and refuses new
//! ones, while the broker keeps its topics and group.

mod support;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::conformance::{context, prometheus, until_health};
use oslo_messaging_core::health::{ConnectionState, ConsumerState, Health};
use oslo_messaging_core::notify::{
    NotificationEndpoint, NotificationListener, NotificationResult, Notifier, NotifySendExt,
};
use oslo_messaging_core::{Priority, Target, Transport};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

const PATIENCE: Duration = Duration::from_secs(60);

/// A port free now on 127.0.0.1.
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The tansu binary `scripts/ensure-kafka` builds and caches.
fn tansu_binary() -> std::path::PathBuf {
    let root = std::env::var("OSLO_TANSU_ROOT")
        .unwrap_or_else(|_| "/var/cache/oslo-messaging-rs/tansu-0.6.0".into());
    let bin = std::path::Path::new(&root).join("bin/tansu");
    assert!(
        bin.is_file(),
        "no tansu at {}: run scripts/ensure-kafka (scripts/test does)",
        bin.display()
    );
    bin
}

/// A tansu node of this test's, killed when dropped.
struct Broker(Child);

impl Broker {
    /// Listens on `port`, advertising `advertised` to clients.
    async fn start(port: u16, advertised: u16) -> Self {
        let log = std::env::temp_dir().join(format!("oslo-kafka-loss-{port}.log"));
        let child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{advertised}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("tansu starts");
        let mut broker = Broker(child);
        tokio::time::timeout(PATIENCE, async {
            loop {
                if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    return;
                }
                if let Ok(Some(status)) = broker.0.try_wait() {
                    panic!("tansu exited ({status}); see {}", log.display());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("tansu listens");
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP proxy from `port` to `upstream` that can be cut (every
/// connection closed, new ones refused) and restored.
struct Proxy {
    port: u16,
    upstream: SocketAddr,
    /// Whether it is cut, and its tasks (the accept loop, one per
    /// connection); a connection accepted once it is cut is dropped.
    tasks: Arc<Mutex<(bool, Vec<AbortHandle>)>>,
}

impl Proxy {
    async fn start(port: u16, upstream: u16) -> Self {
        let proxy = Proxy {
            port,
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream)),
            tasks: Arc::default(),
        };
        proxy.restore().await;
        proxy
    }

    /// Listens (again) and forwards every connection.
    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the proxy's port");
        self.tasks.lock().expect("lock").0 = false;
        let (upstream, tasks) = (self.upstream, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut tasks = tasks.lock().expect("lock");
                if tasks.0 {
                    return;
                }
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.1.push(forward.abort_handle());
            }
        });
        self.tasks
            .lock()
            .expect("lock")
            .1
            .push(accept.abort_handle());
    }

    /// Closes every connection and the listening socket.
    fn cut(&self) {
        let mut tasks = self.tasks.lock().expect("lock");
        tasks.0 = true;
        for task in tasks.1.drain(..) {
            task.abort();
        }
    }
}

/// The next notification's event type.
async fn next(received: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(PATIENCE, received.recv())
        .await
        .expect("a notification in time")
        .expect("open")
}

fn connection(h: &Health, purpose: &str) -> Option<(ConnectionState, u64)> {
    h.connections
        .iter()
        .find(|c| c.purpose == purpose)
        .map(|c| (c.state, c.reconnects))
}

fn consumer(h: &Health) -> Option<(ConsumerState, u64)> {
    h.consumers.first().map(|c| (c.state, c.recoveries))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnect_and_the_consumer_recovers_after_the_broker_was_out_of_reach() {
    prometheus::recorder();
    let (broker_port, proxy_port) = (free_port(), free_port());
    let _broker = Broker::start(broker_port, proxy_port).await;
    let proxy = Proxy::start(proxy_port, broker_port).await;
    let url = format!(
        "kafka://127.0.0.1:{proxy_port}/?consumer_group={}&num_partitions=1",
        support::unique("group")
    );
    let t = Transport::new(&Config::defaults(), Some(&url)).expect("kafka transport");
    let topic = support::unique("loss");
    let (tx, mut received) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = NotificationEndpoint::builder(tx)
        .on_priorities([Priority::Info], |tx, n| async move {
            let _ = tx.send(n.event_type);
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(&t, vec![Target::topic(&topic)])
        .endpoint(endpoint)
        .build()
        .expect("listener");
    support::start(&listener).await;
    let notifier = Notifier::builder(&t)
        .driver("messagingv2")
        .topics([topic.as_str()])
        .publisher_id("p")
        .build()
        .expect("notifier");
    notifier
        .info(&context("u"), "before", json!({}))
        .await
        .expect("sent");
    assert_eq!(next(&mut received).await, "before");
    until_health("both connections up", &t, PATIENCE, |h| {
        connection(h, "publish").is_some_and(|c| c.0 == ConnectionState::Connected)
            && connection(h, "consume").is_some_and(|c| c.0 == ConnectionState::Connected)
            && consumer(h).is_some_and(|c| c.0 == ConsumerState::Consuming)
    })
    .await;

    proxy.cut();
    until_health("both connections lost", &t, PATIENCE, |h| {
        connection(h, "publish").is_some_and(|c| c.0 == ConnectionState::Reconnecting)
            && connection(h, "consume").is_some_and(|c| c.0 == ConnectionState::Reconnecting)
            && consumer(h).is_some_and(|c| c.0 == ConsumerState::Recovering)
    })
    .await;
    let kafka = ("messaging_system", "kafka");
    assert!(
        prometheus::value(
            "oslo_messaging_connections",
            &[kafka, ("purpose", "consume"), ("state", "reconnecting")]
        ) >= 1.0,
        "{}",
        prometheus::recorder().render()
    );
    // Sent while no broker can be reached: the producer keeps it.
    let during = {
        let notifier = notifier.clone();
        tokio::spawn(async move { notifier.info(&context("u"), "during", json!({})).await })
    };

    proxy.restore().await;
    until_health("both connections back", &t, PATIENCE, |h| {
        connection(h, "publish").is_some_and(|c| c.0 == ConnectionState::Connected && c.1 >= 1)
            && connection(h, "consume")
                .is_some_and(|c| c.0 == ConnectionState::Connected && c.1 >= 1)
            && consumer(h).is_some_and(|c| c.0 == ConsumerState::Consuming && c.1 >= 1)
    })
    .await;
    tokio::time::timeout(PATIENCE, during)
        .await
        .expect("the send ends in time")
        .expect("send task")
        .expect("sent once the broker is back");
    assert_eq!(next(&mut received).await, "during");
    notifier
        .info(&context("u"), "after", json!({}))
        .await
        .expect("sent");
    assert_eq!(next(&mut received).await, "after");

    // The metrics count what health counts.
    let h = t.health();
    for purpose in ["publish", "consume"] {
        let (_, reconnects) = connection(&h, purpose).expect("connection");
        assert_eq!(
            prometheus::value(
                "oslo_messaging_connection_reconnects_total",
                &[kafka, ("purpose", purpose)]
            ),
            reconnects as f64,
            "{purpose}"
        );
    }
    let (_, recoveries) = consumer(&h).expect("consumer");
    assert_eq!(
        prometheus::value("oslo_messaging_consumer_recoveries_total", &[kafka]),
        recoveries as f64
    );
    listener.stop().await.expect("stop");
    listener.wait().await.expect("wait");
    t.cleanup().await;
}
