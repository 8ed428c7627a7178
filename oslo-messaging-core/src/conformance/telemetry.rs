//! Conformance cases for traces: the spans of a call and of the request
//! the server processes form one trace, across the driver.
//!
//! Each case gives its transport its own tracer provider with an in-memory
//! exporter (no global state), whose spans are exported as they end.

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context as OtelContext, Value as OtelValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;

use crate::conformance::{context, stop_server, test_endpoint, within, Harness};
use crate::message::Priority;
use crate::notify::{
    NotificationEndpoint, NotificationListener, NotificationResult, Notifier, NotifySendExt as _,
};
use crate::rpc::{RpcClient, RpcServer};
use crate::telemetry::trace::TRACEPARENT;
use crate::telemetry::Telemetry;
use crate::{Target, Transport};

/// A tracer provider whose spans land in the returned exporter.
fn in_memory() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn traced(t: &Transport, provider: &SdkTracerProvider) -> Transport {
    t.with_telemetry(Telemetry::default().with_tracer_provider(provider))
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// A call's `PRODUCER` span is the child of the application's current
/// span; the server's `CONSUMER` span is the child of the call's, in the
/// same trace; a failed call marks both spans with the remote `error.type`.
pub async fn traces_follow_a_call_to_the_server(h: &Harness) {
    let (provider, exporter) = in_memory();
    let t = traced(&h.transport().await, &provider);
    let topic = h.unique("topic");
    let (endpoint, _probe) = test_endpoint("s1", None, "1.0");
    let server = RpcServer::builder(&t, Target::server(&topic, "s1"))
        .endpoint(endpoint)
        .build()
        .expect("server builds");
    within(h, "server start", server.start())
        .await
        .expect("starts");
    let client = RpcClient::new(&t, Target::topic(&topic));

    let root = provider.tracer("application").start("handle API request");
    let app = OtelContext::current_with_span(root);
    let seen = within(
        h,
        "call",
        client
            .call(&context("u"), "context", json!({}))
            .with_context(app.clone()),
    )
    .await
    .expect("call succeeds");
    let failed = within(
        h,
        "failing call",
        client
            .call(&context("u"), "fail", json!({"message": "no"}))
            .with_context(app.clone()),
    )
    .await;
    assert!(failed.is_err(), "fail fails");
    app.span().end();
    stop_server(h, &server).await;

    let spans = exporter.get_finished_spans().expect("spans");
    let root = named(&spans, "handle API request")[0].span_context.clone();
    let calls = named(&spans, &format!("call {topic}"));
    let processed = named(&spans, &format!("process {topic}"));
    assert_eq!((calls.len(), processed.len()), (2, 2), "spans: {spans:#?}");
    for (call, process) in calls.iter().zip(&processed) {
        assert_eq!(call.span_kind, SpanKind::Producer);
        assert_eq!(
            call.parent_span_id,
            root.span_id(),
            "call is the child of the application's span"
        );
        assert_eq!(call.span_context.trace_id(), root.trace_id());
        assert_eq!(process.span_kind, SpanKind::Consumer);
        assert_eq!(
            process.span_context.trace_id(),
            root.trace_id(),
            "one trace across the driver"
        );
        assert!(
            process.parent_span_is_remote,
            "the server span's parent came over the wire"
        );
        for span in [*call, *process] {
            assert_eq!(
                attribute(span, "messaging.destination.name"),
                Some(&OtelValue::from(topic.clone()))
            );
            assert_eq!(attribute(span, "rpc.method"), attribute(call, "rpc.method"));
            assert_eq!(
                attribute(span, "openstack.request_id"),
                Some(&OtelValue::from("req-u"))
            );
            assert!(attribute(span, "messaging.system").is_some());
        }
        assert_eq!(
            attribute(call, "messaging.operation.type"),
            Some(&OtelValue::from("send"))
        );
        assert_eq!(
            attribute(process, "messaging.operation.type"),
            Some(&OtelValue::from("process"))
        );
    }
    // Spans end in the order their calls finished: match each server span
    // to its call by parent.
    for process in &processed {
        let call = calls
            .iter()
            .find(|c| c.span_context.span_id() == process.parent_span_id)
            .expect("every server span is the child of a call span");
        let failed = attribute(call, "rpc.method") == Some(&OtelValue::from("fail"));
        for span in [*call, *process] {
            if failed {
                assert!(matches!(span.status, Status::Error { .. }), "{span:#?}");
                assert_eq!(
                    attribute(span, "error.type"),
                    Some(&OtelValue::from("ValueError"))
                );
            } else {
                assert_eq!(span.status, Status::Unset, "{span:#?}");
                assert_eq!(attribute(span, "error.type"), None);
            }
        }
    }
    // What the server saw is what Python reads: `traceparent` in the
    // request context (`_context_traceparent` on the wire), the call's.
    let ok_call = calls
        .iter()
        .find(|c| attribute(c, "rpc.method") == Some(&OtelValue::from("context")))
        .expect("the context call's span");
    let traceparent = seen[TRACEPARENT]
        .as_str()
        .expect("traceparent in the context");
    assert_eq!(
        traceparent,
        format!(
            "00-{}-{}-01",
            ok_call.span_context.trace_id(),
            ok_call.span_context.span_id()
        )
    );
}

/// A notification's `PRODUCER` span reaches the listener as the
/// notification context's `traceparent`, and the listener's `CONSUMER`
/// span, `process <topic>.<priority>`, is its child, current while the
/// endpoint runs.
pub async fn notify_carries_trace_context(h: &Harness) {
    let (provider, exporter) = in_memory();
    let t = traced(&h.transport().await, &provider);
    let topic = h.unique("topic");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = NotificationEndpoint::builder(tx)
        .on_priorities(Priority::ALL, |tx, n| async move {
            let current = OtelContext::current().span().span_context().span_id();
            let _ = tx.send((n, current));
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(&t, vec![Target::topic(&topic)])
        .endpoint(endpoint)
        .build()
        .expect("listener builds");
    within(h, "listener start", listener.start())
        .await
        .expect("starts");
    let notifier = Notifier::builder(&t)
        .driver("messagingv2")
        .topics([topic.as_str()])
        .publisher_id("compute.host1")
        .build()
        .expect("notifier builds");
    within(
        h,
        "notify",
        notifier.info(
            &context("u"),
            "compute.instance.create.end",
            json!({"id": 1}),
        ),
    )
    .await
    .expect("notify");
    let (n, current) = within(h, "notification", rx.recv())
        .await
        .expect("received");
    listener.stop().await.expect("stop");
    listener.wait().await.expect("wait");
    let spans = exporter.get_finished_spans().expect("spans");
    let sent = named(&spans, &format!("notify {topic}.info"));
    assert_eq!(sent.len(), 1, "spans: {spans:#?}");
    assert_eq!(sent[0].span_kind, SpanKind::Producer);
    let processed = named(&spans, &format!("process {topic}.info"));
    assert_eq!(processed.len(), 1, "spans: {spans:#?}");
    let processed = processed[0];
    assert_eq!(processed.span_kind, SpanKind::Consumer);
    assert_eq!(
        processed.span_context.trace_id(),
        sent[0].span_context.trace_id()
    );
    assert_eq!(processed.parent_span_id, sent[0].span_context.span_id());
    assert_eq!(
        current,
        processed.span_context.span_id(),
        "current in the endpoint"
    );
    assert_eq!(
        attribute(processed, "messaging.operation.type").map(|v| v.as_str()),
        Some("process".into())
    );
    assert_eq!(
        attribute(processed, "messaging.message.id").map(|v| v.as_str().into_owned()),
        n.metadata.message_id.clone()
    );
    assert_eq!(
        n.context.get(TRACEPARENT).and_then(|v| v.as_str()),
        Some(
            format!(
                "00-{}-{}-01",
                sent[0].span_context.trace_id(),
                sent[0].span_context.span_id()
            )
            .as_str()
        )
    );
}
