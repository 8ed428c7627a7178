//! `bench`: servers and clients that measure, compatible with
//! oslo.messaging's `tools/simulator.py` (same topic and server names,
//! same endpoint and message shape), so either side can be Python.
//!
//! The simulator's message is a list `[seq, cargo, client_ts, server_ts,
//! return_ts]`; the RPC server returns it with `server_ts` set.

pub mod load;
pub mod notify;
pub mod raw;
pub mod raw_amqprs;
pub mod rpc;
pub mod stats;

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::Notify;

use crate::args::{AmqpClient, BenchCommand, BenchServerArgs, GlobalArgs, LoadArgs};
use crate::exit::CliError;
use crate::signal::{clean_stop, Signal};
use load::Load;
use stats::{Report, Usage};

/// The simulator's default topic.
pub const SIMULATOR_TOPIC: &str = "profiler_topic";
/// The simulator's default server.
pub const SIMULATOR_SERVER: &str = "profiler_server";
/// The first words of the line a bench server writes on stderr once ready.
pub const READY_PREFIX: &str = "bench server ready ";

/// Runs a `bench` subcommand. `shutdown` (a signal) stops a server
/// cleanly, with its report and status 0; it stops a client at once, which
/// reports what it did, closes its transport and ends with
/// [`CliError::Interrupted`] (see [`crate::signal`]).
///
/// # Errors
/// Bad input, connection failures, [`CliError::Interrupted`]; not the
/// failures of single messages (they are counted in the report).
pub async fn run(
    global: &GlobalArgs,
    command: BenchCommand,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal> + Send,
) -> Result<(), CliError> {
    match command {
        BenchCommand::RpcServer(args) => {
            rpc::server(global, &args, out, err, clean_stop(shutdown)).await
        }
        BenchCommand::RpcClient(args) => rpc::client(global, &args, out, err, shutdown).await,
        BenchCommand::NotifyServer(args) => {
            notify::server(global, &args, out, err, clean_stop(shutdown)).await
        }
        BenchCommand::NotifyClient(args) => {
            notify::client(global, &args.load, out, err, shutdown).await
        }
        BenchCommand::RawServer(args) => match args.client {
            AmqpClient::Lapin => raw::server(global, &args, out, err, clean_stop(shutdown)).await,
            AmqpClient::Amqprs => {
                raw_amqprs::server(global, &args, out, err, clean_stop(shutdown)).await
            }
        },
        BenchCommand::RawClient(args) => match args.client {
            AmqpClient::Lapin => raw::client(global, &args, out, err, shutdown).await,
            AmqpClient::Amqprs => raw_amqprs::client(global, &args, out, err, shutdown).await,
        },
    }
}

/// `--topic`, else the simulator's.
fn topic(global: &GlobalArgs) -> String {
    global
        .topic
        .clone()
        .unwrap_or_else(|| SIMULATOR_TOPIC.to_owned())
}

/// The load a client's arguments ask for.
fn load(args: &LoadArgs) -> Result<Load, CliError> {
    let concurrency = usize::try_from(args.concurrency)
        .map_err(|_| CliError::Usage("--concurrency is too large".into()))?;
    let payload_bytes = usize::try_from(args.payload_bytes)
        .map_err(|_| CliError::Usage("--payload-bytes is too large".into()))?;
    Ok(Load {
        count: args.calls.or(args.duration.is_none().then_some(1000)),
        duration: args.duration,
        concurrency,
        payload_bytes,
    })
}

/// Locks `m`; a panicked sender or server task does not make it unusable.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The simulator's message: `[seq, cargo, client_ts, 0, 0]`, built
/// directly (`json!` would serialize each part into a copy).
fn message(seq: u64, cargo: &str) -> Value {
    Value::Array(vec![
        Value::from(seq),
        Value::from(cargo),
        Value::from(unix_seconds()),
        Value::from(0),
        Value::from(0),
    ])
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What a bench server counts: messages received, when the first and the
/// last came, and when the count asked for is reached.
struct Counter {
    received: AtomicU64,
    limit: Option<u64>,
    /// When the first message came, and what the process had used then.
    first: std::sync::OnceLock<(Instant, Option<Usage>)>,
    last: std::sync::Mutex<Option<Instant>>,
    reached: Notify,
}

impl Counter {
    fn new(limit: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            received: AtomicU64::new(0),
            limit,
            first: std::sync::OnceLock::new(),
            last: std::sync::Mutex::new(None),
            reached: Notify::new(),
        })
    }

    fn count(&self) {
        let now = Instant::now();
        self.first.get_or_init(|| (now, Usage::now()));
        *lock(&self.last) = Some(now);
        let n = self.received.fetch_add(1, Ordering::SeqCst) + 1;
        if self.limit == Some(n) {
            self.reached.notify_one();
        }
    }

    /// Resolves once `limit` messages were counted (never without a limit).
    async fn reached(&self) {
        if self.limit.is_none() {
            return std::future::pending().await;
        }
        let notified = self.reached.notified();
        if self
            .limit
            .is_some_and(|l| self.received.load(Ordering::SeqCst) >= l)
        {
            return;
        }
        notified.await;
    }

    /// The server's report: the rate between the first and last message;
    /// no time and no rate when nothing came.
    fn report(&self, workload: &str) -> Report {
        let n = self.received.load(Ordering::SeqCst);
        let last = *lock(&self.last);
        let span = match (self.first.get(), last) {
            (Some((first, _)), Some(last)) => Some(last.duration_since(*first)),
            _ => None,
        };
        let usage = self.first.get().and_then(|(_, usage)| *usage);
        Report::received(workload, n, span, 0).with_usage_since(usage)
    }

    /// Writes the server's report on `out`, and on `err` that nothing came
    /// (to what it `served`) when nothing did.
    fn finish(
        &self,
        workload: &str,
        served: &str,
        json: bool,
        out: &mut (dyn Write + Send),
        err: &mut (dyn Write + Send),
    ) -> Result<(), CliError> {
        let report = self.report(workload);
        if report.messages == 0 {
            writeln!(err, "bench {workload}: received no messages ({served})")?;
            err.flush()?;
        }
        report.write(out, json)?;
        Ok(())
    }
}

/// Runs a server until `--messages` were received, `--duration` is over or
/// `shutdown` completes; announces itself on `err` first.
async fn serve_until(
    args: &BenchServerArgs,
    counter: &Counter,
    ready: &str,
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CliError> {
    writeln!(err, "{READY_PREFIX}{ready}")?;
    err.flush()?;
    let time_up = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = counter.reached() => {}
        () = time_up => {}
        () = shutdown => {}
    }
    Ok(())
}
