//! Traces and metrics of the messaging: off unless the configuration or
//! the application turns them on.
//!
//! - **Traces** (OpenTelemetry): a `PRODUCER` span per call, cast and
//!   notification sent, a `CONSUMER` span per request a server processes,
//!   the child of the caller's span. The trace context travels in the
//!   request context as oslo.messaging 18.3 puts it there
//!   (`_context_traceparent`, `_context_tracestate` on the wire; see
//!   [`trace`]), and the RabbitMQ driver also copies it to the AMQP headers
//!   `traceparent` and `tracestate`. Span names and attributes follow the
//!   OpenTelemetry messaging semantic conventions (`call compute`,
//!   `process compute`; `messaging.system`, `messaging.destination.name`,
//!   `messaging.operation.type`, `messaging.operation.name`,
//!   `messaging.message.id`, `messaging.rabbitmq.destination.routing_key`,
//!   `error.type`), plus Python's `rpc.method`, `rpc.service` (the
//!   namespace) and `openstack.request_id`.
//! - **Metrics** (the `metrics` facade): see [`metrics`].
//!
//! Turned on from configuration (`[oslo_messaging_tracing]
//! tracing_enabled`, `[oslo_messaging_metrics] metrics_enabled`, read by
//! [`Transport::new`](crate::Transport::new)) or from code with
//! [`Transport::with_telemetry`](crate::Transport::with_telemetry). With
//! both off, sending and processing pay one branch.

mod instruments;
pub mod metrics;
mod observer;
pub mod options;
pub mod trace;

use std::sync::Arc;

use instruments::Cache;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::trace::TracerProvider;
use opentelemetry::InstrumentationScope;

use crate::config::Config;
use crate::error::{MessagingError, Result};
pub(crate) use observer::{Observer, Operation, Request};
pub use options::{MetricsGroup, TracingGroup};

/// The instrumentation scope of the spans: `oslo.messaging`, as Python's
/// `otel_trace.get_tracer("oslo.messaging")`.
pub const SCOPE: &str = "oslo.messaging";

/// What a transport records: a tracer (spans on) and whether metrics are
/// on. Cheap to clone. The default records nothing.
///
/// ```
/// use oslo_messaging_core::telemetry::Telemetry;
/// let provider = opentelemetry::trace::noop::NoopTracerProvider::new();
/// let telemetry = Telemetry::default()
///     .with_tracer_provider(&provider)
///     .with_metrics(true)
///     .with_process_name("nova-compute");
/// assert!(telemetry.is_tracing() && telemetry.is_metrics());
/// ```
#[derive(Clone, Default)]
pub struct Telemetry {
    tracer: Option<Arc<BoxedTracer>>,
    metrics: bool,
    process_name: String,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("tracing", &self.tracer.is_some())
            .field("metrics", &self.metrics)
            .field("process_name", &self.process_name)
            .finish()
    }
}

impl Telemetry {
    /// What the configuration asks for: `[oslo_messaging_tracing]
    /// tracing_enabled` traces with the tracer provider the application
    /// installed globally (`opentelemetry::global::set_tracer_provider`)
    /// before the transport was built (see [`with_global_tracer`]). Python
    /// builds an OTLP exporter of its own from `otel_exporter_otlp_endpoint`
    /// when none is installed; with this library the application installs
    /// it, as the `oslo-messaging` CLI does for every command when the
    /// option is on. `[oslo_messaging_metrics] metrics_enabled` records
    /// metrics, labelled `process` = `metrics_process_name`.
    ///
    /// [`with_global_tracer`]: Self::with_global_tracer
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`] for an option of the wrong type or
    /// an `otlp_protocol` other than `http/protobuf` or `grpc`.
    pub fn from_config(config: &Config) -> Result<Self> {
        let tracing: TracingGroup = config.group()?;
        if !matches!(tracing.otlp_protocol.as_str(), "http/protobuf" | "grpc") {
            return Err(MessagingError::invalid_option(
                <TracingGroup as crate::config::OptionGroup>::NAME,
                "otlp_protocol",
                format!(
                    "{:?} is not one of http/protobuf, grpc",
                    tracing.otlp_protocol
                ),
            ));
        }
        let metrics: MetricsGroup = config.group()?;
        let telemetry = Self::default()
            .with_metrics(metrics.metrics_enabled)
            .with_process_name(metrics.metrics_process_name);
        Ok(if tracing.tracing_enabled {
            telemetry.with_global_tracer()
        } else {
            telemetry
        })
    }

    /// Trace with a tracer from `provider` (the application's own), scope
    /// [`SCOPE`].
    pub fn with_tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        let tracer = provider.tracer_with_scope(scope());
        self.tracer = Some(Arc::new(BoxedTracer::new(Box::new(tracer))));
        self
    }

    /// Trace with the tracer provider installed globally
    /// (`opentelemetry::global::set_tracer_provider`) now: the tracer is
    /// taken from it at once, so install the provider first (a provider
    /// installed later is not seen; without one, spans are no-ops).
    pub fn with_global_tracer(mut self) -> Self {
        self.tracer = Some(Arc::new(global::tracer_with_scope(scope())));
        self
    }

    /// Do not trace.
    pub fn without_tracing(mut self) -> Self {
        self.tracer = None;
        self
    }

    /// Record the per-call and per-message metrics (see [`metrics`]).
    pub fn with_metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// The `process` label of the `oslo_messaging_rpc_*` metrics
    /// (Python's `metrics_process_name`; empty by default).
    pub fn with_process_name(mut self, name: impl Into<String>) -> Self {
        self.process_name = name.into();
        self
    }

    /// Whether spans are recorded.
    pub fn is_tracing(&self) -> bool {
        self.tracer.is_some()
    }

    /// Whether per-call and per-message metrics are recorded.
    pub fn is_metrics(&self) -> bool {
        self.metrics
    }

    /// What a transport of driver `driver` records with; `None` when
    /// nothing is on.
    pub(crate) fn observer(&self, driver: &str) -> Option<Arc<Observer>> {
        if self.tracer.is_none() && !self.metrics {
            return None;
        }
        Some(Arc::new(Observer {
            tracer: self.tracer.clone(),
            metrics: self.metrics,
            process: self.process_name.clone(),
            system: messaging_system(driver),
            instruments: Cache::default(),
        }))
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// `messaging.system` of a driver: the semantic conventions' name of the
/// broker (`rabbitmq`, `kafka`), else the driver's own name.
pub fn messaging_system(driver: &str) -> &'static str {
    match driver {
        "rabbit" => "rabbitmq",
        "kafka" => "kafka",
        "fake" => "fake",
        _ => "other",
    }
}

/// The type of a failure, for `error.type` and the `exception` label: the
/// remote exception's class for an endpoint's error (`ValueError`), else
/// the oslo.messaging exception it stands for (`MessagingTimeout`).
pub(crate) fn error_type(e: &MessagingError) -> String {
    let name = match e {
        MessagingError::Remote(f) => return f.class.clone(),
        MessagingError::MessagingTimeout { .. } => "MessagingTimeout",
        MessagingError::RpcVersionCapError { .. } => "RPCVersionCapError",
        MessagingError::InvalidTarget(_) => "InvalidTarget",
        MessagingError::MessageDeliveryFailure(_) => "MessageDeliveryFailure",
        MessagingError::MessageUndeliverable { .. } => "MessageUndeliverable",
        MessagingError::Connection(_) => "ClientSendError",
        MessagingError::Serialization(_) => "SerializationError",
        MessagingError::Unsupported { .. } => "Unsupported",
        MessagingError::BrokerRefused { .. } => "BrokerRefused",
        MessagingError::MalformedMessage(_) => "MalformedMessage",
        _ => "MessagingException",
    };
    name.to_owned()
}

/// The `exception` label of `oslo_messaging_rpc_client_exception_total`:
/// the class name of what Python's client raises, that is of the remote
/// exception rebuilt as `<class>_Remote` (`oslo_messaging/_drivers/common.py`,
/// `deserialize_remote_exception`), else as [`error_type`].
pub(crate) fn oslo_exception(e: &MessagingError) -> String {
    match e {
        MessagingError::Remote(f) => format!("{}_Remote", f.class),
        other => error_type(other),
    }
}

/// A failed operation, as telemetry records it.
pub(crate) struct Failed {
    /// `error.type`: `ValueError`, `MessagingTimeout`.
    pub error_type: String,
    /// The oslo.metrics `exception` label.
    pub exception: String,
    /// The span status's description.
    pub message: String,
}

impl Failed {
    /// A failure whose `error.type` and `exception` label are `class`.
    pub(crate) fn of_class(class: &str, message: impl Into<String>) -> Self {
        Self {
            error_type: class.to_owned(),
            exception: class.to_owned(),
            message: message.into(),
        }
    }

    /// What a client's error records.
    pub(crate) fn of_error(e: &MessagingError) -> Self {
        Self {
            error_type: error_type(e),
            exception: oslo_exception(e),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(options: &[(&str, &str, &str)]) -> Config {
        options
            .iter()
            .fold(Config::builder(), |b, (g, o, v)| b.set(*g, *o, *v))
            .build()
            .expect("config")
    }

    #[test]
    fn off_by_default_and_on_from_python_option_names() {
        let off = Telemetry::from_config(&Config::defaults()).expect("defaults");
        assert!(!off.is_tracing() && !off.is_metrics());
        assert!(
            off.observer("rabbit").is_none(),
            "nothing on: nothing to record with"
        );
        let on = Telemetry::from_config(&config(&[
            ("oslo_messaging_tracing", "tracing_enabled", "true"),
            ("oslo_messaging_metrics", "metrics_enabled", "True"),
            (
                "oslo_messaging_metrics",
                "metrics_process_name",
                "nova-compute",
            ),
        ]))
        .expect("valid");
        assert!(on.is_tracing() && on.is_metrics());
        assert_eq!(on.process_name, "nova-compute");
        assert_eq!(on.observer("rabbit").expect("on").system, "rabbitmq");
    }

    #[test]
    fn a_bad_option_is_named() {
        let e = Telemetry::from_config(&config(&[(
            "oslo_messaging_tracing",
            "otlp_protocol",
            "carrier-pigeon",
        )]))
        .expect_err("unknown protocol");
        let text = e.to_string();
        assert!(
            text.contains("otlp_protocol") && text.contains("carrier-pigeon"),
            "{text}"
        );
        let e = Telemetry::from_config(&config(&[(
            "oslo_messaging_metrics",
            "metrics_enabled",
            "perhaps",
        )]))
        .expect_err("not a boolean");
        assert!(e.to_string().contains("metrics_enabled"), "{e}");
    }

    #[test]
    fn error_types_are_oslo_names() {
        let timeout = MessagingError::MessagingTimeout {
            method: "m".into(),
            timeout_ms: 1,
        };
        assert_eq!(error_type(&timeout), "MessagingTimeout");
        let remote = MessagingError::Remote(Box::new(crate::RemoteFailure::new(
            "ValueError",
            "builtins",
            "no",
        )));
        assert_eq!(error_type(&remote), "ValueError");
    }
}
