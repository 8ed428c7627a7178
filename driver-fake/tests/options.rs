//! The fake driver's URL handling.

use oslo_messaging_core::{MessagingError, Transport};
use oslo_messaging_driver_fake as _;

#[test]
fn unknown_url_option_is_refused_naming_option_and_group() {
    let e = Transport::from_url("fake:///?bogus=1").expect_err("unknown option");
    match e {
        MessagingError::InvalidOption { group, option, .. } => {
            assert_eq!(
                (group.as_str(), option.as_str()),
                ("oslo_messaging_fake", "bogus")
            );
        }
        other => panic!("expected InvalidOption, got {other}"),
    }
}

#[tokio::test]
async fn virtual_hosts_are_isolated_brokers() {
    use oslo_messaging_core::rpc::{Endpoint, EndpointError, NoArgs, RpcClient, RpcServer};
    use oslo_messaging_core::{Context, Target};
    use std::time::Duration;

    let a = Transport::from_url("fake:///tenant-a").expect("fake");
    let b = Transport::from_url("fake:///tenant-b").expect("fake");
    let endpoint = Endpoint::builder(())
        .method("ping", |_, _, _: NoArgs| async {
            Ok::<_, EndpointError>("pong")
        })
        .build()
        .expect("endpoint");
    let server = RpcServer::builder(&a, Target::server("iso", "s1"))
        .endpoint(endpoint)
        .build()
        .expect("server");
    server.start().await.expect("start");
    let same = RpcClient::new(
        &Transport::from_url("fake:///tenant-a").expect("fake"),
        Target::topic("iso"),
    );
    let v = same
        .call(&Context::new(), "ping", serde_json::json!({}))
        .await
        .expect("same vhost answers");
    assert_eq!(v, "pong");
    let other = RpcClient::new(&b, Target::topic("iso")).with_timeout(Duration::from_millis(200));
    let e = other
        .call(&Context::new(), "ping", serde_json::json!({}))
        .await
        .expect_err("other vhost");
    assert!(matches!(e, MessagingError::MessagingTimeout { .. }), "{e}");
    server.stop().await.expect("stop");
    server.wait().await.expect("wait");
}
