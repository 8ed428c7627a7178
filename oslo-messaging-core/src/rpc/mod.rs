//! RPC: clients, servers, endpoints and the dispatcher.

pub mod api;
pub mod client;
pub mod dispatcher;
pub mod endpoint;
pub mod interface;
pub mod server;

pub use api::{RpcSend, RpcSendExt};
pub use client::RpcClient;
pub use dispatcher::{AccessPolicy, Dispatcher, PING_METHOD};
pub use endpoint::{Endpoint, EndpointBuilder, EndpointError, NoArgs};
pub use interface::Request;
pub use server::{RpcServer, RpcServerBuilder, DEFAULT_EXECUTOR};

#[cfg(feature = "mock")]
pub use api::MockRpcSend;
