//! Tests of option groups loaded from INI, TOML, environment and overrides.

mod common;

use common::{fixture, write, TestGroup};
use oslo_messaging_core::config::{Config, DefaultGroup, NotificationsGroup};
use oslo_messaging_core::error::MessagingError;
use oslo_messaging_core::transport_url::TransportUrl;

#[test]
fn defaults_without_sources() {
    let config = Config::defaults();
    assert_eq!(config.default_group().unwrap(), DefaultGroup::default());
    let d = config.default_group().unwrap();
    assert_eq!(d.transport_url, None);
    assert_eq!(d.control_exchange, "openstack");
    assert_eq!(d.rpc_response_timeout, 60);
    assert_eq!(d.executor_thread_pool_size, 64);
    assert!(!d.rpc_ping_enabled);
    let n = config.notifications_group().unwrap();
    assert_eq!(n, NotificationsGroup::default());
    assert_eq!(n.topics, ["notifications"]);
    assert_eq!(n.retry, -1);
    assert_eq!(config.group::<TestGroup>().unwrap(), TestGroup::default());
    assert_eq!(
        Config::builder()
            .build()
            .unwrap()
            .group::<TestGroup>()
            .unwrap(),
        TestGroup::default()
    );
}

#[test]
fn ini_files_later_wins_and_group_case_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.conf",
        "[default]\ncontrol_exchange = a\nrpc_response_timeout = 10\n",
    );
    let b = write(dir.path(), "b.conf", "[DEFAULT]\ncontrol_exchange = b\n");
    let config = Config::builder().ini_file(&a).ini_file(&b).build().unwrap();
    let d = config.default_group().unwrap();
    assert_eq!(d.control_exchange, "b");
    assert_eq!(d.rpc_response_timeout, 10);
    assert_eq!(d.executor_thread_pool_size, 64);
}

#[test]
fn precedence_ini_toml_env_set() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(
        dir.path(),
        "a.conf",
        "[oslo_messaging_test]\nheartbeat = 1\nssl = on\nname = ini\nhosts = i1,i2\nratio = 1.5\n",
    );
    let toml = write(
        dir.path(),
        "b.toml",
        "[OSLO_MESSAGING_TEST]\nheartbeat = 2\nname = 8080\nhosts = [\"t1\"]\n",
    );
    let env = [
        ("OS_OSLO_MESSAGING_TEST__NAME", "env"),
        ("os_oslo_messaging_test__hosts", "e1, e2"),
        ("OS_OSLO_MESSAGING_TEST__LIMIT", "7"),
        ("UNRELATED", "x"),
    ];
    let builder = Config::builder().set("oslo_messaging_test", "limit", "9");
    // Call order does not matter: precedence is fixed.
    let builder = builder.env_vars(env).toml_file(&toml).ini_file(&ini);

    let config = builder.clone().build().unwrap();
    let g: TestGroup = config.group().unwrap();
    assert_eq!(g.heartbeat, 2, "TOML over INI");
    assert!(g.ssl, "INI over defaults");
    assert_eq!(g.name, "env", "env over TOML");
    assert_eq!(g.hosts, ["e1", "e2"], "env over TOML");
    assert_eq!(g.ratio, 1.5);
    assert_eq!(g.limit, Some(9), "set over env");

    let only_files = Config::builder()
        .ini_file(&ini)
        .toml_file(&toml)
        .build()
        .unwrap();
    let g: TestGroup = only_files.group().unwrap();
    assert_eq!(g.name, "8080", "a TOML number read into a String");
    assert_eq!(g.hosts, ["t1"]);
    assert_eq!(g.limit, None);
}

#[test]
fn unknown_options_in_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(
        dir.path(),
        "a.conf",
        "[DEFAULT]\nnot_an_option = x\ndebug = maybe\n[other]\nk = v\n",
    );
    let toml = write(
        dir.path(),
        "b.toml",
        "[DEFAULT]\nweird = [1, 2]\n[other]\nk = 3\n",
    );
    let config = Config::builder()
        .ini_file(&ini)
        .toml_file(&toml)
        .env_vars([("OS_DEFAULT__UNKNOWN", "1")])
        .build()
        .unwrap();
    assert_eq!(config.default_group().unwrap(), DefaultGroup::default());
}

#[test]
fn lists_from_repeated_keys_and_comma_strings() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(
        dir.path(),
        "a.conf",
        "[oslo_messaging_notifications]\ndriver = a,b\ndriver = c\ntopics = x, y,,z\n",
    );
    let n = Config::builder()
        .ini_file(&ini)
        .build()
        .unwrap()
        .notifications_group()
        .unwrap();
    assert_eq!(n.driver, ["a,b", "c"], "repeated keys: items kept whole");
    assert_eq!(n.topics, ["x", "y", "z"]);
    let empty = Config::builder()
        .set("oslo_messaging_notifications", "topics", "")
        .build()
        .unwrap();
    assert!(empty.notifications_group().unwrap().topics.is_empty());
}

#[test]
fn notifications_transport_url_falls_back_to_default() {
    let config = Config::builder()
        .set("DEFAULT", "transport_url", "rabbit://d/")
        .build()
        .unwrap();
    assert_eq!(
        config
            .notifications_group()
            .unwrap()
            .transport_url
            .as_deref(),
        Some("rabbit://d/")
    );
    let config = Config::builder()
        .set("DEFAULT", "transport_url", "rabbit://d/")
        .set(
            "oslo_messaging_notifications",
            "transport_url",
            "kafka://n/",
        )
        .build()
        .unwrap();
    assert_eq!(
        config
            .notifications_group()
            .unwrap()
            .transport_url
            .as_deref(),
        Some("kafka://n/")
    );
}

#[test]
fn nova_conf_fixture() {
    let config = Config::builder()
        .ini_file(fixture("nova.conf"))
        .build()
        .unwrap();
    let d = config.default_group().unwrap();
    let url = d.transport_url.as_deref().unwrap();
    assert_eq!(
        url,
        "rabbit://openstack:RABBIT%40PASS@controller1:5672,openstack:RABBIT%40PASS@controller2:5672/nova"
    );
    let parsed = TransportUrl::parse(url).unwrap();
    assert_eq!(parsed.hosts.len(), 2);
    assert_eq!(parsed.hosts[1].password.as_deref(), Some("RABBIT@PASS"));
    assert_eq!(d.control_exchange, "nova");
    assert_eq!(d.rpc_response_timeout, 180);
    assert_eq!(d.executor_thread_pool_size, 32);
    assert!(d.rpc_ping_enabled);

    let n = config.notifications_group().unwrap();
    assert_eq!(n.driver, ["messagingv2", "log"]);
    assert_eq!(n.topics, ["notifications", "notifications_designate"]);
    assert_eq!(n.retry, 3);
    assert_eq!(n.transport_url.as_deref(), Some(url));
    assert!(!format!("{config:?}").contains("PASS"));
}

#[test]
fn missing_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for builder in [
        Config::builder().ini_file(dir.path().join("nope.conf")),
        Config::builder().toml_file(dir.path().join("nope.conf")),
    ] {
        match builder.build() {
            Err(MessagingError::Config(msg)) => assert!(msg.contains("nope.conf"), "{msg}"),
            other => panic!("expected Config error, got {other:?}"),
        }
    }
    let bad = write(dir.path(), "bad.toml", "[DEFAULT\n");
    match Config::builder().toml_file(&bad).build() {
        Err(MessagingError::Config(msg)) => assert!(msg.contains("bad.toml"), "{msg}"),
        other => panic!("expected Config error, got {other:?}"),
    }
}

#[test]
fn toml_syntax_error_does_not_quote_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.toml",
        "[DEFAULT]\ntransport_url = \"rabbit://u:hunter2@h/\n",
    );
    match Config::builder().toml_file(&bad).build() {
        Err(MessagingError::Config(msg)) => {
            assert!(msg.contains("bad.toml") && msg.contains("line 2"), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        other => panic!("expected Config error, got {other:?}"),
    }
}
