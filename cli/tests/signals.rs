//! Every one-shot command stops promptly on SIGINT and SIGTERM, with the
//! shell's exit status for it (130, 143), after deleting what it declared.
//! (`serve` and `listen` stop cleanly with 0: see `binary_rabbit.rs`.)
//!
//! Waits for events (a log line, an exit), never for time to pass.

use std::process::Command;

mod support;
use support::binary::{unique, Running};
use support::RABBIT_URL;

/// Nothing listens on port 1: the driver retries forever with `--retry -1`.
const UNREACHABLE: &str = "rabbit://guest:guest@127.0.0.1:1/";

#[test]
fn notify_retrying_forever_stops_on_sigterm_and_sigint() {
    for (signal, status, name) in [("-TERM", 143, "SIGTERM"), ("-INT", 130, "SIGINT")] {
        let mut notify = Running::spawn(
            UNREACHABLE,
            &[
                "--retry",
                "-1",
                "notify",
                "--publisher-id",
                "x",
                "--event-type",
                "y",
                "{}",
            ],
            &[],
        );
        // Stuck retrying: the driver says so on each failed attempt.
        notify.wait_for_stderr(|l| l.contains("AMQP server unreachable"));
        notify.signal(signal);
        let exit = notify.wait();
        assert_eq!(exit.code(), Some(status), "{signal}: {exit:?}");
        let rest = notify.rest_of_stderr();
        assert!(
            rest.iter()
                .any(|l| l == &format!("oslo-messaging: stopped by {name}")),
            "{rest:#?}"
        );
    }
}

/// The queues on the main broker whose name is `name`.
fn queue_exists(name: &str) -> bool {
    let out = Command::new("rabbitmqctl")
        .args(["list_queues", "--quiet", "--no-table-headers", "name"])
        .output()
        .expect("rabbitmqctl runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == name)
}

#[test]
fn an_interrupted_call_deletes_its_reply_queue() {
    let topic = unique("interrupted-call");
    // Nobody serves the topic, so the call waits for its (long) timeout.
    let call = Running::spawn(
        RABBIT_URL,
        &["--topic", &topic, "--timeout", "600", "call", "m", "{}"],
        &[("RUST_LOG", "oslo_messaging_driver_rabbit=debug")],
    );
    let line = call.wait_for_stderr(|l| l.contains("consuming the reply queue"));
    let queue = line
        .split("queue=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|q| q.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no queue name in {line:?}"));
    assert!(queue.starts_with("reply_"), "{queue}");
    assert!(
        queue_exists(&queue),
        "{queue} is declared while the call waits"
    );
    let mut call = call;
    call.signal("-INT");
    let exit = call.wait();
    assert_eq!(exit.code(), Some(130), "{exit:?}");
    assert!(!queue_exists(&queue), "{queue} was left on the broker");
}

/// A benchmark client stops at once on a signal, prints the report of what
/// it sent so far, and exits with the signal's status.
#[test]
fn a_bench_client_stops_on_sigint_with_its_report() {
    let mut client = Running::spawn(
        "fake://",
        &[
            "bench",
            "rpc-client",
            "--in-process-server",
            "--duration",
            "3600",
            "--json",
        ],
        &[],
    );
    // Its progress line: it is sending.
    client.wait_for_stderr(|l| l.contains(" sent in "));
    client.signal("-INT");
    let exit = client.wait();
    assert_eq!(exit.code(), Some(130), "{exit:?}");
    let report: serde_json::Value = serde_json::from_str(
        &client
            .stdout
            .recv_timeout(support::binary::GUARD)
            .expect("a report line"),
    )
    .expect("the report is JSON");
    assert!(
        report["messages"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    assert_eq!(report["errors"], 0, "{report}");
}
