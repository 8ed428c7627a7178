//! A driver for unit tests that records notifications and refuses the rest.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::driver::{
    Driver, IncomingNotification, IncomingRequest, Listener, PendingReply, Retry, SendMode,
    SendOptions,
};
use crate::error::{MessagingError, Result};
use crate::message::{Context, NotificationFormat, Priority, RpcMessage};
use crate::target::Target;
use crate::transport::Transport;

/// Refuses everything.
#[derive(Default)]
pub(crate) struct NullDriver;

pub(crate) type Sent = Arc<Mutex<Vec<(String, NotificationFormat, Map<String, Value>)>>>;

/// Records `(topic, format, message)` of every notification; `fail_topic` fails.
#[derive(Default)]
pub(crate) struct RecordingDriver {
    pub sent: Sent,
    pub fail_topic: Option<String>,
}

fn unsupported(op: &str) -> MessagingError {
    MessagingError::Unsupported {
        driver: "null",
        operation: op.into(),
    }
}

macro_rules! impl_driver {
    ($t:ty, |$s:ident, $target:ident, $message:ident, $format:ident| $body:expr) => {
        #[async_trait]
        impl Driver for $t {
            fn name(&self) -> &'static str {
                "null"
            }
            async fn send(
                &self,
                _: &Target,
                _: &Context,
                _: RpcMessage,
                _: SendMode,
                _: SendOptions,
            ) -> Result<Option<PendingReply>> {
                Err(unsupported("send"))
            }
            async fn send_notification(
                &self,
                $target: &Target,
                _: &Context,
                $message: Map<String, Value>,
                $format: NotificationFormat,
                _: Retry,
            ) -> Result<()> {
                let $s = self;
                $body
            }
            async fn listen(&self, _: &Target) -> Result<Box<dyn Listener<IncomingRequest>>> {
                Err(unsupported("listen"))
            }
            async fn listen_for_notifications(
                &self,
                _: &[(Target, Priority)],
                _: Option<&str>,
            ) -> Result<Box<dyn Listener<IncomingNotification>>> {
                Err(unsupported("listen_for_notifications"))
            }
            async fn cleanup(&self) {}
        }
    };
}

impl_driver!(NullDriver, |_s, _t, _m, _f| Err(unsupported(
    "send_notification"
)));
impl_driver!(RecordingDriver, |s, target, message, format| {
    let topic = target.topic.clone().unwrap_or_default();
    if s.fail_topic.as_deref() == Some(topic.as_str()) {
        return Err(MessagingError::delivery_failure(
            "recording",
            format!("refused {topic}"),
        ));
    }
    s.sent.lock().expect("lock").push((topic, format, message));
    Ok(())
});

/// A transport on `driver`.
pub(crate) fn transport_on(driver: impl Driver) -> Transport {
    let url = crate::TransportUrl::parse("fake://").expect("url");
    Transport::with_driver(Arc::new(driver), url, &crate::config::Config::defaults())
        .expect("transport")
}
