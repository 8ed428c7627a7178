//! The one public error type of the framework.
//!
//! Every driver maps its private errors into [`MessagingError`], keeping the
//! distinction between failures worth retrying (a lost connection, a timeout)
//! and failures that will not go away (bad URL, unknown option, remote error).

use std::fmt;

use crate::failure::RemoteFailure;

/// Result alias used throughout the crate.
pub type Result<T, E = MessagingError> = std::result::Result<T, E>;

/// Every error the messaging API returns.
///
/// Messages never contain passwords or full transport URLs with credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessagingError {
    /// A transport URL could not be parsed; the text says what is wrong.
    #[error("invalid transport URL: {0}")]
    InvalidTransportUrl(String),

    /// No driver is registered for the URL's scheme.
    #[error("no driver for scheme {scheme:?}; registered schemes: {}", registered.join(", "))]
    DriverLoadFailure {
        /// The scheme that was asked for.
        scheme: String,
        /// The schemes that are registered in this binary.
        registered: Vec<String>,
    },

    /// An option has an unknown name or a value of the wrong type.
    #[error("invalid option {option:?} in group [{group}]: {reason}")]
    InvalidOption {
        /// The option group, e.g. `DEFAULT` or `oslo_messaging_rabbit`.
        group: String,
        /// The option name.
        option: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A configuration source could not be read or parsed.
    #[error("configuration error: {0}")]
    Config(String),

    /// A [`Target`](crate::Target) is not valid for the operation.
    #[error("invalid target: {0}")]
    InvalidTarget(String),

    /// A call got no reply within its timeout.
    #[error("timed out waiting for a reply to {method:?} after {timeout_ms} ms")]
    MessagingTimeout {
        /// The method that was called.
        method: String,
        /// The timeout in milliseconds.
        timeout_ms: u64,
    },

    /// The requested version is above the client's version cap.
    #[error("requested version {version} is incompatible with the version cap {version_cap}")]
    RpcVersionCapError {
        /// The version asked for.
        version: String,
        /// The client's cap.
        version_cap: String,
    },

    /// The remote endpoint raised an error; it is carried here.
    #[error("{0}")]
    Remote(Box<RemoteFailure>),

    /// A message could not be delivered (no route, broker refused it, retries exhausted).
    #[error("message delivery failure: {0}")]
    MessageDeliveryFailure(String),

    /// A message was published but no queue was bound to receive it.
    #[error(
        "message undeliverable: no queue for exchange {exchange:?} routing key {routing_key:?}"
    )]
    MessageUndeliverable {
        /// The exchange published to.
        exchange: String,
        /// The routing key used.
        routing_key: String,
    },

    /// The broker refused an operation other than delivering a message
    /// (an AMQP channel exception such as `PRECONDITION_FAILED`,
    /// `NOT_FOUND` or `ACCESS_REFUSED`): declaring an exchange or a queue
    /// with arguments that conflict with an existing one, binding,
    /// consuming. Retrying does not help; the `reason` is the broker's text,
    /// which names the argument in conflict.
    #[error("the broker refused to {operation}: {reason}")]
    BrokerRefused {
        /// What was refused, naming its object: `declare exchange "nova"`,
        /// `declare queue "compute.host1"`, `consume queue "compute"`.
        operation: String,
        /// The broker's reply code and text.
        reason: String,
    },

    /// A message received from the transport could not be understood.
    #[error("malformed message: {0}")]
    MalformedMessage(String),

    /// The transport lost or could not open its connection.
    #[error("connection error: {0}")]
    Connection(String),

    /// A driver does not support the requested operation.
    #[error("{driver} driver does not support {operation}")]
    Unsupported {
        /// The driver's name.
        driver: &'static str,
        /// What was asked for.
        operation: String,
    },

    /// An RPC server or listener was used in a way its lifecycle forbids.
    #[error("invalid server state: {0}")]
    ServerState(String),

    /// Serializing or deserializing a payload failed.
    #[error("serialization error: {0}")]
    Serialization(String),

    /// A notification routing rule file is invalid.
    #[error("invalid notification routing rules: {0}")]
    RoutingRules(String),
}

impl MessagingError {
    /// True for failures that may succeed when tried again later
    /// (timeouts, lost connections, delivery failures).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::MessagingTimeout { .. } | Self::MessageDeliveryFailure(_) | Self::Connection(_)
        )
    }

    /// The remote failure, when this is an error raised by the remote endpoint.
    pub fn remote(&self) -> Option<&RemoteFailure> {
        match self {
            Self::Remote(f) => Some(f),
            _ => None,
        }
    }

    pub(crate) fn invalid_option(
        group: impl fmt::Display,
        option: impl fmt::Display,
        reason: impl fmt::Display,
    ) -> Self {
        Self::InvalidOption {
            group: group.to_string(),
            option: option.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl From<RemoteFailure> for MessagingError {
    fn from(f: RemoteFailure) -> Self {
        Self::Remote(Box::new(f))
    }
}
