//! CPU time per message, ours and the broker's, for N calls (or casts) at
//! concurrency C over the RabbitMQ at 127.0.0.1:5672, with a 100-byte
//! payload; client and server share one transport, as in `rabbit_call`.
//!
//! CPU time is read from /proc (this process, and the broker's `beam.smp`),
//! so the figure depends little on what else the machine is doing, unlike
//! wall-clock throughput on a small machine. Deletes its queues at the end.
//!
//! Run: `cargo run --release -p oslo-messaging-driver-rabbit --example cpu_per_call -- 24000 16 [cast]`
use std::sync::Arc;

use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::rpc::{Endpoint, EndpointError, RpcClient, RpcServer};
use oslo_messaging_core::{Context, Target, Transport, TransportUrl};
use oslo_messaging_driver_rabbit::{admin, RabbitDriver};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Payload {
    payload: Value,
}

#[path = "support/cpu.rs"]
mod cpu;

fn main() {
    let args = cpu::Args::parse();
    let (n, c, cast) = (args.messages, args.concurrency, args.mode == "cast");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = TransportUrl::parse("rabbit://guest:guest@127.0.0.1:5672/").unwrap();
    let config = Config::defaults();
    let driver = Arc::new(RabbitDriver::new(&url, &config).unwrap());
    let transport = Transport::with_driver(driver.clone(), url.clone(), &config).unwrap();
    let topic = format!("cpu_per_call_{}", std::process::id());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let endpoint = Endpoint::builder(tx)
        .method("echo", |_, _, a: Payload| async move {
            Ok::<_, EndpointError>(a.payload)
        })
        .method("take", |tx, _, _: Payload| async move {
            let _ = tx.send(());
            Ok::<_, EndpointError>(Value::Null)
        })
        .build()
        .unwrap();
    let server = RpcServer::builder(&transport, Target::server(&topic, "s1"))
        .endpoint(endpoint)
        .build()
        .unwrap();
    rt.block_on(server.start()).unwrap();
    let client = Arc::new(RpcClient::new(&transport, Target::topic(&topic)));
    let payload = "x".repeat(100);
    let mut run = |count: usize| {
        rt.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..c {
                let client = client.clone();
                let payload = payload.clone();
                tasks.push(tokio::spawn(async move {
                    let ctx = Context::new();
                    for _ in 0..count / c {
                        if cast {
                            client
                                .cast(&ctx, "take", json!({ "payload": payload }))
                                .await
                                .unwrap();
                        } else {
                            client
                                .call(&ctx, "echo", json!({ "payload": payload }))
                                .await
                                .unwrap();
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            if cast {
                for _ in 0..(count / c) * c {
                    rx.recv().await.unwrap();
                }
            }
        })
    };
    run(n / 10);
    let meter = cpu::Meter::start();
    run(n);
    let label = format!("{} x{c}", if cast { "cast" } else { "call" });
    meter.report(&label, args.per_sender(n) * c);
    rt.block_on(async {
        server.stop().await.unwrap();
        server.wait().await.unwrap();
        driver.cleanup().await;
        admin::delete(&url, &config, &driver.declared_queues(), &[])
            .await
            .unwrap();
    });
}
