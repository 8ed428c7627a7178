//! # oslo-messaging-cli
//!
//! `oslo-messaging`, the operator's tool for oslo.messaging (like `grpcurl`):
//!
//! ```text
//! oslo-messaging --url rabbit://user:pass@host/ --topic compute call get_status '{"verbose": true}'
//! oslo-messaging --topic compute cast refresh --fanout
//! oslo-messaging --topic compute --server host-1 ping          # a health probe
//! oslo-messaging notify --publisher-id ops.cli --event-type ops.test --priority info '{"k": 1}'
//! oslo-messaging listen --count 1 --priority info,error        # one JSON line per notification
//! oslo-messaging serve --topic demo --server s1                # echo, add, fail, sleep, block; ping on
//! oslo-messaging serve --topic demo --server s1 --runtime current-thread
//! oslo-messaging health                                        # connect, print the health as JSON
//! oslo-messaging serve --topic demo --server s1 --health-file /run/s1.json
//! oslo-messaging health --file /run/s1.json                    # a liveness probe of that server
//! ```
//!
//! The transport URL is `--url`, else `--config-file`'s `[DEFAULT]
//! transport_url` (`[oslo_messaging_notifications]` first for notify and
//! listen), else `$OS_TRANSPORT_URL`, else `rabbit://guest:guest@localhost:5672/`.
//! Output never shows passwords: URLs print redacted.
//!
//! ## Exit status
//!
//! Decided in one place, [`exit::status_for`]:
//!
//! | status | when |
//! |---|---|
//! | 0 | success, `--help` |
//! | 1 | the remote endpoint raised an error (`MessagingError::Remote`); its class, module and message go to stderr |
//! | 2 | a call got no reply in time (`MessagingError::MessagingTimeout`) |
//! | 3 | `MessageDeliveryFailure`, `MessageUndeliverable`, `Connection`, and other runtime failures |
//! | 64 | bad input (`EX_USAGE`): arguments, JSON, a JSON value that is not an object, priority, transport URL, unknown scheme, options, config file |
//! | 130, 143 | stopped by SIGINT, SIGTERM (see [`signal`]) |
//!
//! Usage errors take 64, not clap's usual 2, because 2 means a timeout.
//! Every error is one line on stderr starting with `oslo-messaging: `.
//!
//! ## Embedding and testing
//!
//! [`run`] parses arguments and runs the command in-process, writing to the
//! given output and error streams; every command stops when the `shutdown`
//! future completes (the binary passes [`shutdown_signal`]): `serve`,
//! `listen` and the bench servers cleanly, with status 0; the others at
//! once, closing their transport first, with the signal's status.
//! Commands run on the caller's runtime; the binary runs each on the one
//! [`build_runtime`] makes (`serve --runtime current-thread`: a
//! current-thread runtime, otherwise a multi-thread one).
//!
//! ```
//! use oslo_messaging_cli::{run, Status};
//!
//! let runtime = tokio::runtime::Runtime::new().expect("runtime");
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let status = runtime.block_on(run(
//!     ["oslo-messaging", "--url", "fake://", "--topic", "doc", "cast", "hello", r#"{"who": "world"}"#],
//!     &mut out,
//!     &mut err,
//!     std::future::pending(),
//! ));
//! assert_eq!(status, Status::Ok);
//!
//! // Bad input: one line on stderr, exit status 64.
//! let mut err = Vec::new();
//! let status = runtime.block_on(run(
//!     ["oslo-messaging", "--url", "fake://", "--topic", "doc", "call", "add", "[1, 2]"],
//!     &mut out,
//!     &mut err,
//!     std::future::pending(),
//! ));
//! assert_eq!(status.code(), 64);
//! assert_eq!(String::from_utf8_lossy(&err).lines().count(), 1);
//! ```
#![deny(missing_docs)]

pub mod args;
pub mod commands;
pub mod demo;
pub mod exit;
pub mod health_file;
pub mod signal;
mod telemetry;

use std::ffi::OsString;
use std::future::Future;
use std::io::{IsTerminal, Write};

use clap::error::ErrorKind;

pub use args::{Cli, Command, GlobalArgs, RuntimeFlavor};
pub use exit::{status_for, CliError, Status};
use signal::clean_stop;
pub use signal::{shutdown_signal, Signal};

// Both drivers are reached only through URL schemes: keep them linked.
use oslo_messaging_driver_fake as _;
use oslo_messaging_driver_kafka as _;
use oslo_messaging_driver_rabbit as _;

/// Parses the command line. `--help` is written on `out` (`Err(Status::Ok)`);
/// a usage error is one line on `err` (`Err(Status::Usage)`).
///
/// # Errors
/// The status to exit with when there is nothing to run.
pub fn parse<I, T>(
    args: I,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<Cli, Status>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::parse_command_line(args) {
        Ok(cli) => Ok(cli),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = write!(out, "{}", e.render());
                let _ = out.flush();
                Err(Status::Ok)
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = write!(err, "{}", e.render());
                let _ = err.flush();
                Err(Status::Usage)
            }
            _ => {
                let rendered = e.render().to_string();
                let first = rendered
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("error: invalid arguments");
                let _ = writeln!(err, "oslo-messaging: {first} (see --help)");
                let _ = err.flush();
                Err(Status::Usage)
            }
        },
    }
}

/// Runs a parsed command; errors are reported on `err` as one line.
/// Every command stops when `shutdown` completes (see [`signal`]).
pub async fn execute(
    cli: Cli,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal> + Send,
) -> Status {
    let global = &cli.global;
    let result = match cli.command {
        Command::Call { method, args } => {
            commands::call::run(global, &method, args, out, shutdown).await
        }
        Command::Cast {
            method,
            args,
            fanout,
        } => commands::cast::run(global, &method, args, fanout, shutdown).await,
        Command::Ping => commands::ping::run(global, out, shutdown).await,
        Command::Notify {
            publisher_id,
            event_type,
            priority,
            driver,
            payload,
        } => {
            let args = commands::notify::NotifyArgs {
                publisher_id: &publisher_id,
                event_type: &event_type,
                priority,
                driver: &driver,
                payload,
            };
            commands::notify::run(global, args, shutdown).await
        }
        Command::Listen {
            pool,
            count,
            priority,
            health,
        } => {
            let args = commands::listen::ListenArgs {
                pool,
                count,
                priorities: priority,
                health,
            };
            commands::listen::run(global, args, out, err, clean_stop(shutdown)).await
        }
        Command::Tap {
            notifications,
            replies,
            count,
        } => {
            let args = commands::tap::TapArgs {
                notifications,
                replies,
                count,
            };
            commands::tap::run(global, args, out, err, clean_stop(shutdown)).await
        }
        Command::Serve {
            runtime: _,
            metrics_listen,
            health,
        } => commands::serve::run(global, &health, metrics_listen, err, clean_stop(shutdown)).await,
        Command::Health { file: None, .. } => commands::health::run(global, out, shutdown).await,
        Command::Health {
            file: Some(path),
            max_age,
        } => commands::health::check_file(&path, max_age, out),
        Command::Bench(command) => commands::bench::run(global, command, out, err, shutdown).await,
    };
    telemetry::flush_traces().await;
    match result {
        Ok(()) => Status::Ok,
        Err(e) => {
            e.report(err);
            e.status()
        }
    }
}

/// [`parse`] then [`execute`]: the whole command, in-process.
pub async fn run<I, T>(
    args: I,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal> + Send,
) -> Status
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match parse(args, out, err) {
        Ok(cli) => execute(cli, out, err, shutdown).await,
        Err(status) => status,
    }
}

/// The tokio runtime `cli` asks for ([`Cli::runtime_flavor`]), with I/O,
/// time and signals enabled.
///
/// # Errors
/// The runtime cannot be started (e.g. no threads left).
pub fn build_runtime(cli: &Cli) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match cli.runtime_flavor() {
        RuntimeFlavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        RuntimeFlavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

/// Logs to stderr: `info` for `serve`, nothing for `health` (its JSON
/// carries the errors, and its error is one line), `warn` otherwise;
/// `RUST_LOG` overrides. Does nothing when a global subscriber is already set.
pub fn init_logging(cli: &Cli) {
    let default = match cli.command {
        Command::Serve { .. } => "info",
        Command::Health { .. } => "off",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a log file or pipe gets plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
