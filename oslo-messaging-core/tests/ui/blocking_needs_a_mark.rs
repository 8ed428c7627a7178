use oslo_messaging_core::{rpc_interface, Context, EndpointError};

#[rpc_interface]
pub trait Calculator {
    fn crunch(&self, ctx: &Context, data: Vec<u8>) -> Result<u64, EndpointError>;
}

fn main() {}
