//! `notify`: send one notification; a driver failure is an error exit.

use std::future::Future;

use oslo_messaging_core::{Notifier, Priority};
use serde_json::Value;

use super::{load_config, transport, until_signal, Traffic};
use crate::args::GlobalArgs;
use crate::exit::CliError;
use crate::signal::Signal;
use crate::telemetry::Trace;

/// What to send.
#[derive(Debug, Clone)]
pub struct NotifyArgs<'a> {
    /// Publisher id.
    pub publisher_id: &'a str,
    /// Event type.
    pub event_type: &'a str,
    /// Priority.
    pub priority: Priority,
    /// `messagingv2` or `messaging`.
    pub driver: &'a str,
    /// The payload.
    pub payload: Value,
}

/// Sends the notification on `--topic` (default: the configured
/// notification topics) with `notify_checked`.
///
/// # Errors
/// Bad input, delivery and connection failures, [`CliError::Interrupted`].
pub async fn run(
    global: &GlobalArgs,
    args: NotifyArgs<'_>,
    shutdown: impl Future<Output = Signal>,
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Notifications)?;
    let trace = Trace::start("notify");
    let mut builder = Notifier::builder(&transport)
        .publisher_id(args.publisher_id)
        .driver(args.driver)
        .retry(global.retry());
    if let Some(topic) = &global.topic {
        builder = builder.topics([topic.as_str()]);
    }
    let notifier = builder.build()?;
    let context = global.context();
    let sent = notifier.notify_checked(&context, args.priority, args.event_type, args.payload);
    let outcome = until_signal(&transport, shutdown, Trace::run(trace.as_ref(), sent)).await;
    Trace::finish(trace);
    outcome
}
