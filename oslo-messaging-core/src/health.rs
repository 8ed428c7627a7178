//! A transport's connection health, for applications to poll (a readiness
//! probe, a status page). Drivers without connections report none, which
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

/// A snapshot of a transport's connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// One entry per connection of the driver.
    pub connections: Vec<ConnectionHealth>,
}

impl Health {
    /// No connection is lost, failed or closed (idle ones open on demand).
    pub fn is_healthy(&self) -> bool {
        self.connections
            .iter()
            .all(|c| matches!(c.state, ConnectionState::Idle | ConnectionState::Connected))
    }

    /// Every connection is open.
    pub fn is_connected(&self) -> bool {
        self.connections
            .iter()
            .all(|c| c.state == ConnectionState::Connected)
    }
}
