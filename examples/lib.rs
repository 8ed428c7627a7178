//! Example application code: a small "instance service" that depends only
//! on the [`RpcSend`] trait, so it runs against a real [`RpcClient`] in
//! production and against `MockRpcSend` in its unit tests
//! (`tests/mocked_service.rs`).
//!
//! [`RpcClient`]: oslo_messaging_core::RpcClient
#![deny(missing_docs)]

use oslo_messaging_core::{Context, Result, RpcSend, RpcSendExt};
use serde_json::json;

/// Boots instances by asking the compute service over RPC.
pub struct InstanceService<R: RpcSend> {
    compute: R,
}

impl<R: RpcSend> InstanceService<R> {
    /// A service that reaches compute through `compute`.
    pub fn new(compute: R) -> Self {
        Self { compute }
    }

    /// Ask compute for a host, then tell it (without waiting) to boot there.
    /// Returns the chosen host.
    ///
    /// # Errors
    /// Whatever the RPC layer returns.
    pub async fn boot(&self, ctx: &Context, name: &str) -> Result<String> {
        let host: String = self
            .compute
            .call_as(ctx, "select_host", json!({ "instance": name }))
            .await?;
        self.compute
            .cast(ctx, "boot", json!({ "instance": name, "host": host }))
            .await?;
        Ok(host)
    }
}
