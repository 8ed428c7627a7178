//! `listen`: print each notification received as one JSON line.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use oslo_messaging_core::notify::Notification;
use oslo_messaging_core::{
    NotificationEndpoint, NotificationListener, NotificationResult, Priority, Target,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{load_config, transport, write_json_line, Traffic};
use crate::args::{GlobalArgs, HealthFileArgs, DEFAULT_NOTIFICATION_TOPIC};
use crate::exit::CliError;
use crate::health_file;

/// How to listen.
#[derive(Debug, Clone, Default)]
pub struct ListenArgs {
    /// Listener pool.
    pub pool: Option<String>,
    /// Stop after this many notifications.
    pub count: Option<u64>,
    /// Priorities to receive; empty means all.
    pub priorities: Vec<Priority>,
    /// Where to write its health for a liveness probe.
    pub health: HealthFileArgs,
}

/// Where the endpoint puts what it takes. Past `limit`, notifications are
/// requeued for other listeners instead of being taken.
struct Tap {
    seen: mpsc::UnboundedSender<Notification>,
    limit: Option<u64>,
    taken: AtomicU64,
}

impl Tap {
    fn take(&self, n: Notification) -> NotificationResult {
        let index = self.taken.fetch_add(1, Ordering::SeqCst);
        if self.limit.is_some_and(|limit| index >= limit) || self.seen.send(n).is_err() {
            return NotificationResult::Requeue;
        }
        NotificationResult::Handled
    }
}

/// The JSON line printed for a notification.
pub fn notification_json(n: &Notification) -> Value {
    json!({
        "context": n.context,
        "publisher_id": n.publisher_id,
        "event_type": n.event_type,
        "priority": n.priority.as_str(),
        "payload": n.payload,
        "metadata": {
            "message_id": n.metadata.message_id,
            "timestamp": n.metadata.timestamp,
        },
    })
}

/// Listens on `--topic` (default `notifications`) until `count`
/// notifications were printed or `shutdown` completes. Writes
/// `listening topic=...` on `err` once subscribed, and meanwhile its
/// health to `--health-file` (see [`crate::health_file`]).
///
/// # Errors
/// Bad input, connection failures, a closed output.
pub async fn run(
    global: &GlobalArgs,
    args: ListenArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CliError> {
    let config = load_config(global, &[])?;
    let transport = transport(global, &config, Traffic::Notifications)?;
    let topic = global
        .topic
        .clone()
        .unwrap_or_else(|| DEFAULT_NOTIFICATION_TOPIC.to_owned());
    let priorities = if args.priorities.is_empty() {
        Priority::ALL.to_vec()
    } else {
        args.priorities.clone()
    };
    let (seen, mut received) = mpsc::unbounded_channel();
    let tap = Tap {
        seen,
        limit: args.count,
        taken: AtomicU64::new(0),
    };
    let endpoint = NotificationEndpoint::builder(tap)
        .on_priorities(priorities.iter().copied(), |tap, n| async move {
            Ok(tap.take(n))
        })
        .build();
    let mut builder = NotificationListener::builder(&transport, vec![Target::topic(&topic)])
        .endpoint(endpoint)
        .allow_requeue(true);
    if let Some(pool) = &args.pool {
        builder = builder.pool(pool.as_str());
    }
    let listener = builder.build()?;
    listener.start().await?;
    let names: Vec<&str> = priorities.iter().map(|p| p.as_str()).collect();
    writeln!(
        err,
        "listening topic={topic} priorities={} pool={} transport={}",
        names.join(","),
        args.pool.as_deref().unwrap_or("-"),
        transport.url()
    )?;
    err.flush()?;

    let outcome = health_file::writing_while(
        &transport,
        &args.health,
        print_until_done(&mut received, args.count, out, shutdown),
    )
    .await;
    let stopped = async {
        listener.stop().await?;
        listener.wait().await
    }
    .await;
    transport.cleanup().await;
    outcome?;
    // Taken (and acknowledged) while stopping: print them too. The tap's
    // limit keeps the total within --count.
    while let Ok(n) = received.try_recv() {
        write_json_line(out, &notification_json(&n))?;
    }
    Ok(stopped?)
}

async fn print_until_done(
    received: &mut mpsc::UnboundedReceiver<Notification>,
    count: Option<u64>,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CliError> {
    tokio::pin!(shutdown);
    let mut printed = 0u64;
    while count.is_none_or(|c| printed < c) {
        tokio::select! {
            n = received.recv() => match n {
                Some(n) => {
                    write_json_line(out, &notification_json(&n))?;
                    printed += 1;
                }
                None => break,
            },
            () = &mut shutdown => break,
        }
    }
    Ok(())
}
