//! The binary while a broker refuses publishers (a memory alarm), on a
//! private RabbitMQ node (the main broker is never alarmed): `health` says
//! so, and a call's `--timeout` is the command's deadline, not the time
//! the blocked publishing connection would take to close.

use std::time::{Duration, Instant};

mod support;
use support::binary::{cli_on, text};

#[path = "../../driver-rabbit/tests/support/node.rs"]
mod node;
use node::TestNode;

#[test]
fn during_a_memory_alarm_health_reports_blocked_and_a_call_keeps_its_deadline() {
    let node = TestNode::start();
    let url = node.url();
    let healthy = cli_on(&url, &["health"]);
    assert_eq!(healthy.status.code(), Some(0), "{healthy:?}");
    node.set_memory_alarm(true);

    // A fresh connection never published, yet health learns of the alarm.
    let health = cli_on(&url, &["health"]);
    assert_eq!(health.status.code(), Some(3), "{health:?}");
    let snapshot: serde_json::Value =
        serde_json::from_str(text(&health.stdout).trim()).expect("health prints JSON");
    let publish = snapshot["connections"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["purpose"] == "publish"))
        .unwrap_or_else(|| panic!("no publish connection in {snapshot}"));
    assert_eq!(publish["blocked"], true, "{snapshot}");
    assert_eq!(publish["state"], "connected", "{snapshot}");
    let stderr = text(&health.stderr);
    assert!(stderr.contains("blocks publishing"), "{stderr}");

    // The request cannot go out; the call times out after 1 s and the
    // command ends then, without waiting for the blocked connection's close
    // handshake (which the broker never reads: it took 5 s more). The
    // margin covers starting the process and connecting.
    let started = Instant::now();
    let call = cli_on(
        &url,
        &["--topic", "alarm", "--timeout", "1", "call", "m", "{}"],
    );
    let took = started.elapsed();
    assert_eq!(call.status.code(), Some(2), "{call:?}");
    assert!(
        took < Duration::from_millis(3500),
        "call --timeout 1 took {took:?} during the alarm"
    );
    node.set_memory_alarm(false);
    let healthy = cli_on(&url, &["health"]);
    assert_eq!(healthy.status.code(), Some(0), "{healthy:?}");
    // The node, and every queue on it, goes with `node`.
}
