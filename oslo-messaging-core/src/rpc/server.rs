//! [`RpcServer`]: receives requests for a target and runs them on endpoints.

use std::sync::Arc;
use std::time::Duration;

use oslo_messaging_executors::{Executor, Job};
use tokio::runtime::Handle;

use crate::driver::{IncomingRequest, RequestHandle};
use crate::error::{MessagingError, Result};
use crate::rpc::dispatcher::{AccessPolicy, Dispatcher};
use crate::rpc::endpoint::Endpoint;
use crate::serializer::{NoOpSerializer, Serializer};
use crate::server_loop::{Batching, Process, ServerLoop};
use crate::target::Target;
use crate::telemetry::{self, Observer};
use crate::transport::Transport;
use opentelemetry::context::FutureExt as _;

/// The executor a server uses when none is chosen.
pub const DEFAULT_EXECUTOR: &str = "async";

/// An RPC server. Lifecycle: [`start`](Self::start), [`stop`](Self::stop)
/// (no new requests), [`wait`](Self::wait) (in-flight requests finished).
///
/// Requests are acknowledged before they are dispatched (at most once). A
/// call's reply carries the result or the endpoint's error; a panic in an
/// endpoint becomes a `RuntimeError` for the caller and the server keeps
/// serving.
pub struct RpcServer {
    transport: Transport,
    target: Target,
    dispatcher: Dispatcher,
    runner: ServerLoop,
}

impl std::fmt::Debug for RpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcServer")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Builds an [`RpcServer`].
pub struct RpcServerBuilder {
    transport: Transport,
    target: Target,
    endpoints: Vec<Endpoint>,
    executor: ExecutorChoice,
    policy: AccessPolicy,
    serializer: Arc<dyn Serializer>,
}

pub(crate) enum ExecutorChoice {
    Named(String),
    Given(Arc<dyn Executor>),
}

impl ExecutorChoice {
    pub(crate) fn resolve(self, transport: &Transport) -> Result<Arc<dyn Executor>> {
        match self {
            ExecutorChoice::Given(e) => Ok(e),
            ExecutorChoice::Named(name) => oslo_messaging_executors::by_name(
                &name,
                transport.defaults().executor_thread_pool_size,
            )
            .map_err(|e| MessagingError::invalid_option("DEFAULT", "executor", e)),
        }
    }
}

impl RpcServer {
    /// Start building a server for `target` (needs topic and server).
    pub fn builder(transport: &Transport, target: Target) -> RpcServerBuilder {
        RpcServerBuilder {
            transport: transport.clone(),
            target,
            endpoints: Vec::new(),
            executor: ExecutorChoice::Named(DEFAULT_EXECUTOR.to_owned()),
            policy: AccessPolicy::Default,
            serializer: Arc::new(NoOpSerializer),
        }
    }

    /// The target the server listens to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Start receiving requests.
    ///
    /// # Errors
    /// [`MessagingError::ServerState`] when already running; the driver's
    /// errors when it cannot listen.
    pub async fn start(&self) -> Result<()> {
        let driver = self.transport.driver().clone();
        let target = self.target.clone();
        let dispatcher = self.dispatcher.clone();
        let runtime = Handle::current();
        let observed = self
            .transport
            .observer()
            .map(|o| Arc::new((o.clone(), self.target.clone())));
        let process: Process<IncomingRequest> =
            Arc::new(move |batch: Vec<IncomingRequest>| -> Job {
                let dispatcher = dispatcher.clone();
                let runtime = runtime.clone();
                let observed = observed.clone();
                Box::pin(async move {
                    for request in batch {
                        process_request(&dispatcher, &runtime, observed.as_deref(), request).await;
                    }
                })
            });
        self.runner
            .start(
                || async move { driver.listen(&target).await },
                Batching::SINGLE,
                process,
            )
            .await
    }

    /// Stop receiving requests; returns when no new request will be taken.
    ///
    /// # Errors
    /// [`MessagingError::ServerState`] when the server is not running.
    pub async fn stop(&self) -> Result<()> {
        self.runner.stop().await
    }

    /// Wait for the requests taken before [`stop`](Self::stop) to finish.
    ///
    /// # Errors
    /// [`MessagingError::ServerState`] when called before `stop`.
    pub async fn wait(&self) -> Result<()> {
        self.runner.wait().await
    }

    /// Whether the server is receiving requests.
    pub async fn is_running(&self) -> bool {
        self.runner.is_running().await
    }
}

impl RpcServerBuilder {
    /// Add an endpoint (tried in the order added): an [`Endpoint`], or
    /// what [`rpc_interface`](crate::rpc_interface) generates for a trait
    /// implementation (`CalculatorEndpoint::new(service)`).
    pub fn endpoint(mut self, endpoint: impl Into<Endpoint>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// Run requests on the executor of this name: `async` (default),
    /// `threading` or `inline`, sized by `executor_thread_pool_size`.
    pub fn executor(mut self, name: impl Into<String>) -> Self {
        self.executor = ExecutorChoice::Named(name.into());
        self
    }

    /// Run requests on this executor.
    pub fn executor_instance(mut self, executor: Arc<dyn Executor>) -> Self {
        self.executor = ExecutorChoice::Given(executor);
        self
    }

    /// Which methods may be called (default: refuse names starting with `_`).
    pub fn access_policy(mut self, policy: AccessPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Serializer for arguments, results and context.
    pub fn serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.serializer = serializer;
        self
    }

    /// Finish the server (it is not started).
    ///
    /// # Errors
    /// An invalid target, an unknown executor name.
    pub fn build(self) -> Result<RpcServer> {
        self.target.check_server()?;
        let executor = self.executor.resolve(&self.transport)?;
        let ping = self.transport.defaults().rpc_ping_enabled;
        Ok(RpcServer {
            dispatcher: Dispatcher::new(self.endpoints, self.policy, self.serializer, ping)
                .observed(self.transport.observer().cloned(), &self.target),
            runner: ServerLoop::new(executor, "RPC server"),
            transport: self.transport,
            target: self.target,
        })
    }
}

async fn process_request(
    dispatcher: &Dispatcher,
    runtime: &Handle,
    observed: Option<&(Arc<Observer>, Target)>,
    request: IncomingRequest,
) {
    let IncomingRequest {
        context,
        message,
        wants_reply,
        call_monitor_timeout,
        message_id,
        handle,
    } = request;
    let handle: Arc<dyn RequestHandle> = Arc::from(handle);
    if let Err(e) = handle.acknowledge().await {
        tracing::warn!(method = %message.method, "could not acknowledge request: {e}");
    }
    let method = message.method.clone();
    let keep_alive = match call_monitor_timeout {
        Some(t) if wants_reply => Some(spawn_keep_alive(runtime, handle.clone(), t)),
        _ => None,
    };
    let result = match observed {
        None => dispatcher.dispatch(context, message).await,
        Some((observer, target)) => {
            let op = observer.start_process(
                &telemetry::Request {
                    target,
                    method: &method,
                    namespace: message.namespace.as_deref(),
                    version: message.version.as_deref(),
                },
                &context,
                message_id.as_deref(),
            );
            let dispatched = dispatcher.dispatch(context, message);
            // The span is current while the endpoint runs: what it sends
            // is its child.
            let result = match op.context() {
                Some(cx) => dispatched.with_context(cx.clone()).await,
                None => dispatched.await,
            };
            op.finish(
                result
                    .as_ref()
                    .err()
                    .map(|f| telemetry::Failed::of_class(&f.class, f.message.clone())),
            );
            result
        }
    };
    if let Some(k) = keep_alive {
        k.abort();
    }
    if wants_reply {
        if let Err(e) = handle.reply(result).await {
            tracing::warn!(method = %method, "could not send reply: {e}");
        }
    }
}

/// Keep-alives run on the server's runtime, not the executor's thread, so a
/// blocking method on a pool thread cannot hold them back.
fn spawn_keep_alive(
    runtime: &Handle,
    handle: Arc<dyn RequestHandle>,
    monitor: Duration,
) -> tokio::task::AbortHandle {
    let period = (monitor / 2).max(Duration::from_millis(1));
    runtime
        .spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                ticks.tick().await;
                if let Err(e) = handle.heartbeat().await {
                    tracing::debug!("call-monitor keep-alive failed: {e}");
                }
            }
        })
        .abort_handle()
}
