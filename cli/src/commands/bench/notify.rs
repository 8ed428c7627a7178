//! `bench notify-server` and `bench notify-client`.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;

use oslo_messaging_core::{
    NotificationEndpoint, NotificationListener, NotificationResult, Notifier, Priority, Target,
    Transport,
};

use super::{load, message, serve_until, topic, Counter};
use crate::args::{BenchServerArgs, GlobalArgs, LoadArgs};
use crate::commands::{load_config, transport, Traffic};
use crate::exit::CliError;
use crate::signal::Signal;
use crate::telemetry::BenchMetrics;

/// The simulator's event type.
const EVENT_TYPE: &str = "compute.start";

/// Starts a listener on `topic` that counts every notification.
async fn start_listener(
    transport: &Transport,
    topic: &str,
    counter: Arc<Counter>,
) -> Result<NotificationListener, CliError> {
    let endpoint = NotificationEndpoint::builder(counter)
        .on_priorities(Priority::ALL, |counter, _| async move {
            counter.count();
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(transport, vec![Target::topic(topic)])
        .endpoint(endpoint)
        .build()?;
    listener.start().await?;
    Ok(listener)
}

async fn stop_listener(listener: &NotificationListener) -> Result<(), CliError> {
    listener.stop().await?;
    listener.wait().await?;
    Ok(())
}

/// `bench notify-server`.
///
/// # Errors
/// Bad input, connection failures.
pub async fn server(
    global: &GlobalArgs,
    args: &BenchServerArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Notifications)?;
    let topic = topic(global);
    let counter = Counter::new(args.messages);
    let listener = start_listener(&transport, &topic, counter.clone()).await?;
    let ready = format!("topic={topic} transport={}", transport.url());
    let served = serve_until(args, &counter, &ready, err, shutdown).await;
    let stopped = stop_listener(&listener).await;
    transport.cleanup().await;
    served?;
    stopped?;
    counter.finish("notify-server", &ready, args.json, out, err)?;
    Ok(())
}

/// `bench notify-client`: info notifications, as the simulator sends them
/// (publisher `publisher-0`, event type `compute.start`).
///
/// # Errors
/// Bad input, connection failures.
pub async fn client(
    global: &GlobalArgs,
    args: &LoadArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = Signal>,
) -> Result<(), CliError> {
    let load = load(args)?;
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Notifications)?;
    let (transport, metrics) = BenchMetrics::start(args.metrics, transport)?;
    let topic = topic(global);
    let in_process = match args.in_process_server {
        true => Some(start_listener(&transport, &topic, Counter::new(None)).await?),
        false => None,
    };
    let notifier = Arc::new(
        Notifier::builder(&transport)
            .publisher_id("publisher-0")
            .driver("messagingv2")
            .topics([topic.as_str()])
            .retry(global.retry())
            .build()?,
    );
    let context = Arc::new(global.context());
    let cargo: Arc<str> = "x".repeat(load.payload_bytes).into();
    let label = format!("notify-client x{}", load.concurrency);
    let (report, stopped_by) = super::load::drive(&load, &label, err, shutdown, move |seq| {
        let (notifier, context, cargo) = (notifier.clone(), context.clone(), cargo.clone());
        async move {
            notifier
                .notify_checked(&context, Priority::Info, EVENT_TYPE, message(seq, &cargo))
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await;
    if let Some(listener) = &in_process {
        stop_listener(listener).await?;
    }
    transport.cleanup().await;
    metrics.finish(err)?;
    report.write(out, args.json)?;
    stopped_by.map_or(Ok(()), |s| Err(CliError::Interrupted(s)))
}
