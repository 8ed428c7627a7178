//! A Kafka client's connection (the producer's, each listener's
//! consumer's), as health and metrics show it.
//!
//! librdkafka keeps its broker connections itself and reconnects on its
//! own; what it says of them comes through the client context's callbacks:
//! `error` at once (`AllBrokersDown` when it has lost every broker), and
//! the statistics every [`STATS_INTERVAL_MS`] (`statistics.interval.ms`),
//! whose `brokers.<name>.state` says whether a broker is `UP`. A client is
//! `connecting` until a broker first is, then `connected` while one is and
//! `reconnecting` while none is; each return counts as a reconnect
//! (`oslo_messaging_connection_reconnects_total`), and the
//! `oslo_messaging_connections` gauge follows the state, labelled
//! `messaging.system` `kafka`.

use std::sync::{Mutex, MutexGuard};

use oslo_messaging_core::health::{ConnectionHealth, ConnectionState};
use oslo_messaging_core::telemetry::metrics;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use serde_json::Value;

use crate::DRIVER;

/// How often librdkafka reports its brokers' states, in milliseconds: how
/// long a lost or recovered connection may take to show.
pub(crate) const STATS_INTERVAL_MS: u32 = 1000;

const SYSTEM: &str = "kafka";

/// One client's connection state, fed by its context's callbacks.
pub(crate) struct Connection {
    purpose: &'static str,
    health: Mutex<ConnectionHealth>,
}

/// What a statistics report changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing worth telling.
    None,
    /// No broker is up any more.
    Lost,
    /// A broker is up again after none was.
    Reconnected,
}

/// Whether librdkafka's state of a broker connection (`brokers.*.state`
/// of its statistics) is an open connection: `UP`, or `REAUTH` (an open
/// connection authenticating again).
fn is_up(state: &Value) -> bool {
    state == "UP" || state == "REAUTH"
}

impl Connection {
    /// A client just made, for `purpose` (`publish`, `consume`).
    pub(crate) fn new(purpose: &'static str) -> Self {
        metrics::connection_state_changed(SYSTEM, purpose, None, Some(ConnectionState::Connecting));
        Self {
            purpose,
            health: Mutex::new(ConnectionHealth {
                purpose: purpose.to_owned(),
                state: ConnectionState::Connecting,
                host: None,
                reconnects: 0,
                last_error: None,
                blocked: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnectionHealth> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Its health now.
    pub(crate) fn health(&self) -> ConnectionHealth {
        self.lock().clone()
    }

    /// Whether a broker is up.
    pub(crate) fn is_connected(&self) -> bool {
        self.lock().state == ConnectionState::Connected
    }

    fn set_state(&self, h: &mut ConnectionHealth, to: ConnectionState) {
        if h.state != to {
            metrics::connection_state_changed(SYSTEM, self.purpose, Some(h.state), Some(to));
            h.state = to;
        }
    }

    /// librdkafka's statistics (its JSON): connected while a broker is
    /// `UP`. Malformed statistics change nothing.
    pub(crate) fn on_stats(&self, json: &[u8]) -> Change {
        let Ok(stats) = serde_json::from_slice::<Value>(json) else {
            tracing::debug!(driver = DRIVER, "unreadable librdkafka statistics");
            return Change::None;
        };
        let up = stats["brokers"].as_object().and_then(|brokers| {
            brokers
                .values()
                .find(|b| is_up(&b["state"]))
                .map(|b| b["nodename"].as_str().unwrap_or_default().to_owned())
        });
        let mut h = self.lock();
        match (h.state, up) {
            (ConnectionState::Closed, _) => Change::None,
            (ConnectionState::Connected, Some(host)) => {
                h.host = Some(host);
                Change::None
            }
            (before, Some(host)) => {
                h.host = Some(host);
                self.set_state(&mut h, ConnectionState::Connected);
                if before == ConnectionState::Reconnecting {
                    h.reconnects += 1;
                    metrics::reconnected(SYSTEM, self.purpose);
                    tracing::info!(driver = DRIVER, purpose = self.purpose, host = ?h.host,
                        "kafka connection re-established");
                    Change::Reconnected
                } else {
                    Change::None
                }
            }
            (ConnectionState::Connected, None) => {
                self.lost(&mut h);
                Change::Lost
            }
            (_, None) => Change::None,
        }
    }

    fn lost(&self, h: &mut ConnectionHealth) {
        tracing::warn!(driver = DRIVER, purpose = self.purpose, host = ?h.host,
            "kafka connection lost: no broker is up; librdkafka is reconnecting");
        self.set_state(h, ConnectionState::Reconnecting);
    }

    /// An error librdkafka reported: the last error; with every broker
    /// down, the connection is lost.
    pub(crate) fn on_error(&self, error: &KafkaError, reason: &str) -> Change {
        let mut h = self.lock();
        h.last_error = Some(format!("{error}: {reason}"));
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown)
            && h.state == ConnectionState::Connected
        {
            self.lost(&mut h);
            return Change::Lost;
        }
        Change::None
    }

    /// The client is closed.
    pub(crate) fn close(&self) {
        let mut h = self.lock();
        self.set_state(&mut h, ConnectionState::Closed);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let state = self.lock().state;
        metrics::connection_state_changed(SYSTEM, self.purpose, Some(state), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(state: &str) -> Vec<u8> {
        serde_json::json!({
            "name": "rdkafka#producer-1",
            "brokers": {
                "127.0.0.1:9092/bootstrap": {"nodename": "127.0.0.1:9092", "nodeid": -1, "state": "INIT"},
                "127.0.0.1:9092/1": {"nodename": "127.0.0.1:9092", "nodeid": 1, "state": state},
            }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn connected_while_a_broker_is_up_and_a_return_is_a_reconnect() {
        let c = Connection::new("publish");
        assert_eq!(c.health().state, ConnectionState::Connecting);
        assert_eq!(c.on_stats(&stats("CONNECT")), Change::None);
        assert_eq!(c.health().state, ConnectionState::Connecting);
        assert_eq!(c.on_stats(&stats("UP")), Change::None);
        let h = c.health();
        assert_eq!(h.state, ConnectionState::Connected);
        assert_eq!(h.host.as_deref(), Some("127.0.0.1:9092"));
        assert!(c.is_connected());
        assert_eq!(c.on_stats(&stats("DOWN")), Change::Lost);
        assert_eq!(c.health().state, ConnectionState::Reconnecting);
        assert_eq!(c.on_stats(&stats("UP")), Change::Reconnected);
        assert_eq!(c.health().reconnects, 1);
        assert_eq!(c.on_stats(b"not json"), Change::None);
        assert_eq!(c.health().state, ConnectionState::Connected);
        assert_eq!(c.on_stats(&stats("REAUTH")), Change::None, "still open");
        c.close();
        assert_eq!(c.on_stats(&stats("UP")), Change::None);
        assert_eq!(c.health().state, ConnectionState::Closed);
    }

    #[test]
    fn all_brokers_down_is_a_lost_connection_at_once() {
        let c = Connection::new("consume");
        c.on_stats(&stats("UP"));
        let one = KafkaError::MetadataFetch(RDKafkaErrorCode::BrokerTransportFailure);
        assert_eq!(c.on_error(&one, "one broker"), Change::None);
        assert_eq!(c.health().state, ConnectionState::Connected);
        let all = KafkaError::Global(RDKafkaErrorCode::AllBrokersDown);
        assert_eq!(c.on_error(&all, "2/2 brokers are down"), Change::Lost);
        let h = c.health();
        assert_eq!(h.state, ConnectionState::Reconnecting);
        assert!(h
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("2/2 brokers are down")));
    }
}
