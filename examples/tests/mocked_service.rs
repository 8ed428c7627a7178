//! A service unit-tested with mockall: no transport, no broker.

use mockall::predicate::{always, eq};
use oslo_messaging_core::rpc::MockRpcSend;
use oslo_messaging_core::{Context, MessagingError};
use oslo_messaging_examples::InstanceService;
use serde_json::json;

#[tokio::test]
async fn boot_selects_a_host_then_casts_boot() {
    let mut compute = MockRpcSend::new();
    compute
        .expect_call()
        .with(always(), eq("select_host"), eq(json!({"instance": "vm1"})))
        .times(1)
        .returning(|_, _, _| Ok(json!("host-7")));
    compute
        .expect_cast()
        .with(
            always(),
            eq("boot"),
            eq(json!({"instance": "vm1", "host": "host-7"})),
        )
        .times(1)
        .returning(|_, _, _| Ok(()));
    let service = InstanceService::new(compute);
    assert_eq!(
        service.boot(&Context::new(), "vm1").await.expect("boots"),
        "host-7"
    );
}

#[tokio::test]
async fn boot_reports_a_timeout_and_does_not_cast() {
    let mut compute = MockRpcSend::new();
    compute.expect_call().times(1).returning(|_, method, _| {
        Err(MessagingError::MessagingTimeout {
            method: method.to_owned(),
            timeout_ms: 60_000,
        })
    });
    compute.expect_cast().never();
    let service = InstanceService::new(compute);
    let e = service
        .boot(&Context::new(), "vm1")
        .await
        .expect_err("times out");
    assert!(
        matches!(e, MessagingError::MessagingTimeout { ref method, .. } if method == "select_host")
    );
}
