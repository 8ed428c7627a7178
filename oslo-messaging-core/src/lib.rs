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

// What `#[rpc_interface]` generates names `::oslo_messaging_core`; this
// makes the name work inside this crate too (its conformance cases).
#[allow(unused_extern_crates)]
extern crate self as oslo_messaging_core;

pub mod address;
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
pub mod redact;
pub mod registry;
pub mod rpc;
pub mod serializer;
mod server_loop;
pub mod target;
pub mod telemetry;
pub mod transport;
pub mod transport_url;
pub mod version;
pub mod versioned_object;
pub mod wire;

pub use error::{DriverError, MessagingError, Result};
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

/// An RPC interface written once, as a trait: the server, a typed client
/// and (with mockall) a mock all come from it.
///
/// ```
/// use oslo_messaging_core::{rpc_interface, Context, EndpointError};
///
/// #[rpc_interface(namespace = "calculator", version = "1.3")]
/// pub trait Calculator {
///     /// Adds two numbers.
///     async fn add(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, EndpointError>;
///     /// Since 1.2. `precision` may be left out (Python's `precision=None`).
///     #[rpc(version = "1.2", expected = ["ZeroDivisionError"])]
///     async fn divide(&self, ctx: &Context, a: f64, b: f64, precision: Option<u32>)
///         -> Result<f64, EndpointError>;
///     /// Sent without waiting for a reply.
///     #[rpc(cast)]
///     async fn reset(&self, ctx: &Context) -> Result<(), EndpointError>;
///     /// Runs on a blocking pool; called `crunch-numbers` on the wire.
///     #[rpc(blocking, name = "crunch-numbers")]
///     fn crunch(&self, ctx: &Context, data: Vec<u8>) -> Result<u64, EndpointError>;
/// }
///
/// struct Service;
///
/// impl Calculator for Service {
///     async fn add(&self, _: &Context, a: i64, b: i64) -> Result<i64, EndpointError> {
///         Ok(a + b)
///     }
///     async fn divide(&self, _: &Context, a: f64, b: f64, _: Option<u32>) -> Result<f64, EndpointError> {
///         if b == 0.0 {
///             return Err(EndpointError::new("ZeroDivisionError", "float division by zero"));
///         }
///         Ok(a / b)
///     }
///     async fn reset(&self, _: &Context) -> Result<(), EndpointError> {
///         Ok(())
///     }
///     fn crunch(&self, _: &Context, data: Vec<u8>) -> Result<u64, EndpointError> {
///         Ok(data.iter().map(|b| u64::from(*b)).sum())
///     }
/// }
///
/// // The server: `RpcServer::builder(&transport, target).endpoint(CalculatorEndpoint::new(Service))`.
/// let endpoint: oslo_messaging_core::Endpoint = CalculatorEndpoint::new(Service).into();
/// assert!(endpoint.has_method("crunch-numbers"));
/// assert_eq!(endpoint.version().to_string(), "1.3");
///
/// // The client, over any `RpcSend` (here an `RpcClient`).
/// async fn use_it(client: oslo_messaging_core::RpcClient) -> oslo_messaging_core::Result<f64> {
///     let calculator = CalculatorClient::new(client.prepare().with_server("host-1"));
///     let sum: i64 = calculator.add(&Context::new(), 2, 40).await?;
///     calculator.divide(&Context::new(), sum as f64, 2.0, None).await
/// }
/// ```
///
/// # What it generates
///
/// For `trait Calculator` (`pub` items when the trait is `pub`):
///
/// * **the trait**, with `Send + Sync + 'static` added to its supertraits
///   and each `async fn m(..) -> R` declared as
///   `fn m(..) -> impl Future<Output = R> + Send`, so that any
///   implementation can be served on a multi-threaded runtime;
///   implementations still write `async fn`.
/// * **`CalculatorEndpoint<T>`**: `CalculatorEndpoint::new(service)` for
///   any `T: Calculator`, which `RpcServerBuilder::endpoint` takes (it is
///   `Into<Endpoint>`). It is an [`Endpoint`] built with
///   [`Endpoint::builder`]: one dispatcher for both forms. Its namespace
///   and version are the interface's; each method reads its keyword
///   arguments by parameter name ([`rpc::interface::Arguments`]): an
///   unknown one, a missing one (`Option` parameters may be left out) or
///   one of the wrong type is a `TypeError` worded as Python's
///   (`Calculator.add() missing 1 required positional argument: 'b'`).
///   An error whose class is in the method's `expected = [...]` is logged
///   at debug level (oslo.messaging's `@expected_exceptions`).
///   `oslo_rpc_server_ping` answers as for any server.
/// * **`CalculatorClient<C = RpcClient>`**: `CalculatorClient::new(sender)`
///   over any [`RpcSend`]; a method per trait method, taking the same
///   arguments and returning `Result<T, MessagingError>`. Each request asks
///   for the method's version (`#[rpc(version)]`, else `<major>.0`), so a
///   server of an older minor version still serves what it has; the
///   sender's version cap applies (`can_send_version` says what it
///   allows) and its prepared settings (server, fanout, timeout, retry).
///   `None` optional arguments are left out. Cast methods cast.
///
/// Roughly, `#[rpc_interface(namespace = "calc", version = "1.3")] pub trait
/// Calc { async fn add(&self, ctx: &Context, a: i64, b: Option<i64>) ->
/// Result<i64, EndpointError>; }` expands to:
///
/// ```text
/// pub trait Calc: Send + Sync + 'static {
///     fn add(&self, ctx: &Context, a: i64, b: Option<i64>)
///         -> impl Future<Output = Result<i64, EndpointError>> + Send;
/// }
///
/// pub struct CalcEndpoint<T>(T);
/// impl<T: Calc> CalcEndpoint<T> {
///     pub const NAMESPACE: Option<&'static str> = Some("calc");
///     pub const VERSION: &'static str = "1.3";
///     pub fn new(service: T) -> Self;
///     pub fn into_endpoint(self) -> Endpoint {
///         Endpoint::builder(self.0).version("1.3").namespace("calc")
///             .method("add", |service, ctx, args: Map<String, Value>| async move {
///                 let mut args = Arguments::bind("Calc.add", args, &["a", "b"], &["a"])?;
///                 let a: i64 = args.take("a")?;
///                 let b: Option<i64> = args.take_optional("b")?;
///                 service.add(&ctx, a, b).await.map_err(|e| expected_if(e.into(), &[]))
///             })
///             .build()
///     }
/// }
/// impl<T: Calc> From<CalcEndpoint<T>> for Endpoint { .. }
///
/// pub struct CalcClient<C = RpcClient> { sender: C }
/// impl<C: RpcSend + 'static> CalcClient<C> {
///     pub fn new(sender: C) -> Self;
///     pub fn can_send_version(&self, version: &str) -> bool;
///     pub async fn add(&self, ctx: &Context, a: i64, b: Option<i64>) -> Result<i64, MessagingError> {
///         let mut args = KeywordArguments::new("Calc.add", 2);
///         args.push("a", a)?;
///         args.push_optional("b", b)?;
///         let request = Request { namespace: Some("calc"), version: "1.0", method: "add", args: args.into_value() };
///         decode_result("Calc.add", interface::call(&self.sender, ctx, request).await?)
///     }
/// }
/// ```
///
/// Arguments: `namespace = "..."` (default: none), `version = "X.Y"`
/// (default `1.0`), `crate = "path"` (where `oslo_messaging_core` is, if
/// renamed). Per method, `#[rpc(...)]`: `name = "..."` (the wire name,
/// default the method's), `version = "X.Y"` (at most the interface's, same
/// major), `cast` (returns `Result<(), E>`), `blocking` (for a `fn` that
/// is not `async`: it runs on a blocking pool), `expected = ["Class", ...]`.
///
/// Each method takes `&self`, then the request context (`ctx: &Context`),
/// then its arguments as owned types that serde reads and writes, and
/// returns `Result<T, E>` with `E: Into<EndpointError>`. Anything else is a
/// compile error saying what to write instead.
///
/// **Mocks.** Put mockall's attribute under this one:
/// `#[rpc_interface(...)] #[cfg_attr(test, mockall::automock)] trait
/// Calculator { .. }` gives `MockCalculator`, whose async methods' expectations
/// return `Box::pin(async { .. })`. (Mockall's generated code names the
/// `mockall` crate, so the crate that declares the trait depends on it.)
#[cfg(feature = "macros")]
pub use oslo_messaging_macros::rpc_interface;
