use oslo_messaging_core::{rpc_interface, Context, EndpointError};

#[rpc_interface]
pub trait Calculator {
    async fn add(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, EndpointError>;
    #[rpc(name = "add")]
    async fn add_floats(&self, ctx: &Context, a: f64, b: f64) -> Result<f64, EndpointError>;
}

fn main() {}
