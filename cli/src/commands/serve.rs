//! `serve`: a demo RPC server for smoke tests, stopped by SIGINT/SIGTERM.

use std::future::Future;
use std::io::Write;

use oslo_messaging_core::{RpcServer, Target};

use super::{load_config, require, transport, Traffic};
use crate::args::{GlobalArgs, HealthFileArgs};
use crate::demo;
use crate::exit::CliError;
use crate::health_file;

/// The first words of the line `serve` writes on stderr once it takes requests.
pub const READY_PREFIX: &str = "serving ";

/// Serves the [demo endpoint](crate::demo::endpoint) on `--topic` as
/// `--server`, with `rpc_ping_enabled`, until `shutdown` completes; then
/// stops taking requests and waits for those in flight. Meanwhile it
/// writes its health to `--health-file` (see [`crate::health_file`]) and,
/// with `metrics_listen`, serves Prometheus text on
/// `http://<metrics_listen>/metrics`.
///
/// It runs on the caller's runtime (the binary builds the one `--runtime`
/// asks for, see [`crate::build_runtime`]); the ready line names it, as
/// `runtime=current-thread` or `runtime=multi-thread`.
///
/// # Errors
/// Bad input, connection failures; with `metrics_listen`, an address that
/// cannot be bound.
pub async fn run(
    global: &GlobalArgs,
    health: &HealthFileArgs,
    metrics_listen: Option<std::net::SocketAddr>,
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CliError> {
    let topic = require(global.topic.as_deref(), "--topic", "serve")?;
    let server_name = require(global.server.as_deref(), "--server", "serve")?;
    let endpoint = demo::endpoint(global.namespace.as_deref(), global.api_version.as_deref())?;
    let config = load_config(global, &[("DEFAULT", "rpc_ping_enabled", "true")])?;
    let mut transport = transport(global, &config, Traffic::Rpc)?;
    if let Some(addr) = metrics_listen {
        transport = crate::telemetry::serve_metrics(addr, transport)?;
    }
    let server = RpcServer::builder(&transport, Target::server(topic, server_name))
        .endpoint(endpoint)
        .build()?;
    server.start().await?;
    writeln!(
        err,
        "{READY_PREFIX}topic={topic} server={server_name} exchange={} transport={} runtime={}{}",
        transport.defaults().control_exchange,
        transport.url(),
        runtime_name(),
        metrics_listen
            .map(|a| format!(" metrics=http://{a}/metrics"))
            .unwrap_or_default()
    )?;
    err.flush()?;
    tracing::info!(topic, server = server_name, "demo server started");

    health_file::writing_while(&transport, health, shutdown).await;
    tracing::info!("stopping: no new requests, waiting for those in flight");
    let stopped = async {
        server.stop().await?;
        server.wait().await
    }
    .await;
    transport.cleanup().await;
    stopped?;
    writeln!(err, "stopped")?;
    err.flush()?;
    Ok(())
}

/// The flavor of the runtime this runs on, as `--runtime` spells it.
fn runtime_name() -> &'static str {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => "current-thread",
        tokio::runtime::RuntimeFlavor::MultiThread => "multi-thread",
        _ => "other",
    }
}
