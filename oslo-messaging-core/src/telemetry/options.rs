//! The option groups that turn telemetry on from configuration.

use serde::{Deserialize, Serialize};

use crate::config::{lenient, OptionGroup};

/// `[oslo_messaging_tracing]`, as oslo.messaging 18.3
/// (`oslo_messaging/_tracing/client.py`) registers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TracingGroup {
    /// Trace calls, casts, notifications and the requests servers process
    /// (false).
    #[serde(deserialize_with = "lenient::bool")]
    pub tracing_enabled: bool,
    /// `service.name` of the spans when this library builds the tracer
    /// provider itself (`"openstack"`).
    #[serde(deserialize_with = "lenient::string")]
    pub tracing_service_name: String,
    /// Where the OTLP exporter sends spans (`"http://localhost:4318"`; with
    /// `http/protobuf`, to `<endpoint>/v1/traces`).
    #[serde(deserialize_with = "lenient::string")]
    pub otel_exporter_otlp_endpoint: String,
    /// The OTLP protocol: `http/protobuf` (default) or `grpc`.
    #[serde(deserialize_with = "lenient::string")]
    pub otlp_protocol: String,
    /// Skip TLS verification of the OTLP endpoint (gRPC only; false).
    #[serde(deserialize_with = "lenient::bool")]
    pub insecure: bool,
}

impl Default for TracingGroup {
    fn default() -> Self {
        Self {
            tracing_enabled: false,
            tracing_service_name: "openstack".to_owned(),
            otel_exporter_otlp_endpoint: "http://localhost:4318".to_owned(),
            otlp_protocol: "http/protobuf".to_owned(),
            insecure: false,
        }
    }
}

impl OptionGroup for TracingGroup {
    const NAME: &'static str = "oslo_messaging_tracing";
}

/// `[oslo_messaging_metrics]`, the options of oslo.messaging's
/// `oslo_messaging/_metrics/client.py` that apply here. Python sends its
/// metrics to the oslo.metrics collector over a UNIX socket
/// (`metrics_socket_file`, `metrics_buffer_size`,
/// `metrics_thread_stop_timeout`); this library records them through the
/// `metrics` facade instead, to whatever recorder the application
/// installed, so those options are not read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsGroup {
    /// Record the per-call and per-message metrics (false).
    #[serde(deserialize_with = "lenient::bool")]
    pub metrics_enabled: bool,
    /// The `process` label of the `oslo_messaging_rpc_*` metrics (`""`).
    #[serde(deserialize_with = "lenient::string")]
    pub metrics_process_name: String,
}

impl OptionGroup for MetricsGroup {
    const NAME: &'static str = "oslo_messaging_metrics";
}
