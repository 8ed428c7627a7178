//! Quickstart: start an RPC server, call and cast to it, send a notification
//! and receive it, over `fake://` or the transport URL given as the first
//! argument.
//!
//! ```text
//! cargo run -p oslo-messaging-examples --bin quickstart
//! cargo run -p oslo-messaging-examples --bin quickstart -- rabbit://guest:guest@127.0.0.1:5672/
//! ```

use std::process::ExitCode;

use oslo_messaging_core::notify::Notification;
use oslo_messaging_core::rpc::{Endpoint, EndpointError, RpcClient, RpcServer};
use oslo_messaging_core::{
    Context, NotificationEndpoint, NotificationListener, NotificationResult, Notifier,
    NotifySendExt, Priority, Result, RpcSendExt, Target, Transport,
};
// The drivers are only reached through the URL scheme: keep them linked.
use oslo_messaging_driver_fake as _;
use oslo_messaging_driver_rabbit as _;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    a: i64,
    b: i64,
}

#[derive(Deserialize)]
struct LogArgs {
    line: String,
}

/// The endpoint's state: where casts report what they did.
struct Calculator {
    log: mpsc::UnboundedSender<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fake://".to_owned());
    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str) -> Result<()> {
    let transport = Transport::from_url(url)?;
    println!(
        "transport: {} ({})",
        transport.url(),
        transport.driver().name()
    );

    // A server: endpoints are typed Rust functions.
    let (log_tx, mut log_rx) = mpsc::unbounded_channel();
    let endpoint = Endpoint::builder(Calculator { log: log_tx })
        .namespace("calculator")
        .version("1.1")
        .method("add", |_, _, a: AddArgs| async move {
            Ok::<_, EndpointError>(a.a + a.b)
        })
        .method("log", |calc, ctx, a: LogArgs| async move {
            let user = ctx
                .get("user")
                .and_then(|u| u.as_str())
                .unwrap_or("?")
                .to_owned();
            let _ = calc.log.send(format!("{user}: {}", a.line));
            Ok::<_, EndpointError>(())
        })
        .build()?;
    let server = RpcServer::builder(&transport, Target::server("quickstart", "demo"))
        .endpoint(endpoint)
        .build()?;
    server.start().await?;

    // A client: call (wait for the result) and cast (fire and forget).
    let client = RpcClient::new(&transport, Target::topic("quickstart"))
        .with_namespace("calculator")
        .with_version("1.1");
    let mut ctx = Context::new();
    ctx.insert("user".into(), json!("alice"));
    let sum: i64 = client
        .call_as(&ctx, "add", json!({"a": 2, "b": 40}))
        .await?;
    println!("call add(2, 40) -> {sum}");
    client
        .cast(&ctx, "log", json!({"line": "hello from a cast"}))
        .await?;
    if let Some(line) = log_rx.recv().await {
        println!("cast log(...) handled: {line}");
    }
    match client.call(&ctx, "divide", json!({})).await {
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
