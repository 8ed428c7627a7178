use oslo_messaging_core::{rpc_interface, Context, EndpointError};

#[rpc_interface]
pub trait Greeter {
    async fn greet(&self, ctx: &Context, name: &str) -> Result<String, EndpointError>;
}

fn main() {}
