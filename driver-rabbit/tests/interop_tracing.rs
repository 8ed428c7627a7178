//! Traces across Python and Rust over the RabbitMQ broker at
//! 127.0.0.1:5672: a Python 18.3.1 client with `[oslo_messaging_tracing]`
//! on calls a Rust server, and the Rust server's span continues the Python
//! trace; a Rust client calls a Python server with tracing on, and the
//! Python span continues the Rust trace. Both sides keep their spans in
//! memory (`peer.py --trace`, an in-memory exporter here).

mod interop_support;

use interop_support::roles::RustServer;
use interop_support::{run_peer, rust_transport, unique, within, Peer, QueueCleanup, PATIENCE};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::Context as OtelContext;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use oslo_messaging_core::conformance::context;
use oslo_messaging_core::telemetry::Telemetry;
use oslo_messaging_core::{RpcClient, Target, Transport};
use oslo_messaging_driver_rabbit as _;
use serde_json::{json, Value};

fn traced_transport() -> (Transport, SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let t = rust_transport().with_telemetry(Telemetry::default().with_tracer_provider(&provider));
    (t, provider, exporter)
}

fn span_named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span {name:?} in {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_trace_continues_in_rust_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("trace_p2r");
    cleanup.rpc_topic(&topic, &["rs1"]);
    let (t, _provider, exporter) = traced_transport();
    let server = RustServer::start(&t, &topic, "rs1").await;
    let extra = [
        "--method",
        "add",
        "--args",
        r#"{"a": 1, "b": 2}"#,
        "--context",
        r#"{"request_id": "req-py"}"#,
        "--timeout",
        &PATIENCE.as_secs().to_string(),
        "--trace",
    ];
    let line = run_peer(&cleanup, "call", &topic, &extra).await;
    assert_eq!(line["result"], json!(3), "{line}");
    server.stop().await;

    let py_spans = line["spans"]
        .as_array()
        .expect("peer.py --trace lists its spans");
    let py_call = py_spans
        .iter()
        .find(|s| s["name"] == json!(format!("{topic}.add")))
        .unwrap_or_else(|| panic!("Python's call span in {py_spans:?}"));
    assert_eq!(py_call["kind"], json!("PRODUCER"));
    let spans = exporter.get_finished_spans().expect("spans");
    let process = span_named(&spans, &format!("process {topic}"));
    assert_eq!(process.span_kind, SpanKind::Consumer);
    assert_eq!(
        process.span_context.trace_id().to_string(),
        py_call["trace_id"].as_str().expect("trace id"),
        "the Rust server span is in the Python trace"
    );
    assert_eq!(
        process.parent_span_id.to_string(),
        py_call["span_id"].as_str().expect("span id"),
        "the Rust server span is the child of the Python call span"
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_trace_continues_in_python_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("trace_r2p");
    cleanup.rpc_topic(&topic, &["py1"]);
    let mut peer = Peer::start("serve", &topic, &["--server", "py1", "--trace"]).await;
    let (t, provider, exporter) = traced_transport();
    let client = RpcClient::new(&t, Target::topic(&topic));
    let root = OtelContext::current_with_span(provider.tracer("test").start("API request"));
    let sum = within(
        "call",
        client
            .call(&context("u"), "add", json!({"a": 40, "b": 2}))
            .with_context(root.clone()),
    )
    .await
    .expect("add");
    assert_eq!(sum, json!(42));
    root.span().end();

    // Python sends the reply inside its span, which ends right after: the
    // line comes, maybe just after the reply.
    let received = loop {
        let line: Value = peer.next_line(PATIENCE).await;
        if line["event"] == json!("span") && line["name"] == json!("add receive") {
            break line;
        }
    };
    let spans = exporter.get_finished_spans().expect("spans");
    let call = span_named(&spans, &format!("call {topic}"));
    assert_eq!(received["kind"], json!("CONSUMER"));
    assert_eq!(
        received["trace_id"].as_str(),
        Some(call.span_context.trace_id().to_string().as_str()),
        "the Python server span is in the Rust trace"
    );
    assert_eq!(
        received["parent_span_id"].as_str(),
        Some(call.span_context.span_id().to_string().as_str()),
        "the Python server span is the child of the Rust call span"
    );
    assert_eq!(received["attributes"]["rpc.method"], json!("add"));
    peer.finish().await;
    t.cleanup().await;
}
