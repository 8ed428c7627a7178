//! The binary's observability flags, as an operator uses them:
//! `serve --metrics-listen` serves Prometheus text that counts what the
//! server did (over RabbitMQ on 127.0.0.1:5672), and `--trace` prints the
//! trace id it sent, which reaches the listener in the context and the
//! OTLP endpoint (a stand-in HTTP receiver here) in the exported spans.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;

mod support;
use support::binary::{cli, cli_on, listen_for_one_info, text, unique, Running, GUARD};
use support::DeleteQueues;

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET http://127.0.0.1:<port>/metrics` (the exporter binds its port
/// before `serve` says it is ready).
fn scrape(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the metrics endpoint listens");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body.to_owned()
}

/// The value of the one series of `metric` whose labels include `labels`.
fn series(text: &str, metric: &str, labels: &[&str]) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .map(|l| {
            l.rsplit_once(' ')
                .expect("value")
                .1
                .parse()
                .expect("number")
        })
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?} in:\n{text}");
    found[0]
}

#[test]
fn serve_metrics_listen_counts_calls_and_errors() {
    let topic = unique("metrics");
    let _cleanup = DeleteQueues(vec![topic.clone(), format!("{topic}.s1")]);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut served = Running::start(
        &[
            "serve",
            "--topic",
            &topic,
            "--server",
            "s1",
            "--metrics-listen",
            &addr,
        ],
        "serving ",
    );
    for _ in 0..3 {
        let add = cli(&["--topic", &topic, "call", "add", r#"{"a": 1, "b": 2}"#]);
        assert_eq!(text(&add.stdout), "3\n", "{add:?}");
    }
    let fail = cli(&["--topic", &topic, "call", "fail", r#"{"message": "no"}"#]);
    assert_eq!(fail.status.code(), Some(1), "{fail:?}");

    // Every call was answered, and a server records before it replies.
    let body = scrape(port);
    let topic_label = format!("topic=\"{topic}\"");
    let add = [
        topic_label.as_str(),
        "method=\"add\"",
        "server=\"s1\"",
        "endpoint=\"DemoEndpoint\"",
    ];
    assert_eq!(
        series(
            &body,
            "oslo_messaging_rpc_server_invocation_start_total",
            &add
        ),
        3.0
    );
    assert_eq!(
        series(
            &body,
            "oslo_messaging_rpc_server_invocation_end_total",
            &add
        ),
        3.0
    );
    assert_eq!(
        series(
            &body,
            "oslo_messaging_rpc_server_processing_seconds_count",
            &add
        ),
        3.0
    );
    let failed = [
        topic_label.as_str(),
        "method=\"fail\"",
        "exception=\"ValueError\"",
    ];
    assert_eq!(
        series(&body, "oslo_messaging_rpc_server_exception_total", &failed),
        1.0
    );
    let dest = format!("messaging_destination_name=\"{topic}\"");
    assert_eq!(
        series(
            &body,
            "messaging_client_consumed_messages",
            &[
                &dest,
                "messaging_system=\"rabbitmq\"",
                "error_type=\"ValueError\""
            ]
        ),
        1.0
    );
    assert_eq!(
        series(
            &body,
            "oslo_messaging_connections",
            &["purpose=\"consume\"", "state=\"connected\""]
        ),
        1.0
    );
    // The sample in the README's Observability section.
    println!("--- /metrics sample\n{body}");
    let status = served.terminate();
    assert_eq!(status.code(), Some(0), "serve exit: {status:?}");
}

/// A stand-in OTLP/HTTP receiver: every request's path and body, on a
/// channel; answers 200.
fn otlp_receiver() -> (u16, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let path = request_line
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            // Handed over before the answer: once the exporter has its
            // answer, the test finds the request here.
            if tx.send((path, body)).is_err() {
                return;
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: application/x-protobuf\r\n\r\n");
        }
    });
    (port, rx)
}

/// A config file with `[oslo_messaging_tracing]` `options` (lines).
fn tracing_config(options: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tracing.conf");
    std::fs::write(&path, format!("[oslo_messaging_tracing]\n{options}")).expect("config");
    let path = path.to_str().expect("utf-8").to_owned();
    (dir, path)
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The `trace_id=<hex>` line of a `--trace` run's stderr.
fn printed_trace_id(stderr: &[u8]) -> String {
    let stderr = text(stderr);
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("trace_id="))
        .unwrap_or_else(|| panic!("no trace_id line in {stderr}"));
    assert_eq!(id.len(), 32, "{id}");
    id.to_owned()
}

#[test]
fn notify_trace_prints_the_trace_id_the_listener_and_the_exporter_get() {
    let (port, exported) = otlp_receiver();
    let (_dir, conf) = tracing_config(&format!(
        "otel_exporter_otlp_endpoint = http://127.0.0.1:{port}\ntracing_service_name = ops-cli\n"
    ));
    let topic = unique("traced");
    let _cleanup = DeleteQueues(vec![format!("{topic}.info")]);
    let mut listen = listen_for_one_info(&topic);
    let notify = cli(&[
        "--config-file",
        &conf,
        "--topic",
        &topic,
        "--trace",
        "notify",
        "--publisher-id",
        "ops.cli",
        "--event-type",
        "ops.traced",
        r#"{"n": 1}"#,
    ]);
    assert_eq!(notify.status.code(), Some(0), "{notify:?}");
    let trace_id = printed_trace_id(&notify.stderr);

    let line = listen
        .stdout
        .recv_timeout(GUARD)
        .expect("listen prints the notification");
    let value: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    let traceparent = value["context"]["traceparent"].as_str().unwrap_or_default();
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "the listener got trace {traceparent:?}, the CLI printed {trace_id}"
    );
    assert_eq!(listen.wait().code(), Some(0));

    // The exporter was flushed before the command exited.
    let (path, body) = exported
        .try_recv()
        .expect("spans were exported before exit");
    assert_eq!(path, "/v1/traces");
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(&hex_bytes(&trace_id)),
        "the export carries the printed trace id"
    );
    assert!(
        contains(format!("notify {topic}.info").as_bytes()),
        "the notify span"
    );
    assert!(contains(b"oslo-messaging notify"), "the CLI's root span");
    assert!(
        contains(b"ops-cli"),
        "tracing_service_name is the service.name"
    );
}

#[test]
fn trace_refuses_the_grpc_protocol_it_does_not_carry() {
    let (_dir, conf) = tracing_config("otlp_protocol = grpc\n");
    let out = cli_on(
        "fake://",
        &[
            "--config-file",
            &conf,
            "--topic",
            "t",
            "--trace",
            "cast",
            "m",
        ],
    );
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("otlp_protocol") && stderr.contains("http/protobuf only"),
        "{out:?}"
    );
}

#[test]
fn tracing_enabled_alone_prints_the_trace_id_too() {
    let (port, exported) = otlp_receiver();
    let (_dir, conf) = tracing_config(&format!(
        "tracing_enabled = true\notel_exporter_otlp_endpoint = http://127.0.0.1:{port}\n"
    ));
    let out = cli_on(
        "fake://",
        &["--config-file", &conf, "--topic", "t", "cast", "m"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let trace_id = printed_trace_id(&out.stderr);
    let (_, body) = exported.try_recv().expect("spans exported before exit");
    assert!(body
        .windows(16)
        .any(|w| w == hex_bytes(&trace_id).as_slice()));
}

#[test]
fn a_metrics_port_in_use_is_a_runtime_failure_said_once() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = cli_on(
        "fake://",
        &[
            "serve",
            "--topic",
            "t",
            "--server",
            "s",
            "--metrics-listen",
            &addr,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(!stderr.contains("see --help"), "not bad input: {stderr}");
    assert!(
        stderr.contains(&format!("--metrics-listen {addr}")),
        "{stderr}"
    );
}

#[test]
fn serve_with_tracing_enabled_exports_the_requests_it_processes() {
    let (port, exported) = otlp_receiver();
    let (_dir, conf) = tracing_config(&format!(
        "tracing_enabled = true\notel_exporter_otlp_endpoint = http://127.0.0.1:{port}\n"
    ));
    let conf = conf.as_str();
    let topic = unique("traced-serve");
    let _cleanup = DeleteQueues(vec![topic.clone(), format!("{topic}.s1")]);
    let mut served = Running::start(
        &[
            "--config-file",
            conf,
            "serve",
            "--topic",
            &topic,
            "--server",
            "s1",
        ],
        "serving ",
    );
    let add = cli(&["--topic", &topic, "call", "add", r#"{"a": 1, "b": 1}"#]);
    assert_eq!(text(&add.stdout), "2\n", "{add:?}");
    // Stopping flushes what the batch exporter still holds.
    assert_eq!(served.terminate().code(), Some(0));
    let bodies: Vec<Vec<u8>> = exported.try_iter().map(|(_, body)| body).collect();
    let wanted = format!("process {topic}");
    assert!(
        bodies
            .iter()
            .any(|b| b.windows(wanted.len()).any(|w| w == wanted.as_bytes())),
        "no {wanted:?} span among {} exports",
        bodies.len()
    );
}
