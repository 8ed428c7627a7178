//! `tap`: print the live RPC or notification traffic of a topic, one JSON
//! line per message, without taking it from its servers or listeners
//! (over RabbitMQ; see `oslo_messaging_driver_rabbit::tap`).

use std::future::Future;
use std::io::Write;

use oslo_messaging_core::TransportUrl;
use oslo_messaging_driver_rabbit::tap::{Tap, Tapped};
use serde_json::Value;

use super::{load_config, url_for, write_json_line, Traffic};
use crate::args::{GlobalArgs, DEFAULT_NOTIFICATION_TOPIC};
use crate::exit::CliError;

/// What to tap.
#[derive(Debug, Clone, Default)]
pub struct TapArgs {
    /// Tap notifications (`<topic>.*`) instead of RPC.
    pub notifications: bool,
    /// Also print replies, through RabbitMQ's firehose.
    pub replies: bool,
    /// Stop after this many messages.
    pub count: Option<u64>,
}

/// The first words of the line `tap` writes on stderr once it is bound.
pub const READY_PREFIX: &str = "tapping ";

/// Taps `--topic` (`--server`: that server only; with `notifications`,
/// the notifications of `--topic`, default `notifications`) until `count`
/// messages were printed or `shutdown` completes. Writes on `err` what it
/// bound and could not, then `tapping queue=<its queue> ...`; the
/// messages go to `out` as JSON lines (see `TapEvent`).
///
/// # Errors
/// A URL that is not `rabbit://`; bad input; connection failures; the
/// broker refusing the tap's bindings; a closed output.
pub async fn run(
    global: &GlobalArgs,
    args: TapArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CliError> {
    let traffic = match args.notifications {
        true => Traffic::Notifications,
        false => Traffic::Rpc,
    };
    let config = load_config(global, &[])?;
    let url = TransportUrl::parse(&url_for(global, &config, traffic)?)?;
    if !matches!(url.driver_name(), "rabbit" | "kombu") {
        return Err(CliError::Usage(format!(
            "tap watches RabbitMQ exchanges: it needs a rabbit:// transport URL, not {}://",
            url.scheme
        )));
    }
    let tapped = match args.notifications {
        true => Tapped::Notifications {
            topic: global
                .topic
                .clone()
                .unwrap_or_else(|| DEFAULT_NOTIFICATION_TOPIC.to_owned()),
        },
        false => Tapped::Rpc {
            topic: super::require(global.topic.as_deref(), "--topic", "tap")?.to_owned(),
            server: global.server.clone(),
        },
    };
    let mut tap = Tap::start(
        &url,
        &config,
        global.exchange.as_deref(),
        &[tapped],
        args.replies,
    )
    .await?;
    for note in tap.notes() {
        writeln!(err, "tap: {note}")?;
    }
    writeln!(err, "{READY_PREFIX}queue={} transport={url}", tap.queue())?;
    err.flush()?;
    tokio::pin!(shutdown);
    let mut printed = 0u64;
    let outcome = loop {
        if args.count.is_some_and(|c| printed >= c) {
            break Ok(());
        }
        tokio::select! {
            event = tap.next() => match event {
                Some(Ok(event)) => {
                    write_json_line(out, &Value::Object(event))?;
                    printed += 1;
                }
                Some(Err(e)) => break Err(CliError::from(e)),
                None => break Err(CliError::Usage("the broker closed the tap".into())),
            },
            () = &mut shutdown => break Ok(()),
        }
    };
    tap.close().await;
    outcome
}
