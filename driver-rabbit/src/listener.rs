//! Consuming: an RPC server's queues (topic, topic.server, its fanout
//! queue) or a notification listener's queues, on one channel of the
//! consuming connection, with `rabbit_qos_prefetch_count`.
//!
//! A message that cannot be read is logged and dropped (acknowledged), and
//! the listener goes on; a malformed call whose reply queue is known gets a
//! failure reply, so its caller does not wait for its timeout.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicNackOptions, BasicQosOptions, QueueDeleteOptions,
};
use lapin::{Acker, Channel};
use oslo_messaging_core::driver::{IncomingNotification, IncomingRequest, Listener, MessageHandle};
use oslo_messaging_core::message::ReplyResult;
use oslo_messaging_core::{MessagingError, RemoteFailure, Result};

use crate::driver::RabbitShared;
use crate::link::error;
use crate::publisher::{Declare, Outgoing, Publisher};
use crate::topology::{declare_queue, QueueSpec};
use crate::wire;

/// Deliveries of one channel's consumers.
pub(crate) struct Subscription {
    channel: Arc<Channel>,
    tags: Vec<String>,
    deliveries: tokio::sync::mpsc::UnboundedReceiver<Delivery>,
    /// Queues that live only as long as this subscription (fanout).
    own_queues: Vec<String>,
    stopped: bool,
}

impl Subscription {
    /// Declares `queues` and consumes them; `own` of them are deleted at stop.
    ///
    /// # Errors
    /// Connection failures, or the broker refusing a declaration.
    pub async fn open(shared: &RabbitShared, queues: &[QueueSpec], own: &[String]) -> Result<Self> {
        let connection = shared.consume_link.connection(None).await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| error("open a channel", &e))?;
        let prefetch = u16::try_from(shared.opts.rabbit_qos_prefetch_count).unwrap_or(u16::MAX);
        if prefetch > 0 {
            channel
                .basic_qos(prefetch, BasicQosOptions::default())
                .await
                .map_err(|e| error("set the prefetch count", &e))?;
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tags = Vec::new();
        let mut consumed = std::collections::HashSet::new();
        for q in queues {
            declare_queue(&channel, q, &shared.declared)
                .await
                .map_err(|e| error(&format!("declare queue {:?}", q.name), &e))?;
            // A pool's queue is bound once per target but consumed once.
            if !consumed.insert(q.name.as_str()) {
                continue;
            }
            let mut consumer = channel
                .basic_consume(
                    q.name.as_str().into(),
                    "".into(),
                    lapin::options::BasicConsumeOptions::default(),
                    shared.topology.consumer_arguments(),
                )
                .await
                .map_err(|e| error(&format!("consume queue {:?}", q.name), &e))?;
            tags.push(consumer.tag().to_string());
            let tx = tx.clone();
            let queue = q.name.clone();
            shared.io.spawn(async move {
                while let Some(delivery) = consumer.next().await {
                    match delivery {
                        Ok(d) => {
                            if let Err(back) = tx.send(d) {
                                requeue(&back.0.acker).await;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(queue, error = %e, "consumer failed");
                            break;
                        }
                    }
                }
            });
        }
        Ok(Self {
            channel: Arc::new(channel),
            tags,
            deliveries: rx,
            own_queues: own.to_vec(),
            stopped: false,
        })
    }

    async fn next(&mut self) -> Option<Delivery> {
        if self.stopped {
            return None;
        }
        self.deliveries.recv().await
    }

    /// Cancels the consumers, gives back what was received but not taken,
    /// and deletes the subscription's own queues. The channel stays open
    /// until the last message taken is settled.
    async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        for tag in &self.tags {
            if let Err(e) = self
                .channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await
            {
                tracing::debug!(error = %e, "cancelling a consumer failed");
            }
        }
        self.deliveries.close();
        while let Some(d) = self.deliveries.recv().await {
            requeue(&d.acker).await;
        }
        for q in &self.own_queues {
            if let Err(e) = self
                .channel
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await
            {
                tracing::debug!(queue = q, error = %e, "deleting a fanout queue failed");
            }
        }
    }
}

async fn requeue(acker: &Acker) {
    let options = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    if let Err(e) = acker.nack(options).await {
        tracing::debug!(error = %e, "requeue failed; the broker requeues when the channel closes");
    }
}

/// Settles one message, and for calls sends the reply and keep-alives.
struct Handle {
    acker: Acker,
    _channel: Arc<Channel>,
    replier: Option<Replier>,
}

/// Where a call's reply goes.
struct Replier {
    shared: Arc<RabbitShared>,
    publisher: Arc<Publisher>,
    reply_q: String,
    msg_id: String,
}

impl Replier {
    async fn send(&self, body: Vec<u8>, missing_queue_patience: Duration) -> Result<()> {
        let msg = Outgoing {
            declare: Declare::Nothing,
            exchange: "",
            routing_key: &self.reply_q,
            body: &body,
            properties: wire::properties(None),
            mandatory: self.shared.opts.direct_mandatory_flag,
        };
        let deadline = Instant::now() + missing_queue_patience;
        loop {
            match self.publisher.publish(&msg, None).await {
                Err(MessagingError::MessageUndeliverable { .. }) if Instant::now() < deadline => {
                    tracing::debug!(
                        msg_id = self.msg_id,
                        reply_q = self.reply_q,
                        "reply queue missing; retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e @ MessagingError::MessageUndeliverable { .. }) => {
                    tracing::error!(
                        msg_id = self.msg_id,
                        reply_q = self.reply_q,
                        "the reply could not be sent: its queue is missing; abandoning"
                    );
                    return Err(e);
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl MessageHandle for Handle {
    async fn acknowledge(&self) -> Result<()> {
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(|e| error("acknowledge", &e))
    }

    async fn requeue(&self) -> Result<()> {
        self.acker
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| error("requeue", &e))
    }

    async fn reply(&self, reply: ReplyResult) -> Result<()> {
        match &self.replier {
            Some(r) => {
                let patience = Duration::from_secs(r.shared.opts.missing_consumer_retry_timeout());
                r.send(wire::reply_body(&r.msg_id, &reply), patience).await
            }
            None => Ok(()),
        }
    }

    async fn heartbeat(&self) -> Result<()> {
        match &self.replier {
            Some(r) => {
                r.send(wire::keepalive_body(&r.msg_id), Duration::ZERO)
                    .await
            }
            None => Ok(()),
        }
    }
}

const RECENT_IDS: usize = 64;

/// An RPC server's listener.
pub(crate) struct RpcListener {
    pub sub: Subscription,
    pub shared: Arc<RabbitShared>,
    pub publisher: Arc<Publisher>,
    pub recent: VecDeque<String>,
}

impl RpcListener {
    fn replier(&self, reply_q: Option<String>, msg_id: Option<String>) -> Option<Replier> {
        Some(Replier {
            shared: self.shared.clone(),
            publisher: self.publisher.clone(),
            reply_q: reply_q?,
            msg_id: msg_id?,
        })
    }

    fn is_duplicate(&mut self, unique_id: Option<&String>) -> bool {
        let Some(id) = unique_id else { return false };
        if self.recent.contains(id) {
            return true;
        }
        if self.recent.len() == RECENT_IDS {
            self.recent.pop_front();
        }
        self.recent.push_back(id.clone());
        false
    }
}

#[async_trait]
impl Listener<IncomingRequest> for RpcListener {
    async fn next(&mut self) -> Option<IncomingRequest> {
        loop {
            let d = self.sub.next().await?;
            let channel = self.sub.channel.clone();
            let handle = |replier| Handle {
                acker: d.acker.clone(),
                _channel: channel.clone(),
                replier,
            };
            let mut u = match wire::unpack(&d.data) {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(error = %e, routing_key = %d.routing_key, "dropping a malformed request");
                    let _ = handle(None).acknowledge().await;
                    continue;
                }
            };
            if self.is_duplicate(u.unique_id.as_ref()) {
                tracing::warn!(unique_id = u.unique_id, "ignoring a duplicate request");
                let _ = handle(None).acknowledge().await;
                continue;
            }
            let wants_reply = u.msg_id.is_some() && u.reply_q.is_some();
            let h = handle(self.replier(u.reply_q.take(), u.msg_id.take()));
            match wire::request(&mut u.body) {
                Ok(message) => {
                    return Some(IncomingRequest {
                        context: u.context,
                        message,
                        wants_reply,
                        call_monitor_timeout: u.call_monitor_timeout,
                        handle: Box::new(h),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, routing_key = %d.routing_key, "dropping a malformed request");
                    let _ = h.acknowledge().await;
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
            let d = self.sub.next().await?;
            let handle = Handle {
                acker: d.acker.clone(),
                _channel: self.sub.channel.clone(),
                replier: None,
            };
            match wire::unpack(&d.data) {
                Ok(u) => {
                    return Some(IncomingNotification {
                        context: u.context,
                        message: u.body,
                        handle: Box::new(handle),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, routing_key = %d.routing_key, "dropping a malformed notification");
                    let _ = handle.acknowledge().await;
                }
            }
        }
    }

    async fn stop(&mut self) {
        self.sub.stop().await;
    }
}
