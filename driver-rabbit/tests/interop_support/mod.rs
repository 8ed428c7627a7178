//! Support for the interoperability tests against Python oslo.messaging:
//! the venv, a spawned Python peer speaking JSON lines, and a guard that
//! deletes every queue a test declared.

#![allow(dead_code)] // each test binary uses a different subset

pub mod roles;

#[path = "../../../interop/peer.rs"]
mod peer;
pub use peer::*;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use oslo_messaging_core::{Priority, Transport};
use serde_json::Value;

/// The broker both sides talk to, as an oslo.messaging transport URL.
pub const BROKER_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";
/// The same broker as an AMQP URI (for the cleanup connection).
const AMQP_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A name no other test (in this or a concurrent run) uses.
pub fn unique(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("interop{}_{what}_{n}", std::process::id())
}

/// A transport on the Rust RabbitMQ driver.
pub fn rust_transport() -> Transport {
    Transport::from_url(BROKER_URL).expect("rabbit:// transport (is the driver linked?)")
}

impl Peer {
    /// Start `peer.py <command> --url BROKER --topic <topic> <extra...>`.
    pub fn spawn<S: AsRef<str>>(command: &str, topic: &str, extra: &[S]) -> Peer {
        Peer::spawn_at(BROKER_URL, command, topic, extra)
    }

    /// Start a long-running peer (`serve`, `listen`) and wait until it consumes.
    pub async fn start<S: AsRef<str>>(command: &str, topic: &str, extra: &[S]) -> Peer {
        Peer::start_at(BROKER_URL, command, topic, extra).await
    }
}

/// Run a one-shot peer command (`call`, `cast`, `notify`): its one output
/// line, after a clean exit. A reply queue it reports goes to `cleanup`.
pub async fn run_peer<S: AsRef<str>>(
    cleanup: &QueueCleanup,
    command: &str,
    topic: &str,
    extra: &[S],
) -> Value {
    let mut peer = Peer::spawn(command, topic, extra);
    let line = peer.next_line(PATIENCE).await;
    if let Some(q) = line.get("reply_queue").and_then(Value::as_str) {
        cleanup.queue(q);
    }
    peer.finish().await;
    line
}

/// Deletes, on drop (so also when a test fails), the queues and exchanges
/// registered with it, over a connection of its own.
#[derive(Default)]
pub struct QueueCleanup {
    queues: Mutex<Vec<String>>,
    exchanges: Mutex<Vec<String>>,
    /// The broker's AMQP URI; the main broker's when `None`.
    uri: Option<String>,
}

impl QueueCleanup {
    /// Nothing registered yet; deletes on the main broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Nothing registered yet; deletes on the broker at `amqp_uri`
    /// (`amqp://user:pass@host:port/vhost`).
    pub fn on(amqp_uri: &str) -> Self {
        Self {
            queues: Mutex::default(),
            exchanges: Mutex::default(),
            uri: Some(amqp_uri.to_owned()),
        }
    }

    /// Delete queue `name` at the end.
    pub fn queue(&self, name: &str) {
        self.queues.lock().expect("queues").push(name.to_owned());
    }

    /// Delete exchange `name` at the end.
    pub fn exchange(&self, name: &str) {
        self.exchanges
            .lock()
            .expect("exchanges")
            .push(name.to_owned());
    }

    /// What RPC servers on `topic` named `servers` declare (either side):
    /// the shared topic queue `T`, the server queues `T.S`, the exchange
    /// `T_fanout`. Fanout queues (`T_fanout_<uuid>`) carry x-expires and
    /// have names only their server knows.
    pub fn rpc_topic(&self, topic: &str, servers: &[&str]) {
        self.queue(topic);
        for s in servers {
            self.queue(&format!("{topic}.{s}"));
        }
        self.exchange(&format!("{topic}_fanout"));
    }

    /// What notifications on `topic` declare: `T.<priority>` for every
    /// priority (listeners without a pool, and notifiers publishing, declare
    /// them) and the pool queues.
    pub fn notification_topic(&self, topic: &str, pools: &[&str]) {
        for p in Priority::ALL {
            self.queue(&format!("{topic}.{}", p.as_str()));
        }
        for pool in pools {
            self.queue(pool);
        }
    }

    async fn delete_all(
        uri: &str,
        queues: Vec<String>,
        exchanges: Vec<String>,
    ) -> Result<(), String> {
        let conn = Connection::connect(uri, ConnectionProperties::default())
            .await
            .map_err(|e| format!("cleanup cannot connect to {uri}: {e}"))?;
        let mut failures = Vec::new();
        // An error closes the channel: one channel per deletion.
        for q in &queues {
            let ch = conn.create_channel().await.map_err(|e| e.to_string())?;
            if let Err(e) = ch
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await
            {
                failures.push(format!("queue {q}: {e}"));
            }
        }
        for x in &exchanges {
            let ch = conn.create_channel().await.map_err(|e| e.to_string())?;
            if let Err(e) = ch
                .exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
                .await
            {
                failures.push(format!("exchange {x}: {e}"));
            }
        }
        let _ = conn.close(200, "interop cleanup".into()).await;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

impl Drop for QueueCleanup {
    fn drop(&mut self) {
        let mut queues =
            std::mem::take(&mut *self.queues.lock().unwrap_or_else(|e| e.into_inner()));
        let mut exchanges =
            std::mem::take(&mut *self.exchanges.lock().unwrap_or_else(|e| e.into_inner()));
        for names in [&mut queues, &mut exchanges] {
            names.sort();
            names.dedup();
        }
        if queues.is_empty() && exchanges.is_empty() {
            return;
        }
        let uri = self.uri.clone().unwrap_or_else(|| AMQP_URI.to_owned());
        // Drop may run inside a tokio runtime, which cannot block_on another:
        // do it on a thread of its own with a small runtime.
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                tokio::time::timeout(PATIENCE, Self::delete_all(&uri, queues, exchanges))
                    .await
                    .unwrap_or_else(|_| Err("cleanup timed out".to_owned()))
            })
        })
        .join()
        .unwrap_or_else(|_| Err("cleanup thread panicked".to_owned()));
        if let Err(e) = result {
            if std::thread::panicking() {
                eprintln!("queue cleanup failed: {e}");
            } else {
                panic!("queue cleanup failed: {e}");
            }
        }
    }
}
