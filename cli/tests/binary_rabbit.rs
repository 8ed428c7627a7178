//! The real `oslo-messaging` binary against RabbitMQ on 127.0.0.1:5672
//! (guest/guest): `serve` in one process, `call`, `ping`, `cast`, `notify`
//! and `listen` in others, then SIGTERM stops the server cleanly.
//!
//! Needs a broker and the `rabbit` driver. Queue names include the test's
//! pid; the queues each test declares are deleted at its end (also when it
//! fails) with the driver's `admin::delete`.

use std::time::{Duration, Instant};

mod support;
use support::binary::{cli, cli_on, listen_for_one_info, text, unique, Running, GUARD};
use support::DeleteQueues;

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
    let mut listen = listen_for_one_info(&topic);
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

/// The report that opened issue 13: `--config-file nova.conf health` with
/// the 2026 preset exited 64 ("not supported yet"). It connects now
/// (`health` logs nothing: its JSON line is the report).
#[test]
fn health_with_a_2026_nova_conf_and_the_preset_exits_0() {
    let conf = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../driver-rabbit/tests/fixtures/nova-2026.conf"
    );
    let health = cli(&["--config-file", conf, "health"]);
    assert_eq!(health.status.code(), Some(0), "{health:?}");
    let (stdout, stderr) = (text(&health.stdout), text(&health.stderr));
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON line");
    for c in value["connections"].as_array().expect("a list") {
        assert_eq!(c["state"], "connected", "{c}");
    }
    assert_eq!(stderr, "", "{health:?}");
    assert!(
        !stdout.contains("Zm9v") && !stderr.contains("Zm9v"),
        "no password shown"
    );
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

/// Integers past 64 bits stay exact and objects keep their key order from
/// the command line through the server and back (2**64 came back as
/// `1.8446744073709552e+19`; keys came back sorted). `add` adds integers
/// of any size exactly, as Python does.
#[test]
fn call_keeps_big_integers_exact_and_keys_in_order() {
    let topic = unique("exact");
    let _cleanup = DeleteQueues(vec![topic.clone(), format!("{topic}.s1")]);
    let mut served = Running::start(&["serve", "--topic", &topic, "--server", "s1"], "serving ");
    let sent = r#"{"z":18446744073709551616,"a":[-1180591620717411303424,0.5],"m":{"y":1,"b":2}}"#;
    let echo = cli(&[
        "--topic",
        &topic,
        "call",
        "echo",
        &format!(r#"{{"value": {sent}}}"#),
    ]);
    assert_eq!(echo.status.code(), Some(0), "{echo:?}");
    assert_eq!(text(&echo.stdout), format!("{sent}\n"));
    for (a, b, sum) in [
        ("9223372036854775808", "1", "9223372036854775809"),
        ("18446744073709551616", "-18446744073709551617", "-1"),
    ] {
        let add = cli(&[
            "--topic",
            &topic,
            "call",
            "add",
            &format!(r#"{{"a": {a}, "b": {b}}}"#),
        ]);
        assert_eq!(add.status.code(), Some(0), "{add:?}");
        assert_eq!(text(&add.stdout), format!("{sum}\n"), "{a} + {b}");
    }
    assert_eq!(served.terminate().code(), Some(0));
}

/// A request the server cannot dispatch leaves a trace in its log, as
/// Python's `RPCServer` logs it ("Exception during message handling"),
/// with the method, namespace and version.
#[test]
fn the_server_logs_a_cast_to_a_missing_method() {
    let topic = unique("no-such-method");
    let _cleanup = DeleteQueues(vec![topic.clone(), format!("{topic}.s1")]);
    let mut served = Running::start(&["serve", "--topic", &topic, "--server", "s1"], "serving ");
    let logged = |extra: &[&str]| {
        let args = [
            &["--topic", topic.as_str()][..],
            extra,
            &["cast", "no_such_method", "{}"],
        ]
        .concat();
        let cast = cli(&args);
        assert_eq!(cast.status.code(), Some(0), "{cast:?}");
        served.wait_for_stderr(|l| l.contains("Exception during message handling"))
    };
    let line = logged(&[]);
    for part in ["ERROR", "method=\"no_such_method\"", "NoSuchMethod"] {
        assert!(line.contains(part), "{part:?} not in {line:?}");
    }
    let line = logged(&["--namespace", "ops", "--version", "1.1"]);
    for part in [
        "method=\"no_such_method\"",
        "namespace=\"ops\"",
        "version=\"1.1\"",
        "UnsupportedVersion",
    ] {
        assert!(line.contains(part), "{part:?} not in {line:?}");
    }
    assert_eq!(served.terminate().code(), Some(0));
}

/// Runs `work` with a raw lapin channel on the main broker, on a runtime
/// of its own.
fn with_raw_channel(work: impl AsyncFnOnce(&lapin::Channel)) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let connection = lapin::Connection::connect(
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            lapin::ConnectionProperties::default(),
        )
        .await
        .expect("a raw connection to the main broker");
        let channel = connection.create_channel().await.expect("a channel");
        work(&channel).await;
        let _ = connection.close(200, "bye".into()).await;
    });
}

/// Runs `health --file path` until `wanted` accepts its outcome; returns it.
fn probe_until(path: &str, wanted: impl Fn(&std::process::Output) -> bool) -> std::process::Output {
    let deadline = Instant::now() + GUARD;
    loop {
        let probe = cli(&["health", "--file", path]);
        if wanted(&probe) {
            return probe;
        }
        assert!(
            Instant::now() < deadline,
            "the probe never showed what was awaited; last: {probe:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 14's report: a server whose queue was deleted looked healthy. With
/// `--health-file`, `health --file` (the liveness probe) passes while every
/// queue is consumed, fails naming the queue while its consumer cannot come
/// back (the control exchange was replaced by one of another type, so
/// declaring it again is refused), passes once it is back, and fails once
/// the server stopped (the file is removed).
#[test]
fn health_file_fails_the_probe_while_a_server_queue_is_not_consumed() {
    let (topic, exchange) = (unique("probe-topic"), unique("probe-x"));
    let server_queue = format!("{topic}.s1");
    let _cleanup = DeleteQueues(vec![topic.clone(), server_queue.clone()]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("s1.json");
    let path = path.to_str().expect("a UTF-8 path");
    let mut served = Running::start(
        &[
            "--exchange",
            &exchange,
            "serve",
            "--topic",
            &topic,
            "--server",
            "s1",
            "--health-file",
            path,
            "--health-interval",
            "0.1",
        ],
        "serving ",
    );

    let healthy = probe_until(path, |p| p.status.code() == Some(0));
    let file: serde_json::Value = serde_json::from_slice(&healthy.stdout).expect("a JSON line");
    assert_eq!(file["healthy"], true, "{file}");
    assert_eq!(file["pid"], served.pid, "{file}");
    let consumed: Vec<&str> = file["consumers"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["queue"].as_str().unwrap_or("?"))
        .collect();
    assert!(
        consumed.contains(&topic.as_str()) && consumed.contains(&server_queue.as_str()),
        "{file}"
    );

    with_raw_channel(async |channel| {
        let deleted = |name: &str| {
            channel.exchange_delete(
                name.into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
        };
        deleted(&exchange).await.expect("the exchange deleted");
        channel
            .exchange_declare(
                exchange.as_str().into(),
                lapin::ExchangeKind::Fanout,
                lapin::options::ExchangeDeclareOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("a fanout exchange of the same name");
        channel
            .queue_delete(server_queue.as_str().into(), Default::default())
            .await
            .expect("the server queue deleted");
    });
    let failing = probe_until(path, |p| {
        text(&p.stderr).contains(&format!("consumer {server_queue} is failed"))
    });
    assert_eq!(failing.status.code(), Some(3), "{failing:?}");
    let stderr = text(&failing.stderr);
    assert!(
        stderr.starts_with("oslo-messaging: error: unhealthy: ")
            && stderr.contains("inequivalent arg 'type'"),
        "{stderr}"
    );
    let file: serde_json::Value = serde_json::from_slice(&failing.stdout).expect("a JSON line");
    assert_eq!(file["healthy"], false, "{file}");

    with_raw_channel(async |channel| {
        channel
            .exchange_delete(exchange.as_str().into(), Default::default())
            .await
            .expect("the impostor deleted");
    });
    probe_until(path, |p| p.status.code() == Some(0));
    let answered = cli(&[
        "--topic",
        &topic,
        "--server",
        "s1",
        "--exchange",
        &exchange,
        "call",
        "add",
        r#"{"a": 1, "b": 2}"#,
    ]);
    assert_eq!(text(&answered.stdout).trim(), "3", "{answered:?}");

    assert_eq!(served.terminate().code(), Some(0));
    let gone = cli(&["health", "--file", path]);
    assert_eq!(gone.status.code(), Some(3), "{gone:?}");
    assert!(
        text(&gone.stderr).contains(&format!("no health file at {path}")),
        "{gone:?}"
    );
    with_raw_channel(async |channel| {
        let _ = channel
            .exchange_delete(exchange.as_str().into(), Default::default())
            .await;
    });
}
