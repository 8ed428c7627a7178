//! The code generated for an [`Interface`]: the trait (each `async fn`
//! turned into `fn -> impl Future + Send`, so a generic server can run it
//! on a multi-threaded runtime), `<Trait>Endpoint` and `<Trait>Client`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ReturnType, TraitItem};

use crate::model::{Interface, Kind, Method};

pub fn expand(interface: &Interface) -> TokenStream {
    let the_trait = expand_trait(interface);
    let endpoint = expand_endpoint(interface);
    let client = expand_client(interface);
    quote! {
        #the_trait
        #endpoint
        #client
    }
}

fn namespace_tokens(interface: &Interface) -> TokenStream {
    match &interface.namespace {
        Some(ns) => quote!(::core::option::Option::Some(#ns)),
        None => quote!(::core::option::Option::None),
    }
}

fn expand_trait(interface: &Interface) -> TokenStream {
    let mut item = interface.item.clone();
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Send));
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Sync));
    item.supertraits.push(syn::parse_quote!('static));
    for (trait_item, method) in item.items.iter_mut().zip(&interface.methods) {
        let TraitItem::Fn(f) = trait_item else {
            continue;
        };
        *f = method.item.clone();
        if method.kind == Kind::Blocking {
            continue;
        }
        // `async fn f(..) -> R` becomes `fn f(..) -> impl Future<Output = R> + Send`.
        f.sig.asyncness = None;
        let output = match &f.sig.output {
            ReturnType::Type(_, ty) => quote!(#ty),
            ReturnType::Default => quote!(()),
        };
        f.sig.output = syn::parse_quote_spanned! {f.sig.output.span()=>
            -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
        };
        if let Some(body) = &f.default {
            f.default = Some(syn::parse_quote!({ async move #body }));
        }
    }
    let attrs_doc = format!(
        " RPC interface `{}` (version {}{}): `#[rpc_interface]` also generates \
         `{}Endpoint`, which serves an implementation, and `{}Client`, which calls it.",
        item.ident,
        interface.version.text(),
        interface
            .namespace
            .as_deref()
            .map(|n| format!(", namespace `{n}`"))
            .unwrap_or_default(),
        item.ident,
        item.ident,
    );
    quote! {
        #[doc = ""]
        #[doc = #attrs_doc]
        #item
    }
}

/// `<Trait>.<method>`, as Python 3.10+ names a method in a `TypeError`.
fn qualified_name(interface: &Interface, method: &Method) -> String {
    format!("{}.{}", interface.item.ident, method.wire_name)
}

fn expand_endpoint(interface: &Interface) -> TokenStream {
    let krate = &interface.krate;
    let vis = &interface.item.vis;
    let name = &interface.item.ident;
    let endpoint = format_ident!("{}Endpoint", name);
    let namespace = namespace_tokens(interface);
    let version = interface.version.text();
    let registrations = interface
        .methods
        .iter()
        .map(|m| register_method(interface, m));
    let doc = format!(
        " Serves an implementation of [`{name}`] in an `RpcServer`: \
         `RpcServer::builder(&transport, target).endpoint({endpoint}::new(service))`. \
         Its namespace and version are the interface's; each method takes its \
         keyword arguments by parameter name (`Option` ones may be left out) and \
         refuses others with the `TypeError` a Python server raises."
    );
    quote! {
        #[doc = #doc]
        #vis struct #endpoint<T>(T);

        impl<T: #name> #endpoint<T> {
            /// The endpoint namespace (`None`: the default one).
            #vis const NAMESPACE: ::core::option::Option<&'static str> = #namespace;
            /// The interface's version, `X.Y`: the endpoint's.
            #vis const VERSION: &'static str = #version;

            /// Serves `service`.
            #vis fn new(service: T) -> Self {
                Self(service)
            }

            /// The endpoint: what the dispatcher runs.
            #vis fn into_endpoint(self) -> #krate::Endpoint {
                let builder = #krate::Endpoint::builder(self.0).version(Self::VERSION);
                let builder = match Self::NAMESPACE {
                    ::core::option::Option::Some(ns) => builder.namespace(ns),
                    ::core::option::Option::None => builder,
                };
                #(let builder = #registrations;)*
                match builder.build() {
                    ::core::result::Result::Ok(endpoint) => endpoint,
                    // The version was checked when the interface compiled.
                    ::core::result::Result::Err(e) => ::core::panic!("{}", e),
                }
            }
        }

        impl<T: #name> ::core::convert::From<#endpoint<T>> for #krate::Endpoint {
            fn from(endpoint: #endpoint<T>) -> Self {
                endpoint.into_endpoint()
            }
        }
    }
}

/// `builder.method(...)` (or `.blocking_method(...)`) for one method.
fn register_method(interface: &Interface, method: &Method) -> TokenStream {
    let krate = &interface.krate;
    let trait_name = &interface.item.ident;
    let rust_name = &method.item.sig.ident;
    let wire = &method.wire_name;
    let qualified = qualified_name(interface, method);
    let names: Vec<String> = method.params.iter().map(|p| p.name.to_string()).collect();
    let required: Vec<&String> = method
        .params
        .iter()
        .zip(&names)
        .filter(|(p, _)| !p.optional)
        .map(|(_, n)| n)
        .collect();
    let bindings = method.params.iter().zip(&names).map(|(p, n)| {
        let ident = &p.name;
        let ty = &p.ty;
        // The bound is checked where the parameter is written, so that a
        // type serde cannot read is reported there.
        let check = quote_spanned! {ty.span()=>
            #krate::rpc::interface::assert_argument::<#ty>();
        };
        if p.optional {
            quote! { #check let #ident: #ty = __oslo_args.take_optional(#n)?; }
        } else {
            quote! { #check let #ident: #ty = __oslo_args.take(#n)?; }
        }
    });
    let idents = method.params.iter().map(|p| &p.name);
    let expected = &method.expected;
    let ok = &method.ok;
    let result_check = quote_spanned! {ok.span()=>
        #krate::rpc::interface::assert_result::<#ok>();
    };
    let body = quote! {
        #result_check
        let mut __oslo_args = #krate::rpc::interface::Arguments::bind(
            #qualified, __oslo_args, &[#(#names),*], &[#(#required),*],
        )?;
        #(#bindings)*
    };
    let map_err = quote! {
        |e| #krate::rpc::interface::expected_if(::core::convert::Into::into(e), &[#(#expected),*])
    };
    let params = quote! {
        __oslo_service: ::std::sync::Arc<T>,
        __oslo_ctx: #krate::Context,
        __oslo_args: #krate::rpc::interface::KeywordMap,
    };
    match method.kind {
        Kind::Blocking => quote! {
            builder.blocking_method(#wire, |#params| {
                #body
                <T as #trait_name>::#rust_name(&*__oslo_service, &__oslo_ctx, #(#idents),*)
                    .map_err(#map_err)
            })
        },
        Kind::Call | Kind::Cast => quote! {
            builder.method(#wire, |#params| async move {
                #body
                <T as #trait_name>::#rust_name(&*__oslo_service, &__oslo_ctx, #(#idents),*)
                    .await
                    .map_err(#map_err)
            })
        },
    }
}

fn expand_client(interface: &Interface) -> TokenStream {
    let krate = &interface.krate;
    let vis = &interface.item.vis;
    let name = &interface.item.ident;
    let client = format_ident!("{}Client", name);
    let namespace = namespace_tokens(interface);
    let version = interface.version.text();
    let methods = interface
        .methods
        .iter()
        .map(|m| client_method(interface, m));
    let doc = format!(
        " Calls [`{name}`] over any `RpcSend + 'static` (an `RpcClient` prepared \
         with the server, fanout, timeout, retry and version cap to use, which is \
         called directly, its future not boxed; a `MockRpcSend` in tests): each method sends its typed arguments as keyword arguments, \
         asks for the version the method needs (its `#[rpc(version)]`, else \
         `<major>.0`), so older servers still serve it, and decodes the result."
    );
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        #vis struct #client<C = #krate::RpcClient> {
            sender: C,
        }

        impl<C: #krate::RpcSend + 'static> #client<C> {
            /// The endpoint namespace requests ask for (`None`: the default one).
            #vis const NAMESPACE: ::core::option::Option<&'static str> = #namespace;
            /// The interface's version, `X.Y`.
            #vis const VERSION: &'static str = #version;

            /// A client sending with `sender`.
            #vis fn new(sender: C) -> Self {
                Self { sender }
            }

            /// What it sends with.
            #vis fn sender(&self) -> &C {
                &self.sender
            }

            /// Whether `version` may be sent under the sender's version cap
            /// (oslo.messaging's `can_send_version`).
            #vis fn can_send_version(&self, version: &str) -> bool {
                self.sender.can_send_version(version)
            }

            #(#methods)*
        }
    }
}

fn client_method(interface: &Interface, method: &Method) -> TokenStream {
    let krate = &interface.krate;
    let vis = &interface.item.vis;
    let rust_name = &method.item.sig.ident;
    let wire = &method.wire_name;
    let qualified = qualified_name(interface, method);
    let version = method.version.text();
    let ctx_ty = &method.context.1;
    let ctx_ident = match &method.context.0 {
        syn::Pat::Ident(p) => p.ident.clone(),
        _ => format_ident!("ctx"),
    };
    let ok = &method.ok;
    let docs = &method.docs;
    let params = method.params.iter().map(|p| {
        let (n, t) = (&p.name, &p.ty);
        quote!(#n: #t)
    });
    let pushes = method.params.iter().map(|p| {
        let ident = &p.name;
        let n = p.name.to_string();
        if p.optional {
            quote! { __oslo_args.push_optional(#n, #ident)?; }
        } else {
            quote! { __oslo_args.push(#n, #ident)?; }
        }
    });
    let request = quote! {
        #krate::rpc::Request {
            namespace: Self::NAMESPACE,
            version: #version,
            method: #wire,
            args: __oslo_args.into_value(),
        }
    };
    let count = method.params.len();
    let how = match method.kind {
        Kind::Cast => format!(
            " Casts `{wire}` (version {version}): returns once it is sent, without a reply."
        ),
        _ => format!(" Calls `{wire}` (version {version}) and waits for its result."),
    };
    let send = match method.kind {
        Kind::Cast => quote! {
            #krate::rpc::interface::cast(&self.sender, __oslo_ctx, #request).await
        },
        Kind::Call | Kind::Blocking => quote! {
            let value = #krate::rpc::interface::call(&self.sender, __oslo_ctx, #request).await?;
            #krate::rpc::interface::decode_result(#qualified, value)
        },
    };
    quote! {
        #(#docs)*
        #[doc = ""]
        #[doc = #how]
        #[doc = ""]
        #[doc = " # Errors"]
        #[doc = " The sender's errors (`MessagingError::Remote` when the method failed, a"]
        #[doc = " timeout, a version above the cap); `Serialization` when an argument or"]
        #[doc = " the result does not fit its type."]
        #vis async fn #rust_name(&self, #ctx_ident: #ctx_ty, #(#params),*) -> #krate::Result<#ok> {
            let __oslo_ctx = #ctx_ident;
            let mut __oslo_args = #krate::rpc::interface::KeywordArguments::new(#qualified, #count);
            #(#pushes)*
            #send
        }
    }
}
