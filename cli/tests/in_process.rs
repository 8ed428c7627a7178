//! The CLI run in-process over `fake://`: the fake broker is process-global,
//! so a `serve` or `listen` started in a task and a `call` or `notify` in the
//! same test talk to each other. Every test uses its own topic.

use std::time::Duration;

use oslo_messaging_cli::{build_runtime, parse, Status};
use oslo_messaging_core::rpc::{Endpoint, EndpointError, RpcServer};
use oslo_messaging_core::{Target, Transport};
use serde_json::{json, Value};
use tokio::sync::mpsc;

mod support;
use support::{cli, Running};

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

fn one_line(text: &str) -> &str {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {text:?}");
    lines[0]
}

#[tokio::test]
async fn call_echo_and_add_print_json() {
    let served = Running::serve("fake://", "cli-echo-add", &[]).await;
    let echo = cli(&[
        "--url",
        "fake://",
        "--topic",
        "cli-echo-add",
        "call",
        "echo",
        r#"{"value": {"x": [1, "a", null]}}"#,
    ])
    .await;
    assert_eq!(echo.status, Status::Ok, "{echo:?}");
    assert_eq!(echo.stdout, "{\"x\":[1,\"a\",null]}\n");
    assert_eq!(echo.stderr, "");

    let add = cli(&[
        "--url",
        "fake://",
        "call",
        "add",
        r#"{"a": 2, "b": 40}"#,
        "--topic",
        "cli-echo-add",
        "--server",
        "s1",
    ])
    .await;
    assert_eq!(add.status, Status::Ok, "{add:?}");
    assert_eq!(add.stdout, "42\n");
    assert_eq!(served.stop().await, Status::Ok);
}

#[tokio::test]
async fn namespace_and_version_reach_the_demo_endpoint() {
    let topic = "cli-namespace";
    let served = Running::serve(
        "fake://",
        topic,
        &["--namespace", "demo", "--version", "1.3"],
    )
    .await;
    let base = ["--url", "fake://", "--topic", topic, "--namespace", "demo"];
    let ok = cli(&with(
        &base,
        &["--version", "1.1", "call", "echo", r#"{"value": 1}"#],
    ))
    .await;
    assert_eq!(
        (ok.status, ok.stdout.as_str()),
        (Status::Ok, "1\n"),
        "{ok:?}"
    );
    let too_new = cli(&with(
        &base,
        &["--version", "2.0", "call", "echo", r#"{"value": 1}"#],
    ))
    .await;
    assert_eq!(too_new.status, Status::Remote, "{too_new:?}");
    assert!(one_line(&too_new.stderr).contains("UnsupportedVersion"));
    // Ping ignores --namespace and --version: the ping endpoint has neither.
    let ping = cli(&with(&base, &["--version", "1.1", "ping"])).await;
    assert_eq!(ping.status, Status::Ok, "{ping:?}");
    assert_eq!(served.stop().await, Status::Ok);
}

#[tokio::test]
async fn fail_exits_1_with_the_remote_class_and_message() {
    let served = Running::serve("fake://", "cli-fail", &[]).await;
    let fail = cli(&[
        "--url",
        "fake://",
        "--topic",
        "cli-fail",
        "call",
        "fail",
        r#"{"message": "no such flavor"}"#,
    ])
    .await;
    assert_eq!(fail.status, Status::Remote);
    assert_eq!(fail.status.code(), 1);
    assert_eq!(fail.stdout, "");
    assert_eq!(
        one_line(&fail.stderr),
        "oslo-messaging: remote error: ValueError (builtins): no such flavor"
    );
    // Arguments that do not fit the method are the remote's TypeError.
    let bad_args = cli(&[
        "--url",
        "fake://",
        "--topic",
        "cli-fail",
        "call",
        "add",
        r#"{"a": 1}"#,
    ])
    .await;
    assert_eq!(bad_args.status, Status::Remote, "{bad_args:?}");
    assert!(bad_args.stderr.contains("TypeError"), "{bad_args:?}");
    assert_eq!(served.stop().await, Status::Ok);
}

#[tokio::test]
async fn a_topic_nobody_serves_times_out_with_exit_2() {
    // Waits for a reply that cannot come: the one timeout test.
    let call = cli(&[
        "--url",
        "fake://",
        "--topic",
        "cli-nobody-serves-this",
        "--timeout",
        "1",
        "call",
        "echo",
        r#"{"value": 1}"#,
    ])
    .await;
    assert_eq!(call.status, Status::Timeout, "{call:?}");
    assert_eq!(call.status.code(), 2);
    assert!(one_line(&call.stderr).contains("timed out"), "{call:?}");
}

#[tokio::test]
async fn at_least_once_to_nobody_exits_3_at_once() {
    for command in [&["cast", "echo"][..], &["call", "echo"], &["ping"]] {
        let base = [
            "--url",
            "fake://",
            "--topic",
            "cli-nobody-at-least-once",
            "--at-least-once",
        ];
        let run = cli(&with(&base, command)).await;
        assert_eq!(run.status.code(), 3, "{command:?}: {run:?}");
        assert!(
            one_line(&run.stderr).contains("undeliverable"),
            "{command:?}: {run:?}"
        );
    }
}

#[tokio::test]
async fn ping_answers_pong() {
    let served = Running::serve("fake://", "cli-ping", &[]).await;
    let ping = cli(&[
        "--url", "fake://", "--topic", "cli-ping", "--server", "s1", "ping",
    ])
    .await;
    assert_eq!(ping.status, Status::Ok, "{ping:?}");
    assert_eq!(ping.stdout, "pong\n");
    assert_eq!(served.stop().await, Status::Ok);
}

#[tokio::test]
async fn ping_of_a_server_without_ping_is_a_remote_error() {
    let transport = Transport::from_url("fake://").expect("fake transport");
    let endpoint = Endpoint::builder(())
        .method("noop", |_, _, _: serde_json::Map<String, Value>| async {
            Ok::<_, EndpointError>(())
        })
        .build()
        .expect("endpoint");
    let server = RpcServer::builder(&transport, Target::server("cli-no-ping", "s1"))
        .endpoint(endpoint)
        .build()
        .expect("server");
    server.start().await.expect("starts");
    let ping = cli(&["--url", "fake://", "--topic", "cli-no-ping", "ping"]).await;
    assert_eq!(ping.status, Status::Remote, "{ping:?}");
    assert!(one_line(&ping.stderr).contains("NoSuchMethod"), "{ping:?}");
    server.stop().await.expect("stops");
    server.wait().await.expect("waits");
}

/// A server recording the `record(value)` casts it gets.
async fn recording_server(
    topic: &str,
    server: &str,
) -> (RpcServer, mpsc::UnboundedReceiver<(String, Value)>) {
    #[derive(serde::Deserialize)]
    struct RecordArgs {
        value: Value,
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let name = server.to_owned();
    let transport = Transport::from_url("fake://").expect("fake transport");
    let endpoint = Endpoint::builder((tx, name))
        .method("record", |state, _, args: RecordArgs| async move {
            let _ = state.0.send((state.1.clone(), args.value));
            Ok::<_, EndpointError>(())
        })
        .build()
        .expect("endpoint");
    let rpc = RpcServer::builder(&transport, Target::server(topic, server))
        .endpoint(endpoint)
        .build()
        .expect("server");
    rpc.start().await.expect("starts");
    (rpc, rx)
}

#[tokio::test]
async fn cast_is_delivered_and_fanout_reaches_every_server() {
    let topic = "cli-cast";
    let (a, mut seen_a) = recording_server(topic, "a").await;
    let (b, mut seen_b) = recording_server(topic, "b").await;

    let cast = cli(&[
        "--url",
        "fake://",
        "--topic",
        topic,
        "--server",
        "b",
        "cast",
        "record",
        r#"{"value": "to b"}"#,
    ])
    .await;
    assert_eq!(
        (cast.status, cast.stdout.as_str(), cast.stderr.as_str()),
        (Status::Ok, "", "")
    );
    assert_eq!(seen_b.recv().await, Some(("b".to_owned(), json!("to b"))));

    let fanout = cli(&[
        "--url",
        "fake://",
        "--topic",
        topic,
        "cast",
        "record",
        r#"{"value": "everyone"}"#,
        "--fanout",
    ])
    .await;
    assert_eq!(fanout.status, Status::Ok, "{fanout:?}");
    assert_eq!(
        seen_a.recv().await,
        Some(("a".to_owned(), json!("everyone")))
    );
    assert_eq!(
        seen_b.recv().await,
        Some(("b".to_owned(), json!("everyone")))
    );
    assert!(seen_a.try_recv().is_err(), "the server cast went to b only");

    for server in [a, b] {
        server.stop().await.expect("stops");
        server.wait().await.expect("waits");
    }
}

#[tokio::test]
async fn notify_then_listen_prints_json_lines_and_stops_after_count() {
    let topic = "cli-notify-listen";
    let mut listen = Running::start(
        &[
            "--url", "fake://", "--topic", topic, "listen", "--count", "2",
        ],
        "listening ",
    )
    .await;
    for (priority, n) in [("info", 1), ("error", 2)] {
        let notify = cli(&[
            "--url",
            "fake://",
            "--topic",
            topic,
            "--context",
            r#"{"user": "alice"}"#,
            "notify",
            "--publisher-id",
            "ops.cli",
            "--event-type",
            "ops.test",
            "--priority",
            priority,
            &format!(r#"{{"n": {n}}}"#),
        ])
        .await;
        assert_eq!(notify.status, Status::Ok, "{notify:?}");
    }
    let mut lines = Vec::new();
    for _ in 0..2 {
        let line = listen.stdout.recv().await.expect("a notification line");
        lines.push(serde_json::from_str::<Value>(&line).expect("a JSON line"));
    }
    // Both arrive; listeners on separate priority queues may see them in any order.
    lines.sort_by_key(|l| l["payload"]["n"].as_i64());
    for (line, (priority, n)) in lines.iter().zip([("info", 1), ("error", 2)]) {
        assert_eq!(line["publisher_id"], "ops.cli");
        assert_eq!(line["event_type"], "ops.test");
        assert_eq!(line["priority"], priority);
        assert_eq!(line["payload"], json!({"n": n}));
        assert_eq!(line["context"]["user"], "alice");
        assert!(line["metadata"]["message_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
        assert!(line["metadata"]["timestamp"].is_string());
    }
    // --count 2: it ends by itself.
    let status = (&mut listen.task).await.expect("no panic");
    assert_eq!(status, Status::Ok);
}

#[tokio::test]
async fn listen_filters_priorities_uses_pools_and_stops_on_shutdown() {
    let topic = "cli-listen-filter";
    let mut listen = Running::start(
        &[
            "--url",
            "fake://",
            "--topic",
            topic,
            "listen",
            "--pool",
            "ops",
            "--priority",
            "error,critical",
        ],
        "listening ",
    )
    .await;
    for (priority, event) in [("info", "skipped"), ("critical", "kept")] {
        let notify = cli(&[
            "--url",
            "fake://",
            "--topic",
            topic,
            "notify",
            "--publisher-id",
            "p",
            "--event-type",
            event,
            "--priority",
            priority,
            "null",
        ])
        .await;
        assert_eq!(notify.status, Status::Ok, "{notify:?}");
    }
    let line: Value =
        serde_json::from_str(&listen.stdout.recv().await.expect("a line")).expect("JSON");
    assert_eq!(
        (line["event_type"].as_str(), line["priority"].as_str()),
        (Some("kept"), Some("critical"))
    );
    assert_eq!(line["payload"], Value::Null);
    assert!(
        listen.stdout.try_recv().is_err(),
        "the info notification is not printed"
    );
    assert!(listen.stderr.try_recv().is_err(), "nothing else on stderr");
    assert_eq!(listen.stop().await, Status::Ok);
}

#[tokio::test]
async fn config_file_gives_the_url_and_exchange() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let ini = dir.join(format!("cli-test-{}.conf", std::process::id()));
    std::fs::write(
        &ini,
        "[DEFAULT]\ntransport_url = fake:///cli-ini\ncontrol_exchange = cliini\n",
    )
    .expect("write INI");
    let toml = dir.join(format!("cli-test-{}.toml", std::process::id()));
    std::fs::write(
        &toml,
        "[DEFAULT]\ntransport_url = \"fake:///cli-ini\"\ncontrol_exchange = \"cliini\"\n",
    )
    .expect("write TOML");
    let ini_path = ini.to_str().expect("UTF-8 path");
    let toml_path = toml.to_str().expect("UTF-8 path");

    let served = Running::start(
        &[
            "--config-file",
            ini_path,
            "serve",
            "--topic",
            "cli-config",
            "--server",
            "s1",
        ],
        "serving ",
    )
    .await;
    for config in [ini_path, toml_path] {
        let add = cli(&[
            "--config-file",
            config,
            "--topic",
            "cli-config",
            "call",
            "add",
            r#"{"a": 1, "b": 2.5}"#,
        ])
        .await;
        assert_eq!(
            (add.status, add.stdout.as_str()),
            (Status::Ok, "3.5\n"),
            "{add:?}"
        );
    }
    // The same vhost and topic on another exchange reaches nobody.
    let other = cli(&[
        "--config-file",
        ini_path,
        "--exchange",
        "other",
        "--topic",
        "cli-config",
        "--timeout",
        "0.2",
        "call",
        "add",
        r#"{"a": 1, "b": 2}"#,
    ])
    .await;
    assert_eq!(other.status, Status::Timeout, "{other:?}");
    assert_eq!(served.stop().await, Status::Ok);
    let _ = std::fs::remove_file(ini);
    let _ = std::fs::remove_file(toml);
}

#[tokio::test]
async fn readiness_line_and_all_output_hide_the_password() {
    let url = "fake://operator:s3cret-pw@localhost/cli-secret";
    let mut served = Running::start(
        &[
            "--url",
            url,
            "serve",
            "--topic",
            "cli-secret",
            "--server",
            "s9",
        ],
        "serving ",
    )
    .await;
    assert!(
        served.ready.starts_with(
            "serving topic=cli-secret server=s9 exchange=openstack transport=fake://operator"
        ),
        "{}",
        served.ready
    );
    assert!(!served.ready.contains("s3cret"), "{}", served.ready);
    let call = cli(&[
        "--url",
        url,
        "--topic",
        "cli-secret",
        "call",
        "echo",
        r#"{"value": "x"}"#,
    ])
    .await;
    assert_eq!(call.status, Status::Ok, "{call:?}");
    if let Some(stop) = served.stop.take() {
        let _ = stop.send(());
    }
    assert_eq!((&mut served.task).await.expect("no panic"), Status::Ok);
    let mut rest = Vec::new();
    while let Some(line) = served.stderr.recv().await {
        rest.push(line);
    }
    assert_eq!(rest, ["stopped"]);
    for url in [
        "nosuch://operator:s3cret-pw@host/",
        "fake://operator:s3cret-pw@host:bad/",
    ] {
        let bad = cli(&["--url", url, "--topic", "t", "call", "echo"]).await;
        assert_eq!(bad.status, Status::Usage, "{bad:?}");
        assert!(!bad.stderr.contains("s3cret"), "{bad:?}");
    }
}

#[tokio::test]
async fn bad_input_exits_64_with_one_line_and_no_panic() {
    let cases: &[&[&str]] = &[
        &[
            "--url",
            "fake://",
            "--topic",
            "t",
            "call",
            "echo",
            "{not json",
        ],
        &["--url", "fake://", "--topic", "t", "call", "echo", "[1, 2]"],
        &[
            "--url",
            "fake://",
            "--topic",
            "t",
            "cast",
            "echo",
            "\"a string\"",
        ],
        &[
            "--url",
            "fake://",
            "--topic",
            "t",
            "--context",
            "[]",
            "call",
            "echo",
        ],
        &[
            "--url",
            "fake://",
            "notify",
            "--publisher-id",
            "p",
            "--event-type",
            "e",
            "--priority",
            "loud",
            "{}",
        ],
        &[
            "--url",
            "fake://",
            "notify",
            "--publisher-id",
            "p",
            "--event-type",
            "e",
            "{oops",
        ],
        &[
            "--url",
            "fake://",
            "notify",
            "--publisher-id",
            "p",
            "--event-type",
            "e",
            "--driver",
            "log",
            "{}",
        ],
        &["--url", "fake://", "notify", "--event-type", "e", "{}"],
        &["--url", "fake://", "listen", "--priority", "loud"],
        &["--url", "fake://", "listen", "--count", "0"],
        &[
            "--url",
            "fake://h:notaport/",
            "--topic",
            "t",
            "call",
            "echo",
        ],
        &["--url", "no scheme at all", "--topic", "t", "call", "echo"],
        &["--url", "nosuch://h/", "--topic", "t", "call", "echo"],
        &[
            "--url",
            "fake:///?no_such_option=1",
            "--topic",
            "t",
            "cast",
            "echo",
        ],
        &[
            "--url",
            "fake://",
            "--topic",
            "t",
            "--timeout",
            "0",
            "call",
            "echo",
        ],
        &[
            "--url",
            "fake://",
            "--topic",
            "t",
            "--timeout",
            "soon",
            "call",
            "echo",
        ],
        &[
            "--url",
            "fake://",
            "--topic",
            "t",
            "--version",
            "one",
            "call",
            "echo",
        ],
        &[
            "--url", "fake://", "--topic", "t", "--retry", "-2", "call", "echo",
        ],
        &["--url", "fake://", "call", "echo"],
        &["--url", "fake://", "ping"],
        &["--url", "fake://", "--topic", "t", "serve"],
        &["--url", "fake://", "--server", "s", "serve"],
        &[
            "--url",
            "fake://",
            "--topic",
            "t",
            "--server",
            "s",
            "--version",
            "x.y",
            "serve",
        ],
        &[
            "--config-file",
            "/nonexistent/oslo-messaging-cli.conf",
            "--topic",
            "t",
            "call",
            "echo",
        ],
        &["--url", "fake://", "frobnicate"],
        &[
            "--url",
            "fake://",
            "--topic",
            "t",
            "call",
            "echo",
            "--no-such-flag",
        ],
        &["--url", "fake://", "--topic", "t", "call"],
    ];
    for args in cases {
        let outcome = cli(args).await;
        assert_eq!(outcome.status, Status::Usage, "{args:?}: {outcome:?}");
        assert_eq!(outcome.status.code(), 64);
        assert_eq!(outcome.stdout, "", "{args:?}");
        let line = one_line(&outcome.stderr);
        assert!(
            line.starts_with("oslo-messaging: error: "),
            "{args:?}: {line}"
        );
    }
}

#[tokio::test]
async fn a_bad_config_file_is_bad_input() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-bad-{}.conf", std::process::id()));
    std::fs::write(&path, "[DEFAULT]\nrpc_response_timeout = soon\n").expect("write");
    let outcome = cli(&[
        "--config-file",
        path.to_str().expect("UTF-8"),
        "--url",
        "fake://",
        "--topic",
        "t",
        "call",
        "echo",
    ])
    .await;
    assert_eq!(outcome.status, Status::Usage, "{outcome:?}");
    assert!(
        one_line(&outcome.stderr).contains("rpc_response_timeout"),
        "{outcome:?}"
    );
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn every_subcommand_has_help() {
    for sub in [
        "call", "cast", "ping", "notify", "listen", "serve", "health",
    ] {
        let help = cli(&[sub, "--help"]).await;
        assert_eq!(help.status, Status::Ok, "{sub}: {help:?}");
        assert!(
            help.stdout
                .contains(&format!("Usage: oslo-messaging {sub}")),
            "{sub}: {}",
            help.stdout
        );
        assert!(help.stdout.contains("Exit status"), "{sub}");
        assert_eq!(help.stderr, "");
    }
    let top = cli(&["--help"]).await;
    assert_eq!(top.status, Status::Ok);
    for text in ["64", "EX_USAGE", "timed out", "$OS_TRANSPORT_URL"] {
        assert!(top.stdout.contains(text), "{text}: {}", top.stdout);
    }
}

#[tokio::test]
async fn sleep_waits_and_returns_null() {
    let served = Running::serve("fake://", "cli-sleep", &[]).await;
    let started = tokio::time::Instant::now();
    let slept = cli(&[
        "--url",
        "fake://",
        "--topic",
        "cli-sleep",
        "call",
        "sleep",
        r#"{"seconds": 0.05}"#,
    ])
    .await;
    assert_eq!(
        (slept.status, slept.stdout.as_str()),
        (Status::Ok, "null\n"),
        "{slept:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    let negative = cli(&[
        "--url",
        "fake://",
        "--topic",
        "cli-sleep",
        "call",
        "sleep",
        r#"{"seconds": -1}"#,
    ])
    .await;
    assert_eq!(negative.status, Status::Remote, "{negative:?}");
    assert_eq!(served.stop().await, Status::Ok);
}

#[tokio::test]
async fn health_of_fake_prints_no_connections_and_exits_0() {
    let health = cli(&["--url", "fake://", "health"]).await;
    assert_eq!(health.status, Status::Ok, "{health:?}");
    let line = one_line(&health.stdout);
    let value: Value = serde_json::from_str(line).expect("one JSON line");
    assert_eq!(value, json!({"connections": [], "consumers": []}));
    assert_eq!(health.stderr, "");

    for bad in [
        &["--url", "nosuch://host/", "health"][..],
        &["--url", "fake://", "health", "extra"][..],
        &["--url", "fake://", "--retry", "-2", "health"][..],
    ] {
        let outcome = cli(bad).await;
        assert_eq!(outcome.status, Status::Usage, "{bad:?}: {outcome:?}");
        assert!(
            one_line(&outcome.stderr).starts_with("oslo-messaging: "),
            "{outcome:?}"
        );
        assert_eq!(outcome.stdout, "", "{bad:?}");
    }
}

#[test]
fn serve_runtime_current_thread_answers_add_and_block() {
    let topic = "cli-current-thread";
    let argv = [
        "oslo-messaging",
        "--url",
        "fake://",
        "serve",
        "--topic",
        topic,
        "--server",
        "s1",
        "--runtime",
        "current-thread",
    ];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let parsed = parse(argv, &mut out, &mut err).expect("parses");
    let runtime = build_runtime(&parsed).expect("a runtime");
    assert_eq!(
        runtime.handle().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::CurrentThread
    );
    runtime.block_on(async {
        let served = Running::serve("fake://", topic, &["--runtime", "current-thread"]).await;
        assert!(
            served.ready.ends_with(" runtime=current-thread"),
            "{}",
            served.ready
        );
        let base = ["--url", "fake://", "--topic", topic, "call"];
        let add = cli(&with(&base, &["add", r#"{"a": 2, "b": 40}"#])).await;
        assert_eq!(
            (add.status, add.stdout.as_str()),
            (Status::Ok, "42\n"),
            "{add:?}"
        );

        let started = std::time::Instant::now();
        let block = cli(&with(&base, &["block", r#"{"seconds": 0.2}"#])).await;
        assert_eq!(
            (block.status, block.stdout.as_str()),
            (Status::Ok, "null\n"),
            "{block:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(200));

        let negative = cli(&with(&base, &["block", r#"{"seconds": -1}"#])).await;
        assert_eq!(negative.status, Status::Remote, "{negative:?}");
        assert!(negative.stderr.contains("ValueError"), "{negative:?}");

        let after = cli(&with(&base, &["add", r#"{"a": 1, "b": 1}"#])).await;
        assert_eq!(after.stdout, "2\n", "{after:?}");
        assert_eq!(served.stop().await, Status::Ok);
    });
}

#[test]
fn serve_runs_on_a_multi_thread_runtime_by_default() {
    let argv = ["oslo-messaging", "serve"];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let parsed = parse(argv, &mut out, &mut err).expect("parses");
    let runtime = build_runtime(&parsed).expect("a runtime");
    assert_eq!(
        runtime.handle().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread
    );
    runtime.block_on(async {
        let served = Running::serve("fake://", "cli-multi-thread", &[]).await;
        assert!(
            served.ready.ends_with(" runtime=multi-thread"),
            "{}",
            served.ready
        );
        assert_eq!(served.stop().await, Status::Ok);
    });
}

#[tokio::test]
async fn a_bad_runtime_is_bad_input() {
    for value in ["single", "", "Current-Thread"] {
        let outcome = cli(&[
            "--url",
            "fake://",
            "serve",
            "--topic",
            "t",
            "--server",
            "s1",
            "--runtime",
            value,
        ])
        .await;
        assert_eq!(outcome.status, Status::Usage, "{value:?}: {outcome:?}");
        assert!(
            one_line(&outcome.stderr).contains("--runtime"),
            "{outcome:?}"
        );
    }
    // Only serve takes --runtime.
    let outcome = cli(&["--url", "fake://", "health", "--runtime", "current-thread"]).await;
    assert_eq!(outcome.status, Status::Usage, "{outcome:?}");
    one_line(&outcome.stderr);
}
