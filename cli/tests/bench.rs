//! `oslo-messaging bench`: over `fake://` in-process, and over the RabbitMQ
//! at 127.0.0.1:5672 (a bench server that stops after N messages and a
//! client that sends N agree on the count). Timings are printed, never
//! asserted. Every test uses its own topic and deletes its queues.

use std::time::Duration;

use oslo_messaging_cli::commands::bench::READY_PREFIX;
use oslo_messaging_cli::Status;
use serde_json::Value;

mod support;
use support::{cli, DeleteQueues, Running, RABBIT_URL};

/// A report printed with `--json`.
fn report(stdout: &str) -> Value {
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON report ({e}): {stdout:?}"))
}

fn count(report: &Value) -> u64 {
    report["messages"].as_u64().expect("messages")
}

/// The client's report: every message sent, no error, ordered percentiles.
fn assert_client_report(report: &Value, sent: u64) {
    assert_eq!(count(report), sent, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    let l = &report["latency_ms"];
    let p = |k: &str| {
        l[k].as_f64()
            .unwrap_or_else(|| panic!("latency {k}: {report}"))
    };
    assert!(
        p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("max"),
        "{report}"
    );
    assert!(
        report["messages_per_second"].as_f64().unwrap_or(0.0) > 0.0,
        "{report}"
    );
    // Sending costs CPU: a client that spent none measured nothing.
    assert!(
        report["cpu_us_per_message"].as_f64().unwrap_or(0.0) > 0.0,
        "{report}"
    );
    assert!(
        report["context_switches_per_message"].as_f64().is_some(),
        "{report}"
    );
}

#[tokio::test]
async fn fake_rpc_client_with_in_process_server_answers_every_call() {
    let run = cli(&[
        "--url",
        "fake://",
        "--topic",
        "bench-fake-rpc",
        "bench",
        "rpc-client",
        "--in-process-server",
        "--calls",
        "200",
        "--concurrency",
        "4",
        "--json",
    ])
    .await;
    assert_eq!(run.status, Status::Ok, "{run:?}");
    assert_client_report(&report(&run.stdout), 200);
}

/// `--metrics` prints the counters the run recorded: as many calls started,
/// ended, sent and processed as the report counts. (The only test of this
/// binary that installs the process's metrics recorder.)
#[tokio::test]
async fn fake_rpc_client_metrics_count_what_the_report_counts() {
    let run = cli(&[
        "--url",
        "fake://",
        "--topic",
        "bench-fake-metrics",
        "bench",
        "rpc-client",
        "--in-process-server",
        "--calls",
        "150",
        "--concurrency",
        "3",
        "--metrics",
        "--json",
    ])
    .await;
    assert_eq!(run.status, Status::Ok, "{run:?}");
    assert_client_report(&report(&run.stdout), 150);
    let counted = |prefix: &str| -> u64 {
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(prefix) && l.contains("\"bench-fake-metrics\""))
            .collect();
        assert_eq!(lines.len(), 1, "{prefix} in {}", run.stderr);
        lines[0]
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse().ok())
            .expect("a count")
    };
    assert_eq!(
        counted("oslo_messaging_rpc_client_invocation_start_total{"),
        150
    );
    assert_eq!(
        counted("oslo_messaging_rpc_client_invocation_end_total{"),
        150
    );
    assert_eq!(
        counted("oslo_messaging_rpc_server_invocation_end_total{"),
        150
    );
    assert_eq!(counted("messaging_client_sent_messages{"), 150);
    assert_eq!(counted("messaging_client_consumed_messages{"), 150);
}

#[tokio::test]
async fn fake_notify_client_with_in_process_listener_sends_every_notification() {
    let run = cli(&[
        "--url",
        "fake://",
        "--topic",
        "bench-fake-notify",
        "bench",
        "notify-client",
        "--in-process-server",
        "--messages",
        "100",
        "--concurrency",
        "2",
        "--json",
    ])
    .await;
    assert_eq!(run.status, Status::Ok, "{run:?}");
    assert_client_report(&report(&run.stdout), 100);
}

#[tokio::test]
async fn bad_load_arguments_are_usage_errors_naming_the_option() {
    for (args, names) in [
        (&["--calls", "0"][..], "--calls"),
        (&["--concurrency", "0"][..], "--concurrency"),
        (&["--calls", "5", "--duration", "2"][..], "--duration"),
        (&["--duration", "soon"][..], "--duration"),
        (&["--payload-bytes", "100000000"][..], "--payload-bytes"),
    ] {
        let mut argv = vec!["--url", "fake://", "bench", "rpc-client"];
        argv.extend_from_slice(args);
        let run = cli(&argv).await;
        assert_eq!(run.status, Status::Usage, "{args:?}: {run:?}");
        assert!(run.stderr.contains(names), "{args:?}: {}", run.stderr);
    }
}

/// Over RabbitMQ on its own topic: a bench `server` that stops after `n`
/// messages, then a bench `client` (with `flags`) sending `n`; both reports
/// must count `n`, the client's with no error.
async fn server_and_client_agree(name: &str, server: &[&str], client: &[&str], n: u64) {
    let topic = format!("bench-{name}-{}", std::process::id());
    let queues = match server[0] {
        "notify-server" => [
            "audit", "debug", "info", "warn", "error", "critical", "sample",
        ]
        .iter()
        .map(|p| format!("{topic}.{p}"))
        .collect(),
        _ => vec![topic.clone(), format!("{topic}.profiler_server")],
    };
    let _queues = DeleteQueues(queues);
    let n_text = n.to_string();
    let common = ["--url", RABBIT_URL, "--topic", topic.as_str(), "bench"];
    let server_args = [&common[..], server, &["--messages", &n_text, "--json"]].concat();
    let client_args = [&common[..], client, &["--calls", &n_text, "--json"]].concat();

    let mut served = Running::start(&server_args, READY_PREFIX).await;
    let sent = cli(&client_args).await;
    assert_eq!(sent.status, Status::Ok, "{sent:?}");
    let status = tokio::time::timeout(Duration::from_secs(60), &mut served.task)
        .await
        .expect("the server stops once it has received every message")
        .expect("no panic");
    assert_eq!(status, Status::Ok);
    let line = served.stdout.recv().await.expect("the server's report");
    assert_client_report(&report(&sent.stdout), n);
    let server_report = report(&line);
    assert_eq!(count(&server_report), n, "{server_report}");
}

#[tokio::test]
async fn rabbit_rpc_server_and_client_agree_on_every_call() {
    server_and_client_agree(
        "rpc",
        &["rpc-server"],
        &["rpc-client", "--concurrency", "4"],
        60,
    )
    .await;
}

#[tokio::test]
async fn rabbit_casts_all_reach_the_server() {
    let client = ["rpc-client", "--cast", "--concurrency", "8"];
    server_and_client_agree("cast", &["rpc-server"], &client, 80).await;
}

#[tokio::test]
async fn rabbit_notifications_all_reach_the_listener() {
    let client = ["notify-client", "--concurrency", "4"];
    server_and_client_agree("notify", &["notify-server"], &client, 50).await;
}

#[tokio::test]
async fn raw_floor_answers_every_call() {
    let client = ["raw-client", "--concurrency", "4"];
    server_and_client_agree("raw", &["raw-server"], &client, 60).await;
}

#[tokio::test]
async fn raw_floor_confirmed_publishes_all_reach_the_server() {
    let client = ["raw-client", "--cast", "--concurrency", "8"];
    server_and_client_agree("raw-cast", &["raw-server"], &client, 80).await;
}

#[tokio::test]
async fn raw_floor_with_oslo_amqp_features_answers_every_call_and_cast() {
    let server = ["raw-server", "--oslo-amqp"];
    let calls = ["raw-client", "--oslo-amqp", "--concurrency", "4"];
    server_and_client_agree("raw-oslo", &server, &calls, 60).await;
    let casts = ["raw-client", "--oslo-amqp", "--cast", "--concurrency", "4"];
    server_and_client_agree("raw-oslo-cast", &server, &casts, 40).await;
}

#[tokio::test]
async fn raw_amqprs_floor_answers_every_call_and_cast() {
    let server = ["raw-server", "--client", "amqprs"];
    let calls = ["raw-client", "--client", "amqprs", "--concurrency", "4"];
    server_and_client_agree("raw-amqprs", &server, &calls, 60).await;
    let casts = [
        "raw-client",
        "--client",
        "amqprs",
        "--cast",
        "--concurrency",
        "8",
    ];
    server_and_client_agree("raw-amqprs-cast", &server, &casts, 80).await;
}

#[tokio::test]
async fn raw_amqprs_floor_refuses_the_lapin_only_flags() {
    for flag in ["--oslo-amqp", "--quorum"] {
        let args = [
            "--url",
            RABBIT_URL,
            "bench",
            "raw-client",
            "--client",
            "amqprs",
            flag,
            "--calls",
            "1",
        ];
        let run = cli(&args).await;
        assert_eq!(run.status, Status::Usage, "{flag}: {run:?}");
        assert!(
            run.stderr.contains("amqprs") && run.stderr.contains(flag),
            "{flag}: {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn raw_floor_needs_a_rabbit_url() {
    let run = cli(&["--url", "fake://", "bench", "raw-client", "--calls", "1"]).await;
    assert_eq!(run.status, Status::Usage, "{run:?}");
    assert!(
        run.stderr.contains("rabbit://") && run.stderr.contains("fake://"),
        "{}",
        run.stderr
    );
}
