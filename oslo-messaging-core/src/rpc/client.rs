//! [`RpcClient`]: calls and casts to a target.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::driver::{ReplyEvent, Retry, SendMode, SendOptions};
use crate::error::{MessagingError, Result};
use crate::message::{Context, RpcMessage};
use crate::rpc::api::RpcSend;
use crate::rpc::interface::Request;
use crate::serializer::{NoOpSerializer, Serializer};
use crate::target::Target;
use crate::telemetry;
use crate::transport::Transport;
use crate::version::Version;

/// Sends RPC requests to a [`Target`]. Cheap to clone; the `with_*` methods
/// return a new client with one setting changed (oslo.messaging's `prepare`).
///
/// ```
/// # async fn demo(transport: oslo_messaging_core::Transport) -> oslo_messaging_core::Result<()> {
/// use oslo_messaging_core::{RpcClient, Target};
/// use serde_json::json;
/// let client = RpcClient::new(&transport, Target::topic("calculator"));
/// let sum = client.prepare().with_version("1.1").call(&Default::default(), "add", json!({"a": 1, "b": 2})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RpcClient {
    transport: Transport,
    target: Target,
    timeout: Option<Duration>,
    call_monitor_timeout: Option<Duration>,
    version_cap: Option<String>,
    retry: Retry,
    at_least_once: bool,
    serializer: Arc<dyn Serializer>,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("target", &self.target)
            .field("timeout", &self.timeout)
            .field("version_cap", &self.version_cap)
            .finish_non_exhaustive()
    }
}

impl RpcClient {
    /// A client for `target` (needs at least a topic when used).
    pub fn new(transport: &Transport, target: Target) -> Self {
        Self {
            transport: transport.clone(),
            target,
            timeout: None,
            call_monitor_timeout: None,
            version_cap: None,
            retry: None,
            at_least_once: false,
            serializer: Arc::new(NoOpSerializer),
        }
    }

    /// A copy to adjust with the `with_*` methods (reads like oslo.messaging's `prepare()`).
    pub fn prepare(&self) -> Self {
        self.clone()
    }

    /// The target requests go to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Use another exchange.
    pub fn with_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.target.exchange = Some(exchange.into());
        self
    }
    /// Use another topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.target.topic = Some(topic.into());
        self
    }
    /// Use an endpoint namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.target.namespace = Some(namespace.into());
        self
    }
    /// Ask for an API version (`X.Y`).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.target.version = Some(version.into());
        self
    }
    /// Send to one server.
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.target.server = Some(server.into());
        self
    }
    /// Casts go to every server on the topic.
    pub fn with_fanout(mut self, fanout: bool) -> Self {
        self.target.fanout = fanout;
        self
    }
    /// Time limit of calls (default `[DEFAULT] rpc_response_timeout`).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Fail a call when no keep-alive arrives within this interval.
    pub fn with_call_monitor_timeout(mut self, timeout: Duration) -> Self {
        self.call_monitor_timeout = Some(timeout);
        self
    }
    /// Refuse to send versions above this cap (`X.Y`).
    pub fn with_version_cap(mut self, cap: impl Into<String>) -> Self {
        self.version_cap = Some(cap.into());
        self
    }
    /// Retries on connection failure (`None`: forever, `Some(0)`: none).
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }
    /// Report a request that no queue takes as
    /// [`MessagingError::MessageUndeliverable`] instead of letting it vanish
    /// (oslo.messaging's `TransportOptions(at_least_once=True)`); not for
    /// fanout casts. Off by default.
    pub fn with_at_least_once(mut self, at_least_once: bool) -> Self {
        self.at_least_once = at_least_once;
        self
    }

    fn send_options(&self) -> SendOptions {
        SendOptions::new(self.retry).with_at_least_once(self.at_least_once)
    }

    /// Serializer for arguments, results and context.
    pub fn with_serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.serializer = serializer;
        self
    }

    /// Whether `version` may be sent under the version cap.
    /// A malformed version or cap is never sendable.
    pub fn can_send_version(&self, version: &str) -> bool {
        self.check_version_cap(version).is_ok()
    }

    fn check_version_cap(&self, version: &str) -> Result<()> {
        let requested: Version = version.parse()?;
        let Some(cap) = self.version_cap.as_deref() else {
            return Ok(());
        };
        let cap_v: Version = cap.parse()?;
        if cap_v.can_serve(requested) {
            Ok(())
        } else {
            Err(MessagingError::RpcVersionCapError {
                version: version.to_owned(),
                version_cap: cap.to_owned(),
            })
        }
    }

    fn build(
        &self,
        asked: Asked<'_>,
        context: &Context,
        method: &str,
        args: Value,
    ) -> Result<(Context, RpcMessage)> {
        // Without a cap there is nothing to check: the version itself was
        // checked by `check_call`/`check_cast` (a typed request's, when
        // its interface compiled).
        if let (Some(v), Some(_)) = (asked.version, &self.version_cap) {
            self.check_version_cap(v)?;
        }
        let mut args = match args {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(MessagingError::Serialization(format!(
                    "arguments of {method:?} must be a JSON object of keyword arguments, got {}",
                    json_kind(&other)
                )))
            }
        };
        // In place: the map keeps its keys (and their order) without
        // being built again.
        for v in args.values_mut() {
            *v = self
                .serializer
                .serialize_entity(context, std::mem::take(v))?;
        }
        let message = RpcMessage {
            method: method.to_owned(),
            args,
            namespace: asked.namespace.map(str::to_owned),
            version: asked.version.map(str::to_owned),
        };
        Ok((self.serializer.serialize_context(context.clone()), message))
    }

    /// Invoke `method` and wait for its result.
    ///
    /// # Errors
    /// [`MessagingError::Remote`] when the endpoint failed,
    /// [`MessagingError::MessagingTimeout`], [`MessagingError::RpcVersionCapError`],
    /// [`MessagingError::InvalidTarget`], delivery and connection failures.
    pub async fn call(&self, context: &Context, method: &str, args: Value) -> Result<Value> {
        self.call_asking(self.asked(), context, method, args).await
    }

    /// A call to the client's target asking for `asked`.
    async fn call_asking(
        &self,
        asked: Asked<'_>,
        context: &Context,
        method: &str,
        args: Value,
    ) -> Result<Value> {
        self.target.check_call()?;
        let (mut ctx, message) = self.build(asked, context, method, args)?;
        let Some(observer) = self.transport.observer() else {
            return self.send_call(context, method, ctx, message).await;
        };
        let op = observer.start_rpc("call", &self.recorded(asked, method), &mut ctx);
        let result = self.send_call(context, method, ctx, message).await;
        op.finish_with(&result);
        result
    }

    /// What telemetry records of a request.
    fn recorded<'a>(&'a self, asked: Asked<'a>, method: &'a str) -> telemetry::Request<'a> {
        telemetry::Request {
            target: &self.target,
            method,
            namespace: asked.namespace,
            version: asked.version,
        }
    }

    /// Sends a built call and waits for its reply.
    async fn send_call(
        &self,
        context: &Context,
        method: &str,
        ctx: Context,
        message: RpcMessage,
    ) -> Result<Value> {
        let timeout = self
            .timeout
            .unwrap_or_else(|| Duration::from_secs(self.transport.defaults().rpc_response_timeout));
        let started = Instant::now();
        let deadline = started + timeout;
        let timed_out = || MessagingError::MessagingTimeout {
            method: method.to_owned(),
            timeout_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let mode = SendMode::Call {
            timeout,
            call_monitor_timeout: self.call_monitor_timeout,
        };
        let send =
            self.transport
                .driver()
                .send(&self.target, &ctx, message, mode, self.send_options());
        let pending = tokio::time::timeout_at(deadline, send)
            .await
            .map_err(|_| timed_out())??;
        let mut pending = pending.ok_or_else(|| {
            MessagingError::delivery_failure(
                self.transport.driver().name(),
                "the driver returned no reply channel for a call",
            )
        })?;
        let mut monitor = self.call_monitor_timeout.map(|t| Instant::now() + t);
        loop {
            let wait_until = monitor.map_or(deadline, |m| m.min(deadline));
            match tokio::time::timeout_at(wait_until, pending.next()).await {
                Err(_) => return Err(timed_out()),
                Ok(None) => {
                    return Err(MessagingError::delivery_failure(
                        self.transport.driver().name(),
                        format!("the transport closed while waiting for the reply to {method:?}"),
                    ))
                }
                Ok(Some(ReplyEvent::KeepAlive)) => {
                    monitor = self.call_monitor_timeout.map(|t| Instant::now() + t);
                }
                Ok(Some(ReplyEvent::Failed(e))) => return Err(e),
                Ok(Some(ReplyEvent::Final(Ok(v)))) => {
                    return self.serializer.deserialize_entity(context, v)
                }
                Ok(Some(ReplyEvent::Final(Err(f)))) => return Err(MessagingError::Remote(f)),
            }
        }
    }

    /// Send `method` without waiting for a result (to every server when fanout).
    ///
    /// # Errors
    /// [`MessagingError::RpcVersionCapError`], [`MessagingError::InvalidTarget`],
    /// delivery and connection failures.
    pub async fn cast(&self, context: &Context, method: &str, args: Value) -> Result<()> {
        self.cast_asking(self.asked(), context, method, args).await
    }

    /// A cast to the client's target asking for `asked`.
    async fn cast_asking(
        &self,
        asked: Asked<'_>,
        context: &Context,
        method: &str,
        args: Value,
    ) -> Result<()> {
        self.target.check_cast()?;
        let (mut ctx, message) = self.build(asked, context, method, args)?;
        let op = self
            .transport
            .observer()
            .map(|o| o.start_rpc("cast", &self.recorded(asked, method), &mut ctx));
        let result = self
            .transport
            .driver()
            .send(
                &self.target,
                &ctx,
                message,
                SendMode::Cast,
                self.send_options(),
            )
            .await
            .map(drop);
        if let Some(op) = op {
            op.finish_with(&result);
        }
        result
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The endpoint namespace and version a request asks for; where it goes
/// is the client's target.
#[derive(Clone, Copy)]
struct Asked<'a> {
    namespace: Option<&'a str>,
    version: Option<&'a str>,
}

/// What a typed request asks for, its method and its arguments.
fn split(request: Request) -> (Asked<'static>, &'static str, Value) {
    let asked = Asked {
        namespace: request.namespace,
        version: Some(request.version),
    };
    (asked, request.method, request.args)
}

impl RpcClient {
    /// What the client's target asks for.
    fn asked(&self) -> Asked<'_> {
        Asked {
            namespace: self.target.namespace.as_deref(),
            version: self.target.version.as_deref(),
        }
    }

    /// [`RpcSend::call_request`] without the box `async_trait` puts the
    /// future in (what a generated client calls on an `RpcClient`).
    pub(crate) async fn call_typed(&self, context: &Context, request: Request) -> Result<Value> {
        let (asked, method, args) = split(request);
        self.call_asking(asked, context, method, args).await
    }

    /// [`RpcSend::cast_request`], unboxed.
    pub(crate) async fn cast_typed(&self, context: &Context, request: Request) -> Result<()> {
        let (asked, method, args) = split(request);
        self.cast_asking(asked, context, method, args).await
    }
}

#[async_trait]
impl RpcSend for RpcClient {
    async fn call(&self, context: &Context, method: &str, args: Value) -> Result<Value> {
        RpcClient::call(self, context, method, args).await
    }
    async fn cast(&self, context: &Context, method: &str, args: Value) -> Result<()> {
        RpcClient::cast(self, context, method, args).await
    }
    /// Sends with the client's settings (server, fanout, timeout, retry,
    /// version cap...), but `request`'s namespace and version.
    async fn call_request(&self, context: &Context, request: Request) -> Result<Value> {
        self.call_typed(context, request).await
    }
    async fn cast_request(&self, context: &Context, request: Request) -> Result<()> {
        self.cast_typed(context, request).await
    }
    fn can_send_version(&self, version: &str) -> bool {
        RpcClient::can_send_version(self, version)
    }
}
