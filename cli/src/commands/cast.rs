//! `cast METHOD [JSON_OBJECT] [--fanout]`: send a method without waiting.

use std::future::Future;

use serde_json::{Map, Value};

use super::{load_config, rpc_client, transport, until_signal, Traffic};
use crate::args::GlobalArgs;
use crate::exit::CliError;
use crate::signal::Signal;
use crate::telemetry::Trace;

/// Casts `method` with `args` to `--topic` (every server with `fanout`).
/// Prints nothing on success.
///
/// # Errors
/// Bad input, delivery and connection failures, [`CliError::Interrupted`].
pub async fn run(
    global: &GlobalArgs,
    method: &str,
    args: Option<Map<String, Value>>,
    fanout: bool,
    shutdown: impl Future<Output = Signal>,
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    let trace = Trace::start("cast");
    let client = rpc_client(&transport, global, "cast", true)?.with_fanout(fanout);
    let context = global.context();
    let cast = client.cast(&context, method, Value::Object(args.unwrap_or_default()));
    let outcome = until_signal(&transport, shutdown, Trace::run(trace.as_ref(), cast)).await;
    Trace::finish(trace);
    outcome
}
