//! A transport's health, for applications to poll (a liveness or readiness
//! probe, a status page): its connections, and each queue its servers and
//! listeners consume. Drivers without connections report none, which
//! counts as healthy.

use serde::Serialize;

/// The state of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Not opened yet (connections open on first use).
    Idle,
    /// Opening for the first time.
    Connecting,
    /// Open and answering.
    Connected,
    /// Lost; the driver is reconnecting.
    Reconnecting,
    /// The broker refused the connection for a reason retrying cannot fix
    /// (credentials, virtual host, TLS); see `last_error`.
    Failed,
    /// Closed by `cleanup()`.
    Closed,
}

/// The health of one of a driver's connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionHealth {
    /// What the connection is for, e.g. `publish` or `consume`.
    pub purpose: String,
    /// Its state.
    pub state: ConnectionState,
    /// `host:port` it is (or was last) connected to; never credentials.
    pub host: Option<String>,
    /// How many times it was re-established after being lost.
    pub reconnects: u64,
    /// The last connection error, if any.
    pub last_error: Option<String>,
    /// Whether the broker is holding back its publishes (`connection.blocked`).
    pub blocked: bool,
}

/// The state of one consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerState {
    /// Consuming: deliveries arrive.
    Consuming,
    /// Stopped (the connection was lost, or the broker cancelled it: its
    /// queue was deleted or expired, its node or leader went away); the
    /// driver is declaring the queue and consuming it again.
    Recovering,
    /// The broker refused to declare or consume the queue (see
    /// `last_error`: a queue of another type, other arguments). The driver
    /// keeps trying on its reconnect schedule, but only an operator can
    /// make it succeed.
    Failed,
}

/// The health of one queue a server or listener consumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerHealth {
    /// The queue's name.
    pub queue: String,
    /// Its state.
    pub state: ConsumerState,
    /// Why it last stopped or failed, if it ever did.
    pub last_error: Option<String>,
    /// Messages delivered from it so far.
    pub deliveries: u64,
    /// How many times it was consumed again after it stopped.
    pub recoveries: u64,
}

/// A snapshot of a transport's connections and consumers.
///
/// As JSON (`oslo-messaging health` prints it):
/// `{"connections": [{"purpose": "publish", "state": "connected", "host":
/// "h:5672", "reconnects": 0, "last_error": null, "blocked": false}, ...],
/// "consumers": [{"queue": "compute.host1", "state": "consuming",
/// "last_error": null, "deliveries": 12, "recoveries": 0}, ...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// One entry per connection of the driver.
    pub connections: Vec<ConnectionHealth>,
    /// One entry per queue the transport's running servers and listeners
    /// consume (a transport that only sends has none).
    pub consumers: Vec<ConsumerHealth>,
}

impl Health {
    /// No connection is lost, failed or closed (idle ones open on demand),
    /// and every consumer is consuming: `false` is what a liveness probe
    /// should act on.
    pub fn is_healthy(&self) -> bool {
        self.connections
            .iter()
            .all(|c| matches!(c.state, ConnectionState::Idle | ConnectionState::Connected))
            && self
                .consumers
                .iter()
                .all(|c| c.state == ConsumerState::Consuming)
    }

    /// Every connection is open.
    pub fn is_connected(&self) -> bool {
        self.connections
            .iter()
            .all(|c| c.state == ConnectionState::Connected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(state: ConsumerState) -> ConsumerHealth {
        ConsumerHealth {
            queue: "compute.host1".into(),
            state,
            last_error: None,
            deliveries: 0,
            recoveries: 0,
        }
    }

    #[test]
    fn a_consumer_that_is_not_consuming_makes_the_transport_unhealthy() {
        let mut h = Health::default();
        assert!(h.is_healthy(), "nothing to report is healthy");
        h.consumers.push(consumer(ConsumerState::Consuming));
        assert!(h.is_healthy());
        for state in [ConsumerState::Recovering, ConsumerState::Failed] {
            h.consumers.push(consumer(state));
            assert!(!h.is_healthy(), "{state:?}");
            h.consumers.pop();
        }
        let json = serde_json::to_value(&h).expect("JSON");
        assert_eq!(json["consumers"][0]["state"], "consuming", "{json}");
    }
}
