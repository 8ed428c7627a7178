//! Sending a call's reply (and its keep-alives) to the caller's reply
//! queue, through the default exchange, with publisher confirms and (with
//! `direct_mandatory_flag`) the mandatory flag, as oslo.messaging does.
//!
//! A reply is published once and the server goes on; its confirm is
//! checked later by [`Confirms`], a task on the driver's runtime that looks
//! at the replies not yet checked every 50 ms while there are some. It
//! polls their confirms with a waker that does nothing, so a confirm wakes
//! no thread: at thousands of replies a second that is the difference
//! between one wake-up per reply and twenty a second. Only when a confirm
//! says something went wrong does a reply take the patient path, which
//! waits for each confirm:
//! - the reply queue is missing (the broker returned the mandatory
//!   message): try again every 250 ms for `missing_consumer_retry_timeout`
//!   seconds, then give up with an error in the log;
//! - the connection or channel failed before the confirm: publish again,
//!   with the publisher's retries (the caller drops a duplicate by its
//!   `_unique_id`);
//! - the broker refused it: log it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lapin::PublisherConfirm;
use oslo_messaging_core::{MessagingError, Result};
use tokio::sync::Notify;

use crate::lock;
use crate::publisher::{settled, Declare, Outgoing, Publisher};
use crate::wire;

/// How long to wait before trying a reply whose queue was missing again.
const MISSING_QUEUE_PAUSE: Duration = Duration::from_millis(250);

/// Where a call's reply goes.
#[derive(Clone)]
pub(crate) struct Replier {
    pub publisher: Arc<Publisher>,
    pub confirms: Confirms,
    pub reply_q: String,
    pub msg_id: String,
    pub mandatory: bool,
    /// How long a missing reply queue is waited for.
    pub patience: Duration,
}

impl Replier {
    fn outgoing<'a>(&'a self, body: &'a [u8]) -> Outgoing<'a> {
        Outgoing {
            declare: Declare::Nothing,
            exchange: "",
            routing_key: &self.reply_q,
            body,
            properties: wire::properties(None, &oslo_messaging_core::Context::new()),
            mandatory: self.mandatory,
            confirm: true,
        }
    }

    /// Publishes the reply and leaves its confirm to [`Confirms`]; falls
    /// back to the patient path when it cannot be published at once.
    ///
    /// # Errors
    /// Those of the patient path.
    pub async fn reply(&self, body: Vec<u8>) -> Result<()> {
        let published = self
            .publisher
            .publish_confirm_later(&self.outgoing(&body))
            .await;
        match published {
            Ok(confirm) => {
                self.confirms.track(confirm, self.clone(), body);
                Ok(())
            }
            Err(e) => {
                tracing::debug!(msg_id = self.msg_id, error = %e, "reply not published at once; retrying");
                self.send(body, self.patience).await
            }
        }
    }

    /// A call-monitor keep-alive (the patient path: it is rare).
    ///
    /// # Errors
    /// See [`Replier::send`].
    pub async fn keep_alive(&self) -> Result<()> {
        self.send(wire::keepalive_body(&self.msg_id), Duration::ZERO)
            .await
    }

    /// The patient path: publish and wait for the confirm, retrying a
    /// connection failure without limit and a missing reply queue for
    /// `patience`.
    ///
    /// # Errors
    /// [`MessagingError::MessageUndeliverable`] once the queue stayed
    /// missing for `patience`; a refusal by the broker.
    pub async fn send(&self, body: Vec<u8>, patience: Duration) -> Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            match self.publisher.publish(&self.outgoing(&body), None).await {
                Err(MessagingError::MessageUndeliverable { .. }) if Instant::now() < deadline => {
                    tracing::debug!(
                        msg_id = self.msg_id,
                        reply_q = self.reply_q,
                        "reply queue missing; retrying"
                    );
                    tokio::time::sleep(MISSING_QUEUE_PAUSE).await;
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

/// A reply published but not confirmed yet.
struct Unconfirmed {
    confirm: PublisherConfirm,
    replier: Replier,
    body: Vec<u8>,
    sent: Instant,
}

/// How often the replies not yet confirmed are checked.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// Checks the confirms of replies, on the driver's runtime.
#[derive(Clone)]
pub(crate) struct Confirms {
    inner: Arc<Waiting>,
}

#[derive(Default)]
struct Waiting {
    replies: Mutex<Vec<Unconfirmed>>,
    /// Told when `replies` stops being empty.
    some: Notify,
}

impl Confirms {
    /// Starts the checking task on `io` (it lives as long as that runtime).
    pub fn start(io: &tokio::runtime::Handle) -> Self {
        let inner = Arc::new(Waiting::default());
        io.spawn(check_confirms(inner.clone()));
        Self { inner }
    }

    fn track(&self, confirm: PublisherConfirm, replier: Replier, body: Vec<u8>) {
        let unconfirmed = Unconfirmed {
            confirm,
            replier,
            body,
            sent: Instant::now(),
        };
        let mut replies = lock(&self.inner.replies);
        replies.push(unconfirmed);
        if replies.len() == 1 {
            drop(replies);
            self.inner.some.notify_one();
        }
    }
}

async fn check_confirms(waiting: Arc<Waiting>) {
    loop {
        if lock(&waiting.replies).is_empty() {
            // A reply tracked meanwhile left a permit: this returns at once.
            waiting.some.notified().await;
            continue;
        }
        tokio::time::sleep(CHECK_EVERY).await;
        let taken = std::mem::take(&mut *lock(&waiting.replies));
        let mut left = check(taken);
        lock(&waiting.replies).append(&mut left);
    }
}

/// Settles the replies whose confirm came; returns the others.
fn check(replies: Vec<Unconfirmed>) -> Vec<Unconfirmed> {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut left = Vec::new();
    for mut u in replies {
        match Pin::new(&mut u.confirm).poll(&mut cx) {
            Poll::Ready(outcome) => settle(outcome, u.replier, u.body, u.sent),
            Poll::Pending => left.push(u),
        }
    }
    left
}

/// What to do once the broker answered (or the channel failed).
fn settle(
    outcome: lapin::Result<lapin::Confirmation>,
    replier: Replier,
    body: Vec<u8>,
    sent: Instant,
) {
    let error = match settled(outcome, "", &replier.reply_q) {
        Ok(()) => return,
        Err(e) => e,
    };
    let patience = replier.patience.saturating_sub(sent.elapsed());
    let pause = match error {
        MessagingError::MessageUndeliverable { .. } => MISSING_QUEUE_PAUSE,
        ref e if e.is_temporary() => Duration::ZERO,
        e => {
            tracing::error!(msg_id = replier.msg_id, error = %e, "the reply was not sent");
            return;
        }
    };
    tracing::debug!(msg_id = replier.msg_id, error = %error, "reply not confirmed; sending it again");
    tokio::spawn(async move {
        tokio::time::sleep(pause).await;
        if let Err(e) = replier.send(body, patience).await {
            tracing::warn!(msg_id = replier.msg_id, error = %e, "could not send reply");
        }
    });
}
