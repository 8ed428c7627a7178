//! What the CLI, as an application, installs for the library's telemetry
//! to reach: an OTLP span exporter when `[oslo_messaging_tracing]
//! tracing_enabled` or `--trace` asks for traces, and a Prometheus
//! recorder for `serve --metrics-listen` and `bench --metrics`.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::Context as OtelContext;
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::telemetry::{metrics as names, TracingGroup};
use oslo_messaging_core::{MessagingError, Transport};

use crate::exit::CliError;

/// The tracer provider of this process, once traces are asked for, and
/// the URL it exports to.
static PROVIDER: OnceLock<(SdkTracerProvider, String)> = OnceLock::new();

/// A tracer provider exporting over OTLP/HTTP (protobuf) to
/// `[oslo_messaging_tracing] otel_exporter_otlp_endpoint` + `/v1/traces`,
/// in batches from a thread of its own, as service `tracing_service_name`.
///
/// # Errors
/// A bad `[oslo_messaging_tracing]` option; `otlp_protocol = grpc`, which
/// this tool does not carry (it speaks `http/protobuf`).
fn otlp_provider(options: TracingGroup) -> Result<(SdkTracerProvider, String), CliError> {
    let refused = |why: String| {
        CliError::Messaging(MessagingError::invalid_option(
            "oslo_messaging_tracing",
            "otlp_protocol",
            why,
        ))
    };
    if options.otlp_protocol != "http/protobuf" {
        return Err(refused(format!(
            "{:?}: the oslo-messaging CLI exports traces over http/protobuf only",
            options.otlp_protocol
        )));
    }
    let endpoint = format!(
        "{}/v1/traces",
        options.otel_exporter_otlp_endpoint.trim_end_matches('/')
    );
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint.clone())
        .build()
        .map_err(|e| refused(format!("cannot build the OTLP exporter: {e}")))?;
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(options.tracing_service_name)
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    Ok((provider, endpoint))
}

/// `transport` tracing when `--trace` (`trace`) or `[oslo_messaging_tracing]
/// tracing_enabled` asks for it: the OTLP provider is built once and
/// installed as the global tracer provider, which the transport traces
/// with. Python does the same (`oslo_messaging/_tracing/client.py`,
/// `_get_tracer`).
///
/// # Errors
/// As [`otlp_provider`].
pub(crate) fn traced(
    trace: bool,
    config: &Config,
    transport: Transport,
) -> Result<Transport, CliError> {
    let options: TracingGroup = config.group()?;
    if !trace && !options.tracing_enabled {
        return Ok(transport);
    }
    if PROVIDER.get().is_none() {
        let (provider, endpoint) = otlp_provider(options)?;
        if PROVIDER.set((provider.clone(), endpoint)).is_ok() {
            opentelemetry::global::set_tracer_provider(provider);
        }
    }
    let telemetry = transport.telemetry().clone().with_global_tracer();
    Ok(transport.with_telemetry(telemetry))
}

/// Sends the spans not exported yet (the command is ending); logs an
/// exporter that cannot be reached, the command's outcome stands.
pub(crate) async fn flush_traces() {
    let Some((provider, endpoint)) = PROVIDER.get().cloned() else {
        return;
    };
    let flushed = tokio::task::spawn_blocking(move || provider.force_flush()).await;
    if let Ok(Err(e)) = flushed {
        tracing::warn!(
            "could not export the spans to {endpoint} (otel_exporter_otlp_endpoint): {e}"
        );
    }
}

/// The root span of a traced `call`, `cast` or `notify`: the library's
/// spans are its children, and its trace id is printed on stderr.
pub(crate) struct Trace {
    cx: OtelContext,
}

impl Trace {
    /// When tracing (`--trace` or `tracing_enabled`): a root span named
    /// `oslo-messaging <command>`, its trace id printed on stderr as
    /// `trace_id=<32 hex digits>`. Call after [`traced`].
    pub(crate) fn start(command: &str) -> Option<Trace> {
        let (provider, _) = PROVIDER.get()?;
        let tracer = provider.tracer("oslo-messaging-cli");
        let root = tracer
            .span_builder(format!("oslo-messaging {command}"))
            .with_kind(SpanKind::Client)
            .start(&tracer);
        let cx = OtelContext::current_with_span(root);
        eprintln!("trace_id={}", cx.span().span_context().trace_id());
        Some(Trace { cx })
    }

    /// Runs `work` with the root span current, when tracing.
    pub(crate) async fn run<T>(trace: Option<&Trace>, work: impl Future<Output = T>) -> T {
        match trace {
            Some(t) => work.with_context(t.cx.clone()).await,
            None => work.await,
        }
    }

    /// Ends the root span.
    pub(crate) fn finish(trace: Option<Trace>) {
        if let Some(t) = trace {
            t.cx.span().end();
        }
    }
}

/// `serve --metrics-listen ADDR`: installs the Prometheus exporter, whose
/// HTTP listener on `addr` (bound before this returns) serves `/metrics`,
/// and returns `transport` recording metrics. The histograms have
/// oslo.metrics' buckets.
///
/// # Errors
/// `addr` cannot be bound; another recorder is installed (a runtime
/// failure, exit status 3).
pub(crate) fn serve_metrics(addr: SocketAddr, transport: Transport) -> Result<Transport, CliError> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(names::RPC_PROCESSING_SECONDS_BUCKETS)
        .and_then(|b| b.install())
        .map_err(|e| CliError::Unexpected(format!("--metrics-listen {addr}: {e}")))?;
    names::describe();
    let telemetry = transport.telemetry().clone().with_metrics(true);
    Ok(transport.with_telemetry(telemetry))
}

/// `bench --metrics`: metrics recorded into a Prometheus recorder while
/// the benchmark runs, printed at the end.
pub(crate) struct BenchMetrics {
    handle: Option<PrometheusHandle>,
}

impl BenchMetrics {
    /// With `metrics`, `transport` recording into a new recorder.
    ///
    /// # Errors
    /// Another recorder is installed.
    pub(crate) fn start(
        metrics: bool,
        transport: Transport,
    ) -> Result<(Transport, BenchMetrics), CliError> {
        if !metrics {
            return Ok((transport, BenchMetrics { handle: None }));
        }
        let recorder = PrometheusBuilder::new()
            .set_buckets(names::RPC_PROCESSING_SECONDS_BUCKETS)
            .map_err(|e| CliError::Usage(format!("--metrics: {e}")))?
            .build_recorder();
        let handle = recorder.handle();
        ::metrics::set_global_recorder(recorder)
            .map_err(|e| CliError::Usage(format!("--metrics: {e}")))?;
        names::describe();
        let telemetry = transport.telemetry().clone().with_metrics(true);
        Ok((
            transport.with_telemetry(telemetry),
            BenchMetrics {
                handle: Some(handle),
            },
        ))
    }

    /// Writes the recorded metrics (Prometheus text, without the `# HELP`
    /// and `# TYPE` lines and the histograms' buckets) on `err`.
    ///
    /// # Errors
    /// Writing to `err`.
    pub(crate) fn finish(self, err: &mut (dyn Write + Send)) -> std::io::Result<()> {
        let Some(handle) = &self.handle else {
            return Ok(());
        };
        writeln!(err, "metrics:")?;
        for line in handle.render().lines() {
            if !line.is_empty() && !line.starts_with('#') && !line.contains("_bucket{") {
                writeln!(err, "  {line}")?;
            }
        }
        err.flush()
    }
}
