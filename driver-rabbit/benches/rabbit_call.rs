//! Calls and casts over the RabbitMQ at 127.0.0.1:5672 with a 100-byte
//! payload: a sequential call (one caller), 16 concurrent calls, and a cast
//! the server consumes.
//! Deletes its queues at the end.
//!
//! Run: `cargo bench -p oslo-messaging-driver-rabbit --bench rabbit_call`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oslo_messaging_core::config::Config;
use oslo_messaging_core::driver::Driver;
use oslo_messaging_core::rpc::{Endpoint, EndpointError, RpcClient, RpcServer};
use oslo_messaging_core::{Context, Target, Transport, TransportUrl};
use oslo_messaging_driver_rabbit::{admin, RabbitDriver};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

const URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

#[derive(Deserialize)]
struct Payload {
    payload: Value,
}

fn rabbit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let url = TransportUrl::parse(URL).expect("url");
    let config = Config::defaults();
    let driver = Arc::new(RabbitDriver::new(&url, &config).expect("driver"));
    let transport =
        Transport::with_driver(driver.clone(), url.clone(), &config).expect("transport");
    let topic = format!("bench_rabbit_{}", std::process::id());
    let (casts, mut cast_rx) = mpsc::unbounded_channel::<()>();
    let endpoint = Endpoint::builder(casts)
        .method("echo", |_, _, a: Payload| async move {
            Ok::<_, EndpointError>(a.payload)
        })
        .method("take", |casts, _, _: Payload| async move {
            let _ = casts.send(());
            Ok::<_, EndpointError>(Value::Null)
        })
        .build()
        .expect("endpoint");
    let server = RpcServer::builder(&transport, Target::server(&topic, "s1"))
        .endpoint(endpoint)
        .build()
        .expect("server");
    rt.block_on(server.start()).expect("start");
    let client = RpcClient::new(&transport, Target::topic(&topic));
    let ctx = Context::new();
    let payload = "x".repeat(100);

    let mut group = c.benchmark_group("rabbit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sequential_call_100B", |b| {
        b.to_async(&rt).iter(|| async {
            let v = client
                .call(&ctx, "echo", json!({ "payload": payload }))
                .await
                .expect("call");
            assert_eq!(v.as_str().map(str::len), Some(100));
        });
    });
    group.throughput(Throughput::Elements(16));
    group.bench_function("concurrent_16_calls_100B", |b| {
        b.to_async(&rt).iter(|| async {
            let calls = (0..16).map(|_| client.call(&ctx, "echo", json!({ "payload": payload })));
            for v in futures::future::join_all(calls).await {
                assert_eq!(v.expect("call").as_str().map(str::len), Some(100));
            }
        });
    });
    group.throughput(Throughput::Elements(1));
    let sent = std::sync::atomic::AtomicUsize::new(0);
    group.bench_function("cast_consumed_100B", |b| {
        b.to_async(&rt).iter(|| async {
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            client
                .cast(&ctx, "take", json!({ "payload": payload }))
                .await
                .expect("cast");
        });
    });
    group.finish();
    rt.block_on(async {
        // Every cast is consumed before the server stops.
        for _ in 0..sent.load(std::sync::atomic::Ordering::Relaxed) {
            cast_rx.recv().await.expect("the server takes every cast");
        }
        server.stop().await.expect("stop");
        server.wait().await.expect("wait");
        driver.cleanup().await;
        admin::delete(&url, &config, &driver.declared_queues(), &[])
            .await
            .expect("delete the bench queues");
    });
}

criterion_group!(benches, rabbit);
criterion_main!(benches);
