use oslo_messaging_core::{rpc_interface, EndpointError};

#[rpc_interface]
pub trait Calculator {
    async fn add(&self, a: i64, b: i64) -> Result<i64, EndpointError>;
}

fn main() {}
