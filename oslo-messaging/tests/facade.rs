//! What a user of the facade alone gets: the enabled drivers' schemes
//! without naming the driver crates, and `#[rpc_interface]` whose
//! generated code names `oslo_messaging` (the only crate this test names).

use oslo_messaging::{
    rpc_interface, Context, EndpointError, RpcClient, RpcServer, Target, Transport,
};

#[rpc_interface(namespace = "facade", version = "1.0")]
trait Greeter {
    async fn greet(&self, ctx: &Context, name: String) -> Result<String, EndpointError>;
}

struct Hello;

impl Greeter for Hello {
    async fn greet(&self, _: &Context, name: String) -> Result<String, EndpointError> {
        Ok(format!("hello, {name}"))
    }
}

#[test]
fn the_enabled_drivers_are_linked_without_being_named() {
    let schemes = oslo_messaging::registry::registered_schemes();
    for scheme in ["rabbit", "kombu", "kafka", "fake"] {
        assert!(
            schemes.iter().any(|s| s == scheme),
            "{scheme} in {schemes:?}"
        );
    }
    let transport = Transport::from_url("fake://").expect("fake:// works");
    assert_eq!(transport.driver().name(), "fake");
}

#[tokio::test]
async fn an_interface_declared_through_the_facade_is_served_and_called() {
    let transport = Transport::from_url("fake:///facade").expect("fake transport");
    let server = RpcServer::builder(&transport, Target::server("greeter", "g1"))
        .endpoint(GreeterEndpoint::new(Hello))
        .build()
        .expect("server");
    server.start().await.expect("start");
    let greeter = GreeterClient::new(RpcClient::new(&transport, Target::topic("greeter")));
    let greeting = greeter
        .greet(&Context::new(), "world".into())
        .await
        .expect("answered");
    assert_eq!(greeting, "hello, world");
    server.stop().await.expect("stop");
    server.wait().await.expect("wait");
}
