//! `[oslo_messaging_rabbit]` options from configuration and the URL query,
//! their errors, and what the broker makes of them.

use std::sync::Arc;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::{Driver, SendOptions};
use oslo_messaging_core::health::ConnectionState;
use oslo_messaging_core::rpc::RpcClient;
use oslo_messaging_core::{MessagingError, Target, Transport, TransportUrl};
use oslo_messaging_driver_rabbit::{admin, RabbitDriver, RabbitOptions};
use serde_json::json;

const URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

fn refused(url: &str) -> (String, String, String) {
    match Transport::from_url(url) {
        Err(MessagingError::InvalidOption {
            group,
            option,
            reason,
        }) => (group, option, reason),
        Err(other) => panic!("{url}: expected InvalidOption, got {other}"),
        Ok(_) => panic!("{url}: expected InvalidOption, got a transport"),
    }
}

#[test]
fn url_query_options_are_checked() {
    for (query, option, says) in [
        ("bogus=1", "bogus", "unknown option"),
        (
            "rabbit_qos_prefetch_count=ten",
            "rabbit_qos_prefetch_count",
            "",
        ),
        ("heartbeat_rate=0", "heartbeat_rate", "at least 1"),
        (
            "kombu_compression=lz4",
            "kombu_compression",
            "not one of gzip, bz2",
        ),
        (
            "rabbit_login_method=KERBEROS",
            "rabbit_login_method",
            "not one of",
        ),
        (
            "rabbit_quorum_queue=true&rabbit_ha_queues=true",
            "rabbit_quorum_queue",
            "not both",
        ),
    ] {
        let (group, opt, reason) = refused(&format!("rabbit://guest:s3cret@h/?{query}"));
        assert_eq!(
            (group.as_str(), opt.as_str()),
            ("oslo_messaging_rabbit", option)
        );
        assert!(reason.contains(says), "{query}: {reason}");
        assert!(!reason.contains("s3cret"));
    }
}

#[test]
fn config_files_and_url_query_combine() {
    let config = Config::builder()
        .set("oslo_messaging_rabbit", "amqp_durable_queues", "true")
        .set("oslo_messaging_rabbit", "rabbit_qos_prefetch_count", "10")
        .set("oslo_messaging_rabbit", "kombu_reconnect_timeout", "7")
        .build()
        .expect("config");
    let url = TransportUrl::parse("rabbit://h/?rabbit_qos_prefetch_count=3").expect("url");
    let o: RabbitOptions = config.driver_group(&url).expect("options");
    assert!(o.amqp_durable_queues);
    assert_eq!(o.rabbit_qos_prefetch_count, 3, "the URL query wins");
    assert_eq!(
        o.missing_consumer_retry_timeout(),
        7,
        "deprecated name accepted"
    );
}

/// A nova.conf written as a 2026 deployment writes it (the admin guide's
/// preset, RabbitMQ 4 settings, options of other projects) loads as is.
#[test]
fn a_2026_nova_conf_with_the_preset_loads_as_is() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nova-2026.conf");
    let config = Config::builder()
        .ini_file(&path)
        .build()
        .expect("nova-2026.conf");
    let default = config.default_group().expect("[DEFAULT]");
    let url = TransportUrl::parse(default.transport_url.as_deref().expect("transport_url"))
        .expect("three hosts, a password with '/' and '@', the vhost '/'");
    assert_eq!(url.hosts.len(), 3);
    assert_eq!(url.virtual_host.as_deref(), Some("/"));
    let o: RabbitOptions = config.driver_group(&url).expect("[oslo_messaging_rabbit]");
    o.validate().expect("the preset is valid");
    assert!(o.rabbit_quorum_queue && o.rabbit_transient_quorum_queue);
    assert!(o.use_queue_manager && o.rabbit_stream_fanout);
    assert_eq!(o.rabbit_qos_prefetch_count, 10);
    assert_eq!(o.rabbit_quorum_delivery_limit, 20);
    assert_eq!(o.kombu_compression.as_deref(), Some("gzip"));
    assert!(!o.ssl_enforce_hostname_verification);
    // Builds a transport (connections open on first use).
    let t = Transport::new(&config, None).expect("a transport from nova-2026.conf");
    assert!(
        !format!("{t:?}").contains("Zm9v"),
        "no password in Debug: {t:?}"
    );
}

#[test]
fn kombu_scheme_is_an_alias_and_nothing_shows_the_password() {
    let t = Transport::from_url("kombu://guest:s3cret@127.0.0.1:5672/").expect("kombu");
    assert_eq!(t.driver().name(), "rabbit");
    let url = TransportUrl::parse("rabbit://guest:s3cret@127.0.0.1:5672/").expect("url");
    let driver = RabbitDriver::new(&url, &Config::defaults()).expect("driver");
    let shown = format!("{t:?} {driver:?} {} {url:?}", t.url());
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[tokio::test]
async fn unreachable_broker_with_retry_0_is_a_delivery_failure_without_credentials() {
    let t = Transport::from_url("rabbit://guest:s3cret@127.0.0.1:1/").expect("transport");
    let e = RpcClient::new(&t, Target::topic("nowhere"))
        .with_retry(Some(0))
        .cast(&Default::default(), "m", json!({}))
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        matches!(e, MessagingError::MessageDeliveryFailure(_)),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("s3cret"),
        "{text}"
    );
}

/// Refusals that retrying cannot fix (credentials, virtual host, TLS) fail at once even with unlimited
/// retries (the default), say why, and show in the health snapshot.
#[tokio::test]
async fn refused_login_or_vhost_fails_at_once_with_the_cause() {
    for (url, cause) in [
        (
            "rabbit://guest:not-the-password@127.0.0.1:5672/",
            "ACCESS_REFUSED",
        ),
        ("rabbit://guest:guest@127.0.0.1:5672/no-such-vhost", "vhost"),
        // TLS to a port that does not speak it: the handshake fails.
        ("rabbit://guest:guest@127.0.0.1:5672/?ssl=true", "TLS"),
    ] {
        let t = Transport::from_url(url).expect("transport");
        let e = RpcClient::new(&t, Target::topic("nowhere"))
            .cast(&Default::default(), "m", json!({}))
            .await
            .expect_err("refused");
        assert!(matches!(e, MessagingError::Connection(_)), "{e}");
        let text = e.to_string();
        assert!(text.contains(cause), "{url}: {text}");
        assert!(!text.contains("not-the-password"), "{text}");
        let health = t.health();
        assert!(!health.is_healthy(), "{health:?}");
        assert!(
            health
                .connections
                .iter()
                .any(|c| c.state == ConnectionState::Failed
                    && c.last_error.as_deref().is_some_and(|e| e.contains(cause))),
            "{health:?}"
        );
        t.cleanup().await;
    }
}

/// `amqp_durable_queues` reaches the broker: a peer declaring the same
/// queue with other flags is refused, and the error says why.
#[tokio::test]
async fn durable_option_reaches_the_broker() {
    let url = TransportUrl::parse(URL).expect("url");
    let topic = format!("options_durable_{}", std::process::id());
    let exchange = format!("{topic}_x");
    let durable = Config::builder()
        .set("oslo_messaging_rabbit", "amqp_durable_queues", "true")
        .build()
        .expect("config");
    let d1 = Arc::new(RabbitDriver::new(&url, &durable).expect("driver"));
    let d2 = Arc::new(RabbitDriver::new(&url, &Config::defaults()).expect("driver"));
    let target = Target::server(&topic, "s1").with_exchange(&exchange);
    let outcome = async {
        let mut l = d1.listen(&target).await.expect("durable server queues");
        let conflict = d2.listen(&target).await.err();
        let sent = d2
            .send(
                &Target::topic(&topic).with_exchange(&exchange),
                &Default::default(),
                oslo_messaging_core::RpcMessage {
                    method: "m".into(),
                    args: Default::default(),
                    namespace: None,
                    version: None,
                },
                oslo_messaging_core::driver::SendMode::Cast,
                SendOptions::new(Some(0)),
            )
            .await
            .err();
        l.stop().await;
        (conflict, sent)
    }
    .await;
    let queues: Vec<String> = d1.declared_queues();
    d1.cleanup().await;
    d2.cleanup().await;
    admin::delete(&url, &Config::defaults(), &queues, &[exchange])
        .await
        .expect("cleanup");
    let (conflict, sent) = outcome;
    // Both name what was refused (declaring the exchange), in the error
    // kind for a refused operation, not a delivery failure of a message.
    let declaring = format!("declare exchange {:?}", format!("{topic}_x"));
    for (what, e) in [
        ("the server's declaration", conflict),
        ("the cast's declaration", sent),
    ] {
        let e = e.unwrap_or_else(|| panic!("{what} of a non-durable exchange is refused"));
        match &e {
            MessagingError::BrokerRefused { operation, reason } => {
                assert_eq!(operation, &declaring, "{what}: {e}");
                assert!(reason.contains("inequivalent arg 'durable'"), "{what}: {e}");
            }
            other => panic!("{what}: expected BrokerRefused, got {other:?}"),
        }
        assert!(
            e.to_string()
                .starts_with(&format!("the broker refused to {declaring}: ")),
            "{e}"
        );
    }
}
