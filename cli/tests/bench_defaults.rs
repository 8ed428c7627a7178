//! `oslo-messaging bench`: what the two sides agree on when the user says
//! little (issue 12, item 7), in-process over `fake://` (process-global, so
//! a server in a task and a client in the same test talk to each other) and
//! over the RabbitMQ at 127.0.0.1:5672.
//!
//! - Without `--topic`/`--server`, both sides use the simulator's
//!   `profiler_topic` and `profiler_server`.
//! - A client given only `--topic T` reaches a server of topic T whatever
//!   its server name.
//! - Calls that time out come with a hint naming the target.
//! - A server that received nothing says so: zero messages, no duration, no
//!   rate (never `f64::MIN_POSITIVE`, 2.2250738585072014e-308).

use std::time::Duration;

use oslo_messaging_cli::commands::bench::READY_PREFIX;
use oslo_messaging_cli::Status;
use serde_json::Value;

mod support;
use support::{cli, DeleteQueues, Running, RABBIT_URL};

/// A guard against hanging when something is broken, never a delay.
const GUARD: Duration = Duration::from_secs(60);

/// The report a command printed with `--json` (its last stdout line).
fn report(stdout: &str) -> Value {
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON report ({e}): {stdout:?}"))
}

/// No number of the report is a denormal (or infinite, or NaN).
fn assert_no_absurd_number(report: &Value) {
    for key in ["seconds", "messages_per_second", "bytes_per_second"] {
        match &report[key] {
            Value::Null => {}
            Value::Number(n) => {
                let x = n.as_f64().expect("a float");
                assert!(x == 0.0 || x.is_normal(), "{key} = {x}: {report}");
                assert!(x < 1e12, "{key} = {x}: {report}");
            }
            other => panic!("{key} is {other}: {report}"),
        }
    }
}

/// A server over `fake://` that runs briefly and receives nothing.
async fn idle_server(kind: &str, topic: &str) {
    let run = cli(&[
        "--url",
        "fake://",
        "--topic",
        topic,
        "bench",
        kind,
        "--duration",
        "0.1",
        "--json",
    ])
    .await;
    assert_eq!(run.status, Status::Ok, "{run:?}");
    assert!(!run.stdout.contains("e-308"), "{}", run.stdout);
    let report = report(&run.stdout);
    assert_eq!(report["messages"], 0, "{report}");
    assert!(report["seconds"].is_null(), "{report}");
    assert!(report["messages_per_second"].is_null(), "{report}");
    assert_no_absurd_number(&report);
    assert!(run.stderr.contains("received no messages"), "{run:?}");
    assert!(run.stderr.contains(topic), "names its topic: {run:?}");

    // The text report says it too, without a rate.
    let text = cli(&[
        "--url",
        "fake://",
        "--topic",
        topic,
        "bench",
        kind,
        "--duration",
        "0.1",
    ])
    .await;
    assert_eq!(text.status, Status::Ok, "{text:?}");
    assert!(text.stdout.contains("0 messages"), "{text:?}");
    assert!(!text.stdout.contains("e-308"), "{text:?}");
    assert!(!text.stdout.contains("inf"), "{text:?}");
}

#[tokio::test]
async fn an_rpc_server_that_receives_nothing_says_so_without_a_denormal() {
    idle_server("rpc-server", "bench-defaults-idle-rpc").await;
}

#[tokio::test]
async fn a_notify_server_that_receives_nothing_says_so_without_a_denormal() {
    idle_server("notify-server", "bench-defaults-idle-notify").await;
}

/// One message is no span of time: no rate rather than 1 / 0.
#[tokio::test]
async fn a_server_that_received_one_message_reports_no_rate() {
    let topic = "bench-defaults-one";
    let server = Running::start(
        &[
            "--url",
            "fake://",
            "--topic",
            topic,
            "bench",
            "rpc-server",
            "--messages",
            "1",
            "--json",
        ],
        READY_PREFIX,
    )
    .await;
    let sent = cli(&[
        "--url",
        "fake://",
        "--topic",
        topic,
        "bench",
        "rpc-client",
        "--calls",
        "1",
        "--json",
    ])
    .await;
    assert_eq!(sent.status, Status::Ok, "{sent:?}");
    assert_eq!(report(&sent.stdout)["errors"], 0, "{sent:?}");
    let mut server = server;
    let status = tokio::time::timeout(GUARD, &mut server.task)
        .await
        .expect("the server stops after one message")
        .expect("no panic");
    assert_eq!(status, Status::Ok);
    let line = server.stdout.recv().await.expect("the server's report");
    let report = report(&line);
    assert_eq!(report["messages"], 1, "{report}");
    assert!(report["messages_per_second"].is_null(), "{report}");
    assert_no_absurd_number(&report);
}

/// Starts `bench rpc-server` with `server_args` (after `bench rpc-server`)
/// that stops after `n` messages, runs `bench rpc-client` with
/// `client_args` sending `n`, and checks both count `n`.
async fn client_reaches_server(url: &str, globals: &[&str], server: &[&str], client: &[&str]) {
    let n = "5";
    let server_args = [
        &["--url", url][..],
        globals,
        &["bench", "rpc-server"],
        server,
        &["--messages", n, "--json"],
    ]
    .concat();
    let client_args = [
        &["--url", url, "--timeout", "5"][..],
        globals,
        &["bench", "rpc-client"],
        client,
        &["--calls", n, "--json"],
    ]
    .concat();
    let mut served = Running::start(&server_args, READY_PREFIX).await;
    let sent = cli(&client_args).await;
    if sent.status != Status::Ok || !sent.stdout.contains(r#""errors":0,"#) {
        // Stop the server first, so that it deletes what it declared.
        let stopped = served.stop().await;
        panic!("{client_args:?} did not reach the server ({stopped:?}): {sent:?}");
    }
    let sent_report = report(&sent.stdout);
    assert_eq!(sent_report["messages"], 5, "{sent_report}");
    let status = tokio::time::timeout(GUARD, &mut served.task)
        .await
        .expect("the server stops once it has every message")
        .expect("no panic");
    assert_eq!(status, Status::Ok);
    let line = served.stdout.recv().await.expect("the server's report");
    assert_eq!(report(&line)["messages"], 5, "{line}");
}

#[tokio::test]
async fn a_client_given_only_a_topic_reaches_a_server_of_any_name() {
    let topic = ["--topic", "bench-defaults-topic-only"];
    client_reaches_server("fake://", &topic, &["--server", "X"], &[]).await;
}

#[tokio::test]
async fn without_topic_and_server_both_sides_use_the_simulator_defaults() {
    // The only test of this binary on profiler_topic.
    client_reaches_server("fake://", &[], &[], &[]).await;
}

#[tokio::test]
async fn a_client_given_a_server_reaches_that_server() {
    let topic = ["--topic", "bench-defaults-named"];
    client_reaches_server("fake://", &topic, &["--server", "X"], &["--server", "X"]).await;
}

#[tokio::test]
async fn rabbit_client_given_only_a_topic_reaches_a_server_of_any_name() {
    let topic = format!("bench-defaults-{}", std::process::id());
    let _queues = DeleteQueues(vec![topic.clone(), format!("{topic}.X")]);
    let globals = ["--topic", topic.as_str()];
    client_reaches_server(RABBIT_URL, &globals, &["--server", "X"], &[]).await;
}

#[tokio::test]
async fn timed_out_calls_come_with_a_hint_naming_the_target() {
    let topic = "bench-defaults-nobody";
    for (server, target) in [
        (None, format!("topic {topic}")),
        (Some("Y"), format!("{topic}.Y")),
    ] {
        let mut args = vec!["--url", "fake://", "--topic", topic, "--timeout", "0.2"];
        if let Some(server) = server {
            args.extend(["--server", server]);
        }
        args.extend(["bench", "rpc-client", "--calls", "2", "--json"]);
        let sent = cli(&args).await;
        assert_eq!(sent.status, Status::Ok, "{sent:?}");
        let report = report(&sent.stdout);
        assert_eq!(report["errors"], 2, "{report}");
        let hint = report["hint"].as_str().unwrap_or_default();
        assert!(
            hint.contains(&target),
            "{target:?} not in the hint: {report}"
        );
        assert!(
            sent.stderr.contains("timed out") && sent.stderr.contains(&target),
            "{target:?} not on stderr: {}",
            sent.stderr
        );
    }
}

#[tokio::test]
async fn rpc_client_help_says_what_it_targets() {
    let help = cli(&["bench", "rpc-client", "--help"]).await;
    assert_eq!(help.status, Status::Ok, "{help:?}");
    for needle in ["profiler_topic", "profiler_server", "any server"] {
        assert!(help.stdout.contains(needle), "{needle:?}: {}", help.stdout);
    }
}
