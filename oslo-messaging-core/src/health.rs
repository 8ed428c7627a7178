//! A transport's health, for applications to poll (a liveness or readiness
//! probe, a status page): its connections, and each queue its servers and
//! listeners consume. Drivers without connections report none, which
//! counts as healthy.

use serde::{Deserialize, Serialize};

/// The state of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl ConnectionState {
    /// The state as it is written in JSON, e.g. `reconnecting`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Idle => "idle",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Failed => "failed",
            ConnectionState::Closed => "closed",
        }
    }
}

/// The health of one of a driver's connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl ConsumerState {
    /// The state as it is written in JSON, e.g. `recovering`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerState::Consuming => "consuming",
            ConsumerState::Recovering => "recovering",
            ConsumerState::Failed => "failed",
        }
    }
}

/// The health of one queue a server or listener consumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
        self.problems().is_empty()
    }

    /// What makes the transport unhealthy, one line each, e.g.
    /// `consumer compute.host1 is failed: <last error>` or `connection
    /// consume is reconnecting: <last error>`; empty when
    /// [`is_healthy`](Self::is_healthy). The one place the rule lives.
    pub fn problems(&self) -> Vec<String> {
        let why = |e: &Option<String>| e.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        let connections = self
            .connections
            .iter()
            .filter(|c| !matches!(c.state, ConnectionState::Idle | ConnectionState::Connected))
            .map(|c| {
                format!(
                    "connection {} is {}{}",
                    c.purpose,
                    c.state.as_str(),
                    why(&c.last_error)
                )
            });
        let consumers = self
            .consumers
            .iter()
            .filter(|c| c.state != ConsumerState::Consuming)
            .map(|c| {
                format!(
                    "consumer {} is {}{}",
                    c.queue,
                    c.state.as_str(),
                    why(&c.last_error)
                )
            });
        connections.chain(consumers).collect()
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

    #[test]
    fn problems_name_each_connection_and_consumer_that_is_not_well() {
        let mut h = Health::default();
        h.consumers.push(consumer(ConsumerState::Consuming));
        let mut failed = consumer(ConsumerState::Failed);
        failed.queue = "compute.host2".into();
        failed.last_error = Some("inequivalent arg 'type'".into());
        h.consumers.push(failed);
        for state in [ConnectionState::Idle, ConnectionState::Reconnecting] {
            h.connections.push(ConnectionHealth {
                purpose: "consume".into(),
                state,
                host: None,
                reconnects: 0,
                last_error: None,
                blocked: false,
            });
        }
        assert_eq!(
            h.problems(),
            [
                "connection consume is reconnecting",
                "consumer compute.host2 is failed: inequivalent arg 'type'"
            ]
        );
    }

    #[test]
    fn the_json_written_reads_back_and_state_names_match_it() {
        let mut h = Health::default();
        for state in [
            ConsumerState::Consuming,
            ConsumerState::Recovering,
            ConsumerState::Failed,
        ] {
            h.consumers.push(consumer(state));
        }
        for state in [
            ConnectionState::Idle,
            ConnectionState::Connecting,
            ConnectionState::Connected,
            ConnectionState::Reconnecting,
            ConnectionState::Failed,
            ConnectionState::Closed,
        ] {
            h.connections.push(ConnectionHealth {
                purpose: "publish".into(),
                state,
                host: Some("h:5672".into()),
                reconnects: 1,
                last_error: None,
                blocked: true,
            });
        }
        let json = serde_json::to_value(&h).expect("JSON");
        for (i, c) in h.consumers.iter().enumerate() {
            assert_eq!(json["consumers"][i]["state"], c.state.as_str());
        }
        for (i, c) in h.connections.iter().enumerate() {
            assert_eq!(json["connections"][i]["state"], c.state.as_str());
        }
        let back: Health = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, h);
    }
}
