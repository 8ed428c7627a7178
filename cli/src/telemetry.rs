//! What the CLI, as an application, installs for the library's telemetry
//! to reach: an OTLP span exporter for `--trace` and a Prometheus
//! `/metrics` endpoint for `serve --metrics-listen`.

use std::future::Future;
use std::net::SocketAddr;

use metrics_exporter_prometheus::PrometheusBuilder;
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
    /// A bad `[oslo_messaging_tracing]` option; `otlp_protocol = grpc`,
    /// which this tool does not carry (it speaks `http/protobuf`).
    pub(crate) fn start(
        trace: bool,
        config: &Config,
        transport: Transport,
        command: &str,
    ) -> Result<(Transport, Option<Trace>), CliError> {
        if !trace {
            return Ok((transport, None));
        }
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
            .map_err(|e| {
                CliError::Usage(format!("--trace: cannot build the OTLP exporter: {e}"))
            })?;
        let provider = SdkTracerProvider::builder()
            .with_resource(
                Resource::builder()
                    .with_service_name(options.tracing_service_name)
                    .build(),
            )
            .with_batch_exporter(exporter)
            .build();
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
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!("--trace: could not export the spans: {e}");
        }
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
