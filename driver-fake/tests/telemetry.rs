//! Telemetry over `fake://`.
//!
//! The RPC and notification metrics, read back as an operator reads them:
//! the Prometheus text of a recorder installed globally, after a known
//! number of calls, casts, errors, timeouts and notifications. Each test
//! uses its own topic, so their series never mix. And what the
//! conformance suite cannot see from outside an endpoint: the server's
//! span is current while the method runs.

use std::time::Duration;

use oslo_messaging_core::conformance::prometheus::{recorder, value};
use oslo_messaging_core::notify::{
    NotificationEndpoint, NotificationListener, NotificationResult, Notifier, NotifySendExt,
};
use oslo_messaging_core::telemetry::{metrics as names, Telemetry};
use oslo_messaging_core::{
    Endpoint, EndpointError, Priority, RpcClient, RpcServer, Target, Transport,
};
use oslo_messaging_driver_fake as _;
use serde_json::{json, Map, Value};

fn transport(vhost: &str, telemetry: Telemetry) -> Transport {
    recorder();
    Transport::from_url(&format!("fake:///{vhost}"))
        .expect("fake transport")
        .with_telemetry(telemetry)
}

struct Calculator;

fn endpoint() -> Endpoint {
    Endpoint::builder(Calculator)
        .method("add", |_, _, a: Map<String, Value>| async move {
            Ok::<_, EndpointError>(a["a"].as_i64().unwrap_or(0) + a["b"].as_i64().unwrap_or(0))
        })
        .method("fail", |_, _, _: Map<String, Value>| async move {
            Err::<(), _>(EndpointError::new("ValueError", "no"))
        })
        .build()
        .expect("endpoint")
}

/// A started server of [`endpoint`] on `topic` as `s1`.
async fn serve(t: &Transport, topic: &str) -> RpcServer {
    let server = RpcServer::builder(t, Target::server(topic, "s1"))
        .endpoint(endpoint())
        .build()
        .expect("server");
    server.start().await.expect("start");
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_metrics_count_calls_errors_and_timeouts() {
    let t = transport(
        "metrics-rpc",
        Telemetry::default()
            .with_metrics(true)
            .with_process_name("test-process"),
    );
    let topic = "metrics_rpc_topic";
    let server = serve(&t, topic).await;
    let client = RpcClient::new(&t, Target::topic(topic));
    let ctx = Map::new();
    for i in 0..3 {
        let sum = client
            .call(&ctx, "add", json!({"a": i, "b": 1}))
            .await
            .expect("add");
        assert_eq!(sum, json!(i + 1));
    }
    client
        .call(&ctx, "fail", json!({}))
        .await
        .expect_err("fail fails");
    for _ in 0..2 {
        client
            .cast(&ctx, "add", json!({"a": 1, "b": 1}))
            .await
            .expect("cast");
    }
    let nobody = client
        .prepare()
        .with_server("nobody")
        .with_timeout(Duration::from_millis(100));
    let e = nobody
        .call(&ctx, "add", json!({"a": 1, "b": 1}))
        .await
        .expect_err("times out");
    assert!(
        matches!(
            e,
            oslo_messaging_core::MessagingError::MessagingTimeout { .. }
        ),
        "{e}"
    );
    // A call is processed before its reply leaves; the casts are waited
    // for by stopping the server and waiting for what it took.
    server.stop().await.expect("stop");
    server.wait().await.expect("wait");

    let call = [
        ("topic", topic),
        ("call_type", "call"),
        ("server", "None"),
        ("process", "test-process"),
    ];
    let add = [call.as_slice(), &[("method", "add")]].concat();
    assert_eq!(value(names::RPC_CLIENT_INVOCATION_START_TOTAL, &add), 3.0);
    assert_eq!(value(names::RPC_CLIENT_INVOCATION_END_TOTAL, &add), 3.0);
    assert_eq!(
        value(
            &format!("{}_count", names::RPC_CLIENT_PROCESSING_SECONDS),
            &add
        ),
        3.0
    );
    let fail = [call.as_slice(), &[("method", "fail")]].concat();
    assert_eq!(value(names::RPC_CLIENT_INVOCATION_START_TOTAL, &fail), 1.0);
    assert_eq!(
        value(names::RPC_CLIENT_INVOCATION_END_TOTAL, &fail),
        0.0,
        "Python counts no end for a failure"
    );
    assert_eq!(
        value(
            names::RPC_CLIENT_EXCEPTION_TOTAL,
            // What Python's client raises: the remote class rebuilt.
            &[fail.as_slice(), &[("exception", "ValueError_Remote")]].concat()
        ),
        1.0
    );
    let cast = [
        ("topic", topic),
        ("call_type", "cast"),
        ("method", "add"),
        ("fanout", "None"),
    ];
    assert_eq!(value(names::RPC_CLIENT_INVOCATION_START_TOTAL, &cast), 2.0);
    assert_eq!(value(names::RPC_CLIENT_INVOCATION_END_TOTAL, &cast), 2.0);
    // A call its caller gives up on (a timeout of the caller's own).
    let gave_up = tokio::time::timeout(
        Duration::from_millis(20),
        nobody
            .clone()
            .with_timeout(Duration::from_secs(60))
            .call(&ctx, "sub", json!({})),
    )
    .await;
    assert!(gave_up.is_err(), "still waiting when dropped");
    let cancelled = [
        ("topic", topic),
        ("method", "sub"),
        ("exception", "Cancelled"),
    ];
    assert_eq!(value(names::RPC_CLIENT_EXCEPTION_TOTAL, &cancelled), 1.0);
    let timed_out = [
        ("topic", topic),
        ("server", "nobody"),
        ("exception", "MessagingTimeout"),
    ];
    assert_eq!(value(names::RPC_CLIENT_EXCEPTION_TOTAL, &timed_out), 1.0);

    let served = [
        ("topic", topic),
        ("server", "s1"),
        ("endpoint", "Calculator"),
        ("method", "add"),
    ];
    assert_eq!(
        value(names::RPC_SERVER_INVOCATION_START_TOTAL, &served),
        5.0,
        "3 calls and 2 casts"
    );
    assert_eq!(value(names::RPC_SERVER_INVOCATION_END_TOTAL, &served), 5.0);
    let served_fail = [
        ("topic", topic),
        ("method", "fail"),
        ("exception", "ValueError"),
    ];
    assert_eq!(value(names::RPC_SERVER_EXCEPTION_TOTAL, &served_fail), 1.0);

    let system = ("messaging_system", "fake");
    let dest = ("messaging_destination_name", topic);
    let sent_calls = [
        system,
        dest,
        ("messaging_operation_name", "call"),
        ("error_type", ""),
    ];
    assert_eq!(
        value("messaging_client_sent_messages", &sent_calls),
        3.0,
        "calls without error"
    );
    let failed_calls = [
        system,
        dest,
        ("messaging_operation_name", "call"),
        ("error_type", "ValueError"),
    ];
    assert_eq!(value("messaging_client_sent_messages", &failed_calls), 1.0);
    assert_eq!(
        value("messaging_client_operation_duration_count", &failed_calls),
        1.0
    );
    let processed = [
        system,
        dest,
        ("messaging_operation_name", "process"),
        ("error_type", ""),
    ];
    assert_eq!(
        value("messaging_client_consumed_messages", &processed),
        5.0,
        "requests processed without error"
    );
    assert_eq!(value("messaging_process_duration_count", &processed), 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_metrics_count_sent_and_consumed() {
    let t = transport("metrics-notify", Telemetry::default().with_metrics(true));
    let topic = "metrics_notify_topic";
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = NotificationEndpoint::builder(tx)
        .on_priorities(Priority::ALL, |tx, n| async move {
            let _ = tx.send(n);
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(&t, vec![Target::topic(topic)])
        .endpoint(endpoint)
        .build()
        .expect("listener");
    listener.start().await.expect("start");
    let notifier = Notifier::builder(&t)
        .driver("messagingv2")
        .topics([topic])
        .build()
        .expect("notifier");
    for _ in 0..2 {
        notifier
            .info(&Map::new(), "e.x", json!({}))
            .await
            .expect("notify");
    }
    notifier
        .error(&Map::new(), "e.y", json!({}))
        .await
        .expect("notify");
    for _ in 0..3 {
        rx.recv().await.expect("received");
    }
    // Stopping and waiting finishes what the listener took, recorded last.
    listener.stop().await.expect("stop");
    listener.wait().await.expect("wait");
    let count = |metric: &str, operation: &str, priority: &str| {
        value(
            metric,
            &[
                ("messaging_operation_name", operation),
                ("messaging_destination_name", &format!("{topic}.{priority}")),
            ],
        )
    };
    let sent = |p| count("messaging_client_sent_messages", "notify", p);
    assert_eq!((sent("info"), sent("error")), (2.0, 1.0));
    let consumed = |p| count("messaging_client_consumed_messages", "process", p);
    assert_eq!((consumed("info"), consumed("error")), (2.0, 1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_recorded_when_metrics_are_off() {
    let t = transport("metrics-off", Telemetry::default());
    let topic = "metrics_off_topic";
    let server = serve(&t, topic).await;
    let client = RpcClient::new(&t, Target::topic(topic));
    client
        .call(&Map::new(), "add", json!({"a": 1, "b": 2}))
        .await
        .expect("add");
    server.stop().await.expect("stop");
    server.wait().await.expect("wait");
    let text = recorder().render();
    assert!(!text.contains(topic), "metrics off, yet recorded:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_span_is_current_while_the_method_runs() {
    use opentelemetry::trace::TraceContextExt as _;
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let t = transport(
        "traces-current",
        Telemetry::default().with_tracer_provider(&provider),
    );
    let topic = "traces_current_topic";
    let endpoint = Endpoint::builder(())
        .method("current_span", |_, _, _: Map<String, Value>| async move {
            let cx = opentelemetry::Context::current();
            Ok::<_, EndpointError>(cx.span().span_context().span_id().to_string())
        })
        .build()
        .expect("endpoint");
    let server = RpcServer::builder(&t, Target::server(topic, "s1"))
        .endpoint(endpoint)
        .build()
        .expect("server");
    server.start().await.expect("start");
    let seen = RpcClient::new(&t, Target::topic(topic))
        .call(&Map::new(), "current_span", json!({}))
        .await
        .expect("call");
    server.stop().await.expect("stop");
    server.wait().await.expect("wait");
    let spans = exporter.get_finished_spans().expect("spans");
    let process = spans
        .iter()
        .find(|s| s.name == format!("process {topic}"))
        .expect("the server span");
    assert_eq!(seen, json!(process.span_context.span_id().to_string()));
}
