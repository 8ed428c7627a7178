//! Support for the interoperability tests against Python oslo.messaging:
//! the venv, a spawned Python peer speaking JSON lines, and a guard that
//! deletes every queue a test declared.

#![allow(dead_code)] // each test binary uses a different subset

pub mod roles;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use oslo_messaging_core::{Priority, Transport};
use serde_json::Value;
use tokio::sync::mpsc;

/// The broker both sides talk to, as an oslo.messaging transport URL.
pub const BROKER_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";
/// The same broker as an AMQP URI (for the cleanup connection).
const AMQP_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Upper bound for anything that must happen (a line from a peer, a reply,
/// a delivery): a hang guard, never a way to let things happen.
pub const PATIENCE: Duration = Duration::from_secs(30);

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

/// Await `fut`, failing the test with `what` after [`PATIENCE`].
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {PATIENCE:?} waiting for {what}"),
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate lives in the workspace")
        .to_path_buf()
}

/// The venv's python, created by `scripts/interop-venv.sh` once per test binary.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = PYTHON.get_or_init(|| {
        let script = repo_root().join("scripts/interop-venv.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}):\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok(PathBuf::from(path))
    });
    match result {
        Ok(p) => p,
        Err(e) => panic!("interop venv unavailable: {e}"),
    }
}

fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/peer.py")
}

/// A running `peer.py`: its stdout's JSON lines arrive on a channel, its
/// stderr is kept for failure messages. Killed on drop.
pub struct Peer {
    what: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Result<Value, String>>,
    stderr: Arc<Mutex<String>>,
}

impl Peer {
    /// Start `peer.py <command> --url BROKER --topic <topic> <extra...>`.
    pub fn spawn<S: AsRef<str>>(command: &str, topic: &str, extra: &[S]) -> Peer {
        let mut cmd = Command::new(python());
        cmd.arg(peer_script())
            .args([command, "--url", BROKER_URL, "--topic", topic])
            .args(extra.iter().map(AsRef::as_ref))
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!(
            "peer {command} {topic} {}",
            extra
                .iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let parsed = match line {
                    Ok(l) => serde_json::from_str(&l).map_err(|e| format!("bad line {l:?}: {e}")),
                    Err(e) => Err(format!("reading stdout: {e}")),
                };
                if tx.send(parsed).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock().expect("stderr buffer").push_str(&text);
            }
        });
        Peer {
            what,
            stdin: child.stdin.take(),
            child: Some(child),
            lines,
            stderr,
        }
    }

    /// Start a long-running peer (`serve`, `listen`) and wait until it consumes.
    pub async fn start<S: AsRef<str>>(command: &str, topic: &str, extra: &[S]) -> Peer {
        let mut peer = Peer::spawn(command, topic, extra);
        peer.wait_ready().await;
        peer
    }

    fn fail(&self, why: &str) -> ! {
        let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        let tail: String = {
            let skip = stderr.chars().count().saturating_sub(6000);
            stderr.chars().skip(skip).collect()
        };
        panic!("{}: {why}\n--- peer stderr (tail) ---\n{tail}", self.what)
    }

    /// The next JSON line the peer printed, waiting at most `timeout`.
    pub async fn next_line(&mut self, timeout: Duration) -> Value {
        match tokio::time::timeout(timeout, self.lines.recv()).await {
            Ok(Some(Ok(v))) => v,
            Ok(Some(Err(e))) => self.fail(&e),
            Ok(None) => self.fail("exited before printing the expected line"),
            Err(_) => self.fail(&format!("printed nothing for {timeout:?}")),
        }
    }

    /// Wait for `{"event": "ready"}`.
    pub async fn wait_ready(&mut self) {
        let line = self.next_line(PATIENCE).await;
        if line != serde_json::json!({"event": "ready"}) {
            self.fail(&format!("expected the ready line, got {line}"));
        }
    }

    /// Close its stdin (a long-running peer stops) and wait for a clean exit.
    pub async fn finish(mut self) {
        drop(self.stdin.take());
        let mut child = self.child.take().expect("child present until finish/drop");
        let status = within(
            "peer exit",
            tokio::task::spawn_blocking(move || child.wait()),
        )
        .await
        .expect("wait task")
        .expect("wait for peer");
        if !status.success() {
            self.fail(&format!("exited with {status}"));
        }
    }
}

/// How long a dropped peer gets to stop on its own (closing what it declared,
/// e.g. a server's fanout queue, whose name only it knows) before it is killed.
const GRACE: Duration = Duration::from_secs(10);

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            // Bounded wait for the exit that closing stdin asks for.
            let deadline = std::time::Instant::now() + GRACE;
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
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
