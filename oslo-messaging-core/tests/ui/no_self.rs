use oslo_messaging_core::{rpc_interface, Context, EndpointError};

#[rpc_interface]
pub trait Calculator {
    async fn add(ctx: &Context, a: i64, b: i64) -> Result<i64, EndpointError>;
}

fn main() {}
