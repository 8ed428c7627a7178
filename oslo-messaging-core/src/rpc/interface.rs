//! What the code [`rpc_interface`](crate::rpc_interface) generates calls
//! at run time: keyword arguments read the way Python binds them, typed
//! requests for [`RpcSend`], results decoded. One place for
//! each rule, so that a generated endpoint and a hand-written
//! [`Endpoint`](crate::Endpoint) behave alike (they share the dispatcher:
//! a generated endpoint is built with [`Endpoint::builder`](crate::Endpoint::builder)).

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{MessagingError, Result};
use crate::failure::classes;
use crate::message::Context;
use crate::rpc::{EndpointError, RpcClient, RpcSend};

/// Keyword arguments as a request carries them.
pub type KeywordMap = Map<String, Value>;

/// A type that can be an RPC argument: serde reads it from a request and
/// writes it into one. Implemented for every such type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an RPC argument: serde must be able to write and read it",
    label = "needs `#[derive(Serialize, Deserialize)]` (serde)",
    note = "an RPC argument travels as JSON, as Python's keyword arguments do"
)]
pub trait Argument: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Argument for T {}

/// A type that can be an RPC result: serde writes it into a reply and
/// reads it from one. Implemented for every such type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an RPC result: serde must be able to write and read it",
    label = "needs `#[derive(Serialize, Deserialize)]` (serde)",
    note = "an RPC result travels as JSON in the reply"
)]
pub trait Reply: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Reply for T {}

/// Compiles only when `T` can be an argument (where the generated code
/// puts the parameter's type, for a readable error).
pub fn assert_argument<T: Argument>() {}

/// Compiles only when `T` can be a result.
pub fn assert_result<T: Reply>() {}

/// One request of a typed client: the interface's namespace, the version
/// the method needs (its `#[rpc(version)]`, else `<major>.0`), the method's
/// wire name and its keyword arguments (a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The endpoint namespace (`None`: the default namespace).
    pub namespace: Option<&'static str>,
    /// The API version the request asks for, `X.Y`.
    pub version: &'static str,
    /// The method's name on the wire.
    pub method: &'static str,
    /// Keyword arguments, `{"name": value, ...}`.
    pub args: Value,
}

/// The keyword arguments of a request, bound to a method's parameters the
/// way Python binds `func(ctxt, **kwargs)`, with Python's `TypeError`
/// messages (the `<Class>.<method>()` form of Python 3.10+):
///
/// * a key no parameter has: `Calculator.add() got an unexpected keyword
///   argument 'c'`;
/// * required parameters absent: `Calculator.add() missing 2 required
///   positional arguments: 'a' and 'b'`;
/// * a value of the wrong type: `Calculator.add() argument 'a': invalid
///   type: string "x", expected i64`.
///
/// Optional parameters (`Option<T>`) may be absent or `null`, as a Python
/// parameter with a `None` default.
#[derive(Debug)]
pub struct Arguments {
    method: &'static str,
    args: Map<String, Value>,
}

impl Arguments {
    /// Binds `args` to a method called `method` (e.g. `Calculator.add`)
    /// whose parameters are `parameters`, of which `required` must be given.
    ///
    /// # Errors
    /// A `TypeError` for an unexpected keyword argument (checked first, as
    /// Python does) or for missing required ones.
    pub fn bind(
        method: &'static str,
        args: Map<String, Value>,
        parameters: &[&str],
        required: &[&str],
    ) -> std::result::Result<Self, EndpointError> {
        if let Some(unexpected) = args.keys().find(|k| !parameters.contains(&k.as_str())) {
            return Err(type_error(format!(
                "{method}() got an unexpected keyword argument '{unexpected}'"
            )));
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|p| !args.contains_key(*p))
            .collect();
        if !missing.is_empty() {
            let noun = if missing.len() == 1 {
                "argument"
            } else {
                "arguments"
            };
            return Err(type_error(format!(
                "{method}() missing {} required positional {noun}: {}",
                missing.len(),
                python_list(&missing)
            )));
        }
        Ok(Self { method, args })
    }

    /// The value of required parameter `name`.
    ///
    /// # Errors
    /// A `TypeError` naming the argument when its value does not fit `T`.
    pub fn take<T: Argument + 'static>(
        &mut self,
        name: &str,
    ) -> std::result::Result<T, EndpointError> {
        let value = self.args.remove(name).unwrap_or(Value::Null);
        self.decode(name, value)
    }

    /// The value of optional parameter `name`: `None` when absent or `null`.
    ///
    /// # Errors
    /// A `TypeError` naming the argument when its value does not fit `T`.
    pub fn take_optional<T: Argument + 'static>(
        &mut self,
        name: &str,
    ) -> std::result::Result<Option<T>, EndpointError> {
        match self.args.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => self.decode(name, value).map(Some),
        }
    }

    fn decode<T: DeserializeOwned + 'static>(
        &self,
        name: &str,
        value: Value,
    ) -> std::result::Result<T, EndpointError> {
        crate::rpc::endpoint::from_value(value)
            .map_err(|e| type_error(format!("{}() argument '{name}': {e}", self.method)))
    }
}

fn type_error(message: String) -> EndpointError {
    EndpointError::new(classes::TYPE_ERROR, message)
}

/// `'a'`, `'a' and 'b'`, `'a', 'b', and 'c'`: how Python lists names.
fn python_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

/// Marks `error` expected (logged at debug level, oslo.messaging's
/// `@expected_exceptions`) when its class is one of `classes`.
pub fn expected_if(error: EndpointError, classes: &[&str]) -> EndpointError {
    if classes.contains(&error.failure().class.as_str()) {
        error.expected()
    } else {
        error
    }
}

/// The keyword arguments a typed client sends, in parameter order.
#[derive(Debug)]
pub struct KeywordArguments {
    method: &'static str,
    args: Map<String, Value>,
}

impl KeywordArguments {
    /// Room for `count` arguments of `method` (e.g. `Calculator.add`, for
    /// error messages).
    pub fn new(method: &'static str, count: usize) -> Self {
        Self {
            method,
            args: Map::with_capacity(count),
        }
    }

    /// Adds `name` (a `String` or `Value` is moved in, not copied).
    ///
    /// # Errors
    /// [`MessagingError::Serialization`] naming the argument when it cannot
    /// be serialized.
    pub fn push<T: Argument + 'static>(&mut self, name: &str, value: T) -> Result<()> {
        let value = crate::rpc::endpoint::into_value(value).map_err(|e| {
            MessagingError::Serialization(format!(
                "argument '{name}' of {}() cannot be serialized: {e}",
                self.method
            ))
        })?;
        self.args.insert(name.to_owned(), value);
        Ok(())
    }

    /// Adds `name` when it is `Some`: an optional argument left out is
    /// the server's default, and a server that predates it still accepts
    /// the request.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn push_optional<T: Argument + 'static>(
        &mut self,
        name: &str,
        value: Option<T>,
    ) -> Result<()> {
        match value {
            Some(v) => self.push(name, v),
            None => Ok(()),
        }
    }

    /// The JSON object to send.
    pub fn into_value(self) -> Value {
        Value::Object(self.args)
    }
}

/// Sends a typed client's call with `sender`: [`RpcSend::call_request`],
/// except that an [`RpcClient`] is called directly, so that its future is
/// not boxed (`async_trait` boxes every call through the trait; a generic
/// `C` that is an `RpcClient` is known when the client is compiled).
///
/// # Errors
/// As [`RpcSend::call_request`].
pub async fn call<C: RpcSend + 'static>(
    sender: &C,
    context: &Context,
    request: Request,
) -> Result<Value> {
    match (sender as &dyn Any).downcast_ref::<RpcClient>() {
        Some(client) => client.call_typed(context, request).await,
        None => sender.call_request(context, request).await,
    }
}

/// Sends a typed client's cast; see [`call`].
///
/// # Errors
/// As [`RpcSend::cast_request`].
pub async fn cast<C: RpcSend + 'static>(
    sender: &C,
    context: &Context,
    request: Request,
) -> Result<()> {
    match (sender as &dyn Any).downcast_ref::<RpcClient>() {
        Some(client) => client.cast_typed(context, request).await,
        None => sender.cast_request(context, request).await,
    }
}

/// The result of `method` as `T`.
///
/// # Errors
/// [`MessagingError::Serialization`] naming the method when it does not fit.
pub fn decode_result<T: Reply + 'static>(method: &str, value: Value) -> Result<T> {
    crate::rpc::endpoint::from_value(value).map_err(|e| {
        MessagingError::Serialization(format!(
            "the result of {method}() does not fit the declared type: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("an object"),
        }
    }

    fn bind(v: Value) -> std::result::Result<Arguments, EndpointError> {
        Arguments::bind(
            "Calculator.add",
            args(v),
            &["a", "b", "verbose"],
            &["a", "b"],
        )
    }

    fn message(e: EndpointError) -> (String, String) {
        (e.failure().class.clone(), e.failure().message.clone())
    }

    #[test]
    fn arguments_bind_as_python_binds_keyword_arguments() {
        let mut a = bind(json!({"b": 2, "a": 1})).expect("bound");
        assert_eq!(a.take::<i64>("a").expect("a"), 1);
        assert_eq!(a.take::<i64>("b").expect("b"), 2);
        assert_eq!(a.take_optional::<bool>("verbose").expect("absent"), None);
        let mut a = bind(json!({"a": 1, "b": 2, "verbose": null})).expect("bound");
        assert_eq!(a.take_optional::<bool>("verbose").expect("null"), None);
        let mut a = bind(json!({"a": 1, "b": 2, "verbose": true})).expect("bound");
        assert_eq!(
            a.take_optional::<bool>("verbose").expect("given"),
            Some(true)
        );
    }

    #[test]
    fn bad_arguments_are_the_type_errors_python_raises() {
        let e = bind(json!({"a": 1, "c": 3})).expect_err("unexpected");
        assert_eq!(
            message(e),
            (
                "TypeError".into(),
                "Calculator.add() got an unexpected keyword argument 'c'".into()
            )
        );
        let e = bind(json!({"a": 1})).expect_err("missing");
        assert_eq!(
            message(e).1,
            "Calculator.add() missing 1 required positional argument: 'b'"
        );
        let e = bind(json!({})).expect_err("missing");
        assert_eq!(
            message(e).1,
            "Calculator.add() missing 2 required positional arguments: 'a' and 'b'"
        );
        let mut a = bind(json!({"a": "x", "b": 2})).expect("bound");
        let e = a.take::<i64>("a").expect_err("wrong type");
        assert_eq!(
            message(e),
            (
                "TypeError".into(),
                "Calculator.add() argument 'a': invalid type: string \"x\", expected i64".into()
            )
        );
    }

    #[test]
    fn names_are_listed_as_python_lists_them() {
        assert_eq!(python_list(&["a"]), "'a'");
        assert_eq!(python_list(&["a", "b"]), "'a' and 'b'");
        assert_eq!(python_list(&["a", "b", "c"]), "'a', 'b', and 'c'");
    }

    #[test]
    fn clients_send_keyword_arguments_in_order_and_leave_out_none() {
        let mut k = KeywordArguments::new("Calculator.add", 4);
        k.push("b", 2).expect("b");
        k.push("a", 1).expect("a");
        k.push_optional::<bool>("verbose", None).expect("none");
        k.push_optional("limit", Some(5)).expect("some");
        k.push("name", "vm-1".to_owned()).expect("a string, moved");
        assert_eq!(
            serde_json::to_string(&k.into_value()).expect("json"),
            r#"{"b":2,"a":1,"limit":5,"name":"vm-1"}"#
        );
    }

    #[test]
    fn expected_errors_are_marked_by_class() {
        let e = expected_if(EndpointError::new("NotFound", "gone"), &["NotFound"]);
        assert!(e.is_expected());
        let e = expected_if(EndpointError::new("ValueError", "bad"), &["NotFound"]);
        assert!(!e.is_expected());
    }

    #[test]
    fn a_result_that_does_not_fit_names_the_method() {
        let e = decode_result::<i64>("Calculator.add", json!("x")).expect_err("string");
        assert!(
            e.to_string()
                .contains("the result of Calculator.add() does not fit"),
            "{e}"
        );
    }
}
