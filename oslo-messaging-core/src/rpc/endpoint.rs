//! Endpoints: typed Rust functions exposed as RPC methods.
//!
//! Each method has a name, an argument type (deserialized from the request's
//! keyword arguments) and a result type (serialized into the reply). An
//! endpoint has its own namespace and version; the dispatcher picks one by
//! oslo.messaging's rules.
//!
//! ```
//! use oslo_messaging_core::rpc::{Endpoint, EndpointError};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct AddArgs { a: i64, b: i64 }
//!
//! struct Calculator;
//!
//! let endpoint = Endpoint::builder(Calculator)
//!     .namespace("calc")
//!     .version("1.1")
//!     .method("add", |_calc, _ctx, args: AddArgs| async move { Ok::<_, EndpointError>(args.a + args.b) })
//!     .blocking_method("div", |_calc, _ctx, args: AddArgs| {
//!         if args.b == 0 {
//!             return Err(EndpointError::new("ZeroDivisionError", "division by zero"));
//!         }
//!         Ok(args.a / args.b)
//!     })
//!     .build()
//!     .expect("valid endpoint");
//! assert!(endpoint.has_method("add"));
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Result;
use crate::failure::{classes, RemoteFailure};
use crate::message::Context;
use crate::target::Target;
use crate::version::Version;

/// An error an endpoint method returns; it reaches the caller as a
/// [`RemoteFailure`] with this class, module and message.
///
/// Any `std::error::Error` converts into one (class = the Rust type name,
/// module = its path), so `?` works in endpoint methods.
#[derive(Debug, Clone)]
pub struct EndpointError {
    failure: Box<RemoteFailure>,
    expected: bool,
}

impl EndpointError {
    /// An error of `class` in Python's `builtins` module (so a Python caller
    /// raises the matching built-in exception, e.g. `ValueError`).
    pub fn new(class: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            failure: Box::new(RemoteFailure::new(class, classes::BUILTINS, message)),
            expected: false,
        }
    }

    /// Set the module of the error class (e.g. `nova.exception`).
    pub fn with_module(mut self, module: impl Into<String>) -> Self {
        self.failure.module = module.into();
        self
    }

    /// Add a keyword argument of the exception.
    pub fn with_kwarg(mut self, key: impl Into<String>, value: Value) -> Self {
        self.failure.kwargs.insert(key.into(), value);
        self
    }

    /// Mark as expected (oslo.messaging's `expected_exceptions`): part of the
    /// API's contract, logged at debug level instead of error.
    pub fn expected(mut self) -> Self {
        self.expected = true;
        self
    }

    /// Whether the error is marked expected.
    pub fn is_expected(&self) -> bool {
        self.expected
    }

    /// The failure the caller will receive.
    pub fn failure(&self) -> &RemoteFailure {
        &self.failure
    }

    /// Into the failure the caller will receive.
    pub fn into_failure(self) -> Box<RemoteFailure> {
        self.failure
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for EndpointError {
    fn from(e: E) -> Self {
        let path = std::any::type_name::<E>();
        let (module, class) = path.rsplit_once("::").unwrap_or(("rust", path));
        Self {
            failure: Box::new(RemoteFailure::new(
                class,
                module.replace("::", "."),
                e.to_string(),
            )),
            expected: false,
        }
    }
}

/// Arguments of a method that takes none: accepts `{}` and refuses any key.
#[derive(Debug, Default, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

pub(crate) type MethodResult = std::result::Result<Value, EndpointError>;
type Handler =
    Arc<dyn Fn(Context, Map<String, Value>) -> BoxFuture<'static, MethodResult> + Send + Sync>;

/// A set of RPC methods with one namespace and version.
#[derive(Clone)]
pub struct Endpoint {
    target: Target,
    version: Version,
    methods: HashMap<String, Handler>,
    expected_classes: Vec<String>,
    name: &'static str,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.methods.keys().collect();
        names.sort();
        f.debug_struct("Endpoint")
            .field("namespace", &self.target.namespace)
            .field("version", &self.version.to_string())
            .field("methods", &names)
            .finish()
    }
}

impl Endpoint {
    /// Start an endpoint whose methods share `state`.
    pub fn builder<S: Send + Sync + 'static>(state: S) -> EndpointBuilder<S> {
        EndpointBuilder {
            name: None,
            state: Arc::new(state),
            namespace: None,
            legacy_namespaces: Vec::new(),
            version: None,
            methods: HashMap::new(),
            expected_classes: Vec::new(),
        }
    }

    /// The endpoint's name: [`EndpointBuilder::name`], else the last
    /// segment of its state's type name (`CalculatorService` for
    /// `Endpoint::builder(CalculatorService)` and for
    /// `Endpoint::builder(Arc::new(CalculatorService))`; `Endpoint` for a
    /// state of `()`).
    /// It is the `endpoint` label of the `oslo_messaging_rpc_server_*`
    /// metrics, as Python's endpoint class name would be.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The endpoint's target (namespace, version, legacy namespaces).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The endpoint's version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether it has a method of this name.
    pub fn has_method(&self, name: &str) -> bool {
        self.methods.contains_key(name)
    }

    /// Whether failures of this class are expected ones.
    pub(crate) fn expects(&self, class: &str) -> bool {
        self.expected_classes.iter().any(|c| c == class)
    }

    /// Run `method`, turning bad arguments and panics into failures.
    /// `None` when there is no such method.
    pub(crate) fn invoke(
        &self,
        method: &str,
        context: Context,
        args: Map<String, Value>,
    ) -> Option<BoxFuture<'static, MethodResult>> {
        let handler = self.methods.get(method)?.clone();
        let method = method.to_owned();
        Some(Box::pin(async move {
            match AssertUnwindSafe(handler(context, args))
                .catch_unwind()
                .await
            {
                Ok(r) => r,
                Err(panic) => Err(panic_error(&method, panic.as_ref())),
            }
        }))
    }
}

/// `a::b::Service<c::D>` as `Service`; what `Arc`, `Box`, `Rc`, `Mutex`
/// and `RwLock` hold, by its own name (`Arc<Mutex<Service>>` is
/// `Service`); `()` as `Endpoint`.
fn short_type_name<S>() -> &'static str {
    short_name(std::any::type_name::<S>())
}

fn short_name(mut full: &'static str) -> &'static str {
    const WRAPPERS: [&str; 5] = ["Arc", "Box", "Rc", "Mutex", "RwLock"];
    loop {
        let (base, inner) = match full.split_once('<') {
            Some((base, rest)) => (base, rest.strip_suffix('>')),
            None => (full, None),
        };
        let name = base.rsplit("::").next().unwrap_or(base);
        match inner {
            Some(inner) if WRAPPERS.contains(&name) => full = inner,
            _ if name == "()" => return "Endpoint",
            _ => return name,
        }
    }
}

/// `value` moved into an `A` when `A` is its own type, else `value` back.
fn moved_as<T: 'static, A: 'static>(value: T) -> std::result::Result<A, T> {
    let mut slot = Some(value);
    let any: &mut dyn std::any::Any = &mut slot;
    if let Some(a) = any.downcast_mut::<Option<A>>().and_then(Option::take) {
        return Ok(a);
    }
    match slot {
        Some(value) => Err(value),
        None => unreachable!("only a successful downcast takes the value"),
    }
}

pub(crate) fn panic_error(method: &str, panic: &(dyn std::any::Any + Send)) -> EndpointError {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    EndpointError::new(
        "RuntimeError",
        format!("method {method:?} panicked: {text}"),
    )
}

/// Builds an [`Endpoint`]; see the module docs.
pub struct EndpointBuilder<S> {
    name: Option<&'static str>,
    state: Arc<S>,
    namespace: Option<String>,
    legacy_namespaces: Vec<String>,
    version: Option<String>,
    methods: HashMap<String, Handler>,
    expected_classes: Vec<String>,
}

impl<S: Send + Sync + 'static> EndpointBuilder<S> {
    /// Names the endpoint (its `endpoint` metric label) instead of its
    /// state's type name.
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// The endpoint's namespace (default: none).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Namespaces also accepted (oslo.messaging's `legacy_namespaces`).
    pub fn legacy_namespaces<I: IntoIterator<Item = T>, T: Into<String>>(
        mut self,
        namespaces: I,
    ) -> Self {
        self.legacy_namespaces = namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// The endpoint's version, `X.Y` (default `1.0`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Error classes that are part of the API's contract: logged at debug level.
    pub fn expected_errors<I: IntoIterator<Item = T>, T: Into<String>>(
        mut self,
        classes: I,
    ) -> Self {
        self.expected_classes
            .extend(classes.into_iter().map(Into::into));
        self
    }

    /// An async method. `A` is deserialized from the keyword arguments (a
    /// mismatch reaches the caller as a `TypeError` naming the problem); `R`
    /// is serialized into the reply.
    pub fn method<A, R, F, Fut>(self, name: impl Into<String>, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(Arc<S>, Context, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, EndpointError>> + Send + 'static,
    {
        self.register(name.into(), f)
    }

    /// A synchronous method that may block: it runs on a pool thread (inline
    /// on a `threading` executor's worker, else on tokio's blocking pool), so
    /// it never stalls the async runtime.
    pub fn blocking_method<A, R, F>(self, name: impl Into<String>, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(Arc<S>, Context, A) -> std::result::Result<R, EndpointError> + Send + Sync + 'static,
    {
        let name = name.into();
        let method_name = name.clone();
        let f = Arc::new(f);
        self.register(name, move |state, ctx, args: A| {
            let f = f.clone();
            let method_name = method_name.clone();
            async move {
                oslo_messaging_executors::run_blocking(move || f(state, ctx, args))
                    .await
                    .map_err(|p| {
                        EndpointError::new(
                            "RuntimeError",
                            format!("method {method_name:?} panicked: {}", p.0),
                        )
                    })?
            }
        })
    }

    /// The one place a method is wrapped: arguments parsed into `A`, `run`
    /// awaited, its result serialized for the reply.
    fn register<A, R, F, Fut>(mut self, name: String, run: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(Arc<S>, Context, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, EndpointError>> + Send + 'static,
    {
        let state = self.state.clone();
        let run = Arc::new(run);
        let method_name = name.clone();
        let handler: Handler = Arc::new(move |ctx, args| {
            let parsed = parse_args::<A>(&method_name, args);
            let state = state.clone();
            let run = run.clone();
            let method_name = method_name.clone();
            Box::pin(async move {
                let result = run(state, ctx, parsed?).await?;
                to_reply_value(&method_name, result)
            })
        });
        self.methods.insert(name, handler);
        self
    }

    /// Finish the endpoint.
    ///
    /// # Errors
    /// [`MessagingError::InvalidTarget`](crate::MessagingError::InvalidTarget) when the version is not `X.Y`.
    pub fn build(self) -> Result<Endpoint> {
        let version = match &self.version {
            Some(v) => v.parse()?,
            None => Version::DEFAULT,
        };
        let target = Target {
            namespace: self.namespace,
            version: Some(version.to_string()),
            legacy_namespaces: self.legacy_namespaces,
            ..Target::default()
        };
        Ok(Endpoint {
            target,
            version,
            methods: self.methods,
            expected_classes: self.expected_classes,
            name: self.name.unwrap_or_else(short_type_name::<S>),
        })
    }
}

/// The keyword arguments as `A`. A method that takes them as a map (or a
/// `Value`) gets them moved, not deserialized into a copy (which, with
/// exact numbers, would print and parse every number again).
fn parse_args<A: DeserializeOwned + 'static>(
    method: &str,
    args: Map<String, Value>,
) -> std::result::Result<A, EndpointError> {
    let args = match moved_as::<_, A>(args) {
        Ok(map) => return Ok(map),
        Err(args) => Value::Object(args),
    };
    let args = match moved_as::<_, A>(args) {
        Ok(value) => return Ok(value),
        Err(args) => args,
    };
    serde_json::from_value(args).map_err(|e| {
        EndpointError::new(
            classes::TYPE_ERROR,
            format!("{method}() got invalid arguments: {e}"),
        )
    })
}

/// `value` as JSON. A `Value` or a `String` is moved, not serialized into
/// a copy (a payload is often one of them).
pub(crate) fn into_value<T: Serialize + 'static>(value: T) -> serde_json::Result<Value> {
    let value = match moved_as::<_, Value>(value) {
        Ok(value) => return Ok(value),
        Err(value) => value,
    };
    match moved_as::<_, String>(value) {
        Ok(text) => Ok(Value::String(text)),
        Err(value) => serde_json::to_value(value),
    }
}

/// `value` as a `T`. A `Value` is moved, not deserialized into a copy.
pub(crate) fn from_value<T: DeserializeOwned + 'static>(value: Value) -> serde_json::Result<T> {
    match moved_as::<_, T>(value) {
        Ok(same) => Ok(same),
        Err(value) => serde_json::from_value(value),
    }
}

/// `result` as the reply's JSON (see [`into_value`]).
fn to_reply_value<R: Serialize + 'static>(method: &str, result: R) -> MethodResult {
    into_value(result).map_err(|e| {
        EndpointError::new(
            classes::TYPE_ERROR,
            format!("result of {method}() cannot be serialized: {e}"),
        )
    })
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn endpoints_are_named_by_what_their_state_is() {
        assert_eq!(short_name("my::CalculatorService"), "CalculatorService");
        assert_eq!(short_name("alloc::sync::Arc<my::Svc>"), "Svc");
        assert_eq!(
            short_name("alloc::sync::Arc<std::sync::Mutex<my::Svc<u8>>>"),
            "Svc"
        );
        assert_eq!(short_name("()"), "Endpoint");
        assert_eq!(short_type_name::<std::sync::Arc<String>>(), "String");
    }
}
