//! A transport used from more than one tokio runtime: the reply consumer
//! runs on the runtime of the first call, so a call after that runtime is
//! gone must still get its reply (the driver consumes the reply queue
//! again). Against the broker at 127.0.0.1:5672; deletes its queues.

use std::time::Duration;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::rpc::RpcClient;
use oslo_messaging_core::{Context, Target, TransportUrl};
use oslo_messaging_driver_rabbit::admin;
use serde_json::{json, Value};

mod support;
use support::{echo_server, main_transport, MAIN_URL};

/// One call on a runtime of its own, which is shut down afterwards.
fn call_on_a_runtime_of_its_own(client: &RpcClient, value: i64) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let answer = runtime.block_on(client.call(&Context::new(), "echo", json!({ "value": value })));
    drop(runtime);
    answer.expect("the call is answered")
}

#[test]
fn calls_are_answered_after_the_first_callers_runtime_is_gone() {
    let (driver, transport) = main_transport();
    let topic = format!("runtimes_{}", std::process::id());
    // The server lives on a runtime that stays.
    let server_runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = echo_server(&transport, &topic);
    server_runtime
        .block_on(server.start())
        .expect("server starts");
    let client =
        RpcClient::new(&transport, Target::topic(&topic)).with_timeout(Duration::from_secs(20));

    let first = call_on_a_runtime_of_its_own(&client, 1);
    let second = call_on_a_runtime_of_its_own(&client, 2);
    let third = server_runtime.block_on(client.call(&Context::new(), "echo", json!({"value": 3})));

    server_runtime.block_on(async {
        server.stop().await.expect("stop");
        server.wait().await.expect("wait");
        driver.cleanup().await;
        let url = TransportUrl::parse(MAIN_URL).expect("url");
        admin::delete(&url, &Config::defaults(), &driver.declared_queues(), &[])
            .await
            .expect("delete the queues");
    });
    assert_eq!((first, second), (json!(1), json!(2)));
    assert_eq!(third.expect("a call on the server's runtime"), json!(3));
}
