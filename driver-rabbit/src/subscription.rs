//! A listener's consumers, kept alive: the queues are declared and
//! consumed on one channel of the consuming connection (with
//! `rabbit_qos_prefetch_count`), and when the consumers end (connection
//! lost, channel closed, consumer cancelled by the broker) a task on the
//! I/O runtime declares and consumes them again on the next connection.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicNackOptions, BasicQosOptions, QueueDeleteOptions};
use lapin::{Acker, Channel};
use oslo_messaging_core::Result;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::driver::RabbitShared;
use crate::link::error;
use crate::topology::{declare_queue, QueueSpec};

/// A delivery and the channel it came on (acks go back on that channel).
pub(crate) type Received = (Delivery, Arc<Channel>);

/// Deliveries of a listener's queues, across reconnections.
pub(crate) struct Subscription {
    deliveries: mpsc::UnboundedReceiver<Received>,
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
    stopped: bool,
}

impl Subscription {
    /// Declares `queues` and consumes them; `own` of them are deleted at
    /// stop (a server's fanout queue).
    ///
    /// # Errors
    /// Connection failures, or the broker refusing a declaration (only for
    /// the first subscription: later ones are retried).
    pub async fn open(
        shared: &Arc<RabbitShared>,
        queues: Vec<QueueSpec>,
        own: Vec<String>,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let session = Session::start(shared, &queues, &tx).await?;
        let (stop, stop_rx) = oneshot::channel();
        shared.io.spawn(keep_consuming(
            shared.clone(),
            queues,
            own,
            tx,
            session,
            stop_rx,
        ));
        Ok(Self {
            deliveries: rx,
            stop: Some(stop),
            stopped: false,
        })
    }

    /// The next delivery; `None` once stopped.
    pub async fn next(&mut self) -> Option<Received> {
        if self.stopped {
            return None;
        }
        self.deliveries.recv().await
    }

    /// Cancels the consumers, deletes the subscription's own queues and
    /// gives back what was received but not taken. Channels stay open
    /// until the last message taken is settled.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Some(stop) = self.stop.take() {
            let (done, finished) = oneshot::channel();
            if stop.send(done).is_ok() {
                let _ = finished.await;
            }
        }
        self.deliveries.close();
        while let Some((d, _)) = self.deliveries.recv().await {
            requeue(&d.acker).await;
        }
    }
}

/// One channel's consumers.
struct Session {
    channel: Arc<Channel>,
    tags: Vec<String>,
    consumers: JoinSet<()>,
}

impl Session {
    async fn start(
        shared: &RabbitShared,
        queues: &[QueueSpec],
        tx: &mpsc::UnboundedSender<Received>,
    ) -> Result<Self> {
        let connection = shared.consume_link.connection(None).await?;
        let channel = Arc::new(
            connection
                .create_channel()
                .await
                .map_err(|e| error("open a channel", &e))?,
        );
        let prefetch = u16::try_from(shared.opts.rabbit_qos_prefetch_count).unwrap_or(u16::MAX);
        if prefetch > 0 {
            channel
                .basic_qos(prefetch, BasicQosOptions::default())
                .await
                .map_err(|e| error("set the prefetch count", &e))?;
        }
        let mut session = Session {
            channel: channel.clone(),
            tags: Vec::new(),
            consumers: JoinSet::new(),
        };
        let mut consumed = HashSet::new();
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
            session.tags.push(consumer.tag().to_string());
            let (tx, channel, queue) = (tx.clone(), channel.clone(), q.name.clone());
            session.consumers.spawn_on(
                async move {
                    while let Some(delivery) = consumer.next().await {
                        match delivery {
                            Ok(d) => {
                                if let Err(back) = tx.send((d, channel.clone())) {
                                    requeue(&back.0 .0.acker).await;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(queue, error = %e, "consumer failed");
                                break;
                            }
                        }
                    }
                },
                &shared.io,
            );
        }
        Ok(session)
    }

    /// Resolves when every consumer has ended.
    async fn ended(&mut self) {
        while self.consumers.join_next().await.is_some() {}
    }

    async fn cancel(&self) {
        for tag in &self.tags {
            if let Err(e) = self
                .channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await
            {
                tracing::debug!(error = %e, "cancelling a consumer failed");
            }
        }
    }
}

/// Runs on the I/O runtime for the life of a subscription.
async fn keep_consuming(
    shared: Arc<RabbitShared>,
    queues: Vec<QueueSpec>,
    own: Vec<String>,
    tx: mpsc::UnboundedSender<Received>,
    mut session: Session,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    loop {
        tokio::select! {
            asked = &mut stop => return finish(&session, &own, asked.ok()).await,
            () = session.ended() => {}
        }
        tracing::warn!(
            queues = ?queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
            "consumers stopped (connection lost or consumer cancelled); subscribing again"
        );
        loop {
            tokio::select! {
                asked = &mut stop => return finish(&session, &own, asked.ok()).await,
                started = Session::start(&shared, &queues, &tx) => match started {
                    Ok(s) => {
                        tracing::info!("consumers resumed");
                        session = s;
                        break;
                    }
                    Err(e) => {
                        let pause = Duration::from_secs(shared.opts.rabbit_retry_interval);
                        tracing::warn!(error = %e, next_attempt_in = ?pause, "subscribing again failed");
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
    }
}

async fn finish(session: &Session, own: &[String], done: Option<oneshot::Sender<()>>) {
    session.cancel().await;
    for q in own {
        if let Err(e) = session
            .channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await
        {
            tracing::debug!(queue = q, error = %e, "deleting a fanout queue failed");
        }
    }
    if let Some(done) = done {
        let _ = done.send(());
    }
}

pub(crate) async fn requeue(acker: &Acker) {
    let options = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    if let Err(e) = acker.nack(options).await {
        tracing::debug!(error = %e, "requeue failed; the broker requeues when the channel closes");
    }
}
