//! [`Target`]: where a message goes, or what a server listens to.

use crate::error::{MessagingError, Result};
use crate::version::Version;

/// Identifies the destination of messages (client side) or the messages a
/// server receives (server side), as in oslo.messaging.
///
/// | field | client (call/cast) | server | notifications |
/// |---|---|---|---|
/// | `exchange` | optional | optional | optional |
/// | `topic` | required | required | required |
/// | `server` | optional: one server | required | - |
/// | `fanout` | optional, cast only | - | - |
/// | `namespace`, `version` | optional | per endpoint | - |
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Target {
    /// Exchange; `None` means the `control_exchange` option.
    pub exchange: Option<String>,
    /// Topic: the name of a service's API, e.g. `compute`.
    pub topic: Option<String>,
    /// RPC namespace of the endpoint (client and endpoints).
    pub namespace: Option<String>,
    /// RPC API version, `X.Y`.
    pub version: Option<String>,
    /// One server on the topic.
    pub server: Option<String>,
    /// Deliver a cast to every server on the topic.
    pub fanout: bool,
    /// Namespaces an endpoint accepts besides its own.
    pub legacy_namespaces: Vec<String>,
}

impl Target {
    /// A target with only a topic.
    pub fn topic(topic: impl Into<String>) -> Self {
        Self {
            topic: Some(topic.into()),
            ..Self::default()
        }
    }

    /// A target for RPC servers: topic and server name.
    pub fn server(topic: impl Into<String>, server: impl Into<String>) -> Self {
        Self {
            topic: Some(topic.into()),
            server: Some(server.into()),
            ..Self::default()
        }
    }

    /// This target with another exchange.
    pub fn with_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = Some(exchange.into());
        self
    }

    /// This target with a namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// This target with a version (`X.Y`; checked where the target is used).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// This target aimed at one server.
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// This target with fanout on or off.
    pub fn with_fanout(mut self, fanout: bool) -> Self {
        self.fanout = fanout;
        self
    }

    /// This target with namespaces it also accepts.
    pub fn with_legacy_namespaces<I, S>(mut self, namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.legacy_namespaces = namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// The topic, or an error saying the operation needs one.
    ///
    /// # Errors
    /// [`MessagingError::InvalidTarget`] when `topic` is unset or empty.
    pub fn require_topic(&self, operation: &str) -> Result<&str> {
        match self.topic.as_deref() {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(MessagingError::InvalidTarget(format!(
                "a topic is required to {operation}"
            ))),
        }
    }

    /// The parsed version, if any.
    ///
    /// # Errors
    /// [`MessagingError::InvalidTarget`] when the version is not `X.Y`.
    pub fn parsed_version(&self) -> Result<Option<Version>> {
        self.version.as_deref().map(str::parse).transpose()
    }

    /// Check the rules for an RPC call: a topic, no fanout, a valid version.
    ///
    /// # Errors
    /// [`MessagingError::InvalidTarget`] naming the broken rule.
    pub fn check_call(&self) -> Result<()> {
        self.require_topic("call")?;
        if self.fanout {
            return Err(MessagingError::InvalidTarget(
                "a call cannot be fanout".into(),
            ));
        }
        self.parsed_version().map(drop)
    }

    /// Check the rules for a cast: a topic, a valid version.
    ///
    /// # Errors
    /// [`MessagingError::InvalidTarget`] naming the broken rule.
    pub fn check_cast(&self) -> Result<()> {
        self.require_topic("cast")?;
        self.parsed_version().map(drop)
    }

    /// Check the rules for an RPC server: topic and server.
    ///
    /// # Errors
    /// [`MessagingError::InvalidTarget`] naming the broken rule.
    pub fn check_server(&self) -> Result<()> {
        self.require_topic("run an RPC server")?;
        match self.server.as_deref() {
            Some(s) if !s.is_empty() => Ok(()),
            _ => Err(MessagingError::InvalidTarget(
                "an RPC server needs a server name".into(),
            )),
        }
    }

    /// The namespaces this (endpoint) target accepts: its own and the legacy ones.
    pub fn accepts_namespace(&self, namespace: Option<&str>) -> bool {
        self.namespace.as_deref() == namespace
            || namespace.is_some_and(|ns| self.legacy_namespaces.iter().any(|l| l == ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_rules() {
        assert!(Target::topic("t").check_call().is_ok());
        let e = Target::topic("t")
            .with_fanout(true)
            .check_call()
            .expect_err("fanout call");
        assert!(e.to_string().contains("cannot be fanout"));
        let e = Target::default().check_cast().expect_err("no topic");
        assert!(e.to_string().contains("topic is required"));
        let e = Target::topic("t").check_server().expect_err("no server");
        assert!(e.to_string().contains("server name"));
        assert!(Target::server("t", "s").check_server().is_ok());
        let e = Target::topic("t")
            .with_version("one")
            .check_call()
            .expect_err("version");
        assert!(e.to_string().contains("X.Y"));
    }

    #[test]
    fn namespaces() {
        let t = Target::default()
            .with_namespace("a")
            .with_legacy_namespaces(["old"]);
        assert!(t.accepts_namespace(Some("a")));
        assert!(t.accepts_namespace(Some("old")));
        assert!(!t.accepts_namespace(None));
        assert!(Target::default().accepts_namespace(None));
    }
}
