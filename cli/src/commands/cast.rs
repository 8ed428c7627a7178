//! `cast METHOD [JSON_OBJECT] [--fanout]`: send a method without waiting.

use serde_json::{Map, Value};

use super::{load_config, rpc_client, transport, Traffic};
use crate::args::GlobalArgs;
use crate::exit::CliError;

/// Casts `method` with `args` to `--topic` (every server with `fanout`).
/// Prints nothing on success.
///
/// # Errors
/// Bad input, delivery and connection failures.
pub async fn run(
    global: &GlobalArgs,
    method: &str,
    args: Option<Map<String, Value>>,
    fanout: bool,
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Rpc)?;
    let client = rpc_client(&transport, global, "cast", true)?.with_fanout(fanout);
    let result = client
        .cast(
            &global.context(),
            method,
            Value::Object(args.unwrap_or_default()),
        )
        .await;
    transport.cleanup().await;
    Ok(result?)
}
