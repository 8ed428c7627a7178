//! The RPC dispatcher: picks the endpoint and method for a request by
//! oslo.messaging's rules and runs it.
//!
//! Endpoints are tried in order; one matches when it accepts the request's
//! namespace and its version can serve the requested one (no version means
//! `1.0`). The first match that has the method runs it. Some endpoint matched
//! but none had the method: `NoSuchMethod`; none matched: `UnsupportedVersion`.
//! The access policy is checked first: a refused method is `NoSuchMethod`.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::failure::{classes, RemoteFailure};
use crate::message::{Context, ReplyResult, RpcMessage};
use crate::rpc::endpoint::{Endpoint, EndpointError};
use crate::serializer::Serializer;
use crate::target::Target;
use crate::telemetry::{self, Observer};
use crate::version::Version;

/// The method name of the built-in ping endpoint.
pub const PING_METHOD: &str = "oslo_rpc_server_ping";

/// Which method names may be called remotely.
#[derive(Clone, Default)]
pub enum AccessPolicy {
    /// oslo.messaging's default: refuse names that start with `_`.
    #[default]
    Default,
    /// Every registered method.
    AllowAll,
    /// A custom rule: `true` allows the method.
    Custom(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl std::fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccessPolicy::Default => f.write_str("Default"),
            AccessPolicy::AllowAll => f.write_str("AllowAll"),
            AccessPolicy::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl AccessPolicy {
    /// Whether `method` may be called.
    pub fn allows(&self, method: &str) -> bool {
        match self {
            AccessPolicy::Default => !method.starts_with('_'),
            AccessPolicy::AllowAll => true,
            AccessPolicy::Custom(rule) => rule(method),
        }
    }
}

/// Dispatches requests to endpoints.
#[derive(Clone)]
pub struct Dispatcher {
    endpoints: Arc<[Endpoint]>,
    policy: AccessPolicy,
    serializer: Arc<dyn Serializer>,
    /// What records invocations, and the server's target they are of.
    observed: Option<(Arc<Observer>, Target)>,
}

impl Dispatcher {
    /// A dispatcher over `endpoints` (in order); with `ping`, the
    /// `oslo_rpc_server_ping` endpoint is added last.
    pub fn new(
        mut endpoints: Vec<Endpoint>,
        policy: AccessPolicy,
        serializer: Arc<dyn Serializer>,
        ping: bool,
    ) -> Self {
        if ping {
            endpoints.push(ping_endpoint());
        }
        Self {
            endpoints: endpoints.into(),
            policy,
            serializer,
            observed: None,
        }
    }

    /// Records invocations of a server of `target` with `observer`.
    pub(crate) fn observed(mut self, observer: Option<Arc<Observer>>, target: &Target) -> Self {
        self.observed = observer.map(|o| (o, target.clone()));
        self
    }

    /// Run the request and return what goes back to the caller.
    ///
    /// Every request that fails is logged as Python's `RPCServer` logs it
    /// (`oslo_messaging/rpc/server.py`, `_process_incoming`): at error
    /// level, "Exception during message handling", with the method,
    /// namespace, version and the failure's class, module and message;
    /// except an expected exception (`expected_exceptions`) and a missing
    /// method whose name ends in `_ignore_errors`, which are logged at
    /// debug level.
    pub async fn dispatch(&self, context: Context, message: RpcMessage) -> ReplyResult {
        let RpcMessage {
            method,
            args,
            namespace,
            version,
        } = message;
        let (namespace, version) = (namespace.as_deref(), version.as_deref());
        tracing::debug!(%method, namespace, version, "received RPC request");
        match self.run(context, &method, namespace, version, args).await {
            Ok(result) => Ok(result),
            Err(Failed { failure, expected }) => {
                log_failure(&failure, expected, &method, namespace, version);
                Err(failure)
            }
        }
    }

    async fn run(
        &self,
        context: Context,
        method: &str,
        namespace: Option<&str>,
        version: Option<&str>,
        args: Map<String, Value>,
    ) -> Result<Value, Failed> {
        let context = self.serializer.deserialize_context(context);
        let requested = match version {
            None => Version::DEFAULT,
            Some(v) => match v.parse::<Version>() {
                Ok(v) => v,
                Err(e) => return Err(unsupported_version(method, v, &e.to_string()).into()),
            },
        };
        if !self.policy.allows(method) {
            return Err(no_such_method(method).into());
        }
        let mut namespace_matched = false;
        let found = self.endpoints.iter().find(|endpoint| {
            let matches = endpoint.target().accepts_namespace(namespace)
                && endpoint.version().can_serve(requested);
            namespace_matched |= matches;
            matches && endpoint.has_method(method)
        });
        if let Some(endpoint) = found {
            let args = self.deserialize_args(&context, args)?;
            let Some(run) = endpoint.invoke(method, context.clone(), args) else {
                return Err(no_such_method(method).into());
            };
            let invocation = self.observed.as_ref().and_then(|(observer, target)| {
                observer.start_invocation(
                    endpoint.name(),
                    &telemetry::Request {
                        target,
                        method,
                        namespace,
                        version,
                    },
                )
            });
            let outcome = run.await;
            if let Some(invocation) = invocation {
                invocation.finish(outcome.as_ref().err().map(|e| {
                    let f = e.failure();
                    telemetry::Failed::of_class(&f.class, f.message.clone())
                }));
            }
            return match outcome {
                Ok(v) => self.serializer.serialize_entity(&context, v).map_err(|e| {
                    Box::new(RemoteFailure::new(
                        classes::TYPE_ERROR,
                        classes::BUILTINS,
                        e.to_string(),
                    ))
                    .into()
                }),
                Err(e) => {
                    let expected = e.is_expected() || endpoint.expects(&e.failure().class);
                    Err(Failed {
                        failure: e.into_failure(),
                        expected,
                    })
                }
            };
        }
        if namespace_matched {
            Err(no_such_method(method).into())
        } else {
            Err(unsupported_version(method, version.unwrap_or("1.0"), "").into())
        }
    }

    /// The arguments through the serializer, in place (the map keeps its
    /// keys and their order without being built again).
    fn deserialize_args(
        &self,
        context: &Context,
        mut args: Map<String, Value>,
    ) -> Result<Map<String, Value>, Failed> {
        for v in args.values_mut() {
            *v = self
                .serializer
                .deserialize_entity(context, std::mem::take(v))
                .map_err(|e| {
                    Box::new(RemoteFailure::new(
                        classes::TYPE_ERROR,
                        classes::BUILTINS,
                        e.to_string(),
                    ))
                })?;
        }
        Ok(args)
    }
}

/// A failed request: what goes back to the caller, and whether the
/// endpoint declared it expected.
struct Failed {
    failure: Box<RemoteFailure>,
    expected: bool,
}

impl From<Box<RemoteFailure>> for Failed {
    fn from(failure: Box<RemoteFailure>) -> Self {
        Failed {
            failure,
            expected: false,
        }
    }
}

/// The one rule for logging a failed request; see [`Dispatcher::dispatch`].
fn log_failure(
    f: &RemoteFailure,
    expected: bool,
    method: &str,
    namespace: Option<&str>,
    version: Option<&str>,
) {
    let (class, module, message) = (&f.class, &f.module, &f.message);
    if expected {
        tracing::debug!(method, namespace, version, %class, %module, "Expected exception during message handling: {message}");
    } else if f.class == classes::NO_SUCH_METHOD && method.ends_with("_ignore_errors") {
        tracing::debug!(method, namespace, version, "Method {method} not found");
    } else {
        tracing::error!(method, namespace, version, %class, %module, "Exception during message handling: {message}");
    }
}

fn no_such_method(method: &str) -> Box<RemoteFailure> {
    let mut f = RemoteFailure::new(
        classes::NO_SUCH_METHOD,
        classes::DISPATCHER_MODULE,
        format!("Endpoint does not support RPC method {method}"),
    );
    f.args = vec![Value::String(method.to_owned())];
    Box::new(f)
}

fn unsupported_version(method: &str, version: &str, detail: &str) -> Box<RemoteFailure> {
    let mut f = RemoteFailure::new(
        classes::UNSUPPORTED_VERSION,
        classes::DISPATCHER_MODULE,
        format!(
            "Endpoint does not support RPC version {version}. Attempted method: {method}{}",
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        ),
    );
    f.args = vec![Value::String(version.to_owned())];
    f.kwargs
        .insert("method".into(), Value::String(method.to_owned()));
    Box::new(f)
}

/// Python's `PingEndpoint` (`oslo_messaging/rpc/dispatcher.py`).
struct PingEndpoint;

fn ping_endpoint() -> Endpoint {
    Endpoint::builder(PingEndpoint)
        .method(PING_METHOD, |_, _, _args: Map<String, Value>| async {
            Ok::<_, EndpointError>("pong")
        })
        .build()
        .unwrap_or_else(|_| unreachable!("the ping endpoint has the default version"))
}

#[cfg(test)]
#[path = "dispatcher_tests.rs"]
mod tests;
