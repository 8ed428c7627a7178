//! `#[rpc_interface]`: an oslo.messaging RPC interface written once, as a
//! Rust trait. Use it through `oslo_messaging_core::rpc_interface` (the
//! core crate's default `macros` feature); its documentation there shows
//! what the attribute generates.
#![deny(missing_docs)]

mod expand;
mod model;

use proc_macro::TokenStream;

/// Turns a trait into an RPC interface: the trait itself (each `async fn`
/// becomes `fn -> impl Future + Send`, which implementations write as
/// `async fn`), `<Trait>Endpoint` to serve an implementation and
/// `<Trait>Client` to call it. See `oslo_messaging_core::rpc_interface`
/// for the whole contract and an example.
#[proc_macro_attribute]
pub fn rpc_interface(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse::<syn::ItemTrait>(item) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error().into(),
    };
    let read = model::InterfaceArgs::parse(args.into())
        .and_then(|args| model::Interface::read(args, item.clone()));
    match read {
        Ok(interface) => expand::expand(&interface).into(),
        // The trait stays (without `#[rpc]`), so that the error is the only one.
        Err(e) => {
            let mut item = item;
            model::strip_rpc_attributes(&mut item);
            let error = e.to_compile_error();
            quote::quote!(#error #item).into()
        }
    }
}
