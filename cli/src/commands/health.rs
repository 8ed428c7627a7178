//! `health`: connect now and print the transport's health snapshot; or,
//! with `--file`, check what a running `serve` or `listen` wrote.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use oslo_messaging_core::health::ConnectionState;

use super::{load_config, transport, until_signal, write_json_line, Traffic};
use crate::args::GlobalArgs;
use crate::exit::CliError;
use crate::health_file;
use crate::signal::Signal;

/// Opens the transport's connections (`Transport::connect`, with
/// `--retry`; over RabbitMQ it also publishes a probe message, so that a
/// broker refusing publishers shows as `"blocked": true`), prints the
/// health snapshot as one JSON line, then closes them. The snapshot is
/// printed also when connecting failed.
///
/// Drivers without connections (`fake://`) list none: connected.
///
/// # Errors
/// Bad input; the connection failure (exit status 3); a
/// `CliError::Unexpected` naming the connections that are not connected or
/// that the broker blocks (a resource alarm); [`CliError::Interrupted`].
pub async fn run(
    global: &GlobalArgs,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    // The snapshot is taken before the transport closes (in until_signal).
    let checked = until_signal(&transport, shutdown, async {
        let connected = transport.connect(global.retry()).await;
        Ok((connected, transport.health()))
    })
    .await;
    let (connected, health) = checked?;
    let snapshot = serde_json::to_value(&health)
        .map_err(|e| CliError::Unexpected(format!("cannot encode the health snapshot: {e}")))?;
    write_json_line(out, &snapshot)?;
    connected?;
    let down: Vec<String> = health
        .connections
        .iter()
        .filter(|c| c.state != ConnectionState::Connected)
        .map(|c| format!("{} is {:?}", c.purpose, c.state).to_lowercase())
        .collect();
    if !down.is_empty() {
        return Err(CliError::Unexpected(format!(
            "not connected: {}",
            down.join(", ")
        )));
    }
    let blocked: Vec<String> = health
        .connections
        .iter()
        .filter(|c| c.blocked)
        .map(|c| format!("{} on {}", c.purpose, c.host.as_deref().unwrap_or("?")))
        .collect();
    if !blocked.is_empty() {
        return Err(CliError::Unexpected(format!(
            "the broker blocks publishing (a resource alarm: memory or disk) on: {}",
            blocked.join(", ")
        )));
    }
    Ok(())
}

/// `health --file PATH`: checks the health file a running `serve` or
/// `listen` writes (see [`crate::health_file`]) without connecting to
/// anything, and prints it as one JSON line when it can be read.
///
/// # Errors
/// A `CliError::Unexpected` (exit status 3) saying why the probe fails:
/// no file at `path` (the writer is not running, or without
/// `--health-file`), not a health file, older than `max_age`, or a
/// connection or consumer that is not well.
pub fn check_file(
    path: &Path,
    max_age: Duration,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Unexpected(if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "no health file at {}: the server or listener is not running, \
                 or runs without --health-file",
                path.display()
            )
        } else {
            format!("cannot read the health file {}: {e}", path.display())
        })
    })?;
    let (file, failure) = match health_file::check(path, &text, health_file::unix_now(), max_age) {
        Ok(file) => (Some(file), None),
        Err((why, file)) => (file, Some(why)),
    };
    if let Some(file) = file {
        let json = serde_json::to_value(&file)
            .map_err(|e| CliError::Unexpected(format!("cannot encode the health file: {e}")))?;
        write_json_line(out, &json)?;
    }
    match failure {
        None => Ok(()),
        Some(why) => Err(CliError::Unexpected(why)),
    }
}
