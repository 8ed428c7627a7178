//! `use_queue_manager` with the real binary on the main broker: reply
//! queues named `reply_<hostname>:<processname>:<N>`, N shared by the
//! processes of one service (one process group) through the state file in
//! /dev/shm, never the same name for two live processes, starting again at
//! 1 once the recorded service generation is gone; the queues are left to
//! expire, not deleted, as Python does.

use std::path::PathBuf;
use std::process::Command;

mod support;
use support::binary::{unique, Running};
use support::{DeleteQueues, RABBIT_URL};

const HOST: &str = "qm-test-host";

/// The reply queue a `call` declared, from its debug log.
fn reply_queue_of(call: &Running) -> String {
    let line = call.wait_for_stderr(|l| l.contains("consuming the reply queue"));
    line.split("queue=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|q| q.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no queue name in {line:?}"))
}

/// A `call` that waits (nobody serves its topic), with the queue manager
/// on, through `launcher` (e.g. `setsid` for a process group of its own).
fn waiting_call(config: &str, topic: &str, launcher: Option<&str>) -> Running {
    let bin = env!("CARGO_BIN_EXE_oslo-messaging");
    let mut args = vec![
        "--url",
        RABBIT_URL,
        "--config-file",
        config,
        "--topic",
        topic,
        "--timeout",
        "600",
        "call",
        "m",
        "{}",
    ];
    let program = match launcher {
        Some(l) => {
            args.insert(0, bin);
            l
        }
        None => bin,
    };
    Running::spawn_program(
        program,
        &args,
        &[("RUST_LOG", "oslo_messaging_driver_rabbit=debug")],
    )
}

struct StateFile(PathBuf);

impl Drop for StateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn one_service_counts_up_a_dead_generation_restarts_at_1() {
    let process = unique("qm");
    let topic = unique("qm-topic");
    let state = StateFile(PathBuf::from(format!("/dev/shm/{HOST}_{process}_qmanager")));
    let config = std::env::temp_dir().join(format!("{process}.conf"));
    std::fs::write(
        &config,
        format!(
            "[oslo_messaging_rabbit]\nuse_queue_manager = true\nhostname = {HOST}\nprocessname = {process}\n"
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let name = |n: u32| format!("reply_{HOST}:{process}:{n}");
    let _cleanup = DeleteQueues((1..=4).map(name).collect());

    // Two processes of this test's process group: one service, 1 and 2.
    let first = waiting_call(&config, &topic, None);
    let one = reply_queue_of(&first);
    let second = waiting_call(&config, &topic, None);
    let two = reply_queue_of(&second);
    assert_eq!(
        (one.as_str(), two.as_str()),
        (name(1).as_str(), name(2).as_str())
    );

    // Another process group while this one runs: the next number, never a
    // name in use (Python would restart at 1: LP 2110957).
    let other = waiting_call(&config, &topic, Some("setsid"));
    assert_eq!(reply_queue_of(&other), name(3));

    // Stopped: the queues stay (they expire), as with Python.
    for mut call in [first, second, other] {
        call.signal("-INT");
        assert_eq!(call.wait().code(), Some(130));
    }
    let listed = Command::new("rabbitmqctl")
        .args(["list_queues", "--quiet", "--no-table-headers", "name"])
        .output()
        .expect("rabbitmqctl");
    let listed = String::from_utf8_lossy(&listed.stdout);
    for n in 1..=3 {
        assert!(
            listed.lines().any(|l| l.trim() == name(n)),
            "{} was deleted",
            name(n)
        );
    }

    // A recorded generation that no longer runs: the service restarted, so
    // its names start again at 1.
    std::fs::write(&state.0, "999999999:3:1").expect("a dead generation");
    let restarted = waiting_call(&config, &topic, None);
    assert_eq!(reply_queue_of(&restarted), name(1));
    drop(restarted);

    // A state file that is not ours: a clear error at start-up.
    std::fs::write(&state.0, "garbage").expect("corrupt");
    let out = Command::new(env!("CARGO_BIN_EXE_oslo-messaging"))
        .args([
            "--url",
            RABBIT_URL,
            "--config-file",
            &config,
            "--topic",
            &topic,
            "call",
            "m",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("use_queue_manager") && stderr.contains("qmanager"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&config);
}
