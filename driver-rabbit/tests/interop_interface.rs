//! RPC interfaces written as Rust traits, with Python oslo.messaging 18.3.1
//! and oslo.versionedobjects 3.12.0 on the other side:
//!
//! * primitives Python makes (an `Instance` with a nested `Flavor`, a
//!   `TagList` of `Tag`s, a datetime and a `None` one) read into typed
//!   objects and written back byte for byte; objects Rust makes read by
//!   `obj_from_primitive`; a primitive of another name or major version
//!   refused with a clear error;
//! * a Python client (with nova's kind of `VersionedObjectSerializer`)
//!   calls a Rust server written as a trait implementation: keyword
//!   arguments, an optional one left out, an unknown one, an object
//!   argument and result, an error;
//! * the generated Rust client calls a Python server the same way.
//!
//! Needs the broker at 127.0.0.1:5672 and the interop venv (`scripts/interop-venv.sh`).

mod interop_support;

use chrono::{TimeZone, Utc};
use interop_support::{run_peer, rust_transport, unique, within, Peer, QueueCleanup, PATIENCE};
use oslo_messaging_core::versioned_object::{datetime, Object, VersionedObject};
use oslo_messaging_core::{
    rpc_interface, Context, EndpointError, MessagingError, RpcClient, RpcServer, Target,
};
use oslo_messaging_driver_rabbit as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

macro_rules! nova_object {
    ($t:ty, $name:literal, $version:literal) => {
        impl VersionedObject for $t {
            const SERIAL_NAMESPACE: &'static str = "nova_object";
            const PROJECT_NAMESPACE: &'static str = "nova";
            const NAME: &'static str = $name;
            const VERSION: &'static str = $version;
        }
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flavor {
    flavorid: String,
    memory_mb: i64,
    extra_specs: Map<String, Value>,
}
nova_object!(Flavor, "Flavor", "1.2");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tag {
    tag: String,
}
nova_object!(Tag, "Tag", "1.1");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TagList {
    objects: Vec<Object<Tag>>,
}
nova_object!(TagList, "TagList", "1.0");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Instance {
    uuid: String,
    hostname: String,
    vcpus: i64,
    flavor: Object<Flavor>,
    tags: Object<TagList>,
    #[serde(with = "datetime::option")]
    launched_at: Option<chrono::DateTime<Utc>>,
    #[serde(with = "datetime::option")]
    deleted_at: Option<chrono::DateTime<Utc>>,
}
nova_object!(Instance, "Instance", "2.7");

/// What `objects.sample()` builds in Python.
fn sample() -> Object<Instance> {
    let tags = ["web", "prod"].map(|t| Object::new(Tag { tag: t.into() }));
    let mut extra_specs = Map::new();
    extra_specs.insert("hw:cpu_policy".into(), json!("dedicated"));
    Object::new(Instance {
        uuid: "8b5c3e8e-6a5f-4a0c-9a57-1f1e1a7c2b10".into(),
        hostname: "vm-1".into(),
        vcpus: 2,
        flavor: Object::new(Flavor {
            flavorid: "m1.small".into(),
            memory_mb: 2048,
            extra_specs,
        }),
        tags: Object::new(TagList {
            objects: tags.to_vec(),
        }),
        launched_at: Utc.with_ymd_and_hms(2026, 11, 30, 12, 34, 56).single(),
        deleted_at: None,
    })
    .with_changes(["hostname"])
}

/// The interface both sides serve in these tests.
#[rpc_interface(namespace = "interop", version = "1.1")]
trait Interop {
    /// `a + b + c`; `c` since 1.1.
    #[rpc(version = "1.1")]
    async fn add(
        &self,
        ctx: &Context,
        a: i64,
        b: i64,
        c: Option<i64>,
    ) -> Result<i64, EndpointError>;
    /// The instance with another hostname, its one change.
    async fn rename(
        &self,
        ctx: &Context,
        instance: Object<Instance>,
        hostname: String,
    ) -> Result<Object<Instance>, EndpointError>;
    /// Raises `ValueError(message)`.
    async fn fail(&self, ctx: &Context, message: String) -> Result<(), EndpointError>;
}

struct RustInterop;

impl Interop for RustInterop {
    async fn add(&self, _: &Context, a: i64, b: i64, c: Option<i64>) -> Result<i64, EndpointError> {
        Ok(a + b + c.unwrap_or(0))
    }

    async fn rename(
        &self,
        _: &Context,
        mut instance: Object<Instance>,
        hostname: String,
    ) -> Result<Object<Instance>, EndpointError> {
        instance.hostname = hostname;
        instance.changes = vec!["hostname".into()];
        Ok(instance)
    }

    async fn fail(&self, _: &Context, message: String) -> Result<(), EndpointError> {
        Err(EndpointError::new("ValueError", message))
    }
}

/// `peer.py objects <args>`: its one line.
async fn objects_peer(args: &[&str]) -> Value {
    run_peer(&QueueCleanup::new(), "objects", "unused", args).await
}

/// How `objects.plain()` shows `sample()` renamed to `hostname`.
fn plain_sample(hostname: &str) -> Value {
    let tag = |t: &str| json!({"_name": "Tag", "_version": "1.1", "tag": t, "_changes": []});
    json!({
        "_name": "Instance", "_version": "2.7",
        "uuid": "8b5c3e8e-6a5f-4a0c-9a57-1f1e1a7c2b10", "hostname": hostname, "vcpus": 2,
        "flavor": {"_name": "Flavor", "_version": "1.2", "flavorid": "m1.small",
                   "memory_mb": 2048, "extra_specs": {"hw:cpu_policy": "dedicated"}, "_changes": []},
        "tags": {"_name": "TagList", "_version": "1.0", "objects": [tag("web"), tag("prod")], "_changes": []},
        "launched_at": "2026-11-30T12:34:56+00:00", "deleted_at": null,
        "_changes": ["hostname"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_primitives_read_into_typed_objects_and_back() {
    let made = objects_peer(&["make"]).await;
    let primitive = made["primitive"].clone();
    let instance: Object<Instance> =
        serde_json::from_value(primitive.clone()).expect("Python's Instance reads");
    assert_eq!(instance, sample());
    assert_eq!(
        serde_json::to_string(&instance).expect("json"),
        primitive.to_string(),
        "written back byte for byte, keys in Python's order"
    );

    let mut renamed = sample();
    renamed.hostname = "vm-9".into();
    let text = serde_json::to_string(&renamed).expect("json");
    let read = objects_peer(&["read", "--primitive", &text]).await;
    assert_eq!(read["read"], plain_sample("vm-9"), "{read}");

    let mut flavor = primitive.clone();
    flavor["nova_object.name"] = json!("Flavor");
    let e = serde_json::from_value::<Object<Instance>>(flavor).expect_err("not an Instance");
    assert!(
        e.to_string()
            .contains("expected a nova_object Instance, got a Flavor"),
        "{e}"
    );
    let mut newer = primitive;
    newer["nova_object.version"] = json!("3.0");
    let e = serde_json::from_value::<Object<Instance>>(newer).expect_err("another major");
    assert!(
        e.to_string()
            .contains("Instance version 3.0 is incompatible with 2.7"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_calls_a_rust_trait_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("iface_p2r");
    cleanup.rpc_topic(&topic, &["rs1"]);
    let t = rust_transport();
    let server = RpcServer::builder(&t, Target::server(&topic, "rs1"))
        .endpoint(InteropEndpoint::new(RustInterop))
        .build()
        .expect("server");
    within("server start", server.start())
        .await
        .expect("starts");

    let mut peer = Peer::spawn("call-interface", &topic, &[] as &[&str]);
    let mut outcomes = Map::new();
    loop {
        let line = peer.next_line(PATIENCE).await;
        if line["event"] == "done" {
            if let Some(q) = line["reply_queue"].as_str() {
                cleanup.queue(q);
            }
            break;
        }
        let name = line["call"].as_str().expect("a call").to_owned();
        outcomes.insert(name, line);
    }
    peer.finish().await;
    assert_eq!(outcomes["add"]["result"], json!(3));
    assert_eq!(outcomes["add_c"]["result"], json!(6));
    let unknown = &outcomes["add_unknown"]["error"];
    // Raised as Python's own TypeError, as a Python server's would be.
    assert_eq!(
        (&unknown["type"], &unknown["module"]),
        (&json!("TypeError"), &json!("builtins")),
        "{unknown}"
    );
    assert_eq!(
        unknown["first_line"], "Interop.add() got an unexpected keyword argument 'd'",
        "{unknown}"
    );
    assert_eq!(outcomes["rename"]["result"], plain_sample("vm-2"));
    let failed = &outcomes["fail"]["error"];
    assert_eq!(
        (&failed["type"], &failed["is_value_error"]),
        (&json!("ValueError"), &json!(true)),
        "{failed}"
    );
    within("server stop", server.stop()).await.expect("stop");
    within("server wait", server.wait()).await.expect("wait");
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_rust_client_calls_a_python_server() {
    let cleanup = QueueCleanup::new();
    let topic = unique("iface_r2p");
    cleanup.rpc_topic(&topic, &["py1"]);
    let _server = Peer::start("serve", &topic, &["--server", "py1", "--interface"]).await;
    let t = rust_transport();
    let client = InteropClient::new(RpcClient::new(&t, Target::topic(&topic)));
    let ctx = Context::new();
    assert_eq!(
        within("add", client.add(&ctx, 1, 2, None))
            .await
            .expect("add"),
        3
    );
    assert_eq!(
        within("add", client.add(&ctx, 1, 2, Some(3)))
            .await
            .expect("add"),
        6
    );
    let renamed = within("rename", client.rename(&ctx, sample(), "vm-3".into()))
        .await
        .expect("rename");
    let mut expected = sample();
    expected.hostname = "vm-3".into();
    assert_eq!(renamed, expected, "Python's Instance, read back typed");
    let e = within("fail", client.fail(&ctx, "boom".into()))
        .await
        .expect_err("raises");
    assert!(
        matches!(&e, MessagingError::Remote(f) if f.class == "ValueError" && f.message == "boom"),
        "{e}"
    );
    t.cleanup().await;
}
