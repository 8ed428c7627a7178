use oslo_messaging_core::{rpc_interface, Context, EndpointError};

pub struct Host {
    pub name: String,
}

#[rpc_interface]
pub trait Compute {
    async fn select_host(&self, ctx: &Context) -> Result<Host, EndpointError>;
}

fn main() {}
