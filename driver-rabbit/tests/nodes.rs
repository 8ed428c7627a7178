//! Self-test of `support::node`: private RabbitMQ nodes that fault-injection
//! tests start, stop, alarm and cluster without touching the main node at
//! 127.0.0.1:5672. Needs RabbitMQ installed (not running: these tests start
//! their own nodes). Run with `--nocapture` to see the timings.

mod support;

use std::time::{Duration, Instant};

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use support::node::TestNode;

async fn connect(url: &str) -> lapin::Result<Connection> {
    Connection::connect(url, ConnectionProperties::default()).await
}

fn main_node_answers() -> bool {
    std::net::TcpStream::connect_timeout(&"127.0.0.1:5672".parse().unwrap(), Duration::from_secs(2))
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_node_stop_restart_alarm_and_connections() {
    let main_before = main_node_answers();

    let t = Instant::now();
    let node = tokio::task::spawn_blocking(TestNode::start).await.unwrap();
    eprintln!(
        "[nodes] start: {:?} ({} on port {})",
        t.elapsed(),
        node.name(),
        node.amqp_port()
    );
    assert_ne!(node.amqp_port(), 5672);
    assert!(node.url().starts_with("rabbit://guest:guest@127.0.0.1:"));

    // AMQP works and the queue shows in the node's listing.
    let conn = connect(&node.amqp_url())
        .await
        .expect("connect to the private node");
    let ch = conn.create_channel().await.unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare("omt-node-selftest".into(), durable, FieldTable::default())
        .await
        .unwrap();
    let node = std::sync::Arc::new(node);
    let n = node.clone();
    let queues = tokio::task::spawn_blocking(move || n.queues())
        .await
        .unwrap();
    assert!(
        queues.iter().any(|q| q == "omt-node-selftest"),
        "{queues:?}"
    );

    // Our connection is listed; closing it by its port shows on the client.
    let n = node.clone();
    let conns = tokio::task::spawn_blocking(move || n.connections())
        .await
        .unwrap();
    assert_eq!(conns.len(), 1, "{conns:?}");
    let n = node.clone();
    let closed = tokio::task::spawn_blocking(move || n.close_all_connections())
        .await
        .unwrap();
    assert_eq!(closed, 1);
    assert!(!conn.status().connected() || ch.basic_qos(1, Default::default()).await.is_err());

    // Closing by client-provided connection name closes only that one.
    let victim = Connection::connect(
        &node.amqp_url(),
        ConnectionProperties::default().with_connection_name("omt-victim".into()),
    )
    .await
    .unwrap();
    let bystander = connect(&node.amqp_url()).await.unwrap();
    let n = node.clone();
    let closed = tokio::task::spawn_blocking(move || n.close_connections_matching("omt-victim"))
        .await
        .unwrap();
    assert_eq!(closed, 1);
    let n = node.clone();
    let left = tokio::task::spawn_blocking(move || n.connections())
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!left[0].client_properties.contains("omt-victim"));
    let _ = bystander.close(200, "bye".into()).await;
    drop(victim);

    // Memory alarm on and off.
    let n = node.clone();
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        n.set_memory_alarm(true);
        assert!(n.memory_alarm());
        assert!(
            n.alarms().iter().any(|a| a.contains("memory")),
            "{:?}",
            n.alarms()
        );
        n.set_memory_alarm(false);
        assert!(!n.memory_alarm());
        eprintln!("[nodes] memory alarm on+off: {:?}", t.elapsed());
    })
    .await
    .unwrap();

    // Stop: the port refuses, connecting fails.
    let conn = connect(&node.amqp_url()).await.expect("connect again");
    let n = node.clone();
    let t = Instant::now();
    tokio::task::spawn_blocking(move || n.stop()).await.unwrap();
    eprintln!("[nodes] stop: {:?}", t.elapsed());
    assert!(!node.is_running());
    assert!(connect(&node.amqp_url()).await.is_err());
    drop(conn);

    // Restart: same port, the durable queue is still there.
    let n = node.clone();
    let t = Instant::now();
    tokio::task::spawn_blocking(move || n.restart())
        .await
        .unwrap();
    eprintln!("[nodes] restart: {:?}", t.elapsed());
    let conn = connect(&node.amqp_url())
        .await
        .expect("connect after restart");
    let n = node.clone();
    let queues = tokio::task::spawn_blocking(move || n.queues())
        .await
        .unwrap();
    assert!(
        queues.iter().any(|q| q == "omt-node-selftest"),
        "{queues:?}"
    );
    let _ = conn.close(200, "bye".into()).await;

    assert!(node.log_text().contains("Server startup complete"));
    assert!(!node.log_text().contains("missed heartbeats"));

    let n = std::sync::Arc::into_inner(node).expect("no other handle");
    let t = Instant::now();
    tokio::task::spawn_blocking(move || drop(n)).await.unwrap();
    eprintln!("[nodes] drop: {:?}", t.elapsed());

    assert_eq!(main_node_answers(), main_before, "main node state changed");
}

#[test]
fn three_node_cluster() {
    let main_before = main_node_answers();
    let t = Instant::now();
    let nodes = TestNode::cluster3();
    eprintln!("[nodes] cluster3: {:?}", t.elapsed());
    let names: Vec<String> = nodes.iter().map(|n| n.name().to_owned()).collect();
    for node in &nodes {
        let running = node.running_nodes();
        for name in &names {
            assert!(running.contains(name), "{} lists {running:?}", node.name());
        }
    }
    // Every node serves AMQP on its own port.
    let ports: std::collections::HashSet<u16> = nodes.iter().map(|n| n.amqp_port()).collect();
    assert_eq!(ports.len(), 3);

    // Failover-style: stop one member, the others still list two running.
    nodes[2].stop();
    let running = nodes[0].running_nodes();
    assert_eq!(running.len(), 2, "{running:?}");
    nodes[2].restart();
    assert_eq!(nodes[0].running_nodes().len(), 3);

    let t = Instant::now();
    drop(nodes);
    eprintln!("[nodes] cluster drop: {:?}", t.elapsed());
    assert_eq!(main_node_answers(), main_before, "main node state changed");
}
