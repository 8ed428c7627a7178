//! `bench rpc-server` and `bench rpc-client`.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use oslo_messaging_core::rpc::{Endpoint, EndpointError, RpcServer};
use oslo_messaging_core::{Context, MessagingError, Target, Transport};
use serde_json::{Map, Value};

use super::{load, message, serve_until, topic, unix_seconds, Counter, SIMULATOR_SERVER};
use crate::args::{BenchServerArgs, GlobalArgs, RpcClientArgs};
use crate::commands::{load_config, rpc_client, transport, Traffic};
use crate::exit::CliError;
use crate::signal::Signal;
use crate::telemetry::BenchMetrics;

/// The simulator's RPC endpoint: `info(message)` answers the message with
/// its `server_ts` (index 3) set, and counts it. It takes its arguments as
/// the map they arrive in (moved, not deserialized into a struct whose
/// `Value` field would be a copy with every number parsed again).
fn endpoint(counter: Arc<Counter>) -> Result<Endpoint, CliError> {
    Ok(Endpoint::builder(counter)
        .method(
            "info",
            |counter, _, mut args: Map<String, Value>| async move {
                let Some(mut reply) = args.remove("message").filter(|_| args.is_empty()) else {
                    return Err(EndpointError::new(
                        "TypeError",
                        "info() takes exactly one keyword argument, message",
                    ));
                };
                counter.count();
                if let Some(ts) = reply.as_array_mut().and_then(|m| m.get_mut(3)) {
                    *ts = Value::from(unix_seconds());
                }
                Ok::<_, EndpointError>(reply)
            },
        )
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
    counter.finish("rpc-server", &ready, args.json, out, err)?;
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
/// Where it sends: `--topic` (default `profiler_topic`) and `--server`;
/// with neither, the simulator's `profiler_topic.profiler_server`; with
/// `--topic` alone, the topic (any server of it); with `--fanout`, every
/// server of the topic. Calls that time out come with a hint naming it.
///
/// # Errors
/// Bad input, connection failures.
pub async fn client(
    global: &GlobalArgs,
    args: &RpcClientArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Result<(), CliError> {
    let load = load(&args.load)?;
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    let (transport, metrics) = BenchMetrics::start(args.load.metrics, transport)?;
    let name = server_name(global);
    let mut global = global.clone();
    global.server = target_server(&global, args.fanout);
    let topic = topic(&global);
    global.topic = Some(topic.clone());
    let destination = Destination {
        topic,
        server: global.server.clone(),
        fanout: args.fanout,
    };
    let in_process = match args.load.in_process_server {
        true => {
            let counter = Counter::new(None);
            Some(start_server(&transport, &destination.topic, &name, counter).await?)
        }
        false => None,
    };
    let cast = args.cast || args.fanout;
    let mut client = rpc_client(&transport, &global, "bench rpc-client", false)?;
    if args.fanout {
        client = client.with_fanout(true);
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
    let timeouts = Arc::new(AtomicU64::new(0));
    let (mut report, stopped_by) = super::load::drive(&load, &label, err, shutdown, {
        let timeouts = timeouts.clone();
        move |seq| {
            let (client, context, cargo) = (client.clone(), context.clone(), cargo.clone());
            let timeouts = timeouts.clone();
            async move {
                let sent = send(&client, &context, cast, seq, &cargo).await;
                if let Err(MessagingError::MessagingTimeout { .. }) = &sent {
                    timeouts.fetch_add(1, Ordering::Relaxed);
                }
                sent.map_err(|e| e.to_string())
            }
        }
    })
    .await;
    if let Some(server) = &in_process {
        stop_server(server).await?;
    }
    transport.cleanup().await;
    metrics.finish(err)?;
    let timeouts = timeouts.load(Ordering::Relaxed);
    if timeouts > 0 {
        let hint = destination.timeout_hint(timeouts, global.exchange.as_deref());
        writeln!(err, "bench rpc-client: hint: {hint}")?;
        err.flush()?;
        report.hint = Some(hint);
    }
    report.write(out, args.load.json)?;
    stopped_by.map_or(Ok(()), |s| Err(CliError::Interrupted(s)))
}

/// The server a client sends to: `--server`; none for `--fanout`, nor for
/// `--topic` alone (any server of the topic answers); without either, the
/// simulator's `profiler_server`, as `tools/simulator.py` sends to
/// `profiler_topic.profiler_server`.
fn target_server(global: &GlobalArgs, fanout: bool) -> Option<String> {
    match (&global.server, &global.topic) {
        _ if fanout => None,
        (Some(server), _) => Some(server.clone()),
        (None, Some(_)) => None,
        (None, None) => Some(SIMULATOR_SERVER.to_owned()),
    }
}

/// Where a client sends, for the hint when calls time out.
struct Destination {
    topic: String,
    server: Option<String>,
    fanout: bool,
}

impl Destination {
    /// Why `timeouts` calls may have timed out: where they went, and which
    /// server would have answered.
    fn timeout_hint(&self, timeouts: u64, exchange: Option<&str>) -> String {
        let topic = &self.topic;
        let (target, server_args) = match (&self.server, self.fanout) {
            (_, true) => (
                format!("every server of topic {topic} (fanout)"),
                String::new(),
            ),
            (Some(server), false) => (
                format!("server {server} of topic {topic} ({topic}.{server})"),
                format!(" --server {server}"),
            ),
            (None, false) => (format!("topic {topic} (any server of it)"), String::new()),
        };
        let exchange = exchange.map_or(String::new(), |e| format!(" on exchange {e}"));
        let calls = match timeouts {
            1 => "1 call".to_owned(),
            n => format!("{n} calls"),
        };
        format!(
            "{calls} timed out waiting for a reply from {target}{exchange}; \
             is a bench rpc-server running with --topic {topic}{server_args} and the same \
             --url and --exchange?"
        )
    }
}

async fn send(
    client: &oslo_messaging_core::RpcClient,
    context: &Context,
    cast: bool,
    seq: u64,
    cargo: &str,
) -> Result<(), MessagingError> {
    // Built directly: `json!` would serialize the message into a copy.
    let mut args = serde_json::Map::with_capacity(1);
    args.insert("message".to_owned(), message(seq, cargo));
    let args = Value::Object(args);
    if cast {
        client.cast(context, "info", args).await
    } else {
        client.call(context, "info", args).await.map(drop)
    }
}
