//! Listeners: a consumer on one or more queues, turning deliveries into the
//! core's incoming messages.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use oslo_messaging_core::driver::{
    IncomingNotification, IncomingRequest, Listener, NotificationHandle, ReplyEvent, RequestHandle,
};
use oslo_messaging_core::message::ReplyResult;
use oslo_messaging_core::Result;
use tokio::sync::mpsc;

use crate::broker::{Broker, NotifyDelivery, RpcDelivery};
use crate::queue::{Delivered, Queue};

/// One consumer subscribed to several queues through a single channel.
pub(crate) struct Subscription<T: Send + 'static> {
    id: u64,
    rx: mpsc::UnboundedReceiver<Delivered<T>>,
    queues: Vec<Arc<Queue<T>>>,
    stopped: bool,
    on_stop: Option<Box<dyn FnOnce() + Send>>,
}

impl<T: Send + 'static> Subscription<T> {
    pub(crate) fn new(
        id: u64,
        queues: Vec<Arc<Queue<T>>>,
        on_stop: Option<Box<dyn FnOnce() + Send>>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        for q in &queues {
            q.subscribe(id, tx.clone());
        }
        Self {
            id,
            rx,
            queues,
            stopped: false,
            on_stop,
        }
    }

    async fn recv(&mut self) -> Option<Delivered<T>> {
        if self.stopped {
            return None;
        }
        self.rx.recv().await
    }

    /// Unsubscribe; messages delivered but not yet taken go back to their queues.
    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        for q in &self.queues {
            q.unsubscribe(self.id);
        }
        self.rx.close();
        let mut leftovers = Vec::new();
        while let Ok(d) = self.rx.try_recv() {
            leftovers.push(d);
        }
        for (q, item) in leftovers.into_iter().rev() {
            q.requeue(item);
        }
        if let Some(f) = self.on_stop.take() {
            f();
        }
    }
}

impl<T: Send + 'static> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// RPC requests for one server.
pub(crate) struct RpcListener {
    pub(crate) sub: Subscription<RpcDelivery>,
    pub(crate) _broker: Arc<Broker>,
}

#[async_trait]
impl Listener<IncomingRequest> for RpcListener {
    async fn next(&mut self) -> Option<IncomingRequest> {
        loop {
            let (_queue, d) = self.sub.recv().await?;
            if d.expires_at.is_some_and(|at| at <= Instant::now()) {
                tracing::debug!(method = %d.message.method, "dropping expired request");
                continue;
            }
            return Some(IncomingRequest {
                context: d.context,
                message: d.message,
                wants_reply: d.reply_to.is_some(),
                call_monitor_timeout: d.call_monitor_timeout,
                message_id: None,
                handle: Box::new(RpcHandle {
                    reply_to: d.reply_to,
                }),
            });
        }
    }

    async fn stop(&mut self) {
        self.sub.stop();
    }
}

struct RpcHandle {
    reply_to: Option<mpsc::UnboundedSender<ReplyEvent>>,
}

#[async_trait]
impl RequestHandle for RpcHandle {
    async fn acknowledge(&self) -> Result<()> {
        Ok(())
    }
    async fn reply(&self, reply: ReplyResult) -> Result<()> {
        self.send(ReplyEvent::Final(reply));
        Ok(())
    }
    async fn heartbeat(&self) -> Result<()> {
        self.send(ReplyEvent::KeepAlive);
        Ok(())
    }
}

impl RpcHandle {
    fn send(&self, event: ReplyEvent) {
        if let Some(tx) = &self.reply_to {
            if tx.send(event).is_err() {
                tracing::debug!("reply dropped: the caller no longer waits");
            }
        }
    }
}

/// Notifications for one listener (or one member of a pool).
pub(crate) struct NotifyListener {
    pub(crate) sub: Subscription<NotifyDelivery>,
    pub(crate) _broker: Arc<Broker>,
}

#[async_trait]
impl Listener<IncomingNotification> for NotifyListener {
    async fn next(&mut self) -> Option<IncomingNotification> {
        let (queue, d) = self.sub.recv().await?;
        let kept = d.clone();
        Some(IncomingNotification {
            context: d.context,
            message: d.message,
            handle: Box::new(NotifyHandle {
                queue,
                delivery: Mutex::new(Some(kept)),
            }),
        })
    }

    async fn stop(&mut self) {
        self.sub.stop();
    }
}

struct NotifyHandle {
    queue: Arc<Queue<NotifyDelivery>>,
    delivery: Mutex<Option<NotifyDelivery>>,
}

impl NotifyHandle {
    fn take(&self) -> Option<NotifyDelivery> {
        self.delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

#[async_trait]
impl NotificationHandle for NotifyHandle {
    async fn acknowledge(&self) -> Result<()> {
        self.take();
        Ok(())
    }
    async fn requeue(&self) -> Result<()> {
        if let Some(d) = self.take() {
            self.queue.requeue(d);
        }
        Ok(())
    }
}
