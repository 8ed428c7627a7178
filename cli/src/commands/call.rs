//! `call METHOD [JSON_OBJECT]`: invoke a method and print its result as JSON.

use std::io::Write;

use serde_json::{Map, Value};

use super::{load_config, rpc_client, transport, write_json_line, Traffic};
use crate::args::GlobalArgs;
use crate::exit::CliError;

/// Calls `method` with `args` on `--topic` and writes the result as one JSON line.
///
/// # Errors
/// Bad input, the remote error, a timeout, delivery and connection failures.
pub async fn run(
    global: &GlobalArgs,
    method: &str,
    args: Option<Map<String, Value>>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    let client = rpc_client(&transport, global, "call", true)?;
    let result = client
        .call(
            &global.context(),
            method,
            Value::Object(args.unwrap_or_default()),
        )
        .await;
    transport.cleanup().await;
    write_json_line(out, &result?)
}
