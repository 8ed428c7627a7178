//! The command line: global options and one subcommand each for call, cast,
//! ping, notify, listen, serve and health. Values are checked while parsing, so bad
//! input is a one-line usage error (exit status 64), never a panic.

use std::path::PathBuf;
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

/// `oslo-messaging`: call, cast, ping, notify, listen, serve and health over
/// oslo.messaging transports.
#[derive(Debug, Parser)]
#[command(
    name = "oslo-messaging",
    version,
    disable_version_flag = true,
    about = "The operator's tool for oslo.messaging: call, cast, ping, notify, listen, serve, health",
    long_about = "The operator's tool for oslo.messaging, like grpcurl: call and cast RPC \
methods, ping a service, send and listen to notifications, run a demo server, or check connection health.\n\n\
The transport URL is --url, else the config file's [DEFAULT] transport_url, else \
$OS_TRANSPORT_URL, else rabbit://guest:guest@localhost:5672/. Passwords are never printed.",
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
    /// Request context, a JSON object, e.g. '{"user": "admin"}'
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
        /// Keyword arguments, a JSON object, e.g. '{"a": 1, "b": 2}' [default: {}]
        #[arg(value_name = "JSON_OBJECT", value_parser = parse_json_object)]
        args: Option<Map<String, Value>>,
    },
    /// Cast METHOD: send it without waiting for a result
    #[command(after_help = EXIT_STATUS_HELP)]
    Cast {
        /// The method to cast
        method: String,
        /// Keyword arguments, a JSON object [default: {}]
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
        /// The payload, any JSON value
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
    },
    /// Connect now and print the connections' health as one JSON line; exit 0 when all are connected
    #[command(
        after_help = "Prints {\"connections\": [{\"purpose\", \"state\", \"host\", \
\"reconnects\", \"last_error\", \"blocked\"}, ...]} on stdout, also when not connected. \
Drivers without connections (fake://) list none, which counts as connected.\n\n\
Exit status:\n  0   every connection is connected\n  \
3   not connected (the error goes to stderr as one line)\n  \
64  bad input (EX_USAGE): arguments, transport URL, scheme, options, config file"
    )]
    Health,
    /// Benchmarks, compatible with oslo.messaging's tools/simulator.py
    /// (topic profiler_topic, server profiler_server, method info(message))
    #[command(subcommand, after_help = EXIT_STATUS_HELP)]
    Bench(BenchCommand),
}

/// `oslo-messaging bench ...`: servers and clients that measure, speaking
/// what oslo.messaging's `tools/simulator.py` speaks, so either side can be
/// Python. Without `--topic`/`--server`: the simulator's `profiler_topic`
/// and `profiler_server`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// An RPC server with the simulator's endpoint, info(message), which
    /// answers the message with its server timestamp set
    RpcServer(BenchServerArgs),
    /// Calls (or casts) info(message) and prints msg/s and latency
    RpcClient(RpcClientArgs),
    /// A notification listener on --topic that counts what it receives
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
            Command::Serve { runtime } => runtime,
            _ => RuntimeFlavor::MultiThread,
        }
    }
}

/// Parses a JSON value.
///
/// # Errors
/// The JSON error, as one line.
pub fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

/// Parses a JSON object (keyword arguments, contexts).
///
/// # Errors
/// Invalid JSON, or JSON that is not an object.
pub fn parse_json_object(text: &str) -> Result<Map<String, Value>, String> {
    match parse_json(text)? {
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "expected a JSON object such as {{\"key\": \"value\"}}, got {}",
            kind(&other)
        )),
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
