//! Tests of driver groups (URL query options) and option errors.

mod common;

use common::{invalid_option, write, TestGroup};
use oslo_messaging_core::config::Config;
use oslo_messaging_core::transport_url::TransportUrl;

#[test]
fn driver_group_query_is_highest() {
    let config = Config::builder()
        .set("oslo_messaging_test", "heartbeat", "5")
        .set("oslo_messaging_test", "name", "set")
        .build()
        .unwrap();
    let url = TransportUrl::parse("test://h/?heartbeat=7&ssl=True&hosts=q1&hosts=q2").unwrap();
    let g: TestGroup = config.driver_group(&url).unwrap();
    assert_eq!(g.heartbeat, 7);
    assert!(g.ssl);
    assert_eq!(g.name, "set");
    assert_eq!(g.hosts, ["q1", "q2"]);
    // A repeated key for a scalar option: the last value wins.
    let url = TransportUrl::parse("test://h/?heartbeat=7&heartbeat=8").unwrap();
    assert_eq!(config.driver_group::<TestGroup>(&url).unwrap().heartbeat, 8);
}

#[test]
fn driver_group_unknown_query_option() {
    let url = TransportUrl::parse("test://h/?heartbeat=1&bogus=2").unwrap();
    let (group, option, reason) = invalid_option(
        Config::defaults()
            .driver_group::<TestGroup>(&url)
            .unwrap_err(),
    );
    assert_eq!(
        (group.as_str(), option.as_str(), reason.as_str()),
        ("oslo_messaging_test", "bogus", "unknown option")
    );
}

#[test]
fn driver_group_bad_query_value() {
    let url = TransportUrl::parse("test://h/?ssl=maybe").unwrap();
    let err = Config::defaults()
        .driver_group::<TestGroup>(&url)
        .unwrap_err();
    let text = err.to_string();
    let (group, option, reason) = invalid_option(err);
    assert_eq!(group, "oslo_messaging_test");
    assert_eq!(option, "ssl");
    assert!(
        reason.contains("maybe") && reason.contains("boolean"),
        "{reason}"
    );
    assert!(reason.contains("transport URL query"), "{reason}");
    assert!(
        text.contains("ssl") && text.contains("oslo_messaging_test"),
        "{text}"
    );
}

#[test]
fn wrong_type_names_group_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(
        dir.path(),
        "a.conf",
        "[DEFAULT]\nrpc_response_timeout = soon\n",
    );
    let err = Config::builder()
        .ini_file(&ini)
        .build()
        .unwrap()
        .default_group()
        .unwrap_err();
    let (group, option, reason) = invalid_option(err);
    assert_eq!(group, "DEFAULT");
    assert_eq!(option, "rpc_response_timeout");
    assert!(
        reason.contains("\"soon\"") && reason.contains("integer"),
        "{reason}"
    );
    assert!(reason.contains("a.conf"), "{reason}");

    let err = Config::builder()
        .set("DEFAULT", "executor_thread_pool_size", "-3")
        .build()
        .unwrap();
    let (_, option, _) = invalid_option(err.default_group().unwrap_err());
    assert_eq!(option, "executor_thread_pool_size");
}

#[test]
fn secret_values_are_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "a.toml",
        "[DEFAULT]\ntransport_url = { password = \"hunter2\" }\n",
    );
    let err = Config::builder()
        .toml_file(&toml)
        .build()
        .unwrap()
        .default_group()
        .unwrap_err();
    let text = err.to_string();
    let (group, option, _) = invalid_option(err);
    assert_eq!(
        (group.as_str(), option.as_str()),
        ("DEFAULT", "transport_url")
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn debug_output_hides_values() {
    let builder = Config::builder()
        .set("DEFAULT", "transport_url", "rabbit://u:hunter2@h/")
        .env_vars([("OS_DEFAULT__PASSWORD", "hunter3")]);
    let shown = format!("{builder:?}");
    assert!(
        shown.contains("transport_url") && shown.contains("OS_DEFAULT__PASSWORD"),
        "{shown}"
    );
    assert!(!shown.contains("hunter"), "{shown}");
    let shown = format!("{:?}", builder.build().unwrap());
    assert!(!shown.contains("hunter"), "{shown}");
}
