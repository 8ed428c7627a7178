//! Drivers are chosen by URL scheme through the inventory registry.

use std::sync::Arc;

use async_trait::async_trait;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::{
    Driver, IncomingNotification, IncomingRequest, Listener, PendingReply, Retry, SendMode,
    SendOptions,
};
use oslo_messaging_core::message::{Context, NotificationFormat, Priority, RpcMessage};
use oslo_messaging_core::{MessagingError, Result, Target, Transport, TransportUrl};
use serde_json::{Map, Value};

struct Dummy(&'static str);

#[async_trait]
impl Driver for Dummy {
    fn name(&self) -> &'static str {
        self.0
    }
    async fn send(
        &self,
        _: &Target,
        _: &Context,
        _: RpcMessage,
        _: SendMode,
        _: SendOptions,
    ) -> Result<Option<PendingReply>> {
        Err(MessagingError::Unsupported {
            driver: self.0,
            operation: "send".into(),
        })
    }
    async fn send_notification(
        &self,
        _: &Target,
        _: &Context,
        _: Map<String, Value>,
        _: NotificationFormat,
        _: Retry,
    ) -> Result<()> {
        Err(MessagingError::Unsupported {
            driver: self.0,
            operation: "notifications".into(),
        })
    }
    async fn listen(&self, _: &Target) -> Result<Box<dyn Listener<IncomingRequest>>> {
        Err(MessagingError::Unsupported {
            driver: self.0,
            operation: "listen".into(),
        })
    }
    async fn listen_for_notifications(
        &self,
        _: &[(Target, Priority)],
        _: Option<&str>,
    ) -> Result<Box<dyn Listener<IncomingNotification>>> {
        Err(MessagingError::Unsupported {
            driver: self.0,
            operation: "notification listeners".into(),
        })
    }
    async fn cleanup(&self) {}
}

fn dummy(_: &TransportUrl, _: &Config) -> Result<Arc<dyn Driver>> {
    Ok(Arc::new(Dummy("dummy")))
}

oslo_messaging_core::register_driver!(&["dummy", "dummy-alias"], dummy);

#[test]
fn scheme_picks_driver_and_plus_uses_the_first_part() {
    for url in ["dummy://", "dummy-alias://h/", "dummy+extra://h:1/v"] {
        let t = Transport::from_url(url).expect(url);
        assert_eq!(t.driver().name(), "dummy", "{url}");
    }
}

#[test]
fn unknown_scheme_lists_registered_schemes() {
    let e = Transport::from_url("nope://h/").expect_err("unknown scheme");
    match &e {
        MessagingError::DriverLoadFailure { scheme, registered } => {
            assert_eq!(scheme, "nope");
            assert_eq!(registered, &["dummy", "dummy-alias"]);
        }
        other => panic!("expected DriverLoadFailure, got {other}"),
    }
    assert!(
        e.to_string()
            .contains("registered schemes: dummy, dummy-alias"),
        "{e}"
    );
}

#[test]
fn malformed_url_is_reported_before_driver_lookup() {
    let e = Transport::from_url("dummy//h").expect_err("malformed");
    assert!(matches!(e, MessagingError::InvalidTransportUrl(_)), "{e}");
}

#[test]
fn unsupported_operations_name_the_driver() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let t = Transport::from_url("dummy://").expect("dummy");
    let e = rt
        .block_on(t.driver().listen(&Target::server("t", "s")))
        .err()
        .expect("unsupported");
    assert_eq!(e.to_string(), "dummy driver does not support listen");
}
