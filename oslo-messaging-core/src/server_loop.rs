//! The lifecycle every server shares (RPC servers, notification listeners):
//! start, stop, wait; pulling messages from a driver listener, in batches
//! when asked, and handing them to an executor.
//!
//! Rules: `start` on a running server, `stop` on a server that is not
//! running and `wait` before `stop` are [`MessagingError::ServerState`]
//! errors. After `stop` returns no new message is taken; `wait` returns once
//! every message already taken has been processed. A stopped and waited
//! server can be started again.

use std::sync::Arc;
use std::time::Duration;

use oslo_messaging_executors::{Executor, Job};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use crate::driver::Listener;
use crate::error::{MessagingError, Result};

/// Turns a batch of received messages into a job for the executor.
pub(crate) type Process<M> = Arc<dyn Fn(Vec<M>) -> Job + Send + Sync>;

/// How many messages one job gets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    pub size: usize,
    pub timeout: Option<Duration>,
}

impl Batching {
    pub const SINGLE: Batching = Batching {
        size: 1,
        timeout: None,
    };
}

enum State {
    Idle,
    Running {
        stop: watch::Sender<bool>,
        task: JoinHandle<()>,
    },
    Stopped,
}

pub(crate) struct ServerLoop {
    state: Mutex<State>,
    executor: Arc<dyn Executor>,
    what: &'static str,
}

impl ServerLoop {
    pub fn new(executor: Arc<dyn Executor>, what: &'static str) -> Self {
        Self {
            state: Mutex::new(State::Idle),
            executor,
            what,
        }
    }

    /// Start pulling from the listener `open` returns.
    pub async fn start<M, F, Fut>(
        &self,
        open: F,
        batching: Batching,
        process: Process<M>,
    ) -> Result<()>
    where
        M: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Box<dyn Listener<M>>>>,
    {
        let mut state = self.state.lock().await;
        match *state {
            State::Idle => {}
            State::Running { .. } => {
                return Err(MessagingError::ServerState(format!(
                    "{} is already running",
                    self.what
                )))
            }
            State::Stopped => {
                return Err(MessagingError::ServerState(format!(
                    "{} was stopped; call wait() before starting it again",
                    self.what
                )))
            }
        }
        let listener = open().await?;
        let (stop, stop_rx) = watch::channel(false);
        let executor = self.executor.clone();
        let task = tokio::spawn(pull(listener, stop_rx, batching, executor, process));
        *state = State::Running { stop, task };
        Ok(())
    }

    /// Stop taking messages; returns once the listener is stopped.
    pub async fn stop(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        match std::mem::replace(&mut *state, State::Stopped) {
            State::Running { stop, task } => {
                let _ = stop.send(true);
                if let Err(e) = task.await {
                    tracing::error!("{} message loop ended abnormally: {e}", self.what);
                }
                Ok(())
            }
            other => {
                *state = other;
                Err(MessagingError::ServerState(format!(
                    "stop() called on a {} that is not running",
                    self.what
                )))
            }
        }
    }

    /// Wait until every message taken before `stop` has been processed.
    pub async fn wait(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        match *state {
            State::Stopped => {
                self.executor.drain().await;
                *state = State::Idle;
                Ok(())
            }
            State::Running { .. } => Err(MessagingError::ServerState(format!(
                "wait() called before stop() on a running {}",
                self.what
            ))),
            State::Idle => Err(MessagingError::ServerState(format!(
                "wait() called on a {} that was never started",
                self.what
            ))),
        }
    }

    /// Whether the server is taking messages.
    pub async fn is_running(&self) -> bool {
        matches!(*self.state.lock().await, State::Running { .. })
    }
}

async fn pull<M: Send + 'static>(
    mut listener: Box<dyn Listener<M>>,
    mut stop: watch::Receiver<bool>,
    batching: Batching,
    executor: Arc<dyn Executor>,
    process: Process<M>,
) {
    let mut open = true;
    while open && !*stop.borrow() {
        let first = tokio::select! {
            biased;
            _ = stop.changed() => break,
            m = listener.next() => m,
        };
        let Some(first) = first else { break };
        let mut batch = Vec::with_capacity(batching.size.min(64));
        batch.push(first);
        if batching.size > 1 {
            let deadline = batching.timeout.map(|t| tokio::time::Instant::now() + t);
            while batch.len() < batching.size {
                let next = async {
                    match deadline {
                        Some(d) => tokio::time::timeout_at(d, listener.next()).await.ok(),
                        None => Some(listener.next().await),
                    }
                };
                tokio::select! {
                    biased;
                    _ = stop.changed() => break,
                    m = next => match m {
                        Some(Some(m)) => batch.push(m),
                        Some(None) => { open = false; break; }
                        None => break,
                    },
                }
            }
        }
        executor.submit(process(batch)).await;
    }
    listener.stop().await;
}
