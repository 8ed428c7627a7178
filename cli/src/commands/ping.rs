//! `ping`: ask the servers of a topic for `oslo_rpc_server_ping`; a health probe.

use std::future::Future;
use std::io::Write;

use oslo_messaging_core::rpc::PING_METHOD;
use serde_json::{json, Value};

use super::{load_config, rpc_client, transport, until_signal, Traffic};
use crate::args::GlobalArgs;
use crate::exit::CliError;
use crate::signal::Signal;

/// The answer of a server with `rpc_ping_enabled`.
pub const PONG: &str = "pong";

/// Pings `--topic` (one `--server` if given) and prints `pong`.
/// `--namespace` and `--version` do not apply: the ping endpoint has neither.
///
/// # Errors
/// A server without ping answers with a remote `NoSuchMethod`; timeouts,
/// delivery and connection failures; any answer but `"pong"`;
/// [`CliError::Interrupted`].
pub async fn run(
    global: &GlobalArgs,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    let client = rpc_client(&transport, global, "ping", false)?;
    let context = global.context();
    let ping = client.call(&context, PING_METHOD, json!({}));
    match until_signal(&transport, shutdown, ping).await? {
        Value::String(s) if s == PONG => {
            writeln!(out, "{PONG}")?;
            out.flush()?;
            Ok(())
        }
        other => Err(CliError::Unexpected(format!(
            "unexpected answer to {PING_METHOD}: {other}"
        ))),
    }
}
