//! `oslo-messaging tap` as an operator runs it beside live services: it
//! prints every request and notification of a topic while the servers
//! and listeners still get each one, with secrets masked; and, with
//! RabbitMQ's tracer on (a private node: turning it on reconfigures the
//! broker), the replies, matched to their calls.

use serde_json::{json, Value};

mod support;
use support::binary::{cli, cli_on, text, unique, Running, GUARD};
use support::DeleteQueues;

#[path = "../../driver-rabbit/tests/support/node.rs"]
mod node;
use node::TestNode;

/// The next JSON line the tap printed.
fn next_event(tap: &Running) -> Value {
    let line = tap
        .stdout
        .recv_timeout(GUARD)
        .expect("the tap prints a line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

const SECRET_CONTEXT: &str =
    r#"{"user": "alice", "auth_token": "gAAAA-s3cr3t", "request_id": "req-1"}"#;

fn assert_masked(event: &Value) {
    assert_eq!(event["context"]["auth_token"], "***", "{event}");
    assert_eq!(event["context"]["user"], "alice", "{event}");
    assert!(!event.to_string().contains("s3cr3t"), "{event}");
}

#[test]
fn tap_prints_calls_casts_and_fanouts_the_server_still_answers() {
    let topic = unique("tap-rpc");
    let _cleanup = DeleteQueues(vec![topic.clone(), format!("{topic}.s1")]);
    let mut served = Running::start(&["serve", "--topic", &topic, "--server", "s1"], "serving ");
    let mut tap = Running::start(&["--topic", &topic, "tap", "--count", "4"], "tapping ");

    let call = cli(&[
        "--topic",
        &topic,
        "--context",
        SECRET_CONTEXT,
        "call",
        "add",
        r#"{"a": 1, "b": 2}"#,
    ]);
    assert_eq!(text(&call.stdout), "3\n", "the server answered: {call:?}");
    let event = next_event(&tap);
    assert_eq!(
        (
            &event["direction"],
            &event["type"],
            &event["method"],
            &event["args"]
        ),
        (
            &json!("request"),
            &json!("call"),
            &json!("add"),
            &json!({"a": 1, "b": 2})
        ),
        "{event}"
    );
    assert_eq!(event["routing_key"], json!(topic));
    assert!(
        event["msg_id"].is_string() && event["reply_queue"].is_string(),
        "{event}"
    );
    assert!(event["size"].as_u64().unwrap_or(0) > 0, "{event}");
    assert_masked(&event);

    let cast = cli(&[
        "--topic",
        &topic,
        "--server",
        "s1",
        "cast",
        "echo",
        r#"{"value": {"admin_password": "pw"}}"#,
    ]);
    assert_eq!(cast.status.code(), Some(0), "{cast:?}");
    let event = next_event(&tap);
    assert_eq!(
        (&event["type"], &event["routing_key"]),
        (&json!("cast"), &json!(format!("{topic}.s1"))),
        "{event}"
    );
    assert_eq!(event["msg_id"], Value::Null);
    assert_eq!(
        event["args"],
        json!({"value": {"admin_password": "***"}}),
        "arguments are masked too"
    );

    let fanout = cli(&[
        "--topic",
        &topic,
        "cast",
        "--fanout",
        "echo",
        r#"{"value": 1}"#,
    ]);
    assert_eq!(fanout.status.code(), Some(0), "{fanout:?}");
    let event = next_event(&tap);
    assert_eq!(
        (&event["type"], &event["exchange"]),
        (&json!("fanout"), &json!(format!("{topic}_fanout"))),
        "{event}"
    );
    // A server whose name has dots, as host names do.
    let dotted = cli(&[
        "--topic",
        &topic,
        "--server",
        "host1.example.com",
        "cast",
        "echo",
        "{}",
    ]);
    assert_eq!(dotted.status.code(), Some(0), "{dotted:?}");
    let event = next_event(&tap);
    assert_eq!(
        event["routing_key"],
        json!(format!("{topic}.host1.example.com")),
        "{event}"
    );
    assert_eq!(tap.wait().code(), Some(0), "tap exits after --count");
    // Still serving: the tap took copies, not the requests.
    let after = cli(&["--topic", &topic, "call", "add", r#"{"a": 2, "b": 2}"#]);
    assert_eq!(text(&after.stdout), "4\n", "{after:?}");
    assert_eq!(served.terminate().code(), Some(0));
}

#[test]
fn tap_prints_notifications_the_listener_still_gets() {
    let topic = unique("tap-notify");
    let _cleanup = DeleteQueues(
        [
            "audit", "debug", "info", "warn", "error", "critical", "sample",
        ]
        .iter()
        .map(|p| format!("{topic}.{p}"))
        .collect(),
    );
    let mut listen = Running::start(&["--topic", &topic, "listen", "--count", "1"], "listening ");
    let mut tap = Running::start(
        &["--topic", &topic, "tap", "--notifications", "--count", "1"],
        "tapping ",
    );
    let notify = cli(&[
        "--topic",
        &topic,
        "--context",
        SECRET_CONTEXT,
        "notify",
        "--publisher-id",
        "compute.h1",
        "--event-type",
        "compute.instance.create.end",
        "--priority",
        "error",
        r#"{"id": 7}"#,
    ]);
    assert_eq!(notify.status.code(), Some(0), "{notify:?}");
    let event = next_event(&tap);
    assert_eq!(
        (
            &event["direction"],
            &event["event_type"],
            &event["priority"],
            &event["payload"]
        ),
        (
            &json!("notification"),
            &json!("compute.instance.create.end"),
            &json!("ERROR"),
            &json!({"id": 7})
        ),
        "{event}"
    );
    assert_eq!(event["routing_key"], json!(format!("{topic}.error")));
    // The notifier blanks auth_token itself (as Python's); the tap hides
    // nothing else of the context.
    assert_eq!(event["context"]["user"], "alice", "{event}");
    assert!(!event.to_string().contains("s3cr3t"), "{event}");
    let got: Value =
        serde_json::from_str(&listen.stdout.recv_timeout(GUARD).expect("listened")).expect("JSON");
    assert_eq!(
        got["event_type"], "compute.instance.create.end",
        "the listener got it too"
    );
    assert_eq!(listen.wait().code(), Some(0));
    assert_eq!(tap.wait().code(), Some(0));
}

#[test]
fn tap_refuses_a_url_that_is_not_rabbit() {
    let out = cli_on("fake://", &["--topic", "t", "tap"]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(
        text(&out.stderr).contains("needs a rabbit:// transport URL"),
        "{out:?}"
    );
}

#[test]
fn tap_replies_through_the_firehose_are_matched_to_their_calls() {
    let node = TestNode::start();
    let url = node.url();
    node.ctl(&["trace_on", "-p", "/"]);
    let topic = "tap-replies";
    let mut served = Running::start_on(
        &url,
        &["serve", "--topic", topic, "--server", "s1"],
        "serving ",
    );
    let mut tap = Running::start_on(
        &url,
        &["--topic", topic, "tap", "--replies", "--count", "4"],
        "tapping ",
    );

    let add = cli_on(
        &url,
        &["--topic", topic, "call", "add", r#"{"a": 20, "b": 22}"#],
    );
    assert_eq!(text(&add.stdout), "42\n", "{add:?}");
    let fail = cli_on(
        &url,
        &["--topic", topic, "call", "fail", r#"{"message": "no"}"#],
    );
    assert_eq!(fail.status.code(), Some(1), "{fail:?}");

    let events: Vec<Value> = (0..4).map(|_| next_event(&tap)).collect();
    let requests: Vec<&Value> = events
        .iter()
        .filter(|e| e["direction"] == "request")
        .collect();
    let replies: Vec<&Value> = events
        .iter()
        .filter(|e| e["direction"] == "reply")
        .collect();
    assert_eq!((requests.len(), replies.len()), (2, 2), "{events:#?}");
    for request in &requests {
        let reply = replies
            .iter()
            .find(|r| r["msg_id"] == request["msg_id"])
            .unwrap_or_else(|| panic!("no reply to {request} in {events:#?}"));
        assert_eq!(reply["method"], request["method"], "matched to its call");
        assert_eq!(reply["reply_queue"], request["reply_queue"]);
        assert!(
            reply["elapsed_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{reply}"
        );
        match request["method"].as_str() {
            Some("add") => assert_eq!(reply["result"], 42, "{reply}"),
            _ => assert_eq!(reply["failure"]["class"], "ValueError", "{reply}"),
        }
    }
    assert_eq!(tap.wait().code(), Some(0));
    assert_eq!(served.terminate().code(), Some(0));
    // The node, and every queue on it, goes with `node`.
}
