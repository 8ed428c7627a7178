//! One AMQP connection, opened on the driver's own runtime, and reopened on
//! demand after it is lost: hosts tried in failover order, with
//! oslo.messaging's retry schedule (`rabbit_retry_interval`, growing by
//! `rabbit_retry_backoff` up to `rabbit_interval_max`).
//!
//! The driver runs its connections on a runtime it owns (see
//! [`IoRuntime`]): lapin's I/O loop and heartbeats are tasks of the runtime
//! a connection is opened on, so the application's runtime, however busy or
//! blocked, cannot stall them.

use std::sync::Arc;
use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use oslo_messaging_core::driver::Retry;
use oslo_messaging_core::health::{ConnectionHealth, ConnectionState};
use std::time::Instant;
use tokio::sync::{watch, Notify};

use crate::socket::{self, Killer};
use oslo_messaging_core::{DriverError, MessagingError, Result};

use crate::endpoints::{host_of, Endpoints};
use crate::options::RabbitOptions;

/// The delay before connection attempt `n` (0-based), as oslo.messaging
/// computes it: `interval + n * backoff`, at most `interval_max`.
pub(crate) fn retry_delay(opts: &RabbitOptions, attempt: u32) -> Duration {
    let secs = opts
        .rabbit_retry_interval
        .saturating_add(u64::from(attempt).saturating_mul(opts.rabbit_retry_backoff))
        .min(opts.rabbit_interval_max);
    Duration::from_secs(secs)
}

/// What a link's supervisor publishes about its connection.
#[derive(Clone)]
struct State {
    connection: Option<Arc<Connection>>,
    generation: u64,
    failures: u64,
    phase: ConnectionState,
    host: Option<String>,
    reconnects: u64,
    last_error: Option<String>,
    blocked: bool,
    killer: Option<Killer>,
}

struct Inner {
    purpose: &'static str,
    endpoints: Endpoints,
    opts: RabbitOptions,
    state: watch::Sender<State>,
    closing: watch::Sender<bool>,
    retry_now: Notify,
}

/// One AMQP connection, kept open by a supervisor task on the I/O runtime:
/// it opens the connection on first use, watches it (lapin's events, and a
/// probe every `heartbeat_timeout_threshold / heartbeat_rate` that declares
/// the broker dead after `heartbeat_timeout_threshold` without an answer),
/// and reopens it with oslo.messaging's retry schedule when it is lost.
pub(crate) struct Link {
    inner: Arc<Inner>,
    io: tokio::runtime::Handle,
    started: std::sync::Once,
}

impl Link {
    pub fn new(
        purpose: &'static str,
        endpoints: Endpoints,
        opts: RabbitOptions,
        io: tokio::runtime::Handle,
    ) -> Self {
        let state = State {
            connection: None,
            generation: 0,
            failures: 0,
            phase: ConnectionState::Idle,
            host: None,
            reconnects: 0,
            last_error: None,
            blocked: false,
            killer: None,
        };
        Self {
            inner: Arc::new(Inner {
                purpose,
                endpoints,
                opts,
                state: watch::channel(state).0,
                closing: watch::channel(false).0,
                retry_now: Notify::new(),
            }),
            io,
            started: std::sync::Once::new(),
        }
    }

    /// Counts the connections opened so far; what was declared on an older
    /// generation must be declared again.
    pub fn generation(&self) -> u64 {
        self.inner.state.borrow().generation
    }

    /// The connection's health.
    pub fn health(&self) -> ConnectionHealth {
        let s = self.inner.state.borrow();
        ConnectionHealth {
            purpose: self.inner.purpose.to_owned(),
            state: s.phase,
            host: s.host.clone(),
            reconnects: s.reconnects,
            last_error: s.last_error.clone(),
            blocked: s.blocked,
        }
    }

    /// The open connection, waiting while the supervisor (re)connects.
    ///
    /// `retry` bounds the wait: `Some(n)` returns an error once `n + 1`
    /// attempts made since the call have failed (`Some(0)` fails at once
    /// while the broker is known to be down); `None` waits until connected.
    ///
    /// # Errors
    /// [`MessagingError::Connection`] naming the host and the cause (never
    /// the credentials): retries exhausted, a refusal that retrying cannot
    /// fix (credentials, virtual host, TLS), or a closed transport.
    pub async fn connection(&self, retry: Retry) -> Result<Arc<Connection>> {
        self.started.call_once(|| {
            self.io.spawn(supervise(self.inner.clone()));
            self.io.spawn(record_metrics(
                self.inner.purpose,
                self.inner.state.subscribe(),
            ));
        });
        let mut rx = self.inner.state.subscribe();
        let failures_at_start = rx.borrow().failures;
        let mut asked_again = false;
        loop {
            {
                let s = rx.borrow_and_update();
                if let Some(c) = s.connection.as_ref().filter(|c| c.status().connected()) {
                    return Ok(c.clone());
                }
                let failed = s.failures - failures_at_start;
                let cause = || {
                    format!(
                        "cannot connect to AMQP server on {}: {}",
                        s.host.as_deref().unwrap_or("?"),
                        s.last_error.as_deref().unwrap_or("unknown error")
                    )
                };
                match s.phase {
                    ConnectionState::Closed => {
                        return Err(MessagingError::connection(
                            crate::DRIVER,
                            format!("the {} connection is closed", self.inner.purpose),
                        ))
                    }
                    ConnectionState::Failed if failed > 0 => {
                        // Refused (credentials, virtual host, TLS): trying
                        // again does not help.
                        return Err(MessagingError::Connection(
                            DriverError::new(crate::DRIVER, cause()).permanent(),
                        ));
                    }
                    ConnectionState::Failed if !asked_again => {
                        asked_again = true;
                        self.inner.retry_now.notify_one();
                    }
                    ConnectionState::Reconnecting
                        if retry == Some(0) && s.connection.is_none() && s.last_error.is_some() =>
                    {
                        return Err(MessagingError::connection(crate::DRIVER, cause()))
                    }
                    _ => {}
                }
                if retry.is_some_and(|limit| failed > u64::from(limit)) {
                    return Err(MessagingError::connection(crate::DRIVER, cause()));
                }
            }
            if rx.changed().await.is_err() {
                return Err(MessagingError::connection(
                    crate::DRIVER,
                    "the driver is shut down",
                ));
            }
        }
    }

    /// Whether the broker refused the connection for a reason retrying
    /// cannot fix, or the link is closed.
    pub fn is_refused(&self) -> bool {
        matches!(
            self.inner.state.borrow().phase,
            ConnectionState::Failed | ConnectionState::Closed
        )
    }

    /// Completes once the broker blocks this connection
    /// (`connection.blocked`: a resource alarm holds back its publishes).
    pub async fn blocked(&self) {
        let mut rx = self.inner.state.subscribe();
        // The sender lives in `inner`, as long as `self`.
        let _ = rx.wait_for(|s| s.blocked).await;
    }

    /// Closes the connection and stops the supervisor.
    ///
    /// A connection the broker blocks is not asked to close: while a
    /// resource alarm is on, the broker does not read from it, so the close
    /// handshake would only wait out its time limit. Its socket is shut
    /// down at once instead (the broker drops the connection).
    pub async fn close(&self) {
        self.inner.closing.send_replace(true);
        let (connection, blocked) = {
            let s = self.inner.state.borrow();
            (s.connection.clone(), s.blocked)
        };
        if let Some(c) = connection {
            if blocked {
                tracing::debug!(
                    purpose = self.inner.purpose,
                    "the broker blocks this connection: closing it without the close handshake"
                );
            } else {
                let closed = tokio::time::timeout(
                    Duration::from_secs(5),
                    c.close(200, "closed by the driver".into()),
                )
                .await;
                if !matches!(closed, Ok(Ok(()))) {
                    tracing::debug!(
                        purpose = self.inner.purpose,
                        "the connection did not close cleanly"
                    );
                }
            }
            // The watcher ends when the connection does; make sure it does.
            if c.status().connected() {
                if let Some(k) = self.inner.state.borrow().killer.as_ref() {
                    k.kill();
                }
            }
        }
        self.inner.state.send_modify(|s| {
            s.connection = None;
            s.phase = ConnectionState::Closed;
        });
    }
}

impl Inner {
    fn closing(&self) -> bool {
        *self.closing.borrow()
    }

    async fn closed(&self) {
        let mut rx = self.closing.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    fn properties(&self) -> ConnectionProperties {
        ConnectionProperties::default().with_connection_name(
            format!(
                "{}:{}:{}",
                self.opts.processname,
                std::process::id(),
                crate::wire::new_id()
            )
            .into(),
        )
    }

    /// Sleeps `delay`, or less when the link is closed meanwhile.
    async fn pause(&self, delay: Duration) {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = self.closed() => {}
        }
    }
}

/// The supervisor: connect, watch, reconnect, until the link is closed.
async fn supervise(inner: Arc<Inner>) {
    let purpose = inner.purpose;
    let threshold = Duration::from_secs(inner.opts.heartbeat_timeout_threshold);
    let mut attempt: u32 = 0;
    // Which host is next: it moves on after every failed attempt and every
    // lost connection, so a dead node is not tried first again.
    let mut cursor: usize = 0;
    let mut lost_once = false;
    while !inner.closing() {
        let uri = inner.endpoints.pick(cursor).clone();
        let host = host_of(&uri);
        inner.state.send_modify(|s| {
            s.host = Some(host.clone());
            if s.phase != ConnectionState::Reconnecting {
                s.phase = if lost_once {
                    ConnectionState::Reconnecting
                } else {
                    ConnectionState::Connecting
                };
            }
        });
        // A handshake through a silent network would never end.
        let limit = if threshold.is_zero() {
            Duration::from_secs(10)
        } else {
            threshold.clamp(Duration::from_secs(2), Duration::from_secs(10))
        };
        let opened = tokio::time::timeout(
            limit,
            socket::open(
                uri,
                inner.endpoints.tls.clone(),
                inner.properties(),
                threshold,
            ),
        )
        .await
        .unwrap_or_else(|_| {
            Err(lapin::Error::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no AMQP handshake within {limit:?}"),
            )))
        });
        match opened {
            Ok((connection, killer)) => {
                attempt = 0;
                let connection = Arc::new(connection);
                let events = connection.events_listener();
                inner.state.send_modify(|s| {
                    s.connection = Some(connection.clone());
                    s.killer = Some(killer.clone());
                    s.generation += 1;
                    s.phase = ConnectionState::Connected;
                    s.blocked = false;
                    if lost_once {
                        s.reconnects += 1;
                    }
                });
                tracing::info!(purpose, %host, "connected to AMQP server");
                // Closing the link closes the connection first, so the
                // watcher (and its probe channel) ends after it.
                let reason = watch_connection(&inner, &connection, events, &killer).await;
                if inner.closing() {
                    break;
                }
                killer.kill();
                lost_once = true;
                cursor = cursor.wrapping_add(1);
                let delay = reconnect_delay(&inner.opts);
                tracing::warn!(purpose, %host, %reason, next_attempt_in = ?delay, "AMQP connection lost");
                inner.state.send_modify(|s| {
                    s.connection = None;
                    s.phase = ConnectionState::Reconnecting;
                    s.last_error = Some(reason);
                });
                inner.pause(delay).await;
            }
            Err(e) => {
                let fatal = socket::is_fatal(&e);
                inner.state.send_modify(|s| {
                    s.failures += 1;
                    s.last_error = Some(e.to_string());
                    if fatal {
                        s.phase = ConnectionState::Failed;
                    }
                });
                if fatal {
                    tracing::error!(purpose, %host, error = %e, "AMQP server refused the connection; retrying cannot fix this");
                    tokio::select! {
                        () = inner.retry_now.notified() => {}
                        () = inner.closed() => {}
                    }
                    attempt = 0;
                    continue;
                }
                let delay = retry_delay(&inner.opts, attempt) + jitter();
                tracing::warn!(purpose, %host, error = %e, next_attempt_in = ?delay, "AMQP server unreachable");
                attempt = attempt.saturating_add(1);
                cursor = cursor.wrapping_add(1);
                inner.pause(delay).await;
            }
        }
    }
    inner.state.send_modify(|s| {
        s.connection = None;
        s.phase = ConnectionState::Closed;
    });
}

/// Watches an open connection; returns why it ended.
async fn watch_connection(
    inner: &Inner,
    connection: &Connection,
    events: impl futures::Stream<Item = lapin::Event>,
    killer: &Killer,
) -> String {
    use futures::StreamExt;
    let opts = &inner.opts;
    let threshold = Duration::from_secs(opts.heartbeat_timeout_threshold);
    let every = if threshold.is_zero() {
        Duration::from_secs(5)
    } else {
        threshold / u32::try_from(opts.heartbeat_rate).unwrap_or(3).max(1)
    };
    let probe = if threshold.is_zero() {
        None
    } else {
        connection.create_channel().await.ok()
    };
    let mut events = std::pin::pin!(events);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_answer = Instant::now();
    let mut in_flight: Option<futures::future::BoxFuture<'static, lapin::Result<()>>> = None;
    loop {
        tokio::select! {
            event = events.next() => match event {
                // Channel errors (a refused declaration) come here too; only
                // an error that took the connection down ends it.
                Some(lapin::Event::Error(e)) if !connection.status().connected() => {
                    return e.to_string()
                }
                Some(lapin::Event::Error(e)) => {
                    tracing::debug!(purpose = inner.purpose, error = %e, "channel error");
                }
                Some(lapin::Event::ConnectionBlocked(reason)) => {
                    tracing::warn!(purpose = inner.purpose, %reason, "the broker blocks publishing on this connection");
                    inner.state.send_modify(|s| s.blocked = true);
                }
                Some(lapin::Event::ConnectionUnblocked) => {
                    tracing::info!(purpose = inner.purpose, "the broker unblocked this connection");
                    inner.state.send_modify(|s| s.blocked = false);
                    last_answer = Instant::now();
                }
                Some(_) => {}
                None => return "the connection closed".into(),
            },
            answered = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                in_flight = None;
                if answered.is_ok() {
                    last_answer = Instant::now();
                }
            }
            _ = ticks.tick() => {
                if !connection.status().connected() {
                    return "the connection closed".into();
                }
                let Some(probe) = &probe else { continue };
                if inner.state.borrow().blocked {
                    last_answer = Instant::now();
                    continue;
                }
                if last_answer.elapsed() > threshold {
                    killer.kill();
                    return format!(
                        "no answer from the broker for {}s (heartbeat_timeout_threshold)",
                        threshold.as_secs()
                    );
                }
                if in_flight.is_none() {
                    let probe = probe.clone();
                    in_flight = Some(Box::pin(async move {
                        probe.basic_qos(0, lapin::options::BasicQosOptions::default()).await
                    }));
                }
            }
        }
    }
}

fn reconnect_delay(opts: &RabbitOptions) -> Duration {
    let seconds = opts.kombu_reconnect_delay + opts.kombu_reconnect_splay * fastrand::f64();
    // Options are finite and >= 0 (validated); too large for a Duration
    // (1e300 seconds) waits a year, which is as good as for ever.
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::from_secs(365 * 86_400))
}

/// Up to a quarter second, so that many clients do not retry in step.
fn jitter() -> Duration {
    Duration::from_millis(fastrand::u64(..250))
}

/// Records the connection's state and reconnects as metrics
/// (`oslo_messaging_connections`, `..._reconnects_total`) as they change;
/// ends with the link, taking the connection out of the gauge (also when
/// the driver's runtime drops the task).
async fn record_metrics(purpose: &'static str, mut state: watch::Receiver<State>) {
    use oslo_messaging_core::health::ConnectionState;
    use oslo_messaging_core::telemetry::metrics;

    /// The state last counted in the gauge, taken out of it on drop.
    struct Counted {
        purpose: &'static str,
        phase: Option<ConnectionState>,
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            metrics::connection_state_changed("rabbitmq", self.purpose, self.phase, None);
        }
    }

    let mut counted = Counted {
        purpose,
        phase: None,
    };
    let mut reconnects = 0;
    loop {
        let (now, total) = {
            let s = state.borrow_and_update();
            (s.phase, s.reconnects)
        };
        if counted.phase != Some(now) {
            metrics::connection_state_changed("rabbitmq", purpose, counted.phase, Some(now));
            counted.phase = Some(now);
        }
        for _ in reconnects..total {
            metrics::reconnected("rabbitmq", purpose);
        }
        reconnects = total;
        if state.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_to_the_maximum() {
        let opts = RabbitOptions::default();
        let delays: Vec<u64> = (0..20).map(|n| retry_delay(&opts, n).as_secs()).collect();
        assert_eq!(&delays[..4], [1, 3, 5, 7]);
        assert_eq!(delays[19], 30);
    }
}
