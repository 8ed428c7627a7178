//! # oslo-messaging-core
//!
//! The API of oslo-messaging for Rust: transports chosen by URL, RPC clients
//! and servers, notifiers and notification listeners, with the same wire
//! semantics as OpenStack's Python oslo.messaging.
//!
//! Drivers live in their own crates (`oslo-messaging-driver-fake`,
//! `oslo-messaging-driver-rabbit`) and register themselves for URL schemes;
//! see [`registry`] for what a binary must do to keep them linked.
#![deny(missing_docs)]

pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod driver;
pub mod error;
pub mod failure;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod message;
pub mod notify;
pub mod registry;
pub mod rpc;
pub mod serializer;
mod server_loop;
pub mod target;
pub mod transport;
pub mod transport_url;
pub mod version;

pub use error::{MessagingError, Result};
pub use failure::RemoteFailure;
pub use message::{Context, Priority, RpcMessage};
pub use notify::{
    NotificationEndpoint, NotificationFilter, NotificationListener, NotificationResult, Notifier,
    NotifySend, NotifySendExt,
};
pub use rpc::{Endpoint, EndpointError, RpcClient, RpcSend, RpcSendExt, RpcServer};
pub use target::Target;
pub use transport::Transport;
pub use transport_url::TransportUrl;

#[doc(hidden)]
pub use inventory as __inventory;
