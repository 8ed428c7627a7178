//! Shared pieces for conformance cases: a test endpoint, channels to observe
//! what servers did, and a guard that turns a hang into a failure.

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, Notify};

use crate::conformance::Harness;
use crate::message::Context;
use crate::rpc::{Endpoint, EndpointError, NoArgs};

/// Await `fut`, failing the test with `what` if it takes longer than the
/// harness's patience (a hang guard, not a synchronization device).
pub async fn within<T>(h: &Harness, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(h.patience, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {:?} waiting for {what}", h.patience),
    }
}

/// Waits until `transport`'s health satisfies `holds`, looking every 20 ms
/// (a driver's state changes have no other event to wait on).
///
/// # Panics
/// After `patience`, naming `what` and the last health seen.
pub async fn until_health(
    what: &str,
    transport: &crate::Transport,
    patience: std::time::Duration,
    holds: impl Fn(&crate::health::Health) -> bool,
) {
    let waited = tokio::time::timeout(patience, async {
        let mut ticks = tokio::time::interval(std::time::Duration::from_millis(20));
        loop {
            ticks.tick().await;
            if holds(&transport.health()) {
                return;
            }
        }
    })
    .await;
    if waited.is_err() {
        panic!(
            "timed out after {patience:?} waiting for {what}; health: {:#?}",
            transport.health()
        );
    }
}

/// Stops `server` and waits for the requests it was handling.
pub async fn stop_server(h: &Harness, server: &crate::rpc::RpcServer) {
    within(h, "server stop", server.stop()).await.expect("stop");
    within(h, "server wait", server.wait()).await.expect("wait");
}

/// A request context with a user and a request id.
pub fn context(user: &str) -> Context {
    let mut c = Map::new();
    c.insert("user".into(), json!(user));
    c.insert("request_id".into(), json!(format!("req-{user}")));
    c
}

/// A gate an endpoint waits on until the test opens it.
#[derive(Clone, Default)]
pub struct Gate {
    open: Arc<Notify>,
    entered: Arc<Notify>,
}

impl Gate {
    /// Let every waiter (present and future) through once.
    pub fn open(&self) {
        self.open.notify_one();
    }
    /// Resolves when an endpoint has reached the gate.
    pub async fn entered(&self) {
        self.entered.notified().await;
    }
    async fn pass(&self) {
        self.entered.notify_one();
        self.open.notified().await;
    }
}

/// What test endpoints observe.
pub struct Probe {
    /// Server name of the endpoint.
    pub server: String,
    /// Every `record` call's value, with the server that got it.
    pub records: mpsc::UnboundedSender<(String, Value)>,
    /// `wait_gate` blocks here.
    pub gate: Gate,
    /// `block` blocks its OS thread until this receiver yields.
    pub release: Mutex<std::sync::mpsc::Receiver<()>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    a: i64,
    b: i64,
}

#[derive(Deserialize)]
struct ValueArg {
    value: Value,
}

#[derive(Deserialize)]
struct FailArgs {
    message: String,
    #[serde(default)]
    module: Option<String>,
}

#[derive(Deserialize)]
struct SleepArgs {
    millis: u64,
}

/// Handles to a test endpoint's probe.
pub struct ProbeHandles {
    /// Values recorded by `record`.
    pub records: mpsc::UnboundedReceiver<(String, Value)>,
    /// The gate `wait_gate` waits on.
    pub gate: Gate,
    /// Send to release one `block` call.
    pub release: std::sync::mpsc::Sender<()>,
}

/// The test endpoint: `add(a, b)`, `echo(value)`, `record(value)` (cast),
/// `whoami()` (server name), `context()` (the request context), `fail(message,
/// module?)` (a `ValueError`), `boom()` (panics), `blocking_boom()`,
/// `wait_gate()` (waits on the gate), `sleep(millis)` (takes that long),
/// `block()` (blocks its thread until released; returns its thread name),
/// `thread()` (blocking: returns its thread name), `_secret()`.
pub fn test_endpoint(
    server: &str,
    namespace: Option<&str>,
    version: &str,
) -> (Endpoint, ProbeHandles) {
    let (records_tx, records) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let gate = Gate::default();
    let probe = Probe {
        server: server.to_owned(),
        records: records_tx,
        gate: gate.clone(),
        release: Mutex::new(release_rx),
    };
    let mut b = Endpoint::builder(probe).version(version);
    if let Some(ns) = namespace {
        b = b.namespace(ns);
    }
    let endpoint = b
        .method("add", |_, _, a: AddArgs| async move {
            Ok::<_, EndpointError>(a.a + a.b)
        })
        .method("echo", |_, _, a: ValueArg| async move {
            Ok::<_, EndpointError>(a.value)
        })
        .method("record", |p, _, a: ValueArg| async move {
            let _ = p.records.send((p.server.clone(), a.value));
            Ok::<_, EndpointError>(())
        })
        .method("whoami", |p, _, _: NoArgs| async move {
            Ok::<_, EndpointError>(p.server.clone())
        })
        .method("context", |_, ctx, _: NoArgs| async move {
            Ok::<_, EndpointError>(ctx)
        })
        .method("fail", |_, _, a: FailArgs| async move {
            let e = EndpointError::new("ValueError", a.message);
            Err::<(), _>(match a.module {
                Some(m) => e.with_module(m),
                None => e,
            })
        })
        .method("boom", |_, _, _: NoArgs| async move {
            if true {
                panic!("kaboom");
            }
            Ok::<(), EndpointError>(())
        })
        .blocking_method(
            "blocking_boom",
            |_, _, _: NoArgs| -> Result<(), EndpointError> { panic!("blocking kaboom") },
        )
        .method("wait_gate", |p, _, _: NoArgs| async move {
            p.gate.pass().await;
            Ok::<_, EndpointError>("opened")
        })
        .method("sleep", |_, _, a: SleepArgs| async move {
            tokio::time::sleep(std::time::Duration::from_millis(a.millis)).await;
            Ok::<_, EndpointError>(a.millis)
        })
        .blocking_method("block", |p, _, _: NoArgs| {
            let rx = p
                .release
                .lock()
                .map_err(|_| EndpointError::new("RuntimeError", "poisoned"))?;
            rx.recv()
                .map_err(|_| EndpointError::new("RuntimeError", "released channel closed"))?;
            Ok(current_thread_name())
        })
        .blocking_method("thread", |_, _, _: NoArgs| Ok(current_thread_name()))
        .method("_secret", |_, _, _: NoArgs| async move {
            Ok::<_, EndpointError>("hidden")
        })
        .build()
        .expect("test endpoint is valid");
    (
        endpoint,
        ProbeHandles {
            records,
            gate,
            release: release_tx,
        },
    )
}

fn current_thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned()
}
