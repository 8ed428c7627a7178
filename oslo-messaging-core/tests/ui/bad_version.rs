use oslo_messaging_core::{rpc_interface, Context, EndpointError};

#[rpc_interface(version = "1.x")]
pub trait Calculator {
    async fn add(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, EndpointError>;
}

#[rpc_interface(version = "1.3")]
pub trait Other {
    #[rpc(version = "2.0")]
    async fn sub(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, EndpointError>;
}

fn main() {}
