//! Shared pieces of the driver's tests: private RabbitMQ nodes, a TCP
//! proxy, and a transport with an echo server on the main broker.
#![allow(dead_code)]

pub mod logs;
pub mod node;
pub mod proxy;
pub mod rabbitmq4;
pub mod tls;

use std::sync::Arc;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::rpc::{Endpoint, EndpointError, RpcServer};
use oslo_messaging_core::{Target, Transport, TransportUrl};
use oslo_messaging_driver_rabbit::RabbitDriver;
use serde::Deserialize;
use serde_json::Value;

/// The broker every machine of the project runs.
pub const MAIN_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

/// A driver for the main broker with default options, and its transport.
pub fn main_transport() -> (Arc<RabbitDriver>, Transport) {
    let url = TransportUrl::parse(MAIN_URL).expect("url");
    let config = Config::defaults();
    let driver = Arc::new(RabbitDriver::new(&url, &config).expect("driver"));
    let transport = Transport::with_driver(driver.clone(), url, &config).expect("transport");
    (driver, transport)
}

#[derive(Deserialize)]
struct Echo {
    value: Value,
}

/// A server (not started) on `topic` as `s1` whose `echo(value)` answers `value`.
pub fn echo_server(transport: &Transport, topic: &str) -> RpcServer {
    let endpoint = Endpoint::builder(())
        .method("echo", |_, _, a: Echo| async move {
            Ok::<_, EndpointError>(a.value)
        })
        .build()
        .expect("endpoint");
    RpcServer::builder(transport, Target::server(topic, "s1"))
        .endpoint(endpoint)
        .build()
        .expect("server")
}
