//! The one public error type of the framework.
//!
//! Every driver maps its private errors into [`MessagingError`] (as
//! `object_store` does): a driver's failure is a [`DriverError`] that keeps
//! the driver's name, the underlying error as its
//! [`source`](std::error::Error::source), and whether trying again may
//! help. [`MessagingError::is_temporary`] is the one rule that decides
//! retrying, for callers and drivers alike.

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
    MessageDeliveryFailure(DriverError),

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
    Connection(DriverError),

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
    /// Whether the same operation may succeed when tried again later: a
    /// timeout, or a driver failure its driver marked temporary (a lost
    /// connection, a delivery that was not confirmed). A refusal (by the
    /// broker, of credentials, of an argument) is not.
    pub fn is_temporary(&self) -> bool {
        match self {
            Self::MessagingTimeout { .. } => true,
            Self::Connection(e) | Self::MessageDeliveryFailure(e) => e.is_temporary(),
            _ => false,
        }
    }

    /// A temporary [`Connection`](Self::Connection) error of `driver`.
    pub fn connection(driver: &'static str, message: impl Into<String>) -> Self {
        Self::Connection(DriverError::new(driver, message))
    }

    /// A temporary [`MessageDeliveryFailure`](Self::MessageDeliveryFailure) of `driver`.
    pub fn delivery_failure(driver: &'static str, message: impl Into<String>) -> Self {
        Self::MessageDeliveryFailure(DriverError::new(driver, message))
    }

    /// The driver failure this error carries, if it is one.
    pub fn driver_error(&self) -> Option<&DriverError> {
        match self {
            Self::Connection(e) | Self::MessageDeliveryFailure(e) => Some(e),
            _ => None,
        }
    }

    /// The remote failure, when this is an error raised by the remote endpoint.
    pub fn remote(&self) -> Option<&RemoteFailure> {
        match self {
            Self::Remote(f) => Some(f),
            _ => None,
        }
    }

    /// An [`InvalidOption`](Self::InvalidOption) error: option `option` of
    /// group `group` is wrong for `reason`.
    pub fn invalid_option(
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

/// A driver's failure: which driver, what failed, why (the driver's own
/// error as [`source`](std::error::Error::source), when there is one) and
/// whether trying again may help.
///
/// Displays as `<driver>: <message>`; the message already says the cause
/// in words, so a log line needs no walk of the source chain.
#[derive(Debug)]
pub struct DriverError {
    driver: &'static str,
    message: String,
    temporary: bool,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl DriverError {
    /// A temporary failure of `driver`: `message` says what failed and why.
    pub fn new(driver: &'static str, message: impl Into<String>) -> Self {
        Self {
            driver,
            message: message.into(),
            temporary: true,
            source: None,
        }
    }

    /// Marks it as one that trying again will not fix (refused credentials,
    /// a refused message).
    pub fn permanent(mut self) -> Self {
        self.temporary = false;
        self
    }

    /// Keeps the driver's own error as the cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The driver's name, e.g. `rabbit`.
    pub fn driver(&self) -> &'static str {
        self.driver
    }

    /// What failed and why, in words.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying again may help.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.driver, self.message)
    }
}

impl std::error::Error for DriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<RemoteFailure> for MessagingError {
    fn from(f: RemoteFailure) -> Self {
        Self::Remote(Box::new(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn driver_errors_keep_driver_cause_and_whether_retrying_helps() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let lost = MessagingError::Connection(
            DriverError::new("rabbit", "publish to exchange \"nova\": reset by peer")
                .with_source(io),
        );
        assert!(lost.is_temporary());
        assert_eq!(
            lost.to_string(),
            "connection error: rabbit: publish to exchange \"nova\": reset by peer"
        );
        let driver = lost.driver_error().expect("a driver error");
        assert_eq!(driver.driver(), "rabbit");
        let cause = driver.source().expect("the cause is kept");
        assert_eq!(
            cause.downcast_ref::<std::io::Error>().map(|e| e.kind()),
            Some(std::io::ErrorKind::ConnectionReset)
        );

        let refused =
            MessagingError::Connection(DriverError::new("rabbit", "ACCESS_REFUSED").permanent());
        assert!(!refused.is_temporary());
        assert!(MessagingError::delivery_failure("kafka", "not acknowledged").is_temporary());
        assert!(MessagingError::MessagingTimeout {
            method: "m".into(),
            timeout_ms: 1
        }
        .is_temporary());
        for never in [
            MessagingError::InvalidTransportUrl("x".into()),
            MessagingError::BrokerRefused {
                operation: "declare".into(),
                reason: "r".into(),
            },
            MessagingError::Unsupported {
                driver: "kafka",
                operation: "rpc".into(),
            },
        ] {
            assert!(!never.is_temporary(), "{never}");
        }
    }
}
