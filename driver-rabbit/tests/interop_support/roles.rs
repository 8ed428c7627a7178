//! The roles the interop tests play again and again: a Python server, a
//! Rust server with the conformance test endpoint, a Python call.

#![allow(dead_code)] // each test binary uses a different subset

use oslo_messaging_core::conformance::{test_endpoint, ProbeHandles};
use oslo_messaging_core::{Context, RpcServer, Target, Transport};
use serde_json::Value;

use super::{run_peer, within, Peer, QueueCleanup, PATIENCE};

/// A Python server (`peer.py serve`) on `topic` as `server`, ready.
pub async fn python_server(topic: &str, server: &str) -> Peer {
    Peer::start("serve", topic, &["--server", server]).await
}

/// A Rust RPC server with the conformance test endpoint.
pub struct RustServer {
    pub server: RpcServer,
    pub probe: ProbeHandles,
}

impl RustServer {
    /// The conformance test endpoint (`add`, `echo`, `context`, `whoami`
    /// returning the server name, `fail`, `record`) on `topic`/`server`.
    pub async fn start(transport: &Transport, topic: &str, server: &str) -> RustServer {
        Self::serve(transport, Target::server(topic, server)).await
    }

    /// As [`start`](Self::start), in `exchange` instead of the control exchange.
    pub async fn start_in(
        transport: &Transport,
        topic: &str,
        server: &str,
        exchange: &str,
    ) -> RustServer {
        Self::serve(
            transport,
            Target::server(topic, server).with_exchange(exchange),
        )
        .await
    }

    async fn serve(transport: &Transport, target: Target) -> RustServer {
        let server_name = target.server.clone().unwrap_or_default();
        let (endpoint, probe) = test_endpoint(&server_name, None, "1.3");
        let server = RpcServer::builder(transport, target)
            .endpoint(endpoint)
            .build()
            .expect("server builds");
        within("Rust server start", server.start())
            .await
            .expect("Rust server starts");
        RustServer { server, probe }
    }

    /// The next value a `record` cast brought, with the server that got it.
    pub async fn next_record(&mut self) -> (String, Value) {
        within(
            "a record cast on the Rust server",
            self.probe.records.recv(),
        )
        .await
        .expect("records channel open")
    }

    pub async fn stop(self) {
        within("Rust server stop", self.server.stop())
            .await
            .expect("stop");
        within("Rust server wait", self.server.wait())
            .await
            .expect("wait");
    }
}

/// `peer.py call`: the line it printed (`{"result": ..}` or `{"error": ..}`).
pub async fn py_call(
    cleanup: &QueueCleanup,
    topic: &str,
    ctx: &Context,
    method: &str,
    args: Value,
) -> Value {
    let extra = [
        "--method".to_owned(),
        method.to_owned(),
        "--args".to_owned(),
        args.to_string(),
        "--context".to_owned(),
        Value::Object(ctx.clone()).to_string(),
        "--timeout".to_owned(),
        PATIENCE.as_secs().to_string(),
    ];
    run_peer(cleanup, "call", topic, &extra).await
}

pub fn py_result(line: Value) -> Value {
    match line.get("result") {
        Some(v) => v.clone(),
        None => panic!("expected a result, got {line}"),
    }
}
