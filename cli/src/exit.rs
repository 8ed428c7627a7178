//! Exit statuses and the one mapping from errors to them.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success (and `--help`) |
//! | 1 | the remote endpoint raised an error (`MessagingError::Remote`) |
//! | 2 | no reply in time (`MessagingError::MessagingTimeout`) |
//! | 3 | delivery or connection failure, or any other runtime failure |
//! | 64 | bad input (`EX_USAGE`): command line, JSON, URL, scheme, option, config file |
//! | 130, 143 | stopped by SIGINT, SIGTERM (128 + the signal's number; not `serve`, `listen` and the bench servers, which exit 0) |
//!
//! Exit status 2 is a timeout, so usage errors do not use clap's usual 2
//! but `EX_USAGE` from `sysexits.h`.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use oslo_messaging_core::MessagingError;

use crate::signal::Signal;

/// The exit status table as `--help` shows it.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0   success
  1   the remote endpoint raised an error (its class and message go to stderr)
  2   timed out waiting for a reply
  3   delivery or connection failure, or another runtime failure
  64  bad input (EX_USAGE): arguments, JSON, transport URL, scheme, options, config file
  130 stopped by SIGINT, 143 stopped by SIGTERM (what the command declared is deleted first)";

/// How the command ended; [`code`](Self::code) is the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: it worked.
    Ok,
    /// 1: the remote endpoint raised an error.
    Remote,
    /// 2: no reply within the timeout.
    Timeout,
    /// 3: delivery, connection or other runtime failure.
    Failure,
    /// 64 (`EX_USAGE`): bad input.
    Usage,
    /// 128 + the signal's number: stopped by a signal.
    Interrupted(Signal),
}

impl Status {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Remote => 1,
            Status::Timeout => 2,
            Status::Failure => 3,
            Status::Usage => 64,
            Status::Interrupted(signal) => signal.exit_code(),
        }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status.code())
    }
}

/// The exit status for a messaging error: the one place that decides it.
pub fn status_for(error: &MessagingError) -> Status {
    match error {
        MessagingError::Remote(_) => Status::Remote,
        MessagingError::MessagingTimeout { .. } => Status::Timeout,
        MessagingError::MessageDeliveryFailure(_)
        | MessagingError::BrokerRefused { .. }
        | MessagingError::MessageUndeliverable { .. }
        | MessagingError::Connection(_) => Status::Failure,
        MessagingError::InvalidTransportUrl(_)
        | MessagingError::DriverLoadFailure { .. }
        | MessagingError::InvalidOption { .. }
        | MessagingError::Config(_)
        | MessagingError::InvalidTarget(_)
        | MessagingError::RpcVersionCapError { .. }
        | MessagingError::RoutingRules(_) => Status::Usage,
        _ => Status::Failure,
    }
}

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Bad input found after parsing (e.g. a missing `--topic`).
    Usage(String),
    /// An error of the messaging API.
    Messaging(MessagingError),
    /// Writing the output failed (e.g. a closed pipe).
    Output(std::io::Error),
    /// The command ran but the answer was not the expected one.
    Unexpected(String),
    /// A signal stopped the command before it finished.
    Interrupted(Signal),
}

impl CliError {
    /// The exit status for this error (see [`status_for`]).
    pub fn status(&self) -> Status {
        match self {
            CliError::Usage(_) => Status::Usage,
            CliError::Messaging(e) => status_for(e),
            CliError::Output(_) | CliError::Unexpected(_) => Status::Failure,
            CliError::Interrupted(signal) => Status::Interrupted(*signal),
        }
    }

    /// Write the error on `err` as one `oslo-messaging: ...` line.
    pub fn report(&self, err: &mut (dyn Write + Send)) {
        // Nothing sensible is left to do when stderr itself fails.
        let _ = writeln!(err, "oslo-messaging: {self}");
        let _ = err.flush();
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "error: {m} (see --help)"),
            CliError::Messaging(MessagingError::Remote(r)) => {
                write!(f, "remote error: {} ({}): {}", r.class, r.module, r.message)
            }
            CliError::Messaging(e) => write!(f, "error: {e}"),
            CliError::Output(e) => write!(f, "error: cannot write output: {e}"),
            CliError::Unexpected(m) => write!(f, "error: {m}"),
            CliError::Interrupted(signal) => write!(f, "stopped by {signal}"),
        }
    }
}

impl From<MessagingError> for CliError {
    fn from(e: MessagingError) -> Self {
        CliError::Messaging(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Output(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oslo_messaging_core::RemoteFailure;

    #[test]
    fn every_documented_mapping() {
        let remote = MessagingError::from(RemoteFailure::new("ValueError", "builtins", "boom"));
        assert_eq!(status_for(&remote), Status::Remote);
        let timeout = MessagingError::MessagingTimeout {
            method: "m".into(),
            timeout_ms: 1,
        };
        assert_eq!(status_for(&timeout), Status::Timeout);
        for e in [
            MessagingError::delivery_failure("test", "x"),
            MessagingError::MessageUndeliverable {
                exchange: "e".into(),
                routing_key: "k".into(),
            },
            MessagingError::connection("test", "x"),
            MessagingError::BrokerRefused {
                operation: "declare exchange \"x\"".into(),
                reason: "PRECONDITION_FAILED".into(),
            },
            MessagingError::MalformedMessage("x".into()),
            MessagingError::ServerState("x".into()),
        ] {
            assert_eq!(status_for(&e), Status::Failure, "{e}");
        }
        for e in [
            MessagingError::InvalidTransportUrl("x".into()),
            MessagingError::DriverLoadFailure {
                scheme: "nope".into(),
                registered: vec!["fake".into()],
            },
            MessagingError::Config("x".into()),
            MessagingError::InvalidTarget("x".into()),
        ] {
            assert_eq!(status_for(&e), Status::Usage, "{e}");
        }
        let codes: Vec<u8> = [
            Status::Ok,
            Status::Remote,
            Status::Timeout,
            Status::Failure,
            Status::Usage,
        ]
        .iter()
        .map(|s| s.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 64]);
        let stopped = CliError::Interrupted(Signal::Terminate);
        assert_eq!(
            (stopped.status().code(), stopped.to_string()),
            (143, "stopped by SIGTERM".into())
        );
    }

    #[test]
    fn remote_error_shows_class_module_and_message() {
        let e = CliError::from(MessagingError::from(RemoteFailure::new(
            "ValueError",
            "builtins",
            "boom",
        )));
        assert_eq!(e.to_string(), "remote error: ValueError (builtins): boom");
        assert_eq!(e.status(), Status::Remote);
    }
}
