//! The real `oslo-messaging` binary against RabbitMQ on 127.0.0.1:5672
//! (guest/guest): `serve` in one process, `call`, `ping`, `cast`, `notify`
//! and `listen` in others, then SIGTERM stops the server cleanly.
//!
//! Needs a broker and the `rabbit` driver. Queue names include the test's
//! pid; the queues each test declares are deleted at its end (also when it
//! fails) with the driver's `admin::delete`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::DeleteQueues;

// The transport URL the CLI uses.
use support::RABBIT_URL as URL;
/// A guard against hanging forever when something is broken; never a
/// synchronization delay (every wait below is for an event).
const GUARD: Duration = Duration::from_secs(60);

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oslo-messaging"))
}

/// A name unique to this test run.
fn unique(name: &str) -> String {
    format!("cli-bin-{}-{name}", std::process::id())
}

/// Runs the CLI to its end.
fn cli(args: &[&str]) -> Output {
    cli_on(URL, args)
}

/// Runs the CLI to its end on transport `url`.
fn cli_on(url: &str, args: &[&str]) -> Output {
    let output = bin()
        .arg("--url")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("guest:guest"),
        "password in output: {stderr}"
    );
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A long-running CLI process (serve, listen) whose stderr and stdout lines
/// arrive on channels, read by threads (so its pipes never fill up).
struct Running {
    pid: u32,
    stderr: mpsc::Receiver<String>,
    stdout: mpsc::Receiver<String>,
    exit: mpsc::Receiver<ExitStatus>,
    done: bool,
}

fn forward(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Running {
    /// Starts the CLI on RabbitMQ and waits for its stderr line starting with `ready`.
    fn start(args: &[&str], ready: &str) -> Running {
        Running::start_on(URL, args, ready)
    }

    /// As [`start`](Self::start), on transport `url`.
    fn start_on(url: &str, args: &[&str], ready: &str) -> Running {
        let mut child: Child = bin()
            .arg("--url")
            .arg(url)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = forward(child.stderr.take().expect("piped stderr"));
        let stdout = forward(child.stdout.take().expect("piped stdout"));
        let pid = child.id();
        let (exit_tx, exit) = mpsc::channel();
        thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        let running = Running {
            pid,
            stderr,
            stdout,
            exit,
            done: false,
        };
        let mut seen = Vec::new();
        loop {
            match running.stderr.recv_timeout(GUARD) {
                Ok(line) if line.starts_with(ready) => {
                    assert!(!line.contains("guest:guest"), "password shown: {line}");
                    break;
                }
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "{args:?} did not print {ready:?}; stderr so far: {seen:#?}; exit: {:?}",
                    running.exit.recv_timeout(GUARD)
                ),
            }
        }
        running
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {}", self.pid);
    }

    /// Waits for the process to end by itself.
    fn wait(&mut self) -> ExitStatus {
        let status = self
            .exit
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("process {} did not exit", self.pid));
        self.done = true;
        status
    }

    /// Sends SIGTERM and waits for the process to end.
    fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM");
        self.wait()
    }

    /// The rest of stderr, up to its end: call after the process exited.
    fn rest_of_stderr(&self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.stderr.recv_timeout(GUARD) {
                Ok(line) => lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return lines,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("stderr did not end: {lines:#?}"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done && self.exit.try_recv().is_err() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}

/// Signal handling of the binary, over `fake://` (no broker needed): serve
/// and listen stop cleanly, exit 0, on SIGTERM and SIGINT.
#[test]
fn serve_and_listen_exit_0_on_sigterm_and_sigint() {
    for signal in ["-TERM", "-INT"] {
        let mut served = Running::start_on(
            "fake://",
            &["serve", "--topic", "signals", "--server", "s1"],
            "serving ",
        );
        served.signal(signal);
        let status = served.wait();
        assert_eq!(
            status.code(),
            Some(0),
            "serve after kill {signal}: {status:?}"
        );
        assert!(served.rest_of_stderr().iter().any(|l| l == "stopped"));

        let mut listen = Running::start_on("fake://", &["listen"], "listening ");
        listen.signal(signal);
        let status = listen.wait();
        assert_eq!(
            status.code(),
            Some(0),
            "listen after kill {signal}: {status:?}"
        );
    }
}

#[test]
fn serve_answers_call_fail_ping_cast_and_stops_on_sigterm() {
    let topic = unique("rpc");
    let server = "s1";
    let nobody = unique("nobody");
    let _cleanup = DeleteQueues(vec![
        topic.clone(),
        format!("{topic}.{server}"),
        nobody.clone(),
    ]);
    let mut served = Running::start(
        &["serve", "--topic", &topic, "--server", server],
        "serving ",
    );

    let add = cli(&[
        "--topic",
        &topic,
        "--timeout",
        "30",
        "call",
        "add",
        r#"{"a": 2, "b": 40}"#,
    ]);
    assert_eq!(add.status.code(), Some(0), "{add:?}");
    assert_eq!(text(&add.stdout), "42\n");

    let echo = cli(&[
        "--topic",
        &topic,
        "--server",
        server,
        "call",
        "echo",
        r#"{"value": {"k": [1, "v"]}}"#,
    ]);
    assert_eq!(echo.status.code(), Some(0), "{echo:?}");
    assert_eq!(text(&echo.stdout), "{\"k\":[1,\"v\"]}\n");

    let fail = cli(&[
        "--topic",
        &topic,
        "call",
        "fail",
        r#"{"message": "bad flavor"}"#,
    ]);
    assert_eq!(fail.status.code(), Some(1), "{fail:?}");
    assert_eq!(
        text(&fail.stderr).trim_end(),
        "oslo-messaging: remote error: ValueError (builtins): bad flavor"
    );

    let ping = cli(&["--topic", &topic, "--server", server, "ping"]);
    assert_eq!(ping.status.code(), Some(0), "{ping:?}");
    assert_eq!(text(&ping.stdout), "pong\n");

    let cast = cli(&["--topic", &topic, "cast", "echo", r#"{"value": 1}"#]);
    assert_eq!(cast.status.code(), Some(0), "{cast:?}");
    let fanout = cli(&[
        "--topic",
        &topic,
        "cast",
        "--fanout",
        "echo",
        r#"{"value": 2}"#,
    ]);
    assert_eq!(fanout.status.code(), Some(0), "{fanout:?}");
    // The server is still answering after the casts.
    let after = cli(&["--topic", &topic, "call", "add", r#"{"a": 1, "b": 1}"#]);
    assert_eq!(text(&after.stdout), "2\n", "{after:?}");

    let timeout = cli(&[
        "--topic",
        &nobody,
        "--timeout",
        "1",
        "call",
        "echo",
        r#"{"value": 1}"#,
    ]);
    assert_eq!(timeout.status.code(), Some(2), "{timeout:?}");

    let status = served.terminate();
    assert_eq!(status.code(), Some(0), "serve exit: {status:?}");
    let rest = served.rest_of_stderr();
    assert!(rest.iter().any(|l| l == "stopped"), "{rest:#?}");
    assert!(rest.iter().all(|l| !l.contains("guest:guest")), "{rest:#?}");
}

#[test]
fn notify_reaches_listen_count_1() {
    let topic = unique("notifications");
    let _cleanup = DeleteQueues(vec![format!("{topic}.info")]);
    let mut listen = Running::start(
        &[
            "--topic",
            &topic,
            "listen",
            "--count",
            "1",
            "--priority",
            "info",
        ],
        "listening ",
    );
    let notify = cli(&[
        "--topic",
        &topic,
        "--context",
        r#"{"user": "alice"}"#,
        "notify",
        "--publisher-id",
        "ops.cli",
        "--event-type",
        "ops.smoke",
        "--priority",
        "info",
        r#"{"n": 1}"#,
    ]);
    assert_eq!(notify.status.code(), Some(0), "{notify:?}");
    let line = listen
        .stdout
        .recv_timeout(GUARD)
        .expect("listen prints the notification");
    let value: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(value["publisher_id"], "ops.cli");
    assert_eq!(value["event_type"], "ops.smoke");
    assert_eq!(value["priority"], "info");
    assert_eq!(value["payload"], serde_json::json!({"n": 1}));
    assert_eq!(value["context"]["user"], "alice");
    let status = listen.wait();
    assert_eq!(status.code(), Some(0), "listen exit: {status:?}");
}

#[test]
fn health_shows_publish_and_consume_connected() {
    let health = cli(&["health"]);
    assert_eq!(health.status.code(), Some(0), "{health:?}");
    assert_eq!(text(&health.stderr), "", "{health:?}");
    let stdout = text(&health.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON line");
    let connections = value["connections"].as_array().expect("a list");
    let purposes: Vec<&str> = connections
        .iter()
        .map(|c| c["purpose"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(purposes, ["publish", "consume"], "{value}");
    for c in connections {
        assert_eq!(c["state"], "connected", "{c}");
        assert_eq!(c["host"], "127.0.0.1:5672", "{c}");
        assert_eq!(c["last_error"], serde_json::Value::Null, "{c}");
    }
}

#[test]
fn health_with_a_wrong_password_exits_3_at_once() {
    let started = Instant::now();
    let health = cli_on("rabbit://guest:wrong-pw@127.0.0.1:5672/", &["health"]);
    let took = started.elapsed();
    assert_eq!(health.status.code(), Some(3), "{health:?}");
    // A refusal is final: no retries, no connection timeout to wait out.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let (stdout, stderr) = (text(&health.stdout), text(&health.stderr));
    assert!(!stdout.contains("wrong-pw") && !stderr.contains("wrong-pw"));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON line");
    let publish = &value["connections"][0];
    assert_eq!(publish["purpose"], "publish", "{value}");
    assert_eq!(publish["state"], "failed", "{value}");
    assert!(stdout.contains("ACCESS_REFUSED"), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("oslo-messaging: ") && stderr.contains("ACCESS_REFUSED"),
        "{stderr}"
    );
}

/// Serves on a current-thread runtime, checks `block` and `add`, stops it.
/// Returns serve's stderr after its ready line.
fn serve_current_thread_block(topic: &str, extra: &[&str], block: &str) -> Vec<String> {
    let server = "s1";
    let mut args = vec![
        "serve",
        "--topic",
        topic,
        "--server",
        server,
        "--runtime",
        "current-thread",
    ];
    args.extend_from_slice(extra);
    let mut served = Running::start(&args, "serving ");

    let started = Instant::now();
    let blocked = cli(&[
        "--topic",
        topic,
        "--timeout",
        "30",
        "call",
        "block",
        &format!(r#"{{"seconds": {block}}}"#),
    ]);
    assert_eq!(blocked.status.code(), Some(0), "{blocked:?}");
    assert_eq!(text(&blocked.stdout), "null\n");
    let seconds: f64 = block.parse().expect("a number");
    assert!(started.elapsed() >= Duration::from_secs_f64(seconds));

    let add = cli(&["--topic", topic, "call", "add", r#"{"a": 2, "b": 40}"#]);
    assert_eq!(add.status.code(), Some(0), "{add:?}");
    assert_eq!(text(&add.stdout), "42\n");

    let status = served.terminate();
    assert_eq!(status.code(), Some(0), "serve exit: {status:?}");
    served.rest_of_stderr()
}

#[test]
fn serve_on_a_current_thread_runtime_answers_block_then_add() {
    let topic = unique("current-thread");
    let _cleanup = DeleteQueues(vec![topic.clone(), format!("{topic}.s1")]);
    let rest = serve_current_thread_block(&topic, &[], "1");
    assert!(rest.iter().any(|l| l == "stopped"), "{rest:#?}");
}

/// With a 2 s heartbeat, blocking the application's only runtime thread for
/// 5 s loses no connection: the driver's heartbeats run on its own threads.
#[test]
fn blocking_the_current_thread_runtime_loses_no_connection() {
    let topic = unique("heartbeat");
    let _cleanup = DeleteQueues(vec![topic.clone(), format!("{topic}.s1")]);
    let config = std::env::temp_dir().join(format!("{topic}.conf"));
    std::fs::write(
        &config,
        "[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 2\n",
    )
    .expect("config written");
    let path = config.to_string_lossy().into_owned();
    let rest = serve_current_thread_block(&topic, &["--config-file", &path], "5");
    let _ = std::fs::remove_file(&config);
    assert!(rest.iter().any(|l| l == "stopped"), "{rest:#?}");
    // The driver logs each lost, refused or unreachable connection.
    let lost = [
        "AMQP connection lost",
        "AMQP server unreachable",
        "refused the connection",
        "no answer from the broker",
    ];
    assert!(
        rest.iter().all(|l| lost.iter().all(|m| !l.contains(m))),
        "{rest:#?}"
    );
}
