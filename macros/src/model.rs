//! The interface as the macro reads it: the trait's namespace and version,
//! and for each method its wire name, version, kind and parameters. Every
//! rule a trait must follow is checked here, with an error pointing at
//! what breaks it.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, Expr, FnArg, GenericArgument, Ident, ItemTrait, Lit, LitStr, Pat,
    PathArguments, ReturnType, TraitItem, TraitItemFn, Type,
};

/// `#[rpc_interface(namespace = "...", version = "X.Y", crate = "...")]`.
pub struct InterfaceArgs {
    pub namespace: Option<LitStr>,
    pub version: Option<LitStr>,
    pub krate: Option<syn::Path>,
}

impl InterfaceArgs {
    pub fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Self> {
        let mut args = InterfaceArgs {
            namespace: None,
            version: None,
            krate: None,
        };
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("namespace") {
                args.namespace = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("version") {
                args.version = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("crate") {
                let path: LitStr = meta.value()?.parse()?;
                args.krate = Some(path.parse()?);
            } else {
                return Err(meta.error(
                    "unknown argument: #[rpc_interface] takes namespace = \"...\", \
                     version = \"X.Y\" and crate = \"...\"",
                ));
            }
            Ok(())
        });
        parser.parse2(tokens)?;
        Ok(args)
    }
}

/// An API version `X.Y` (or `X.Y.Z`), as oslo.messaging writes them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    pub fn parse(lit: &LitStr) -> syn::Result<Self> {
        let text = lit.value();
        let bad = || {
            Error::new(
                lit.span(),
                format!("version {text:?} is not of the form X.Y (e.g. \"1.3\")"),
            )
        };
        let parts: Vec<&str> = text.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let mut numbers = [0u32; 3];
        for (n, p) in numbers.iter_mut().zip(&parts) {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            *n = p.parse().map_err(|_| bad())?;
        }
        Ok(Version(numbers[0], numbers[1], numbers[2]))
    }

    pub fn text(self) -> String {
        if self.2 == 0 {
            format!("{}.{}", self.0, self.1)
        } else {
            format!("{}.{}.{}", self.0, self.1, self.2)
        }
    }
}

/// How a method runs and is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `async fn`, called.
    Call,
    /// `async fn` marked `#[rpc(cast)]`: sent without waiting.
    Cast,
    /// `fn` marked `#[rpc(blocking)]`: runs on a blocking pool; called.
    Blocking,
}

/// One parameter after the context.
pub struct Param {
    pub name: Ident,
    pub ty: Type,
    /// `Option<T>`: may be left out, as a Python parameter defaulting to None.
    pub optional: bool,
}

/// One method of the interface.
pub struct Method {
    /// The method as written, `#[rpc]` attributes removed.
    pub item: TraitItemFn,
    pub wire_name: String,
    pub version: Version,
    pub kind: Kind,
    pub expected: Vec<String>,
    pub context: (Pat, Type),
    pub params: Vec<Param>,
    /// `T` of `Result<T, E>`.
    pub ok: Type,
    /// Its documentation (`///` lines), for the client's method.
    pub docs: Vec<Attribute>,
}

/// The whole interface.
pub struct Interface {
    pub item: ItemTrait,
    pub namespace: Option<String>,
    pub version: Version,
    pub methods: Vec<Method>,
    pub krate: syn::Path,
}

impl Interface {
    pub fn read(args: InterfaceArgs, mut item: ItemTrait) -> syn::Result<Self> {
        let version = match &args.version {
            Some(v) => Version::parse(v)?,
            None => Version(1, 0, 0),
        };
        if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
            return Err(Error::new(
                item.generics.span(),
                "an RPC interface cannot be generic: its methods are named on the wire",
            ));
        }
        let mut errors: Option<Error> = None;
        let mut push = |e: Error| match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        };
        let mut methods = Vec::new();
        let mut wire_names: HashMap<String, Span> = HashMap::new();
        for trait_item in &mut item.items {
            let TraitItem::Fn(f) = trait_item else {
                push(Error::new(
                    trait_item.span(),
                    "an RPC interface holds methods only (no types or constants)",
                ));
                continue;
            };
            match Method::read(f, version) {
                Ok(m) => {
                    if let Some(first) = wire_names.get(&m.wire_name) {
                        let mut e = Error::new(
                            m.item.sig.ident.span(),
                            format!(
                                "two methods are called {:?} on the wire; \
                                 give one another name with #[rpc(name = \"...\")]",
                                m.wire_name
                            ),
                        );
                        e.combine(Error::new(*first, "the other one"));
                        push(e);
                    } else {
                        wire_names.insert(m.wire_name.clone(), m.item.sig.ident.span());
                    }
                    *f = m.item.clone();
                    methods.push(m);
                }
                Err(e) => push(e),
            }
        }
        if let Some(e) = errors {
            return Err(e);
        }
        Ok(Interface {
            item,
            namespace: args.namespace.map(|n| n.value()),
            version,
            methods,
            krate: args.krate.unwrap_or_else(api_crate),
        })
    }
}

/// `#[rpc(name = "...", version = "X.Y", cast, blocking, expected = [...])]`.
#[derive(Default)]
struct MethodArgs {
    name: Option<LitStr>,
    version: Option<LitStr>,
    cast: Option<Span>,
    blocking: Option<Span>,
    expected: Vec<String>,
}

impl MethodArgs {
    /// Reads and removes the `#[rpc(...)]` attributes of `attrs`.
    fn take(attrs: &mut Vec<Attribute>) -> syn::Result<Self> {
        let mut args = MethodArgs::default();
        let mut kept = Vec::new();
        for attr in attrs.drain(..) {
            if !attr.path().is_ident("rpc") {
                kept.push(attr);
                continue;
            }
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    args.name = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("version") {
                    args.version = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("cast") {
                    args.cast = Some(meta.path.span());
                } else if meta.path.is_ident("blocking") {
                    args.blocking = Some(meta.path.span());
                } else if meta.path.is_ident("expected") {
                    let list: syn::ExprArray = meta.value()?.parse()?;
                    for e in &list.elems {
                        match e {
                            Expr::Lit(syn::ExprLit {
                                lit: Lit::Str(s), ..
                            }) => args.expected.push(s.value()),
                            other => {
                                return Err(Error::new(
                                    other.span(),
                                    "expected = [...] lists error class names as strings, \
                                     e.g. expected = [\"InstanceNotFound\"]",
                                ))
                            }
                        }
                    }
                } else {
                    return Err(meta.error(
                        "unknown argument: #[rpc] takes name = \"...\", version = \"X.Y\", \
                         cast, blocking and expected = [\"Class\", ...]",
                    ));
                }
                Ok(())
            })?;
        }
        *attrs = kept;
        Ok(args)
    }
}

impl Method {
    fn read(f: &TraitItemFn, interface: Version) -> syn::Result<Self> {
        let mut item = f.clone();
        let args = MethodArgs::take(&mut item.attrs)?;
        let sig = &item.sig;
        let kind = match (sig.asyncness.is_some(), args.cast, args.blocking) {
            (_, Some(cast), Some(_)) => {
                return Err(Error::new(
                    cast,
                    "a method is either cast or blocking: a blocking method is called",
                ))
            }
            (true, Some(_), None) => Kind::Cast,
            (true, None, None) => Kind::Call,
            (false, None, Some(_)) => Kind::Blocking,
            (true, None, Some(blocking)) => {
                return Err(Error::new(
                    blocking,
                    "#[rpc(blocking)] is for a method that is not async (`fn`, not `async fn`)",
                ))
            }
            (false, Some(cast), None) => {
                return Err(Error::new(cast, "a cast method is `async fn`"));
            }
            (false, None, None) => {
                return Err(Error::new(
                    sig.fn_token.span(),
                    "an RPC method is `async fn`, or a `fn` marked #[rpc(blocking)] \
                     (it then runs on a blocking pool)",
                ))
            }
        };
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            return Err(Error::new(
                sig.generics.span(),
                "an RPC method cannot be generic: its arguments must have one wire form",
            ));
        }
        if let Some(v) = &sig.variadic {
            return Err(Error::new(v.span(), "an RPC method is not variadic"));
        }
        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
            Some(other) => {
                return Err(Error::new(
                    other.span(),
                    "the first parameter of an RPC method is `&self`",
                ))
            }
            None => {
                return Err(Error::new(
                    sig.paren_token.span.join(),
                    "an RPC method takes `&self` and the request context: \
                     `fn name(&self, ctx: &Context, ...)`",
                ))
            }
        }
        let context = match inputs.next() {
            Some(FnArg::Typed(t)) if is_context(&t.ty) => ((*t.pat).clone(), (*t.ty).clone()),
            Some(other) => {
                return Err(Error::new(
                    other.span(),
                    "the second parameter of an RPC method is the request context, \
                     `ctx: &Context`",
                ))
            }
            None => {
                return Err(Error::new(
                    sig.paren_token.span.join(),
                    "an RPC method takes the request context after `&self`: \
                     `fn name(&self, ctx: &Context, ...)`",
                ))
            }
        };
        let mut params = Vec::new();
        for input in inputs {
            let FnArg::Typed(t) = input else {
                return Err(Error::new(input.span(), "`self` comes first"));
            };
            let Pat::Ident(p) = &*t.pat else {
                return Err(Error::new(
                    t.pat.span(),
                    "an RPC parameter is a plain name: it is the keyword argument's name",
                ));
            };
            if let Type::Reference(r) = &*t.ty {
                return Err(Error::new(
                    r.span(),
                    "RPC arguments are owned values, decoded from the request \
                     (take String, not &str; Vec<T>, not &[T])",
                ));
            }
            if let Type::ImplTrait(i) = &*t.ty {
                return Err(Error::new(
                    i.span(),
                    "an RPC argument has one concrete type (not impl Trait)",
                ));
            }
            params.push(Param {
                name: p.ident.clone(),
                ty: (*t.ty).clone(),
                optional: option_inner(&t.ty).is_some(),
            });
        }
        let ok = match &sig.output {
            ReturnType::Type(_, ty) => result_ok(ty).ok_or_else(|| {
                Error::new(
                    ty.span(),
                    "an RPC method returns a Result: `-> Result<T, EndpointError>`",
                )
            })?,
            ReturnType::Default => {
                return Err(Error::new(
                    sig.ident.span(),
                    "an RPC method returns a Result: `-> Result<T, EndpointError>` \
                     (`Result<(), EndpointError>` for nothing)",
                ))
            }
        };
        if kind == Kind::Cast && !is_unit(&ok) {
            return Err(Error::new(
                ok.span(),
                "a cast gets no reply, so it returns no value: \
                 `-> Result<(), EndpointError>`",
            ));
        }
        let version = match &args.version {
            Some(lit) => {
                let v = Version::parse(lit)?;
                if v.0 != interface.0 || v > interface {
                    return Err(Error::new(
                        lit.span(),
                        format!(
                            "a method's version is at most the interface's ({}) \
                             and of the same major version",
                            interface.text()
                        ),
                    ));
                }
                v
            }
            None => Version(interface.0, 0, 0),
        };
        let wire_name = match &args.name {
            Some(n) => {
                let name = n.value();
                if name.is_empty() {
                    return Err(Error::new(n.span(), "a wire name is not empty"));
                }
                name
            }
            None => sig.ident.unraw_string(),
        };
        let docs = item
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect();
        Ok(Method {
            item,
            wire_name,
            version,
            kind,
            expected: args.expected,
            context,
            params,
            ok,
            docs,
        })
    }
}

trait Unraw {
    fn unraw_string(&self) -> String;
}

impl Unraw for Ident {
    fn unraw_string(&self) -> String {
        let s = self.to_string();
        s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
    }
}

/// `&Context` (any path ending in `Context`).
fn is_context(ty: &Type) -> bool {
    let Type::Reference(r) = ty else {
        return false;
    };
    if r.mutability.is_some() {
        return false;
    }
    matches!(&*r.elem, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Context"))
}

/// The `T` of `Option<T>`.
fn option_inner(ty: &Type) -> Option<&Type> {
    last_generic(ty, "Option")
}

/// The `T` of `Result<T, E>` (or of a `Result<T>` alias).
fn result_ok(ty: &Type) -> Option<Type> {
    last_generic(ty, "Result").cloned()
}

/// The first type argument of a path type whose last segment is `name`.
fn last_generic<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else {
        return None;
    };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// Removes the `#[rpc(...)]` attributes of `item`'s methods.
pub fn strip_rpc_attributes(item: &mut ItemTrait) {
    for trait_item in &mut item.items {
        if let TraitItem::Fn(f) = trait_item {
            f.attrs.retain(|a| !a.path().is_ident("rpc"));
        }
    }
}

/// Where the generated code finds the API, as the user's Cargo.toml names
/// it: the facade `oslo-messaging` if it is a dependency, else
/// `oslo-messaging-core` (also inside core itself, which names itself so).
fn api_crate() -> syn::Path {
    use proc_macro_crate::{crate_name, FoundCrate};
    let path = |name: &str| {
        let ident = Ident::new(name, Span::call_site());
        syn::parse_quote!(::#ident)
    };
    for package in ["oslo-messaging", "oslo-messaging-core"] {
        match crate_name(package) {
            Ok(FoundCrate::Name(name)) => return path(&name),
            Ok(FoundCrate::Itself) => return path(&package.replace('-', "_")),
            Err(_) => {}
        }
    }
    path("oslo_messaging_core")
}
