//! Quickstart: declare an RPC interface as a trait, serve an implementation,
//! call and cast to it with the generated client, send a notification and
//! receive it, over `fake://` or the transport URL given as the first
//! argument.
//!
//! ```text
//! cargo run -p oslo-messaging-examples --bin quickstart
//! cargo run -p oslo-messaging-examples --bin quickstart -- rabbit://guest:guest@127.0.0.1:5672/
//! ```

use std::process::ExitCode;

use oslo_messaging_core::notify::Notification;
use oslo_messaging_core::{
    rpc_interface, Context, EndpointError, NotificationEndpoint, NotificationListener,
    NotificationResult, Notifier, NotifySendExt, Priority, Result, RpcClient, RpcSendExt,
    RpcServer, Target, Transport,
};
// The drivers are only reached through the URL scheme: keep them linked.
use oslo_messaging_driver_fake as _;
use oslo_messaging_driver_rabbit as _;
use serde_json::json;
use tokio::sync::mpsc;

/// The RPC interface, written once: the server below implements it, and
/// `CalculatorClient` (generated) calls it with typed arguments.
#[rpc_interface(namespace = "calculator", version = "1.1")]
trait Calculator {
    /// `a + b`.
    async fn add(&self, ctx: &Context, a: i64, b: i64) -> std::result::Result<i64, EndpointError>;
    /// Logs a line, as the calling user (a cast: no reply).
    #[rpc(cast, version = "1.1")]
    async fn log(&self, ctx: &Context, line: String) -> std::result::Result<(), EndpointError>;
}

/// The implementation: where casts report what they did.
struct Service {
    log: mpsc::UnboundedSender<String>,
}

impl Calculator for Service {
    async fn add(&self, _: &Context, a: i64, b: i64) -> std::result::Result<i64, EndpointError> {
        Ok(a + b)
    }

    async fn log(&self, ctx: &Context, line: String) -> std::result::Result<(), EndpointError> {
        let user = ctx.get("user").and_then(|u| u.as_str()).unwrap_or("?");
        let _ = self.log.send(format!("{user}: {line}"));
        Ok(())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    oslo_messaging_examples::main_with_url_arg("quickstart", run).await
}

async fn run(transport: Transport) -> Result<()> {
    // A server: the trait's implementation, served as the `calculator` endpoint.
    let (log_tx, mut log_rx) = mpsc::unbounded_channel();
    let server = RpcServer::builder(&transport, Target::server("quickstart", "demo"))
        .endpoint(CalculatorEndpoint::new(Service { log: log_tx }))
        .build()?;
    server.start().await?;

    // A client: call (wait for the result) and cast (fire and forget).
    let rpc = RpcClient::new(&transport, Target::topic("quickstart"));
    let calculator = CalculatorClient::new(rpc.clone());
    let mut ctx = Context::new();
    ctx.insert("user".into(), json!("alice"));
    let sum = calculator.add(&ctx, 2, 40).await?;
    println!("call add(2, 40) -> {sum}");
    calculator.log(&ctx, "hello from a cast".into()).await?;
    if let Some(line) = log_rx.recv().await {
        println!("cast log(...) handled: {line}");
    }
    // What a Python client (or a typo) would send: keyword arguments by name.
    let raw = rpc.with_namespace("calculator").with_version("1.1");
    match raw.call_as::<i64>(&ctx, "add", json!({"a": 2})).await {
        Err(e) => println!("call add(a=2) -> {e}"),
        Ok(v) => println!("call add(a=2) -> unexpected {v}"),
    }
    match raw.call(&ctx, "divide", json!({})).await {
        Err(e) => println!("call divide -> {e}"),
        Ok(v) => println!("call divide -> unexpected {v}"),
    }

    // Notifications: a listener on `notifications.info`, a notifier sending to it.
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Notification>();
    let listener_endpoint = NotificationEndpoint::builder(seen_tx)
        .on(Priority::Info, |seen, n| async move {
            let _ = seen.send(n);
            Ok(NotificationResult::Handled)
        })
        .build();
    let listener = NotificationListener::builder(&transport, vec![Target::topic("notifications")])
        .endpoint(listener_endpoint)
        .build()?;
    listener.start().await?;
    let notifier = Notifier::builder(&transport)
        .publisher_id("quickstart.demo")
        .driver("messagingv2")
        .build()?;
    notifier
        .info(&ctx, "quickstart.sum.computed", json!({"sum": sum}))
        .await?;
    if let Some(n) = seen_rx.recv().await {
        println!(
            "notification {} from {}: {}",
            n.event_type,
            n.publisher_id.as_deref().unwrap_or("?"),
            n.payload
        );
    }

    listener.stop().await?;
    listener.wait().await?;
    server.stop().await?;
    server.wait().await?;
    transport.cleanup().await;
    println!("done");
    Ok(())
}
