//! The command line: global options and one subcommand each for call, cast,
//! ping, notify, listen, serve and health. Values are checked while parsing, so bad
//! input is a one-line usage error (exit status 64), never a panic.
//!
//! Wherever JSON is taken (call and cast's JSON_OBJECT, notify's
//! PAYLOAD_JSON, `--context`), the value may also be `@FILE` (the file's
//! contents) or `-` (all of standard input, for one value per command line),
//! as with curl and grpcurl: see [`JsonSource`].

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use oslo_messaging_core::version::Version;
use oslo_messaging_core::{Context, Priority};
use serde_json::{Map, Value};

use crate::exit::EXIT_STATUS_HELP;

/// The transport URL used when neither `--url`, the config file nor
/// `$OS_TRANSPORT_URL` name one.
pub const DEFAULT_URL: &str = "rabbit://guest:guest@localhost:5672/";

/// The environment variable read for the transport URL.
pub const URL_ENV: &str = "OS_TRANSPORT_URL";

/// The topic `listen` uses without `--topic`.
pub const DEFAULT_NOTIFICATION_TOPIC: &str = "notifications";

/// `oslo-messaging`: call, cast, ping, notify, listen, tap, serve and health over
/// oslo.messaging transports.
///
/// Parse a command line with [`Cli::parse_command_line`], which enforces
/// that only one JSON value comes from standard input (see [`JsonSource`]).
#[derive(Debug, Parser)]
#[command(
    name = "oslo-messaging",
    version,
    disable_version_flag = true,
    about = "The operator's tool for oslo.messaging: call, cast, ping, notify, listen, tap, serve, health",
    long_about = "The operator's tool for oslo.messaging, like grpcurl: call and cast RPC \
methods, ping a service, send and listen to notifications, tap live traffic, run a demo server, or check connection health.\n\n\
The transport URL is --url, else the config file's [DEFAULT] transport_url, else \
$OS_TRANSPORT_URL, else rabbit://guest:guest@localhost:5672/. Passwords are never printed.\n\n\
Wherever JSON is taken (JSON_OBJECT, PAYLOAD_JSON, --context), @FILE reads it from FILE and \
- from standard input (one value per command line), for payloads too big for the command \
line: a value starting with @ is always a file name.",
    after_help = EXIT_STATUS_HELP
)]
pub struct Cli {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses one command line (`args[0]` is the program name): clap's
    /// `try_parse_from`, with the rule that at most one JSON value of it is
    /// `-` (standard input).
    ///
    /// # Errors
    /// clap's error for bad input (the JSON value parsers' included).
    pub fn parse_command_line<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        one_command_line(|| Cli::try_parse_from(args))
    }
}

/// Options every subcommand takes (they may come before or after it).
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Transport URL (`--url`).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help = "Transport URL, e.g. rabbit://user:pass@host:5672/vhost or fake:// \
[default: config file's [DEFAULT] transport_url, else $OS_TRANSPORT_URL, \
else rabbit://guest:guest@localhost:5672/]"
    )]
    pub url: Option<String>,
    /// oslo.config INI file (e.g. nova.conf) or TOML file (*.toml)
    #[arg(long, global = true, value_name = "PATH")]
    pub config_file: Option<PathBuf>,
    /// Exchange (`--exchange`).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help = "Exchange [default: [DEFAULT] control_exchange, \"openstack\"]"
    )]
    pub exchange: Option<String>,
    /// Topic (required by call, cast, ping, serve; listen: "notifications";
    /// notify: the config's notification topics)
    #[arg(long, global = true, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// Server: send to this one server (call, cast, ping) or serve as it (serve)
    #[arg(long, global = true, value_name = "SERVER")]
    pub server: Option<String>,
    /// Endpoint namespace (call, cast; serve: the demo endpoint's)
    #[arg(long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// API version X.Y (call, cast; serve: the demo endpoint's)
    #[arg(long = "version", global = true, value_name = "X.Y", value_parser = parse_version)]
    pub api_version: Option<String>,
    /// Seconds to wait for a reply (`--timeout`).
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        value_parser = parse_seconds,
        help = "Seconds to wait for a reply (call, ping) [default: [DEFAULT] rpc_response_timeout, 60]"
    )]
    pub timeout: Option<Duration>,
    /// Request context, a JSON object, e.g. '{"user": "admin"}'; @FILE reads
    /// it from FILE, - from standard input
    #[arg(long, global = true, value_name = "JSON", value_parser = parse_json_object)]
    pub context: Option<Map<String, Value>>,
    /// Connection retries when sending (call, cast, ping, notify) or connecting (health); -1 retries forever
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = 0,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i64).range(-1..=i64::from(u32::MAX))
    )]
    pub retry: i64,
    /// Exit 3 when no queue takes the request (call, cast, ping) instead of dropping it; not for --fanout
    #[arg(long, global = true)]
    pub at_least_once: bool,
    /// Trace with OpenTelemetry, as [oslo_messaging_tracing] tracing_enabled does: spans go over OTLP/HTTP to otel_exporter_otlp_endpoint (http://localhost:4318); call, cast and notify also print "trace_id=<32 hex digits>" on stderr
    #[arg(long, global = true)]
    pub trace: bool,
}

impl GlobalArgs {
    /// The request context (`--context`, or empty).
    pub fn context(&self) -> Context {
        self.context.clone().unwrap_or_default()
    }

    /// The retry setting of senders: `--retry -1` is `None` (forever).
    pub fn retry(&self) -> Option<u32> {
        u32::try_from(self.retry).ok()
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call METHOD and print its result as JSON
    #[command(after_help = EXIT_STATUS_HELP)]
    Call {
        /// The method to call
        method: String,
        /// Keyword arguments, a JSON object, e.g. '{"a": 1, "b": 2}'; @FILE reads
        /// it from FILE, - from standard input [default: {}]
        #[arg(value_name = "JSON_OBJECT", value_parser = parse_json_object)]
        args: Option<Map<String, Value>>,
    },
    /// Cast METHOD: send it without waiting for a result
    #[command(after_help = EXIT_STATUS_HELP)]
    Cast {
        /// The method to cast
        method: String,
        /// Keyword arguments, a JSON object, e.g. '{"a": 1}'; @FILE reads it
        /// from FILE, - from standard input [default: {}]
        #[arg(value_name = "JSON_OBJECT", value_parser = parse_json_object)]
        args: Option<Map<String, Value>>,
        /// Send to every server on the topic
        #[arg(long)]
        fanout: bool,
    },
    /// Ping the servers of --topic (oslo_rpc_server_ping); exit 0 when one answers "pong"
    #[command(after_help = EXIT_STATUS_HELP)]
    Ping,
    /// Send one notification
    #[command(after_help = EXIT_STATUS_HELP)]
    Notify {
        /// Publisher id, e.g. compute.host-1
        #[arg(long, value_name = "ID")]
        publisher_id: String,
        /// Event type, e.g. compute.instance.create.end
        #[arg(long, value_name = "TYPE")]
        event_type: String,
        /// Priority: audit, debug, info, warn, error, critical, sample
        #[arg(long, default_value = "info", value_parser = parse_priority)]
        priority: Priority,
        /// Notification format
        #[arg(long, default_value = "messagingv2", value_parser = ["messagingv2", "messaging"])]
        driver: String,
        /// The payload, any JSON value, e.g. '{"k": 1}'; @FILE reads it from
        /// FILE, - from standard input
        #[arg(value_name = "PAYLOAD_JSON", value_parser = parse_json)]
        payload: Value,
    },
    /// Print each notification received as one JSON line (topic: "notifications")
    #[command(after_help = EXIT_STATUS_HELP)]
    Listen {
        /// Listener pool: pools each get every notification, members share them
        #[arg(long, value_name = "NAME")]
        pool: Option<String>,
        /// Exit after N notifications (default: until SIGINT/SIGTERM)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// Priorities to receive, repeatable or comma-separated [default: all]
        #[arg(long, value_parser = parse_priority, value_delimiter = ',')]
        priority: Vec<Priority>,
        /// Where to write its health for a liveness probe
        #[command(flatten)]
        health: HealthFileArgs,
    },
    /// Print the live RPC traffic of --topic (--server: one server) or, with --notifications, its notifications, one JSON line per message, without taking it from anyone (RabbitMQ)
    #[command(
        after_help = "Binds a private queue (exclusive, auto-delete) to the exchange and routing keys \
the traffic goes to, so servers and listeners still get every message. Each line is one message: \
{\"direction\": \"request\", \"type\": \"call\"|\"cast\"|\"fanout\", \"method\", \"namespace\", \
\"version\", \"args\", \"context\", \"msg_id\", \"reply_queue\", \"size\", ...}, or \"notification\" \
(event_type, priority, publisher_id, payload, context), or with --replies \"reply\" (msg_id, method, \
elapsed_ms, result or failure). Secrets (auth_token, passwords, keys: oslo.utils' list) are \
printed as \"***\".\n\n\
Replies go through the default exchange, which takes no binding: --replies reads them from \
RabbitMQ's firehose (amq.rabbitmq.trace), so they appear only while tracing is on for the \
virtual host (rabbitmqctl trace_on -p VHOST).\n\n\
Prints \"tapping queue=Q ...\" on stderr once bound.\n\n\
Exit status: 0 after --count messages or SIGINT/SIGTERM; 3 on a connection failure or a refused \
binding (the exchange does not exist yet); 64 on bad input."
    )]
    Tap {
        /// Tap the notifications of --topic (default "notifications"), every priority
        #[arg(long)]
        notifications: bool,
        /// Also print replies, matched to their calls (needs RabbitMQ's tracer on: rabbitmqctl trace_on)
        #[arg(long)]
        replies: bool,
        /// Exit after N messages (default: until SIGINT/SIGTERM)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
    },
    /// Run a demo RPC server (echo, add, fail, sleep, block; ping enabled) until SIGINT/SIGTERM
    #[command(after_help = "Methods: echo(value) -> value; add(a, b) -> a + b; \
fail(message) raises builtins.ValueError(message); sleep(seconds) -> null; \
block(seconds) -> null, blocking its runtime thread on purpose (a driver's heartbeats \
must survive it).\n\
Prints \"serving topic=T server=S ... runtime=R\" on stderr once it is ready.\n\n\
Exit status: 0 after a clean stop; 3 on a runtime failure; 64 on bad input.")]
    Serve {
        /// The tokio runtime the whole command runs on
        #[arg(long, value_enum, value_name = "FLAVOR", default_value_t = RuntimeFlavor::MultiThread)]
        runtime: RuntimeFlavor,
        /// Serve the metrics as Prometheus text on http://ADDR/metrics (e.g. 127.0.0.1:9464), with [oslo_messaging_metrics] metrics_enabled
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<std::net::SocketAddr>,
        /// Where to write its health for a liveness probe
        #[command(flatten)]
        health: HealthFileArgs,
    },
    /// Connect now and print the connections' health as one JSON line; exit 0 when all are connected and none is blocked. With --file, check what a running serve or listen wrote instead
    #[command(
        after_help = "Prints {\"connections\": [{\"purpose\", \"state\", \"host\", \
\"reconnects\", \"last_error\", \"blocked\"}, ...], \"consumers\": []} on stdout, also when \
not connected. Drivers without connections (fake://) list none, which counts as connected. Over \
RabbitMQ it publishes one probe message (to no queue) so that a broker refusing publishers (a \
memory or disk alarm) shows as \"blocked\": true.\n\n\
With --file PATH (a liveness probe for `serve --health-file PATH` or `listen --health-file \
PATH`), it connects to nothing: it prints the file, {\"written_at\", \"pid\", \"healthy\", \
\"problems\", \"connections\", \"consumers\": [{\"queue\", \"state\", \"last_error\", \
\"deliveries\", \"recoveries\"}, ...]}, and fails when the file is missing, older than \
--max-age, or shows a connection lost or a queue not consumed (its consumer recovering or \
failed).\n\n\
Exit status:\n  0   every connection is connected and none is blocked (with --file: the \
writer is healthy)\n  \
3   not connected, or the broker blocks publishing (with --file: the file is missing, stale \
or unhealthy); the reason goes to stderr as one line\n  \
64  bad input (EX_USAGE): arguments, transport URL, scheme, options, config file\n  \
130, 143  stopped by SIGINT, SIGTERM"
    )]
    Health {
        /// Check the health file a running `serve` or `listen` writes (its --health-file) instead of connecting
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// With --file: the oldest the file may be, in seconds, before the writer counts as gone or stuck
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "30", requires = "file")]
        max_age: Duration,
    },
    /// Benchmarks, compatible with oslo.messaging's tools/simulator.py
    /// (topic profiler_topic, server profiler_server, method info(message))
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Bench(BenchCommand),
}

/// Where `serve` and `listen` write their health for a liveness probe
/// (see [`crate::health_file`]).
#[derive(Debug, Clone, Args)]
pub struct HealthFileArgs {
    /// Write the transport's health (connections, and each queue consumed) to PATH as JSON every --health-interval seconds, and remove it on stop; `oslo-messaging health --file PATH` is the liveness probe
    #[arg(long, value_name = "PATH")]
    pub health_file: Option<PathBuf>,
    /// Seconds between writes of --health-file
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "5", requires = "health_file")]
    pub health_interval: Duration,
}

impl Default for HealthFileArgs {
    /// No health file; every 5 seconds when one is given.
    fn default() -> Self {
        HealthFileArgs {
            health_file: None,
            health_interval: Duration::from_secs(5),
        }
    }
}

/// `oslo-messaging bench ...`: servers and clients that measure, speaking
/// what oslo.messaging's `tools/simulator.py` speaks, so either side can be
/// Python. Without `--topic`/`--server`, both sides use the simulator's
/// `profiler_topic` and `profiler_server`; a client given `--topic` alone
/// sends to the topic (any server of it). A server that received nothing
/// says so, and reports no duration and no rate.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// An RPC server with the simulator's endpoint, info(message), which
    /// answers the message with its server timestamp set
    ///
    /// It serves --topic [default: profiler_topic] as --server [default:
    /// profiler_server]: it gets what is sent to the topic and what is sent
    /// to its server name. A server that received nothing says so on stderr
    /// and reports no duration and no rate (null with --json).
    RpcServer(BenchServerArgs),
    /// Calls (or casts) info(message) and prints msg/s and latency
    ///
    /// Where it sends: with neither --topic nor --server, to the simulator's
    /// profiler_topic and profiler_server (what `bench rpc-server` and
    /// simulator.py serve by default); with --topic alone, to the topic, so
    /// any server of it answers, whatever its --server; with --server, to
    /// that server of the topic. Calls that time out come with a hint, on
    /// stderr and in the report, naming where they were sent.
    RpcClient(RpcClientArgs),
    /// A notification listener on --topic that counts what it receives
    ///
    /// A listener that received nothing says so on stderr and reports no
    /// duration and no rate (null with --json).
    NotifyServer(BenchServerArgs),
    /// Sends info notifications (event type compute.start) to --topic
    NotifyClient(NotifyClientArgs),
    /// The floor, with lapin alone (no envelope, no dispatch): consumes the
    /// queue named --topic, answers what has reply_to and acknowledges
    RawServer(RawServerArgs),
    /// The floor's client: publishes --payload-bytes to the queue --topic
    /// and waits for the reply (or, with --cast, the publisher confirm)
    RawClient(RawClientArgs),
}

/// How long a benchmark server runs, and how it reports.
#[derive(Debug, Clone, Args)]
pub struct BenchServerArgs {
    /// Stop after receiving this many messages
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,
    /// Stop after this many seconds [default: until SIGINT/SIGTERM]
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,
}

/// How much a benchmark client sends.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Send this many messages [default: 1000 unless --duration]
    #[arg(long, visible_alias = "messages", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "duration")]
    pub calls: Option<u64>,
    /// Send for this many seconds
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Senders at once
    #[arg(long, default_value_t = 1, value_name = "C",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: u64,
    /// Bytes of payload (the simulator message's cargo)
    #[arg(long, default_value_t = 100, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(0..=64 * 1024 * 1024))]
    pub payload_bytes: u64,
    /// Also run the matching server in this process, on the same transport (needed over fake://)
    #[arg(long)]
    pub in_process_server: bool,
    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,
    /// Record the metrics ([oslo_messaging_metrics] metrics_enabled) and print them on stderr at the end (with --trace, every message is traced too)
    #[arg(long)]
    pub metrics: bool,
}

/// `bench rpc-client`.
#[derive(Debug, Clone, Args)]
pub struct RpcClientArgs {
    /// How much to send.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Cast instead of call
    #[arg(long)]
    pub cast: bool,
    /// Cast to every server on the topic (implies --cast)
    #[arg(long)]
    pub fanout: bool,
}

/// `bench raw-server`.
#[derive(Debug, Clone, Args)]
pub struct RawServerArgs {
    /// How long to run, how to report.
    #[command(flatten)]
    pub server: BenchServerArgs,
    /// Use the AMQP features oslo.messaging's wire format needs (the client must too)
    #[arg(long)]
    pub oslo_amqp: bool,
    /// Declare the queue as a durable quorum queue (deleted at the end), as
    /// rabbit_quorum_queue does
    #[arg(long)]
    pub quorum: bool,
    /// Consume with this prefetch count, as rabbit_qos_prefetch_count (0: no limit)
    #[arg(long, default_value_t = 0)]
    pub prefetch: u16,
    /// The AMQP client the floor is written on (amqprs: the plain floor only)
    #[arg(long, value_enum, default_value_t = AmqpClient::Lapin)]
    pub client: AmqpClient,
}

/// The AMQP client a raw benchmark is written on (`--client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AmqpClient {
    /// lapin, the client of the rabbit driver: I/O on a thread of its own.
    Lapin,
    /// amqprs: I/O as tasks of the application's tokio runtime.
    Amqprs,
}

/// `bench raw-client`.
#[derive(Debug, Clone, Args)]
pub struct RawClientArgs {
    /// How much to send.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Publish with confirms instead of calling (also the floor for notifications)
    #[arg(long)]
    pub cast: bool,
    /// Use the AMQP features oslo.messaging's wire format needs: a topic
    /// exchange, persistent messages with content type and encoding, an
    /// expiration on calls, and replies mandatory and confirmed
    #[arg(long)]
    pub oslo_amqp: bool,
    /// The reply queue is a durable quorum queue `<queue>.reply` (deleted
    /// at the end), as rabbit_transient_quorum_queue makes it; use with the
    /// server's --quorum
    #[arg(long)]
    pub quorum: bool,
    /// The AMQP client the floor is written on (amqprs: the plain floor only)
    #[arg(long, value_enum, default_value_t = AmqpClient::Lapin)]
    pub client: AmqpClient,
}

/// `bench notify-client`.
#[derive(Debug, Clone, Args)]
pub struct NotifyClientArgs {
    /// How much to send.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// The tokio runtime `serve` runs on (`--runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum RuntimeFlavor {
    /// One thread runs everything: a method that blocks it blocks the server.
    CurrentThread,
    /// A pool of worker threads (the default).
    #[default]
    MultiThread,
}

impl Cli {
    /// The runtime this command asks for: `serve --runtime`, else multi-thread.
    pub fn runtime_flavor(&self) -> RuntimeFlavor {
        match self.command {
            Command::Serve { runtime, .. } => runtime,
            _ => RuntimeFlavor::MultiThread,
        }
    }
}

/// Where the text of a JSON argument comes from. The one rule, for every
/// argument that takes JSON ([`JsonSource::of`]): `-` is standard input, a
/// value starting with `@` names a file, anything else is the JSON itself.
/// No JSON text is `-` or starts with `@`, so there is no ambiguity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonSource<'a> {
    /// The argument is the JSON text.
    Inline(&'a str),
    /// `@PATH`: the contents of the file at PATH.
    File(&'a Path),
    /// `-`: all of standard input; one value per command line at most.
    Stdin,
}

thread_local! {
    /// Inside a command-line parse ([`one_command_line`]): whether a value
    /// already came from standard input. `None` outside one.
    static STDIN_TAKEN: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Runs `parse` as one command line: at most one of its JSON values may
/// come from standard input. Nests (the outer scope is restored).
fn one_command_line<R>(parse: impl FnOnce() -> R) -> R {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            STDIN_TAKEN.with(|taken| taken.set(self.0));
        }
    }
    let _restore = Restore(STDIN_TAKEN.with(|taken| taken.replace(Some(false))));
    parse()
}

impl<'a> JsonSource<'a> {
    /// Where `arg` says its JSON comes from.
    pub fn of(arg: &'a str) -> Self {
        if arg == "-" {
            Self::Stdin
        } else if let Some(path) = arg.strip_prefix('@') {
            Self::File(Path::new(path))
        } else {
            Self::Inline(arg)
        }
    }

    /// The JSON text: the argument itself, or what the file or standard
    /// input holds.
    ///
    /// # Errors
    /// One line: the file cannot be read (naming it and the OS error), `@`
    /// without a path, standard input cannot be read or was already taken by
    /// another value of the same command line.
    pub fn read(self) -> Result<Cow<'a, [u8]>, String> {
        match self {
            Self::Inline(text) => Ok(Cow::Borrowed(text.as_bytes())),
            Self::File(path) if path.as_os_str().is_empty() => {
                Err("@ must be followed by a file name, e.g. @args.json".into())
            }
            Self::File(path) => std::fs::read(path)
                .map(Cow::Owned)
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
            Self::Stdin => {
                let taken = STDIN_TAKEN.with(|taken| match taken.get() {
                    Some(true) => true,
                    Some(false) => {
                        taken.set(Some(true));
                        false
                    }
                    None => false,
                });
                if taken {
                    return Err(
                        "only one value per command line can be - (standard input); \
                                give the others as @FILE or inline"
                            .into(),
                    );
                }
                let mut text = Vec::new();
                std::io::stdin()
                    .lock()
                    .read_to_end(&mut text)
                    .map_err(|e| format!("cannot read standard input: {e}"))?;
                Ok(Cow::Owned(text))
            }
        }
    }

    /// `problem` as an error that names where the JSON came from.
    fn error(self, problem: &str) -> String {
        match self {
            Self::Inline(_) => problem.to_owned(),
            Self::File(path) => format!("{}: {problem}", path.display()),
            Self::Stdin => format!("standard input: {problem}"),
        }
    }

    /// Reads and parses the JSON.
    fn parse(self) -> Result<Value, String> {
        let text = self.read()?;
        serde_json::from_slice(&text).map_err(|e| self.error(&format!("not valid JSON: {e}")))
    }
}

/// Parses a JSON value given as `arg`: the JSON itself, `@FILE` or `-`
/// (see [`JsonSource`]).
///
/// # Errors
/// The JSON cannot be read, or is not valid (naming the file or standard
/// input it came from), as one line.
pub fn parse_json(arg: &str) -> Result<Value, String> {
    JsonSource::of(arg).parse()
}

/// Parses a JSON object (keyword arguments, contexts) given as `arg`: the
/// JSON itself, `@FILE` or `-` (see [`JsonSource`]).
///
/// # Errors
/// As [`parse_json`], or JSON that is not an object.
pub fn parse_json_object(arg: &str) -> Result<Map<String, Value>, String> {
    let source = JsonSource::of(arg);
    match source.parse()? {
        Value::Object(map) => Ok(map),
        other => Err(source.error(&format!(
            "expected a JSON object such as {{\"key\": \"value\"}}, got {}",
            kind(&other)
        ))),
    }
}

/// Parses a notification priority (any case, `warning` for `warn`).
///
/// # Errors
/// An unknown priority, listing the valid ones.
pub fn parse_priority(text: &str) -> Result<Priority, String> {
    text.parse::<Priority>().map_err(|_| {
        format!(
            "unknown priority {text:?}; expected one of audit, debug, info, warn, error, critical, sample"
        )
    })
}

/// Parses a number of seconds (a positive number, fractions allowed):
/// `--timeout`, and a benchmark's `--duration`.
///
/// # Errors
/// Not a number, not positive, or too large.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(format!("must be more than 0 seconds, got {text}"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text} seconds is too long"))
}

/// Checks an API version (`X.Y` or `X.Y.Z`).
///
/// # Errors
/// The version is malformed.
pub fn parse_version(text: &str) -> Result<String, String> {
    text.parse::<Version>()
        .map(|_| text.to_owned())
        .map_err(|_| format!("version {text:?} is not of the form X.Y"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn value_parsers() {
        assert!(parse_json_object("{\"a\": 1}").is_ok());
        assert!(parse_json_object("[1]")
            .unwrap_err()
            .contains("got an array"));
        assert!(parse_json_object("{")
            .unwrap_err()
            .contains("not valid JSON"));
        assert_eq!(parse_priority("WARNING"), Ok(Priority::Warn));
        assert!(parse_priority("loud")
            .unwrap_err()
            .contains("unknown priority"));
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["0", "-1", "NaN", "inf", "x", "1e300"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        assert!(parse_version("1.2").is_ok());
        assert!(parse_version("1").is_err());
    }

    /// A file in the temporary directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "oslo-messaging-cli-args-{}-{name}",
                std::process::id()
            ));
            std::fs::write(&path, contents).expect("write the temporary file");
            Self(path)
        }

        fn at(&self) -> String {
            format!("@{}", self.0.display())
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn the_json_source_rule() {
        assert_eq!(JsonSource::of("-"), JsonSource::Stdin);
        assert_eq!(
            JsonSource::of("@dir/a.json"),
            JsonSource::File(Path::new("dir/a.json"))
        );
        assert_eq!(JsonSource::of("@-"), JsonSource::File(Path::new("-")));
        for inline in ["{}", " -", "--", "\"@x\"", "[\"-\"]"] {
            assert_eq!(JsonSource::of(inline), JsonSource::Inline(inline));
        }
        assert!(parse_json("@")
            .unwrap_err()
            .contains("followed by a file name"));
    }

    #[test]
    fn json_from_a_file_is_the_files_json_exactly() {
        // Key order, big and precise numbers, escapes, and 1 MiB: the parsed
        // value is the file's, and prints back as the same text.
        let text = format!(
            r#"{{"z":1,"a":[12345678901234567890123,1.00000000000000000001,-0.0,null],"s":"é\n\"","big":"{}"}}"#,
            "x".repeat(1024 * 1024)
        );
        let file = TempFile::new("exact.json", &text);
        let parsed = parse_json_object(&file.at()).expect("parses");
        let expected: Map<String, Value> = serde_json::from_str(&text).expect("valid");
        // (assert! rather than assert_eq!: no MiB-long failure messages)
        assert!(parsed == expected, "not the file's JSON");
        let printed = serde_json::to_string(&parsed).expect("prints");
        assert!(printed == text, "prints back differently");
        assert!(parse_json(&file.at()) == Ok(Value::Object(expected.clone())));

        // Every argument that takes JSON takes the file.
        let cli = Cli::try_parse_from([
            "oslo-messaging",
            "--context",
            &file.at(),
            "call",
            "m",
            &file.at(),
        ])
        .expect("parses");
        assert!(cli.global.context.as_ref() == Some(&expected), "--context");
        match cli.command {
            Command::Call { args, .. } => assert!(args.as_ref() == Some(&expected), "JSON_OBJECT"),
            _ => panic!("not a call"),
        }
        let cli = Cli::try_parse_from([
            "oslo-messaging",
            "notify",
            "--publisher-id",
            "p",
            "--event-type",
            "e",
            &file.at(),
        ])
        .expect("parses");
        match cli.command {
            Command::Notify { payload, .. } => {
                assert!(payload == Value::Object(expected), "PAYLOAD_JSON");
            }
            _ => panic!("not a notify"),
        }
    }

    #[test]
    fn errors_name_the_file() {
        let missing = std::env::temp_dir().join(format!(
            "oslo-messaging-cli-args-{}-missing.json",
            std::process::id()
        ));
        let e = parse_json(&format!("@{}", missing.display())).unwrap_err();
        assert!(
            e.starts_with(&format!("cannot read {}: ", missing.display())),
            "{e}"
        );
        let bad = TempFile::new("bad.json", "{\"a\": }");
        let e = parse_json(&bad.at()).unwrap_err();
        assert!(
            e.starts_with(&format!("{}: not valid JSON: ", bad.0.display())),
            "{e}"
        );
        let array = TempFile::new("array.json", "[1]");
        let e = parse_json_object(&array.at()).unwrap_err();
        assert!(
            e.starts_with(&format!("{}: expected a JSON object", array.0.display())),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn standard_input_serves_one_value_per_command_line() {
        // Standard input already taken in this command line: refused
        // before reading anything.
        let second = one_command_line(|| {
            STDIN_TAKEN.with(|taken| taken.set(Some(true)));
            JsonSource::Stdin.read().map(|_| ())
        });
        assert!(second
            .unwrap_err()
            .starts_with("only one value per command line can be -"));
        // Every parse is a command line of its own.
        assert_eq!(STDIN_TAKEN.with(Cell::get), None);
        one_command_line(|| {
            assert_eq!(STDIN_TAKEN.with(Cell::get), Some(false));
            let _ = Cli::try_parse_from(["oslo-messaging", "ping"]);
            assert_eq!(STDIN_TAKEN.with(Cell::get), Some(false), "restored");
        });
    }

    #[test]
    fn global_options_go_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "oslo-messaging",
            "call",
            "add",
            "{\"a\": 1}",
            "--topic",
            "t",
            "--version",
            "1.1",
            "--timeout",
            "2",
        ])
        .expect("parses");
        assert_eq!(cli.global.topic.as_deref(), Some("t"));
        assert_eq!(cli.global.api_version.as_deref(), Some("1.1"));
        assert_eq!(cli.global.timeout, Some(Duration::from_secs(2)));
        assert_eq!(cli.global.retry(), Some(0), "no retries by default");
    }

    #[test]
    fn retry_minus_one_is_forever() {
        let cli = Cli::try_parse_from(["oslo-messaging", "--retry", "-1", "ping"]).expect("parses");
        assert_eq!(cli.global.retry(), None);
        let cli = Cli::try_parse_from(["oslo-messaging", "--retry", "3", "ping"]).expect("parses");
        assert_eq!(cli.global.retry(), Some(3));
    }

    #[test]
    fn runtime_flavor_is_multi_thread_unless_serve_asks() {
        let flavor = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("oslo-messaging").chain(args.iter().copied()))
                .map(|cli| cli.runtime_flavor())
                .map_err(|e| e.kind())
        };
        assert_eq!(flavor(&["serve"]), Ok(RuntimeFlavor::MultiThread));
        assert_eq!(
            flavor(&["serve", "--runtime", "current-thread"]),
            Ok(RuntimeFlavor::CurrentThread)
        );
        assert_eq!(
            flavor(&["serve", "--runtime", "multi-thread"]),
            Ok(RuntimeFlavor::MultiThread)
        );
        assert_eq!(flavor(&["health"]), Ok(RuntimeFlavor::MultiThread));
        assert_eq!(
            flavor(&["serve", "--runtime", "single"]),
            Err(clap::error::ErrorKind::InvalidValue)
        );
        assert!(flavor(&["health", "--runtime", "current-thread"]).is_err());
    }
}
