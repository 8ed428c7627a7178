//! RPC and notification listeners over a [`Subscription`]: reading what
//! arrives, settling it, and for calls sending the reply and keep-alives.
//!
//! A message that cannot be read is logged and dropped (acknowledged), and
//! the listener goes on; a malformed call whose reply queue is known gets a
//! failure reply, so its caller does not wait for its timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::{Acker, Channel};
use oslo_messaging_core::driver::{
    IncomingNotification, IncomingRequest, Listener, NotificationHandle, RequestHandle,
};
use oslo_messaging_core::message::ReplyResult;
use oslo_messaging_core::{RemoteFailure, Result};

use crate::lapin_error::error;
use crate::publisher::Publisher;
use crate::reply_sender::Replier;
use crate::shared::RabbitShared;
use crate::subscription::Subscription;
use crate::wire::{self, RecentIds};

/// Settles one message, and for calls sends the reply and keep-alives.
struct Handle {
    acker: Acker,
    delivery_tag: u64,
    channel: Arc<Channel>,
    /// Acknowledged or requeued already (a second settlement would be a
    /// channel error that stops every consumer of the channel).
    settled: AtomicBool,
    replier: Option<Replier>,
}

impl Handle {
    fn new(d: &Delivery, channel: Arc<Channel>, replier: Option<Replier>) -> Self {
        Self {
            acker: d.acker.clone(),
            delivery_tag: d.delivery_tag,
            channel,
            settled: AtomicBool::new(false),
            replier,
        }
    }
}

impl Handle {
    /// Queues the ack on lapin's I/O thread without waiting for it to be
    /// written: the broker never answers an ack, and if the connection
    /// fails first the broker requeues the message, as for any ack that
    /// did not arrive. (Going through lapin's `Acker` and waiting would
    /// cost two more thread hand-offs per message.)
    fn ack(&self) -> Result<()> {
        if self.settled.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // `basic_ack` queues the frame before it first waits.
        let queued = self
            .channel
            .basic_ack(self.delivery_tag, BasicAckOptions::default())
            .now_or_never();
        match queued {
            Some(Err(e)) => Err(error("acknowledge", &e)),
            Some(Ok(())) | None => Ok(()),
        }
    }
}

/// A notification's handle: the same delivery, settled either way.
#[async_trait]
impl NotificationHandle for Handle {
    async fn acknowledge(&self) -> Result<()> {
        self.ack()
    }

    async fn requeue(&self) -> Result<()> {
        if self.settled.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.acker
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| error("requeue", &e))
    }
}

/// A request's handle: acknowledged, then replied to through its replier.
#[async_trait]
impl RequestHandle for Handle {
    async fn acknowledge(&self) -> Result<()> {
        self.ack()
    }

    async fn reply(&self, reply: ReplyResult) -> Result<()> {
        match &self.replier {
            Some(r) => r.reply(wire::reply_body(&r.msg_id, &reply)).await,
            None => Ok(()),
        }
    }

    async fn heartbeat(&self) -> Result<()> {
        match &self.replier {
            Some(r) => r.keep_alive().await,
            None => Ok(()),
        }
    }
}

/// An RPC server's listener.
pub(crate) struct RpcListener {
    pub sub: Subscription,
    pub shared: Arc<RabbitShared>,
    pub publisher: Arc<Publisher>,
    pub recent: RecentIds,
}

impl RpcListener {
    fn replier(&self, reply_q: Option<String>, msg_id: Option<String>) -> Option<Replier> {
        let opts = &self.shared.opts;
        Some(Replier {
            publisher: self.publisher.clone(),
            confirms: self.shared.confirms.clone(),
            reply_q: reply_q?,
            msg_id: msg_id?,
            mandatory: opts.direct_mandatory_flag,
            patience: Duration::from_secs(opts.missing_consumer_retry_timeout()),
        })
    }
}

#[async_trait]
impl Listener<IncomingRequest> for RpcListener {
    async fn next(&mut self) -> Option<IncomingRequest> {
        loop {
            let (d, channel) = self.sub.next().await?;
            let handle = |replier| Handle::new(&d, channel.clone(), replier);
            let mut u = match wire::unpack_delivery(d.properties.headers().as_ref(), &d.data) {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(error = %e, routing_key = %d.routing_key, "dropping a malformed request");
                    let _ = handle(None).ack();
                    continue;
                }
            };
            if self.recent.seen_before(u.unique_id.as_deref()) {
                tracing::warn!(unique_id = u.unique_id, "ignoring a duplicate request");
                let _ = handle(None).ack();
                continue;
            }
            let wants_reply = u.msg_id.is_some() && u.reply_q.is_some();
            let message_id = u.msg_id.clone();
            let h = handle(self.replier(u.reply_q.take(), u.msg_id.take()));
            match wire::request(&mut u.body) {
                Ok(message) => {
                    return Some(IncomingRequest {
                        context: u.context,
                        message,
                        wants_reply,
                        call_monitor_timeout: u.call_monitor_timeout,
                        message_id,
                        handle: Box::new(h),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, routing_key = %d.routing_key, "dropping a malformed request");
                    let _ = h.ack();
                    let failure = RemoteFailure::new(
                        "MalformedMessage",
                        "oslo_messaging.exceptions",
                        e.to_string(),
                    );
                    if let Err(e) = h.reply(Err(Box::new(failure))).await {
                        tracing::debug!(error = %e, "could not tell the caller its request was malformed");
                    }
                }
            }
        }
    }

    async fn stop(&mut self) {
        self.sub.stop().await;
    }
}

/// A notification listener.
pub(crate) struct NotifyListener {
    pub sub: Subscription,
}

#[async_trait]
impl Listener<IncomingNotification> for NotifyListener {
    async fn next(&mut self) -> Option<IncomingNotification> {
        loop {
            let (d, channel) = self.sub.next().await?;
            let handle = Handle::new(&d, channel, None);
            match wire::unpack_delivery(d.properties.headers().as_ref(), &d.data) {
                Ok(u) => {
                    return Some(IncomingNotification {
                        context: u.context,
                        message: u.body,
                        handle: Box::new(handle),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, routing_key = %d.routing_key, "dropping a malformed notification");
                    let _ = handle.ack();
                }
            }
        }
    }

    async fn stop(&mut self) {
        self.sub.stop().await;
    }
}
