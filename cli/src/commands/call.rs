//! `call METHOD [JSON_OBJECT]`: invoke a method and print its result as JSON.

use std::future::Future;
use std::io::Write;

use serde_json::{Map, Value};

use super::{load_config, rpc_client, transport, until_signal, write_json_line, Traffic};
use crate::args::GlobalArgs;
use crate::exit::CliError;
use crate::signal::Signal;
use crate::telemetry::Trace;

/// Calls `method` with `args` on `--topic` and writes the result as one
/// JSON line. A signal stops the call; its reply queue is deleted.
///
/// # Errors
/// Bad input, the remote error, a timeout, delivery and connection
/// failures, [`CliError::Interrupted`].
pub async fn run(
    global: &GlobalArgs,
    method: &str,
    args: Option<Map<String, Value>>,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    let trace = Trace::start("call");
    let client = rpc_client(&transport, global, "call", true)?;
    let context = global.context();
    let call = client.call(&context, method, Value::Object(args.unwrap_or_default()));
    let result = until_signal(&transport, shutdown, Trace::run(trace.as_ref(), call)).await;
    Trace::finish(trace);
    write_json_line(out, &result?)
}
