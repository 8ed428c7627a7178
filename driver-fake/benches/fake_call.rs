//! Sequential `call()` over `fake://` with a 100-byte payload, on a
//! single-threaded runtime (one core): with the builder API and a JSON
//! argument, and with an `#[rpc_interface]` trait and its generated client
//! (the same request on the wire), to show what the generated code costs.
//!
//! Run: `cargo bench -p oslo-messaging-driver-fake --bench fake_call`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oslo_messaging_core::rpc::{Endpoint, EndpointError, RpcClient, RpcServer};
use oslo_messaging_core::{rpc_interface, Context, Target, Transport};
use oslo_messaging_driver_fake as _;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Payload {
    payload: Value,
}

/// The same method as a trait: it takes and returns the same JSON.
#[rpc_interface]
trait Bench {
    async fn echo(&self, ctx: &Context, payload: Value) -> Result<Value, EndpointError>;
}

struct Echo;

impl Bench for Echo {
    async fn echo(&self, _: &Context, payload: Value) -> Result<Value, EndpointError> {
        Ok(payload)
    }
}

fn sequential_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let transport = Transport::from_url("fake:///bench").expect("fake transport");
    let endpoint = Endpoint::builder(())
        .method("echo", |_, _, a: Payload| async move {
            Ok::<_, EndpointError>(a.payload)
        })
        .build()
        .expect("endpoint");
    let server = RpcServer::builder(&transport, Target::server("bench", "s1"))
        .endpoint(endpoint)
        .build()
        .expect("server");
    rt.block_on(server.start()).expect("start");
    let interface_server = RpcServer::builder(&transport, Target::server("bench_iface", "s1"))
        .endpoint(BenchEndpoint::new(Echo))
        .build()
        .expect("server");
    rt.block_on(interface_server.start()).expect("start");
    let client = RpcClient::new(&transport, Target::topic("bench"));
    let typed = BenchClient::new(RpcClient::new(&transport, Target::topic("bench_iface")));
    let ctx = Context::new();
    let payload = "x".repeat(100);

    let mut group = c.benchmark_group("fake");
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
    group.bench_function("sequential_call_100B_interface", |b| {
        b.to_async(&rt).iter(|| async {
            let v = typed.echo(&ctx, json!(payload)).await.expect("call");
            assert_eq!(v.as_str().map(str::len), Some(100));
        });
    });
    group.finish();
    rt.block_on(async {
        for s in [&server, &interface_server] {
            s.stop().await.expect("stop");
            s.wait().await.expect("wait");
        }
    });
}

criterion_group!(benches, sequential_call);
criterion_main!(benches);
