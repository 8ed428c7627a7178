//! RPC conformance cases: every rule of calls, casts, dispatch and the
//! server lifecycle, for any driver.

use std::time::Duration;

use serde_json::{json, Value};

use crate::conformance::{context, stop_server, test_endpoint, within, Harness, ProbeHandles};
use crate::error::MessagingError;
use crate::rpc::{AccessPolicy, Endpoint, RpcClient, RpcSendExt, RpcServer, PING_METHOD};
use crate::target::Target;
use crate::transport::Transport;

struct Running {
    server: RpcServer,
    probe: ProbeHandles,
}

async fn serve(h: &Harness, transport: &Transport, target: Target, executor: &str) -> Running {
    let server_name = target.server.clone().unwrap_or_default();
    let (endpoint, probe) = test_endpoint(&server_name, None, "1.0");
    let server = RpcServer::builder(transport, target)
        .endpoint(endpoint)
        .executor(executor)
        .build()
        .expect("server builds");
    within(h, "server start", server.start())
        .await
        .expect("server starts");
    Running { server, probe }
}

async fn shutdown(h: &Harness, r: &Running) {
    stop_server(h, &r.server).await;
}

fn remote_class(e: &MessagingError) -> &str {
    match e.remote() {
        Some(f) => &f.class,
        None => panic!("expected a remote error, got {e}"),
    }
}

/// A call returns the endpoint's result, as JSON and typed.
pub async fn call_returns_result(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let v = within(
        h,
        "call",
        client.call(&context("u"), "add", json!({"a": 2, "b": 3})),
    )
    .await;
    assert_eq!(v.expect("add succeeds"), json!(5));
    let typed: i64 = within(
        h,
        "call",
        client.call_as(&context("u"), "add", json!({"a": -1, "b": 1})),
    )
    .await
    .expect("typed");
    assert_eq!(typed, 0);
    let echoed = within(
        h,
        "echo",
        client.call(
            &context("u"),
            "echo",
            json!({"value": {"nested": [1, "x", null]}}),
        ),
    )
    .await;
    assert_eq!(echoed.expect("echo"), json!({"nested": [1, "x", null]}));
    shutdown(h, &s).await;
}

/// A cast reaches the endpoint.
pub async fn cast_is_delivered(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let mut s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    client
        .cast(&context("u"), "record", json!({"value": 42}))
        .await
        .expect("cast");
    let got = within(h, "cast delivery", s.probe.records.recv()).await;
    assert_eq!(got, Some(("s1".to_owned(), json!(42))));
    shutdown(h, &s).await;
}

/// Requests a server took are acknowledged: once its transport is gone, a
/// server started later on the same topic gets none of them again.
pub async fn handled_requests_are_not_redelivered(h: &Harness) {
    let topic = h.unique("topic");
    let first = h.transport().await;
    let mut s = serve(h, &first, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&first, Target::topic(&topic));
    for value in 0..20 {
        client
            .cast(&context("u"), "record", json!({ "value": value }))
            .await
            .expect("cast");
    }
    for _ in 0..20 {
        within(h, "cast delivery", s.probe.records.recv()).await;
    }
    shutdown(h, &s).await;
    first.cleanup().await;
    drop(first);

    let second = h.transport().await;
    let mut s2 = serve(h, &second, Target::server(&topic, "s2"), "async").await;
    RpcClient::new(&second, Target::topic(&topic))
        .cast(&context("u"), "record", json!({ "value": "marker" }))
        .await
        .expect("cast");
    let got = within(h, "the marker", s2.probe.records.recv()).await;
    assert_eq!(
        got,
        Some(("s2".to_owned(), json!("marker"))),
        "a handled request came again"
    );
    shutdown(h, &s2).await;
}

/// The request context arrives unchanged.
pub async fn context_travels_with_request(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let mut ctx = context("alice");
    ctx.insert("roles".into(), json!(["admin", "member"]));
    ctx.insert("is_admin".into(), json!(true));
    let got = within(h, "call", client.call(&ctx, "context", json!({})))
        .await
        .expect("context");
    assert_eq!(got, Value::Object(ctx));
    shutdown(h, &s).await;
}

/// Integers of any size stay exact and objects keep their key order, in
/// arguments, results and the context, as Python's `json` keeps them.
pub async fn json_values_keep_exact_integers_and_key_order(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let value = exact_json_sample();
    let echoed = within(
        h,
        "echo",
        client.call(&context("u"), "echo", json!({ "value": value })),
    )
    .await
    .expect("echo");
    assert_eq!(echoed.to_string(), value.to_string(), "the value as sent");
    let mut ctx = context("u");
    ctx.insert("quota".into(), value.clone());
    let got = within(h, "call", client.call(&ctx, "context", json!({})))
        .await
        .expect("context");
    assert_eq!(
        got.to_string(),
        Value::Object(ctx).to_string(),
        "the context as sent"
    );
    shutdown(h, &s).await;
}

/// Integers past 64 bits, a float, and keys out of alphabetical order at
/// every depth: what a Python service may send (`2**64`, `-2**70`, ...).
/// Its text is also Python's `json.dumps` of it, so tests compare texts.
pub fn exact_json_sample() -> Value {
    let text = r#"{"zeta": 18446744073709551616, "alpha": -1180591620717411303424,
        "mid": {"y": 9223372036854775808, "b": [340282366920938463463374607431768211456, 0.5]}}"#;
    serde_json::from_str(text).unwrap_or_else(|e| unreachable!("the sample is valid JSON: {e}"))
}

/// Servers on one topic share its queue, taking turns.
pub async fn topic_queue_is_shared_round_robin(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let a = serve(h, &t, Target::server(&topic, "a"), "async").await;
    let b = serve(h, &t, Target::server(&topic, "b"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let mut answers = Vec::new();
    for _ in 0..4 {
        let who = within(
            h,
            "call",
            client.call_as::<String>(&context("u"), "whoami", json!({})),
        )
        .await;
        answers.push(who.expect("whoami"));
    }
    let from_a = answers.iter().filter(|w| *w == "a").count();
    assert_eq!(
        (from_a, answers.len() - from_a),
        (2, 2),
        "answers: {answers:?}"
    );
    shutdown(h, &a).await;
    shutdown(h, &b).await;
}

/// A target with a server reaches only that server.
pub async fn server_queue_reaches_one_server(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let a = serve(h, &t, Target::server(&topic, "a"), "async").await;
    let b = serve(h, &t, Target::server(&topic, "b"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic)).with_server("b");
    for _ in 0..3 {
        let who = within(
            h,
            "call",
            client.call_as::<String>(&context("u"), "whoami", json!({})),
        )
        .await;
        assert_eq!(who.expect("whoami"), "b");
    }
    shutdown(h, &a).await;
    shutdown(h, &b).await;
}

/// A fanout cast reaches every server on the topic, once each.
pub async fn fanout_cast_reaches_every_server(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let mut servers = Vec::new();
    for name in ["a", "b", "c"] {
        servers.push(serve(h, &t, Target::server(&topic, name), "async").await);
    }
    let client = RpcClient::new(&t, Target::topic(&topic)).with_fanout(true);
    client
        .cast(&context("u"), "record", json!({"value": "all"}))
        .await
        .expect("fanout cast");
    for s in &mut servers {
        let (who, v) = within(h, "fanout delivery", s.probe.records.recv())
            .await
            .expect("record");
        assert_eq!(
            (who.as_str(), v),
            (
                s.server.target().server.as_deref().unwrap_or_default(),
                json!("all")
            )
        );
    }
    let e = client
        .call(&context("u"), "whoami", json!({}))
        .await
        .expect_err("fanout call");
    assert!(matches!(e, MessagingError::InvalidTarget(_)), "{e}");
    for s in &servers {
        shutdown(h, s).await;
    }
}

/// A call nobody answers fails with a timeout naming the method.
pub async fn call_to_nobody_times_out(h: &Harness) {
    let t = h.transport().await;
    let client = RpcClient::new(&t, Target::topic(h.unique("nobody")))
        .with_timeout(Duration::from_millis(300));
    let e = within(
        h,
        "timeout",
        client.call(&context("u"), "add", json!({"a": 1, "b": 1})),
    )
    .await
    .expect_err("no server");
    match e {
        MessagingError::MessagingTimeout { method, timeout_ms } => {
            assert_eq!(method, "add");
            assert!(timeout_ms >= 300, "{timeout_ms}");
        }
        other => panic!("expected a timeout, got {other}"),
    }
}

/// An endpoint error reaches the caller with class, module and message.
pub async fn remote_error_carries_class_module_message(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let e = within(
        h,
        "call",
        client.call(&context("u"), "fail", json!({"message": "bad size"})),
    )
    .await
    .expect_err("fails");
    let f = e.remote().expect("remote error");
    assert_eq!(
        (f.class.as_str(), f.module.as_str(), f.message.as_str()),
        ("ValueError", "builtins", "bad size")
    );
    let e = within(
        h,
        "call",
        client.call(
            &context("u"),
            "fail",
            json!({"message": "gone", "module": "nova.exception"}),
        ),
    )
    .await
    .expect_err("fails");
    assert_eq!(
        e.remote().map(|f| f.module.as_str()),
        Some("nova.exception")
    );
    shutdown(h, &s).await;
}

async fn multi_endpoint_server(h: &Harness, t: &Transport, topic: &str) -> RpcServer {
    let who = |name: &'static str, ns: Option<&str>, version: &str, legacy: &[&str]| {
        let mut b = Endpoint::builder(name)
            .version(version)
            .legacy_namespaces(legacy.iter().copied());
        if let Some(ns) = ns {
            b = b.namespace(ns);
        }
        b.method("who", |name, _, _: crate::rpc::NoArgs| async move {
            Ok::<_, crate::rpc::EndpointError>(*name)
        })
        .build()
        .expect("endpoint")
    };
    let server = RpcServer::builder(t, Target::server(topic, "s1"))
        .endpoint(who("v1", None, "1.1", &[]))
        .endpoint(who("ns2", Some("ns2"), "2.3", &["old"]))
        .endpoint(who("v2", None, "2.0", &[]))
        .build()
        .expect("server");
    within(h, "start", server.start()).await.expect("start");
    server
}

/// Endpoints are chosen by namespace (and legacy namespaces) and compatible version, in order.
pub async fn dispatch_by_namespace_and_version(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let server = multi_endpoint_server(h, &t, &topic).await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let cases = [
        (None, None, "v1"),
        (None, Some("1.0"), "v1"),
        (None, Some("1.1"), "v1"),
        (None, Some("2.0"), "v2"),
        (Some("ns2"), Some("2.2"), "ns2"),
        (Some("old"), Some("2.0"), "ns2"),
    ];
    for (ns, version, expected) in cases {
        let mut c = client.prepare();
        if let Some(ns) = ns {
            c = c.with_namespace(ns);
        }
        if let Some(v) = version {
            c = c.with_version(v);
        }
        let got = within(
            h,
            "call",
            c.call_as::<String>(&context("u"), "who", json!({})),
        )
        .await;
        assert_eq!(
            got.expect("dispatched"),
            expected,
            "namespace {ns:?} version {version:?}"
        );
    }
    stop_server(h, &server).await;
}

/// NoSuchMethod when an endpoint matched but lacks the method; UnsupportedVersion when none matched.
pub async fn no_such_method_and_unsupported_version(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let server = multi_endpoint_server(h, &t, &topic).await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let e = within(h, "call", client.call(&context("u"), "missing", json!({})))
        .await
        .expect_err("no method");
    assert_eq!(remote_class(&e), "NoSuchMethod");
    assert!(
        e.to_string()
            .contains("does not support RPC method missing"),
        "{e}"
    );
    for (ns, version) in [(None, "1.5"), (None, "3.0"), (Some("nope"), "1.0")] {
        let mut c = client.prepare().with_version(version);
        if let Some(ns) = ns {
            c = c.with_namespace(ns);
        }
        let e = within(h, "call", c.call(&context("u"), "who", json!({})))
            .await
            .expect_err("unsupported");
        assert_eq!(remote_class(&e), "UnsupportedVersion", "{ns:?} {version}");
        assert_eq!(
            e.remote().map(|f| f.module.as_str()),
            Some("oslo_messaging.rpc.dispatcher")
        );
    }
    stop_server(h, &server).await;
}

/// The default access policy refuses methods starting with `_`; AllowAll lets them through.
pub async fn access_policy_refuses_private_methods(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let e = within(h, "call", client.call(&context("u"), "_secret", json!({})))
        .await
        .expect_err("refused");
    assert_eq!(remote_class(&e), "NoSuchMethod");
    shutdown(h, &s).await;

    let (endpoint, _probe) = test_endpoint("s2", None, "1.0");
    let open = RpcServer::builder(&t, Target::server(&topic, "s2"))
        .endpoint(endpoint)
        .access_policy(AccessPolicy::AllowAll)
        .build()
        .expect("server");
    within(h, "start", open.start()).await.expect("start");
    let v = within(h, "call", client.call(&context("u"), "_secret", json!({}))).await;
    assert_eq!(v.expect("allowed"), json!("hidden"));
    stop_server(h, &open).await;
}

/// Wrong argument names or types reach the caller as a TypeError naming the problem.
pub async fn wrong_arguments_are_type_errors(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let cases = [
        (json!({"a": "x", "b": 1}), "invalid type"),
        (json!({"a": 1}), "missing field `b`"),
        (json!({"a": 1, "b": 2, "c": 3}), "unknown field `c`"),
    ];
    for (args, expected) in cases {
        let e = within(h, "call", client.call(&context("u"), "add", args.clone()))
            .await
            .expect_err("type error");
        assert_eq!(remote_class(&e), "TypeError", "{args}");
        assert!(
            e.to_string().contains("add() got invalid arguments")
                && e.to_string().contains(expected),
            "{e}"
        );
    }
    let e = client
        .call(&context("u"), "add", json!([1, 2]))
        .await
        .expect_err("not an object");
    assert!(
        e.to_string()
            .contains("must be a JSON object of keyword arguments"),
        "{e}"
    );
    shutdown(h, &s).await;
}

/// A panic in an endpoint is a RuntimeError for the caller; the server keeps serving.
pub async fn panic_becomes_remote_error_and_server_keeps_serving(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    for method in ["boom", "blocking_boom"] {
        let e = within(h, "call", client.call(&context("u"), method, json!({})))
            .await
            .expect_err("panics");
        assert_eq!(remote_class(&e), "RuntimeError");
        assert!(
            e.to_string().contains("panicked") && e.to_string().contains("kaboom"),
            "{e}"
        );
    }
    let v = within(
        h,
        "call",
        client.call(&context("u"), "add", json!({"a": 1, "b": 1})),
    )
    .await;
    assert_eq!(v.expect("still serving"), json!(2));
    shutdown(h, &s).await;
}

/// A version above the cap is refused before sending.
pub async fn version_cap_is_enforced(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let client = RpcClient::new(&t, Target::topic(&topic)).with_version_cap("1.1");
    assert!(client.can_send_version("1.0") && client.can_send_version("1.1"));
    assert!(!client.can_send_version("1.2") && !client.can_send_version("2.0"));
    let e = client
        .prepare()
        .with_version("1.2")
        .call(&context("u"), "add", json!({}))
        .await
        .expect_err("capped");
    assert!(
        matches!(e, MessagingError::RpcVersionCapError { ref version, ref version_cap } if version == "1.2" && version_cap == "1.1"),
        "{e}"
    );
    let e = client
        .prepare()
        .with_version("2.0")
        .cast(&context("u"), "add", json!({}))
        .await
        .expect_err("capped cast");
    assert!(
        matches!(e, MessagingError::RpcVersionCapError { .. }),
        "{e}"
    );
}

/// `oslo_rpc_server_ping` answers "pong" only when `rpc_ping_enabled` is set.
pub async fn ping_endpoint_answers_when_enabled(h: &Harness) {
    let topic = h.unique("topic");
    let t = h.transport_with_ping().await;
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let v = within(
        h,
        "ping",
        client.call(&context("u"), PING_METHOD, json!({})),
    )
    .await;
    assert_eq!(v.expect("pong"), json!("pong"));
    shutdown(h, &s).await;

    let plain = h.transport().await;
    let s = serve(h, &plain, Target::server(&topic, "s2"), "async").await;
    let client = RpcClient::new(&plain, Target::topic(&topic));
    let e = within(
        h,
        "ping",
        client.call(&context("u"), PING_METHOD, json!({})),
    )
    .await
    .expect_err("disabled");
    assert_eq!(remote_class(&e), "NoSuchMethod");
    shutdown(h, &s).await;
}

/// Keep-alives let a call outlive its call-monitor timeout; without a server the monitor fails it early.
pub async fn call_monitor_keeps_long_call_alive(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic))
        .with_timeout(Duration::from_secs(30))
        .with_call_monitor_timeout(Duration::from_secs(1));
    // The method works three times the monitor interval; only keep-alives save it.
    let v = within(
        h,
        "monitored call",
        client.call(&context("u"), "sleep", json!({"millis": 3000})),
    )
    .await;
    assert_eq!(v.expect("kept alive"), json!(3000));
    shutdown(h, &s).await;

    let lonely = RpcClient::new(&t, Target::topic(h.unique("nobody")))
        .with_timeout(Duration::from_secs(60))
        .with_call_monitor_timeout(Duration::from_millis(300));
    let e = within(
        h,
        "monitor timeout",
        lonely.call(&context("u"), "add", json!({})),
    )
    .await
    .expect_err("no keep-alive");
    assert!(matches!(e, MessagingError::MessagingTimeout { .. }), "{e}");
}

/// stop before start, double start and wait before stop are errors; a server restarts after wait.
pub async fn server_lifecycle_misuse_is_an_error(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let (endpoint, _probe) = test_endpoint("s1", None, "1.0");
    let server = RpcServer::builder(&t, Target::server(&topic, "s1"))
        .endpoint(endpoint)
        .build()
        .expect("server");
    assert!(matches!(
        server.stop().await,
        Err(MessagingError::ServerState(_))
    ));
    assert!(matches!(
        server.wait().await,
        Err(MessagingError::ServerState(_))
    ));
    within(h, "start", server.start()).await.expect("start");
    assert!(matches!(
        server.start().await,
        Err(MessagingError::ServerState(_))
    ));
    assert!(matches!(
        server.wait().await,
        Err(MessagingError::ServerState(_))
    ));
    within(h, "stop", server.stop()).await.expect("stop");
    assert!(matches!(
        server.start().await,
        Err(MessagingError::ServerState(_))
    ));
    within(h, "wait", server.wait()).await.expect("wait");
    within(h, "restart", server.start())
        .await
        .expect("restart after wait");
    let client = RpcClient::new(&t, Target::topic(&topic));
    let v = within(
        h,
        "call",
        client.call(&context("u"), "add", json!({"a": 4, "b": 4})),
    )
    .await;
    assert_eq!(v.expect("serves after restart"), json!(8));
    stop_server(h, &server).await;
    let e = RpcServer::builder(&t, Target::topic(&topic))
        .build()
        .expect_err("no server name");
    assert!(matches!(e, MessagingError::InvalidTarget(_)), "{e}");
    let e = RpcServer::builder(&t, Target::server(&topic, "s1"))
        .executor("gevent")
        .build()
        .expect_err("bad executor");
    assert!(e.to_string().contains("unknown executor \"gevent\""), "{e}");
}

/// After stop no new request is taken (it stays queued for the next server); wait lets in-flight ones finish.
pub async fn stop_takes_no_new_requests_and_wait_drains(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let client = RpcClient::new(&t, Target::topic(&topic));
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { client.call(&context("u"), "wait_gate", json!({})).await })
    };
    within(h, "request to reach the endpoint", s.probe.gate.entered()).await;
    within(h, "stop", s.server.stop()).await.expect("stop");
    client
        .cast(&context("u"), "record", json!({"value": "after stop"}))
        .await
        .expect("cast");
    s.probe.gate.open();
    within(h, "wait", s.server.wait())
        .await
        .expect("wait drains");
    let reply = within(h, "in-flight reply", in_flight).await.expect("task");
    assert_eq!(reply.expect("in-flight call completes"), json!("opened"));
    let mut next = serve(h, &t, Target::server(&topic, "s2"), "async").await;
    let got = within(h, "queued cast", next.probe.records.recv()).await;
    assert_eq!(
        got,
        Some(("s2".to_owned(), json!("after stop"))),
        "the stopped server must not have taken it"
    );
    shutdown(h, &next).await;
}

/// Blocking methods run off the async runtime: on pool threads with `threading`, and never stall other requests.
pub async fn blocking_method_runs_on_threading_executor(h: &Harness) {
    let t = h.transport().await;
    for executor in ["threading", "async"] {
        let topic = h.unique("topic");
        let s = serve(h, &t, Target::server(&topic, "s1"), executor).await;
        let client = RpcClient::new(&t, Target::topic(&topic));
        let name = within(
            h,
            "thread",
            client.call_as::<String>(&context("u"), "thread", json!({})),
        )
        .await
        .expect("thread");
        if executor == "threading" {
            assert!(name.starts_with("oslo-exec-"), "ran on {name}");
        }
        let blocked = {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .call_as::<String>(&context("u"), "block", json!({}))
                    .await
            })
        };
        // While `block` holds its thread, other requests are still served.
        for i in 0..3 {
            let v = within(
                h,
                "call beside a blocked one",
                client.call(&context("u"), "add", json!({"a": i, "b": 1})),
            )
            .await;
            assert_eq!(v.expect("served"), json!(i + 1), "executor {executor}");
        }
        s.probe.release.send(()).expect("release");
        let name = within(h, "blocked call", blocked)
            .await
            .expect("task")
            .expect("block returns");
        if executor == "threading" {
            assert!(name.starts_with("oslo-exec-"), "ran on {name}");
        }
        shutdown(h, &s).await;
    }
}

/// The inline executor handles requests one at a time, in order.
pub async fn inline_executor_keeps_order(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let mut s = serve(h, &t, Target::server(&topic, "s1"), "inline").await;
    let client = RpcClient::new(&t, Target::topic(&topic)).with_server("s1");
    for i in 0..20 {
        client
            .cast(&context("u"), "record", json!({"value": i}))
            .await
            .expect("cast");
    }
    for i in 0..20 {
        let got = within(h, "ordered delivery", s.probe.records.recv())
            .await
            .expect("record");
        assert_eq!(got.1, json!(i));
    }
    shutdown(h, &s).await;
}

/// A target's exchange isolates it: the same topic on another exchange is not reached.
pub async fn exchange_isolates_targets(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let exchange = h.unique("exchange");
    let s = serve(
        h,
        &t,
        Target::server(&topic, "s1").with_exchange(&exchange),
        "async",
    )
    .await;
    let same = RpcClient::new(&t, Target::topic(&topic).with_exchange(&exchange));
    let v = within(
        h,
        "call",
        same.call(&context("u"), "add", json!({"a": 1, "b": 2})),
    )
    .await;
    assert_eq!(v.expect("same exchange"), json!(3));
    let other = RpcClient::new(&t, Target::topic(&topic).with_exchange(h.unique("other")))
        .with_timeout(Duration::from_millis(300));
    let e = within(
        h,
        "call",
        other.call(&context("u"), "add", json!({"a": 1, "b": 2})),
    )
    .await
    .expect_err("other exchange");
    assert!(matches!(e, MessagingError::MessagingTimeout { .. }), "{e}");
    shutdown(h, &s).await;
}

/// With `at_least_once`, a request that no queue takes is
/// `MessageUndeliverable` (a cast and a call alike) instead of vanishing;
/// once a server listens the same client is answered.
pub async fn at_least_once_reports_unroutable_requests(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let client = RpcClient::new(&t, Target::topic(&topic)).with_at_least_once(true);
    let undeliverable = |e: MessagingError, key: &str| match e {
        MessagingError::MessageUndeliverable { routing_key, .. } => assert_eq!(routing_key, key),
        other => panic!("expected MessageUndeliverable for {key}, got {other}"),
    };
    let e = within(
        h,
        "cast",
        client.cast(&context("u"), "add", json!({"a": 1, "b": 2})),
    )
    .await
    .expect_err("nobody listens");
    undeliverable(e, &topic);
    let e = within(
        h,
        "call",
        client.call(&context("u"), "add", json!({"a": 1, "b": 2})),
    )
    .await
    .expect_err("nobody listens");
    undeliverable(e, &topic);
    let s = serve(h, &t, Target::server(&topic, "s1"), "async").await;
    let v = within(
        h,
        "call",
        client.call(&context("u"), "add", json!({"a": 1, "b": 2})),
    )
    .await;
    assert_eq!(v.expect("a server listens"), json!(3));
    let e = within(
        h,
        "call to a missing server",
        client
            .prepare()
            .with_server("nobody")
            .call(&context("u"), "add", json!({"a": 1, "b": 2})),
    )
    .await
    .expect_err("no such server");
    undeliverable(e, &format!("{topic}.nobody"));
    shutdown(h, &s).await;
}
