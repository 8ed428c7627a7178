use oslo_messaging_core::{rpc_interface, Context};

#[rpc_interface]
pub trait Calculator {
    async fn add(&self, ctx: &Context, a: i64, b: i64) -> i64;
}

fn main() {}
