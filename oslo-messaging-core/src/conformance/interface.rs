//! Conformance cases for RPC interfaces written as traits
//! ([`rpc_interface`](crate::rpc_interface)): the generated endpoint and
//! client over the driver under test.

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::conformance::{context, stop_server, within, Harness};
use crate::error::MessagingError;
use crate::message::Context;
use crate::rpc::{Endpoint, EndpointError, NoArgs, RpcClient, RpcServer, PING_METHOD};
use crate::rpc_interface;
use crate::target::Target;
use crate::transport::Transport;

/// The interface the cases serve (version 1.3 of namespace `calculator`).
#[rpc_interface(namespace = "calculator", version = "1.3")]
pub trait Calculator {
    /// `a + b`.
    async fn add(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, EndpointError>;
    /// `a / b`, rounded to `precision` digits when given (since 1.2).
    #[rpc(version = "1.2", expected = ["ZeroDivisionError"])]
    async fn divide(
        &self,
        ctx: &Context,
        a: f64,
        b: f64,
        precision: Option<i32>,
    ) -> Result<f64, EndpointError>;
    /// Records `reason` (a cast).
    #[rpc(cast)]
    async fn reset(&self, ctx: &Context, reason: String) -> Result<(), EndpointError>;
    /// The sum of the bytes, on a blocking pool; `crunch-numbers` on the wire.
    #[rpc(blocking, name = "crunch-numbers")]
    fn crunch(&self, ctx: &Context, data: Vec<u8>) -> Result<u64, EndpointError>;
    /// The request context, as the server got it.
    async fn context(&self, ctx: &Context) -> Result<Value, EndpointError>;
}

/// Version 2.0 of the interface, served beside 1.3 as services do during
/// upgrades: `add` takes a third, optional operand.
#[rpc_interface(namespace = "calculator", version = "2.0")]
pub trait CalculatorV2 {
    /// `a + b + c`.
    async fn add(
        &self,
        ctx: &Context,
        a: i64,
        b: i64,
        c: Option<i64>,
    ) -> Result<i64, EndpointError>;
}

/// The implementation served: reports casts on a channel.
pub struct Calc {
    resets: mpsc::UnboundedSender<String>,
}

impl Calculator for Calc {
    async fn add(&self, _: &Context, a: i64, b: i64) -> Result<i64, EndpointError> {
        Ok(a + b)
    }

    async fn divide(
        &self,
        _: &Context,
        a: f64,
        b: f64,
        precision: Option<i32>,
    ) -> Result<f64, EndpointError> {
        if b == 0.0 {
            return Err(EndpointError::new(
                "ZeroDivisionError",
                "float division by zero",
            ));
        }
        let q = a / b;
        Ok(match precision {
            Some(p) => {
                let scale = 10f64.powi(p);
                (q * scale).round() / scale
            }
            None => q,
        })
    }

    async fn reset(&self, _: &Context, reason: String) -> Result<(), EndpointError> {
        let _ = self.resets.send(reason);
        Ok(())
    }

    fn crunch(&self, _: &Context, data: Vec<u8>) -> Result<u64, EndpointError> {
        Ok(data.iter().map(|b| u64::from(*b)).sum())
    }

    async fn context(&self, ctx: &Context) -> Result<Value, EndpointError> {
        Ok(Value::Object(ctx.clone()))
    }
}

impl CalculatorV2 for Calc {
    async fn add(&self, _: &Context, a: i64, b: i64, c: Option<i64>) -> Result<i64, EndpointError> {
        Ok(a + b + c.unwrap_or(0))
    }
}

/// A server on `topic` with the 1.3 and 2.0 endpoints of one `Calc`, and
/// what it casts.
async fn serve(
    h: &Harness,
    t: &Transport,
    topic: &str,
) -> (RpcServer, mpsc::UnboundedReceiver<String>) {
    let (resets, casts) = mpsc::unbounded_channel();
    let (v2_resets, _) = mpsc::unbounded_channel();
    let server = RpcServer::builder(t, Target::server(topic, "s1"))
        .endpoint(CalculatorEndpoint::new(Calc { resets }))
        .endpoint(CalculatorV2Endpoint::new(Calc { resets: v2_resets }))
        .build()
        .expect("server");
    within(h, "server start", server.start())
        .await
        .expect("server starts");
    (server, casts)
}

fn remote(e: &MessagingError) -> (String, String) {
    match e.remote() {
        Some(f) => (f.class.clone(), f.message.clone()),
        None => panic!("expected a remote error, got {e}"),
    }
}

/// A generated client calls a trait implementation: typed arguments and
/// results, optional arguments left out or given, a cast, a blocking
/// method under its wire name, the context, and ping beside it.
pub async fn interface_client_calls_trait_server(h: &Harness) {
    let topic = h.unique("topic");
    let t = h.transport_with_ping().await;
    let (server, mut casts) = serve(h, &t, &topic).await;
    let rpc = RpcClient::new(&t, Target::topic(&topic));
    let calc = CalculatorClient::new(rpc.clone());
    let ctx = context("u");
    assert_eq!(
        within(h, "add", calc.add(&ctx, 2, 40)).await.expect("add"),
        42
    );
    let q = within(h, "divide", calc.divide(&ctx, 1.0, 3.0, None))
        .await
        .expect("divide");
    assert!((q - 1.0 / 3.0).abs() < f64::EPSILON, "{q}");
    let q = within(h, "divide", calc.divide(&ctx, 1.0, 3.0, Some(2)))
        .await
        .expect("divide");
    assert!((q - 0.33).abs() < f64::EPSILON, "{q}");
    within(h, "reset", calc.reset(&ctx, "weekly".into()))
        .await
        .expect("cast");
    assert_eq!(
        within(h, "the cast", casts.recv()).await.as_deref(),
        Some("weekly")
    );
    assert_eq!(
        within(h, "crunch", calc.crunch(&ctx, vec![1, 2, 250]))
            .await
            .expect("blocking"),
        253
    );
    let echoed = within(h, "context", calc.context(&ctx))
        .await
        .expect("context");
    assert_eq!(echoed, Value::Object(ctx.clone()));
    let pong = within(h, "ping", rpc.call(&ctx, PING_METHOD, json!({})))
        .await
        .expect("ping");
    assert_eq!(pong, json!("pong"));
    stop_server(h, &server).await;
}

/// Keyword arguments from any client (here plain requests, as a Python
/// client sends them) are bound by name, and bad ones are the `TypeError`
/// a Python server raises; an error the method declares expected reaches
/// the caller like any other.
pub async fn interface_binds_keyword_arguments_as_python(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let (server, _casts) = serve(h, &t, &topic).await;
    let raw = RpcClient::new(&t, Target::topic(&topic))
        .with_namespace("calculator")
        .with_version("1.3");
    let ctx = context("u");
    let sum = within(h, "add", raw.call(&ctx, "add", json!({"b": 2, "a": 1})))
        .await
        .expect("by name, in any order");
    assert_eq!(sum, json!(3));
    let cases = [
        (
            json!({"a": 1, "b": 2, "c": 3}),
            "Calculator.add() got an unexpected keyword argument 'c'",
        ),
        (
            json!({"a": 1}),
            "Calculator.add() missing 1 required positional argument: 'b'",
        ),
        (
            json!({}),
            "Calculator.add() missing 2 required positional arguments: 'a' and 'b'",
        ),
        (
            json!({"a": "one", "b": 2}),
            "Calculator.add() argument 'a': invalid type: string \"one\", expected i64",
        ),
    ];
    for (args, message) in cases {
        let e = within(h, "add", raw.call(&ctx, "add", args.clone()))
            .await
            .expect_err("a TypeError");
        assert_eq!(remote(&e), ("TypeError".into(), message.into()), "{args}");
    }
    let q = within(
        h,
        "divide",
        raw.call(&ctx, "divide", json!({"a": 1, "b": 4, "precision": null})),
    )
    .await
    .expect("an optional argument may be null");
    assert_eq!(q, json!(0.25));
    let e = within(
        h,
        "divide",
        CalculatorClient::new(raw.clone()).divide(&ctx, 1.0, 0.0, None),
    )
    .await
    .expect_err("divided by zero");
    assert_eq!(
        remote(&e),
        ("ZeroDivisionError".into(), "float division by zero".into())
    );
    stop_server(h, &server).await;
}

/// Each method asks for its own version: against a server whose
/// `calculator` endpoint is only 1.1, `add` (1.0) is answered and `divide`
/// (1.2) is `UnsupportedVersion`; under a version cap of 1.1 the client
/// refuses `divide` before sending, and `can_send_version` says so.
pub async fn interface_methods_ask_for_their_own_version(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let old = Endpoint::builder(())
        .namespace("calculator")
        .version("1.1")
        .method("add", |_, _, a: Value| async move {
            Ok::<_, EndpointError>(a["a"].as_i64().unwrap_or(0) + a["b"].as_i64().unwrap_or(0))
        })
        .method("divide", |_, _, _: NoArgs| async move {
            Ok::<_, EndpointError>(0)
        })
        .build()
        .expect("endpoint");
    let server = RpcServer::builder(&t, Target::server(&topic, "s1"))
        .endpoint(old)
        .build()
        .expect("server");
    within(h, "server start", server.start())
        .await
        .expect("starts");
    let calc = CalculatorClient::new(RpcClient::new(&t, Target::topic(&topic)));
    let ctx = context("u");
    assert_eq!(
        within(h, "add", calc.add(&ctx, 1, 2)).await.expect("1.0"),
        3
    );
    let e = within(h, "divide", calc.divide(&ctx, 1.0, 2.0, None))
        .await
        .expect_err("1.2 is above 1.1");
    assert_eq!(remote(&e).0, "UnsupportedVersion", "{e}");

    let capped =
        CalculatorClient::new(RpcClient::new(&t, Target::topic(&topic)).with_version_cap("1.1"));
    assert!(capped.can_send_version("1.1") && !capped.can_send_version("1.2"));
    let e = capped
        .divide(&ctx, 1.0, 2.0, None)
        .await
        .expect_err("capped");
    assert!(
        matches!(&e, MessagingError::RpcVersionCapError { version, version_cap } if version == "1.2" && version_cap == "1.1"),
        "{e}"
    );
    assert_eq!(
        within(h, "add", capped.add(&ctx, 2, 2)).await.expect("1.0"),
        4
    );
    stop_server(h, &server).await;
}

/// Two major versions of one interface on one server: each client gets
/// its own, by the version its requests ask for.
pub async fn interface_major_versions_side_by_side(h: &Harness) {
    let t = h.transport().await;
    let topic = h.unique("topic");
    let (server, _casts) = serve(h, &t, &topic).await;
    let rpc = RpcClient::new(&t, Target::topic(&topic));
    let ctx = context("u");
    let v1 = CalculatorClient::new(rpc.clone());
    let v2 = CalculatorV2Client::new(rpc.clone());
    assert_eq!(
        within(h, "v1 add", v1.add(&ctx, 1, 2)).await.expect("1.x"),
        3
    );
    assert_eq!(
        within(h, "v2 add", v2.add(&ctx, 1, 2, Some(3)))
            .await
            .expect("2.x"),
        6
    );
    assert_eq!(
        within(h, "v2 add", v2.add(&ctx, 1, 2, None))
            .await
            .expect("2.x"),
        3
    );
    let e = within(
        h,
        "v1 add with c",
        rpc.prepare()
            .with_namespace("calculator")
            .with_version("1.0")
            .call(&ctx, "add", json!({"a": 1, "b": 2, "c": 3})),
    )
    .await
    .expect_err("1.x has no c");
    assert_eq!(
        remote(&e).1,
        "Calculator.add() got an unexpected keyword argument 'c'"
    );
    stop_server(h, &server).await;
}
