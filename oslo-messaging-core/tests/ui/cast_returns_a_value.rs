use oslo_messaging_core::{rpc_interface, Context, EndpointError};

#[rpc_interface]
pub trait Calculator {
    #[rpc(cast)]
    async fn reset(&self, ctx: &Context) -> Result<u64, EndpointError>;
}

fn main() {}
