//! The sending side of RPC as a trait, so services can be unit-tested with a
//! mock (`mock` feature: `MockRpcSend`).

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{MessagingError, Result};
use crate::message::Context;
use crate::rpc::interface::Request;

/// What a service needs to make RPC calls and casts. [`RpcClient`](crate::RpcClient)
/// implements it; with the `mock` feature, `MockRpcSend` does too.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RpcSend: Send + Sync {
    /// Invoke `method` with keyword `args` and wait for its JSON result.
    ///
    /// # Errors
    /// As [`RpcClient::call`](crate::RpcClient::call).
    async fn call(&self, context: &Context, method: &str, args: Value) -> Result<Value>;
    /// Send `method` without waiting.
    ///
    /// # Errors
    /// As [`RpcClient::cast`](crate::RpcClient::cast).
    async fn cast(&self, context: &Context, method: &str, args: Value) -> Result<()>;
    /// Invoke a typed client's request (its namespace and version, not the
    /// sender's) and wait for its JSON result.
    ///
    /// # Errors
    /// As [`RpcClient::call`](crate::RpcClient::call); a version above the
    /// sender's cap is [`MessagingError::RpcVersionCapError`].
    async fn call_request(&self, context: &Context, request: Request) -> Result<Value>;
    /// Send a typed client's request without waiting.
    ///
    /// # Errors
    /// As [`RpcClient::cast`](crate::RpcClient::cast).
    async fn cast_request(&self, context: &Context, request: Request) -> Result<()>;
    /// Whether `version` may be sent under the sender's version cap
    /// (oslo.messaging's `can_send_version`).
    fn can_send_version(&self, version: &str) -> bool;
}

/// Typed helpers over any [`RpcSend`].
#[async_trait]
pub trait RpcSendExt: RpcSend {
    /// Call and deserialize the result into `R`.
    ///
    /// # Errors
    /// As [`RpcSend::call`], and [`MessagingError::Serialization`] when the
    /// result does not fit `R`.
    async fn call_as<R: DeserializeOwned>(
        &self,
        context: &Context,
        method: &str,
        args: Value,
    ) -> Result<R> {
        let v = self.call(context, method, args).await?;
        serde_json::from_value(v).map_err(|e| {
            MessagingError::Serialization(format!(
                "result of {method:?} does not fit the expected type: {e}"
            ))
        })
    }
}

impl<T: RpcSend + ?Sized> RpcSendExt for T {}
