//! `bench rpc-server` and `bench rpc-client`.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;

use oslo_messaging_core::rpc::{Endpoint, EndpointError, RpcServer};
use oslo_messaging_core::{Context, Target, Transport};
use serde::Deserialize;
use serde_json::Value;

use super::{load, message, serve_until, topic, unix_seconds, Counter, SIMULATOR_SERVER};
use crate::args::{BenchServerArgs, GlobalArgs, RpcClientArgs};
use crate::commands::{load_config, rpc_client, transport, Traffic};
use crate::exit::CliError;

#[derive(Deserialize)]
struct Info {
    message: Value,
}

/// The simulator's RPC endpoint: `info(message)` answers the message with
/// its `server_ts` (index 3) set, and counts it.
fn endpoint(counter: Arc<Counter>) -> Result<Endpoint, CliError> {
    Ok(Endpoint::builder(counter)
        .method("info", |counter, _, args: Info| async move {
            counter.count();
            let mut reply = args.message;
            if let Some(ts) = reply.as_array_mut().and_then(|m| m.get_mut(3)) {
                *ts = Value::from(unix_seconds());
            }
            Ok::<_, EndpointError>(reply)
        })
        .build()?)
}

/// Starts a server for the simulator's endpoint on `topic` as `server`.
async fn start_server(
    transport: &Transport,
    topic: &str,
    server: &str,
    counter: Arc<Counter>,
) -> Result<RpcServer, CliError> {
    let rpc = RpcServer::builder(transport, Target::server(topic, server))
        .endpoint(endpoint(counter)?)
        .build()?;
    rpc.start().await?;
    Ok(rpc)
}

async fn stop_server(server: &RpcServer) -> Result<(), CliError> {
    server.stop().await?;
    server.wait().await?;
    Ok(())
}

/// `bench rpc-server`.
///
/// # Errors
/// Bad input, connection failures.
pub async fn server(
    global: &GlobalArgs,
    args: &BenchServerArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    let (topic, name) = (topic(global), server_name(global));
    let counter = Counter::new(args.messages);
    let server = start_server(&transport, &topic, &name, counter.clone()).await?;
    let ready = format!("topic={topic} server={name} transport={}", transport.url());
    let served = serve_until(args, &counter, &ready, err, shutdown).await;
    let stopped = stop_server(&server).await;
    transport.cleanup().await;
    served?;
    stopped?;
    counter.report("rpc-server").write(out, args.json)?;
    Ok(())
}

fn server_name(global: &GlobalArgs) -> String {
    global
        .server
        .clone()
        .unwrap_or_else(|| SIMULATOR_SERVER.to_owned())
}

/// `bench rpc-client`: calls (or casts) `info` under the load asked for.
/// With `--in-process-server`, a server on the same transport answers.
///
/// # Errors
/// Bad input, connection failures.
pub async fn client(
    global: &GlobalArgs,
    args: &RpcClientArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let load = load(&args.load)?;
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    let topic = topic(global);
    let mut global = global.clone();
    global.topic = Some(topic.clone());
    let name = server_name(&global);
    let in_process = match args.load.in_process_server {
        true => Some(start_server(&transport, &topic, &name, Counter::new(None)).await?),
        false => None,
    };
    let cast = args.cast || args.fanout;
    let mut client = rpc_client(&transport, &global, "bench rpc-client", false)?;
    if args.fanout {
        client = client.with_fanout(true);
    } else if global.server.is_none() {
        // The simulator sends to profiler_topic.profiler_server.
        client = client.with_server(name.as_str());
    }
    let client = Arc::new(client);
    let context = Arc::new(global.context());
    let cargo: Arc<str> = "x".repeat(load.payload_bytes).into();
    let kind = if args.fanout {
        "fanout"
    } else if cast {
        "cast"
    } else {
        "call"
    };
    let label = format!("rpc-client {kind} x{}", load.concurrency);
    let report = super::load::drive(&load, &label, err, move |seq| {
        let (client, context, cargo) = (client.clone(), context.clone(), cargo.clone());
        async move { send(&client, &context, cast, seq, &cargo).await }
    })
    .await;
    if let Some(server) = &in_process {
        stop_server(server).await?;
    }
    transport.cleanup().await;
    report.write(out, args.load.json)?;
    Ok(())
}

async fn send(
    client: &oslo_messaging_core::RpcClient,
    context: &Context,
    cast: bool,
    seq: u64,
    cargo: &str,
) -> Result<(), String> {
    let args = serde_json::json!({ "message": message(seq, cargo) });
    let sent = if cast {
        client.cast(context, "info", args).await
    } else {
        client.call(context, "info", args).await.map(drop)
    };
    sent.map_err(|e| e.to_string())
}
