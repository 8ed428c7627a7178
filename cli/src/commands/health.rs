//! `health`: connect now and print the transport's health snapshot.

use std::io::Write;

use super::{load_config, transport, write_json_line, Traffic};
use crate::args::GlobalArgs;
use crate::exit::CliError;

/// Opens the transport's connections (`Transport::connect`, with
/// `--retry`), prints the health snapshot as one JSON line, then closes
/// them. The snapshot is printed also when connecting failed.
///
/// Drivers without connections (`fake://`) list none: connected.
///
/// # Errors
/// Bad input; the connection failure (exit status 3), or a
/// `CliError::Unexpected` naming the connections that are not connected.
pub async fn run(global: &GlobalArgs, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    let connected = transport.connect(global.retry()).await;
    let health = transport.health();
    transport.cleanup().await;
    let snapshot = serde_json::to_value(&health)
        .map_err(|e| CliError::Unexpected(format!("cannot encode the health snapshot: {e}")))?;
    write_json_line(out, &snapshot)?;
    connected?;
    if health.is_connected() {
        return Ok(());
    }
    let down: Vec<String> = health
        .connections
        .iter()
        .filter(|c| c.state != oslo_messaging_core::health::ConnectionState::Connected)
        .map(|c| format!("{} is {:?}", c.purpose, c.state).to_lowercase())
        .collect();
    Err(CliError::Unexpected(format!(
        "not connected: {}",
        down.join(", ")
    )))
}
