use oslo_messaging_core::{rpc_interface, Context, EndpointError};

pub struct Instance {
    pub name: String,
}

#[rpc_interface]
pub trait Compute {
    async fn boot(&self, ctx: &Context, instance: Instance) -> Result<(), EndpointError>;
}

fn main() {}
