//! TLS end to end, on a private RabbitMQ node with a TLS listener and
//! certificates made at test time (`support::tls`): calls, casts and
//! notifications over TLS with the broker's host name verified; a client
//! certificate with the `EXTERNAL` login method; a wrong CA, a host name
//! the certificate does not name, an expired certificate, and a TLS client
//! pointed at a plain port each fail at once, even with unlimited retries,
//! with an error that says which; nothing falls back to plain text.
//!
//! One test runs the scenarios in turn on one node (a node takes seconds to
//! start), which it stops, with every certificate deleted, at its end.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oslo_messaging_core::{MessagingError, Notifier, Priority, RpcClient, Target, Transport};
use oslo_messaging_driver_rabbit as _;
use serde_json::json;
use support::node::{free_port, Extras, TestNode};
use support::tls::{Pki, CLIENT_NAME};
use support::{stop, within};

/// A node with a TLS listener (`{tls_port}`) presenting `server.pem`,
/// verifying client certificates against `ca.pem` when one is sent, and
/// offering `EXTERNAL` (user = the certificate's common name).
fn tls_node(pki: &Pki) -> TestNode {
    let file = |f: &str| pki.path(f).display().to_string();
    let config = format!(
        "listeners.ssl.1 = 127.0.0.1:{{tls_port}}\n\
         ssl_options.cacertfile = {}\n\
         ssl_options.certfile = {}\n\
         ssl_options.keyfile = {}\n\
         ssl_options.verify = verify_peer\n\
         ssl_options.fail_if_no_peer_cert = false\n\
         ssl_cert_login_from = common_name\n\
         auth_mechanisms.1 = PLAIN\n\
         auth_mechanisms.2 = AMQPLAIN\n\
         auth_mechanisms.3 = EXTERNAL\n",
        file("ca.pem"),
        file("server.pem"),
        file("server.key"),
    );
    TestNode::start_with(&Extras {
        config,
        plugins: vec!["rabbitmq_auth_mechanism_ssl".into()],
        ..Extras::default()
    })
}

/// `rabbit://<userinfo>host:port/?ssl=true&...`.
fn url(userinfo: &str, host: &str, port: u16, query: &[(&str, String)]) -> String {
    let mut q = String::from("ssl=true");
    for (k, v) in query {
        q.push_str(&format!("&{k}={v}"));
    }
    format!("rabbit://{userinfo}{host}:{port}/?{q}")
}

/// Connects a transport on `url` with unlimited retries; the error it
/// fails with, and how long that took.
async fn refused(url: &str) -> (MessagingError, Duration) {
    let t = Transport::from_url(url).expect("transport");
    let t0 = Instant::now();
    let e = within(&format!("the refusal of {url}"), t.connect(None))
        .await
        .expect_err("this connection must be refused");
    let took = t0.elapsed();
    t.cleanup().await;
    (e, took)
}

/// A process killed when dropped (also when the test fails).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openssl s_server` presenting `cert`, ready once it accepts.
fn s_server(pki: &Pki, cert: &str, port: u16) -> Killed {
    let mut child = Killed(
        Command::new("openssl")
            .args(["s_server", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(pki.path(&format!("{cert}.pem")))
            .arg("-key")
            .arg(pki.path(&format!("{cert}.key")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server"),
    );
    // It prints ACCEPT once it listens.
    let mut out = std::io::BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut out, &mut line).expect("read") > 0 {
        if line.contains("ACCEPT") {
            return child;
        }
        line.clear();
    }
    panic!("openssl s_server did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_end_to_end() {
    let pki = Pki::make();
    let node = tokio::task::block_in_place(|| tls_node(&pki));
    let port = node.tls_port();
    let ca = ("ssl_ca_file", pki.path("ca.pem").display().to_string());

    // 1. Calls, casts and notifications over TLS, the host name verified.
    let verified = url("guest:guest@", "localhost", port, std::slice::from_ref(&ca));
    let server_t = Transport::from_url(&verified).expect("transport");
    let client_t = Transport::from_url(&verified).expect("transport");
    let (server, mut probe) = support::serve(&server_t, Target::server("tls", "s1")).await;
    let client = RpcClient::new(&client_t, Target::topic("tls"));
    let sum = within(
        "a call over TLS",
        client.call(&Default::default(), "add", json!({"a": 2, "b": 2})),
    )
    .await
    .expect("answered over TLS");
    assert_eq!(sum, json!(4));
    within(
        "a cast over TLS",
        client.cast(&Default::default(), "record", json!({"value": "c"})),
    )
    .await
    .expect("cast");
    assert_eq!(
        within("the cast", probe.records.recv())
            .await
            .expect("open")
            .1,
        json!("c")
    );
    let (listener, mut seen) =
        support::event_type_listener(&server_t, "tls_notifications", None).await;
    let notifier = Notifier::builder(&client_t)
        .publisher_id("tls.test")
        .driver("messagingv2")
        .topics(["tls_notifications"])
        .build()
        .expect("notifier");
    within(
        "a notification over TLS",
        notifier.notify_checked(&Default::default(), Priority::Info, "tls.event", json!({})),
    )
    .await
    .expect("sent");
    assert_eq!(
        within("the notification", seen.recv()).await.expect("open"),
        "tls.event"
    );
    let ssl_column = node.ctl(&["list_connections", "--silent", "ssl"]);
    let flags: Vec<&str> = ssl_column
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        !flags.is_empty() && flags.iter().all(|f| *f == "true"),
        "every connection is TLS: {ssl_column}"
    );
    support::stop_listener(&listener).await;
    stop(&server).await;
    client_t.cleanup().await;
    server_t.cleanup().await;

    // 2. A client certificate with the EXTERNAL login method.
    node.ctl(&["add_user", CLIENT_NAME, "not-used-by-EXTERNAL"]);
    node.ctl(&["set_permissions", "-p", "/", CLIENT_NAME, ".*", ".*", ".*"]);
    let external = url(
        "",
        "localhost",
        port,
        &[
            ca.clone(),
            (
                "ssl_cert_file",
                pki.path("client.pem").display().to_string(),
            ),
            ("ssl_key_file", pki.path("client.key").display().to_string()),
            ("rabbit_login_method", "EXTERNAL".into()),
        ],
    );
    let t = Transport::from_url(&external).expect("transport");
    within("EXTERNAL login", t.connect(Some(0)))
        .await
        .expect("logged in with the client certificate");
    let users = node.ctl(&["list_connections", "--silent", "user", "auth_mechanism"]);
    assert!(
        users
            .lines()
            .any(|l| l.contains(CLIENT_NAME) && l.contains("EXTERNAL")),
        "{users}"
    );
    t.cleanup().await;

    // 3. Refusals, each at once although retries are unlimited, each saying which.
    let other_ca = (
        "ssl_ca_file",
        pki.path("other-ca.pem").display().to_string(),
    );
    let expired_port = free_port();
    let expired_server = tokio::task::block_in_place(|| s_server(&pki, "expired", expired_port));
    let cases = [
        (
            "a CA that did not sign the broker's certificate",
            url("guest:guest@", "localhost", port, &[other_ca]),
            "not signed by a CA of ssl_ca_file",
        ),
        (
            "a host name the certificate does not name",
            url("guest:guest@", "127.0.0.1", port, std::slice::from_ref(&ca)),
            "certificate not valid for name",
        ),
        (
            "an expired certificate",
            url(
                "guest:guest@",
                "localhost",
                expired_port,
                std::slice::from_ref(&ca),
            ),
            "has expired",
        ),
        (
            "TLS asked of a plain AMQP port (no fallback to plain text)",
            url(
                "guest:guest@",
                "localhost",
                node.amqp_port(),
                std::slice::from_ref(&ca),
            ),
            "did not answer in TLS",
        ),
    ];
    for (what, url, says) in cases {
        let (e, took) = refused(&url).await;
        println!("{what}: refused after {took:?}: {e}");
        assert!(matches!(e, MessagingError::Connection(_)), "{what}: {e:?}");
        let text = e.to_string();
        assert!(text.contains(says), "{what}: {says:?} not in {text}");
        assert!(!text.contains("guest:guest"), "no credentials: {text}");
    }
    drop(expired_server);
    drop(node);
}
