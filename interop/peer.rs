//! The Python side of the interoperability tests, shared by the drivers'
//! test suites (each includes this file with `#[path]`): the venv
//! (`scripts/interop-venv.sh`), a spawned `interop/peer.py` speaking
//! JSON lines, and a Rust notification listener to compare with.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

/// Upper bound for anything that must happen (a line from a peer, a reply,
/// a delivery): a hang guard, never a way to let things happen.
pub const PATIENCE: Duration = Duration::from_secs(30);

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
    repo_root().join("interop/peer.py")
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
    /// Start `peer.py <command> --url <url> --topic <topic> <extra...>`.
    pub fn spawn_at<S: AsRef<str>>(url: &str, command: &str, topic: &str, extra: &[S]) -> Peer {
        let mut cmd = Command::new(python());
        cmd.arg(peer_script())
            .args([command, "--url", url, "--topic", topic])
            .args(extra.iter().map(AsRef::as_ref))
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, as a service under systemd has: with
            // use_queue_manager, Python reads /proc/<process group>/stat,
            // absent when whoever started the tests led the group and
            // has exited.
            .process_group(0);
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

    /// Start a long-running peer (`serve`, `listen`) on the broker at
    /// `url` and wait until it consumes.
    pub async fn start_at<S: AsRef<str>>(
        url: &str,
        command: &str,
        topic: &str,
        extra: &[S],
    ) -> Peer {
        let mut peer = Peer::spawn_at(url, command, topic, extra);
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

/// A Rust notification listener in `pool` on `topic`, every priority,
/// handing each notification over.
pub struct RustListener {
    listener: oslo_messaging_core::NotificationListener,
    seen: tokio::sync::mpsc::UnboundedReceiver<oslo_messaging_core::notify::Notification>,
}

impl RustListener {
    /// Started and consuming.
    pub async fn start(
        transport: &oslo_messaging_core::Transport,
        topic: &str,
        pool: &str,
    ) -> RustListener {
        use oslo_messaging_core::{NotificationEndpoint, NotificationResult, Priority};
        let (tx, seen) = tokio::sync::mpsc::unbounded_channel();
        let endpoint = NotificationEndpoint::builder(tx)
            .on_priorities(Priority::ALL, |tx, n| async move {
                let _ = tx.send(n);
                Ok(NotificationResult::Handled)
            })
            .build();
        let listener = oslo_messaging_core::NotificationListener::builder(
            transport,
            vec![oslo_messaging_core::Target::topic(topic)],
        )
        .endpoint(endpoint)
        .pool(pool)
        .build()
        .expect("listener builds");
        within("listener start", listener.start())
            .await
            .expect("listener starts");
        RustListener { listener, seen }
    }

    /// The next notification it received.
    pub async fn next(&mut self) -> oslo_messaging_core::notify::Notification {
        within("a notification on the Rust listener", self.seen.recv())
            .await
            .expect("the listener's channel is open")
    }

    /// Stopped, and every notification taken processed.
    pub async fn stop(self) {
        within("listener stop", self.listener.stop())
            .await
            .expect("stop");
        within("listener wait", self.listener.wait())
            .await
            .expect("wait");
    }
}
