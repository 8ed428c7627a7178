//! What the CLI, as an application, installs for the library's telemetry
//! to reach: an OTLP span exporter for `--trace` and a Prometheus
//! `/metrics` endpoint for `serve --metrics-listen`.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::Context as OtelContext;
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use oslo_messaging_core::config::Config;
use oslo_messaging_core::telemetry::{metrics as names, Telemetry, TracingGroup};
use oslo_messaging_core::Transport;

use crate::exit::CliError;

/// A request traced with `--trace`: the root span the library's spans are
/// children of, and the provider that exports them.
pub(crate) struct Trace {
    provider: SdkTracerProvider,
    cx: OtelContext,
}

impl Trace {
    /// With `--trace`: `transport` tracing into an OTLP/HTTP exporter to
    /// `[oslo_messaging_tracing] otel_exporter_otlp_endpoint` (service
    /// `tracing_service_name`), under a root span named `oslo-messaging
    /// <command>` whose trace id is printed on stderr. Without: `transport`.
    ///
    /// # Errors
    /// As [`otlp_provider`].
    pub(crate) fn start(
        trace: bool,
        config: &Config,
        transport: Transport,
        command: &str,
    ) -> Result<(Transport, Option<Trace>), CliError> {
        if !trace {
            return Ok((transport, None));
        }
        let provider = otlp_provider(config)?;
        let root = provider
            .tracer("oslo-messaging-cli")
            .span_builder(format!("oslo-messaging {command}"))
            .with_kind(SpanKind::Client)
            .start(&provider.tracer("oslo-messaging-cli"));
        let cx = OtelContext::current_with_span(root);
        eprintln!("trace_id={}", cx.span().span_context().trace_id());
        let telemetry = transport
            .telemetry()
            .clone()
            .with_tracer_provider(&provider);
        Ok((
            transport.with_telemetry(telemetry),
            Some(Trace { provider, cx }),
        ))
    }

    /// Runs `work` with the root span current, when tracing.
    pub(crate) async fn run<T>(trace: Option<&Trace>, work: impl Future<Output = T>) -> T {
        match trace {
            Some(t) => work.with_context(t.cx.clone()).await,
            None => work.await,
        }
    }

    /// Ends the root span and sends what is left to the exporter (it logs
    /// an exporter that cannot be reached; the command's outcome stands).
    pub(crate) async fn finish(trace: Option<Trace>) {
        let Some(Trace { provider, cx }) = trace else {
            return;
        };
        cx.span().end();
        shutdown(provider).await;
    }
}

/// A tracer provider exporting over OTLP/HTTP (protobuf) to
/// `[oslo_messaging_tracing] otel_exporter_otlp_endpoint` + `/v1/traces`,
/// in batches from a thread of its own, as service `tracing_service_name`.
///
/// # Errors
/// A bad `[oslo_messaging_tracing]` option; `otlp_protocol = grpc`, which
/// this tool does not carry (it speaks `http/protobuf`).
fn otlp_provider(config: &Config) -> Result<SdkTracerProvider, CliError> {
    let options: TracingGroup = config.group()?;
    if options.otlp_protocol != "http/protobuf" {
        return Err(CliError::Usage(format!(
            "--trace exports with otlp_protocol http/protobuf; [oslo_messaging_tracing] otlp_protocol is {:?}",
            options.otlp_protocol
        )));
    }
    let endpoint = format!(
        "{}/v1/traces",
        options.otel_exporter_otlp_endpoint.trim_end_matches('/')
    );
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| CliError::Usage(format!("--trace: cannot build the OTLP exporter: {e}")))?;
    Ok(SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(options.tracing_service_name)
                .build(),
        )
        .with_batch_exporter(exporter)
        .build())
}

/// Shuts `provider` down (exporting what is left) off the runtime.
async fn shutdown(provider: SdkTracerProvider) {
    let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    if let Ok(Err(e)) = flushed {
        tracing::warn!("--trace: could not export the spans: {e}");
    }
}

/// What a benchmark records while it runs: with `--metrics`, metrics into
/// a Prometheus recorder printed at the end; with `--trace`, every message
/// traced (each its own trace) into the OTLP exporter.
pub(crate) struct BenchTelemetry {
    prometheus: Option<PrometheusHandle>,
    provider: Option<SdkTracerProvider>,
}

impl BenchTelemetry {
    /// `transport` recording what `metrics` and `trace` ask for.
    ///
    /// # Errors
    /// As [`otlp_provider`]; another recorder already installed.
    pub(crate) fn start(
        metrics: bool,
        trace: bool,
        config: &Config,
        transport: Transport,
    ) -> Result<(Transport, BenchTelemetry), CliError> {
        let mut telemetry = transport.telemetry().clone();
        let prometheus = match metrics {
            false => None,
            true => {
                let recorder = PrometheusBuilder::new()
                    .set_buckets(names::RPC_PROCESSING_SECONDS_BUCKETS)
                    .map_err(|e| CliError::Usage(format!("--metrics: {e}")))?
                    .build_recorder();
                let handle = recorder.handle();
                ::metrics::set_global_recorder(recorder)
                    .map_err(|e| CliError::Usage(format!("--metrics: {e}")))?;
                names::describe();
                telemetry = telemetry.with_metrics(true);
                Some(handle)
            }
        };
        let provider = match trace {
            false => None,
            true => {
                let provider = otlp_provider(config)?;
                telemetry = telemetry.with_tracer_provider(&provider);
                Some(provider)
            }
        };
        Ok((
            transport.with_telemetry(telemetry),
            BenchTelemetry {
                prometheus,
                provider,
            },
        ))
    }

    /// Writes the recorded metrics (Prometheus text, without the `# HELP`
    /// and `# TYPE` lines) on `err`, and flushes the spans.
    ///
    /// # Errors
    /// Writing to `err`.
    pub(crate) async fn finish(self, err: &mut (dyn Write + Send)) -> std::io::Result<()> {
        if let Some(handle) = &self.prometheus {
            writeln!(err, "metrics:")?;
            for line in handle.render().lines() {
                if !line.is_empty() && !line.starts_with('#') && !line.contains("_bucket{") {
                    writeln!(err, "  {line}")?;
                }
            }
            err.flush()?;
        }
        if let Some(provider) = self.provider {
            shutdown(provider).await;
        }
        Ok(())
    }
}

/// `serve --metrics-listen ADDR`: installs the Prometheus exporter, whose
/// HTTP listener on `addr` serves `/metrics`, and returns `transport`
/// recording metrics. The histograms have oslo.metrics' buckets.
///
/// # Errors
/// The exporter cannot be installed (`addr` in use, another recorder).
pub(crate) fn serve_metrics(addr: SocketAddr, transport: Transport) -> Result<Transport, CliError> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(names::RPC_PROCESSING_SECONDS_BUCKETS)
        .and_then(|b| b.install())
        .map_err(|e| CliError::Usage(format!("--metrics-listen {addr}: {e}")))?;
    names::describe();
    let telemetry: Telemetry = transport.telemetry().clone().with_metrics(true);
    Ok(transport.with_telemetry(telemetry))
}
