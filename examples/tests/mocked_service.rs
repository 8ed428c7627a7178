//! A service unit-tested with mockall: no transport, no broker. The mock
//! stands in for the sender beneath the generated typed client, so the
//! test sees what goes on the wire: method, namespace, version and
//! keyword arguments.

use mockall::predicate::always;
use oslo_messaging_core::rpc::{MockRpcSend, Request};
use oslo_messaging_core::{Context, MessagingError};
use oslo_messaging_examples::InstanceService;
use serde_json::json;

#[tokio::test]
async fn boot_selects_a_host_then_casts_boot() {
    let mut compute = MockRpcSend::new();
    compute
        .expect_call_request()
        .withf(|_, r: &Request| {
            *r == Request {
                namespace: Some("compute"),
                version: "2.0",
                method: "select_host",
                args: json!({"instance": "vm1", "flavor": "m1.tiny"}),
            }
        })
        .times(1)
        .returning(|_, _| Ok(json!("host-7")));
    compute
        .expect_cast_request()
        .withf(|_, r: &Request| {
            r.method == "boot" && r.args == json!({"instance": "vm1", "host": "host-7"})
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let service = InstanceService::new(compute);
    assert_eq!(
        service
            .boot(&Context::new(), "vm1", "m1.tiny")
            .await
            .expect("boots"),
        "host-7"
    );
}

#[tokio::test]
async fn boot_reports_a_timeout_and_does_not_cast() {
    let mut compute = MockRpcSend::new();
    compute
        .expect_call_request()
        .with(always(), always())
        .times(1)
        .returning(|_, r| {
            Err(MessagingError::MessagingTimeout {
                method: r.method.to_owned(),
                timeout_ms: 60_000,
            })
        });
    compute.expect_cast_request().never();
    let service = InstanceService::new(compute);
    let e = service
        .boot(&Context::new(), "vm1", "m1.tiny")
        .await
        .expect_err("times out");
    assert!(
        matches!(e, MessagingError::MessagingTimeout { ref method, .. } if method == "select_host")
    );
}
