//! One module per subcommand; the setup they share (configuration,
//! transport URL, RPC client, JSON output) lives here.

pub mod bench;
pub mod call;
pub mod cast;
pub mod health;
pub mod listen;
pub mod notify;
pub mod ping;
pub mod serve;
pub mod tap;

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use oslo_messaging_core::config::{Config, ConfigBuilder};
use oslo_messaging_core::{MessagingError, RpcClient, Target, Transport};
use serde_json::Value;

use crate::args::{GlobalArgs, DEFAULT_URL, URL_ENV};
use crate::exit::CliError;
use crate::signal::Signal;

/// The longest a one-shot command waits for its transport to close after
/// its work (or a signal) ended: deleting what it declared (a call's reply
/// queue) and closing its connections, in seconds.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `work` unless `shutdown` (a signal) comes first, then closes
/// `transport` (see [`CLOSE_TIMEOUT`]), deleting what the command declared.
/// The one place where a one-shot command meets signals.
///
/// # Errors
/// `work`'s error, or [`CliError::Interrupted`] when a signal stopped it.
pub(crate) async fn until_signal<T>(
    transport: &Transport,
    shutdown: impl Future<Output = Signal>,
    work: impl Future<Output = Result<T, MessagingError>>,
) -> Result<T, CliError> {
    let outcome = tokio::select! {
        result = work => result.map_err(CliError::from),
        signal = shutdown => {
            tracing::info!(%signal, "stopping");
            Err(CliError::Interrupted(signal))
        }
    };
    if tokio::time::timeout(CLOSE_TIMEOUT, transport.cleanup())
        .await
        .is_err()
    {
        tracing::warn!(
            "closing the transport took longer than {}s; left it",
            CLOSE_TIMEOUT.as_secs()
        );
    }
    outcome
}

/// Which transport URL option of the config file applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Traffic {
    /// `[DEFAULT] transport_url`.
    Rpc,
    /// `[oslo_messaging_notifications] transport_url`, else the `[DEFAULT]` one.
    Notifications,
}

/// The configuration: `--config-file` (INI, or TOML for `*.toml`), then
/// `--exchange` as `[DEFAULT] control_exchange`, then `extra` overrides.
pub(crate) fn load_config(
    global: &GlobalArgs,
    extra: &[(&str, &str, &str)],
) -> Result<Config, CliError> {
    let mut builder: ConfigBuilder = Config::builder();
    if let Some(path) = &global.config_file {
        if !path.is_file() {
            return Err(CliError::Usage(format!(
                "config file {} does not exist or is not a file",
                path.display()
            )));
        }
        builder = if is_toml(path) {
            builder.toml_file(path)
        } else {
            builder.ini_file(path)
        };
    }
    if let Some(exchange) = &global.exchange {
        builder = builder.set("DEFAULT", "control_exchange", exchange.as_str());
    }
    for (group, option, value) in extra {
        builder = builder.set(*group, *option, *value);
    }
    Ok(builder.build()?)
}

fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// The transport URL: `--url`, else the config file's, else
/// `$OS_TRANSPORT_URL`, else [`DEFAULT_URL`]. Empty values count as unset.
pub(crate) fn resolve_url(
    explicit: Option<&str>,
    from_config: Option<&str>,
    from_env: Option<&str>,
) -> String {
    [explicit, from_config, from_env]
        .into_iter()
        .flatten()
        .find(|u| !u.trim().is_empty())
        .unwrap_or(DEFAULT_URL)
        .to_owned()
}

/// The transport URL for `traffic`, with `config` (see [`resolve_url`]).
pub(crate) fn url_for(
    global: &GlobalArgs,
    config: &Config,
    traffic: Traffic,
) -> Result<String, CliError> {
    let from_config = match traffic {
        Traffic::Rpc => config.default_group()?.transport_url,
        Traffic::Notifications => config.notifications_group()?.transport_url,
    };
    let from_env = std::env::var(URL_ENV).ok();
    Ok(resolve_url(
        global.url.as_deref(),
        from_config.as_deref(),
        from_env.as_deref(),
    ))
}

/// A transport for `traffic`, with `config`.
pub(crate) fn transport(
    global: &GlobalArgs,
    config: &Config,
    traffic: Traffic,
) -> Result<Transport, CliError> {
    let url = url_for(global, config, traffic)?;
    let transport = Transport::new(config, Some(&url))?;
    crate::telemetry::traced(global.trace, config, transport)
}

/// The value of a required option, or a usage error naming it.
pub(crate) fn require<'a>(
    value: Option<&'a str>,
    option: &str,
    command: &str,
) -> Result<&'a str, CliError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(CliError::Usage(format!("{command} needs {option}"))),
    }
}

/// An RPC client for `--topic`, `--server`, `--timeout`, `--retry`, and
/// with `api`, `--namespace` and `--version`.
pub(crate) fn rpc_client(
    transport: &Transport,
    global: &GlobalArgs,
    command: &str,
    api: bool,
) -> Result<RpcClient, CliError> {
    let topic = require(global.topic.as_deref(), "--topic", command)?;
    let mut client = RpcClient::new(transport, Target::topic(topic))
        .with_retry(global.retry())
        .with_at_least_once(global.at_least_once);
    if let Some(server) = &global.server {
        client = client.with_server(server.as_str());
    }
    if let Some(timeout) = global.timeout {
        client = client.with_timeout(timeout);
    }
    if api {
        if let Some(namespace) = &global.namespace {
            client = client.with_namespace(namespace.as_str());
        }
        if let Some(version) = &global.api_version {
            client = client.with_version(version.as_str());
        }
    }
    Ok(client)
}

/// Writes `value` as one line of compact JSON and flushes.
pub(crate) fn write_json_line(out: &mut (dyn Write + Send), value: &Value) -> Result<(), CliError> {
    let line = serde_json::to_string(value)
        .map_err(|e| CliError::Unexpected(format!("cannot encode JSON: {e}")))?;
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_precedence_is_flag_then_config_then_env_then_default() {
        assert_eq!(
            resolve_url(Some("fake://a"), Some("fake://b"), Some("fake://c")),
            "fake://a"
        );
        assert_eq!(
            resolve_url(None, Some("fake://b"), Some("fake://c")),
            "fake://b"
        );
        assert_eq!(resolve_url(None, None, Some("fake://c")), "fake://c");
        assert_eq!(resolve_url(None, Some(""), Some(" ")), DEFAULT_URL);
        assert_eq!(resolve_url(None, None, None), DEFAULT_URL);
    }

    #[test]
    fn toml_is_chosen_by_extension() {
        assert!(is_toml(Path::new("/etc/x/app.TOML")));
        assert!(!is_toml(Path::new("/etc/nova/nova.conf")));
    }
}
