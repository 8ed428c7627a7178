//! The floor under `cpu_per_call`: the same request/reply with lapin alone
//! (no envelope, no dispatch), CPU time per call, ours and the broker's.
//!
//! Modes: default (default exchange, no properties, no confirms), `two`
//! (client and server on separate connections, as the driver does), and
//! `oslo` (the AMQP features oslo.messaging's wire format needs: a topic
//! exchange, `expiration`, persistent delivery, and replies mandatory and
//! confirmed), which shows what the wire format costs the broker.
//!
//! Mode `publish` is the floor for casts and notifications instead:
//! C publishers on confirm channels, each waiting for its confirm, to a
//! queue one consumer in the process takes and acknowledges; the rate is
//! of messages consumed.
//!
//! Run: `cargo run --release -p oslo-messaging-driver-rabbit --example raw_call_cpu -- 24000 16 [two|oslo|publish]`
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::sync::oneshot;

#[path = "support/cpu.rs"]
mod cpu;

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

fn main() {
    let args = cpu::Args::parse();
    let (n, c) = (args.messages, args.concurrency);
    let (two, oslo) = (args.mode == "two", args.mode == "oslo");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if args.mode == "publish" {
        rt.block_on(publish(&args));
        return;
    }
    rt.block_on(async {
        let uri = "amqp://guest:guest@127.0.0.1:5672/%2f";
        let conn = Arc::new(
            Connection::connect(uri, ConnectionProperties::default())
                .await
                .unwrap(),
        );
        let conn2 = if two {
            Arc::new(
                Connection::connect(uri, ConnectionProperties::default())
                    .await
                    .unwrap(),
            )
        } else {
            conn.clone()
        };
        let q = format!("raw_cpu_{}", std::process::id());
        let rq = format!("raw_cpu_reply_{}", std::process::id());
        let ch = conn.create_channel().await.unwrap();
        for name in [&q, &rq] {
            ch.queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        }
        let xname = format!("raw_cpu_x_{}", std::process::id());
        if oslo {
            ch.exchange_declare(
                xname.as_str().into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
            ch.queue_bind(
                q.as_str().into(),
                xname.as_str().into(),
                q.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        }
        let xreq = if oslo { xname.clone() } else { String::new() };
        // server
        let sch = conn2.create_channel().await.unwrap();
        let mut sc = sch
            .basic_consume(
                q.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let pch = conn.create_channel().await.unwrap();
        if oslo {
            pch.confirm_select(ConfirmSelectOptions::default())
                .await
                .unwrap();
        }
        tokio::spawn(async move {
            while let Some(Ok(d)) = sc.next().await {
                let props = BasicProperties::default()
                    .with_correlation_id(d.properties.correlation_id().clone().unwrap());
                let rk = d.properties.reply_to().clone().unwrap();
                d.ack(BasicAckOptions::default()).await.unwrap();
                let props = if oslo {
                    props
                        .with_delivery_mode(2)
                        .with_content_type("application/json".into())
                        .with_content_encoding("utf-8".into())
                } else {
                    props
                };
                let c = pch
                    .basic_publish(
                        "".into(),
                        rk.as_str().into(),
                        BasicPublishOptions {
                            mandatory: oslo,
                            ..Default::default()
                        },
                        &d.data,
                        props,
                    )
                    .await
                    .unwrap();
                c.await.unwrap();
            }
        });
        let waiters: Waiters = Arc::default();
        let rch = conn2.create_channel().await.unwrap();
        let mut rc = rch
            .basic_consume(
                rq.as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let w = waiters.clone();
        tokio::spawn(async move {
            while let Some(Ok(d)) = rc.next().await {
                let id = d.properties.correlation_id().clone().unwrap().to_string();
                if let Some(tx) = w.lock().unwrap().remove(&id) {
                    let _ = tx.send(d.data);
                }
            }
        });
        let payload = vec![b'x'; 100];
        let mut channels = Vec::new();
        for _ in 0..c {
            channels.push(conn.create_channel().await.unwrap());
        }
        let run = |count: usize| {
            let tasks: Vec<_> = channels
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, ch)| {
                    let (waiters, payload, q, rq, xreq) = (
                        waiters.clone(),
                        payload.clone(),
                        q.clone(),
                        rq.clone(),
                        xreq.clone(),
                    );
                    tokio::spawn(async move {
                        for k in 0..count / c {
                            let id = format!("{i}-{k}-{count}");
                            let (tx, rx) = oneshot::channel();
                            waiters.lock().unwrap().insert(id.clone(), tx);
                            let props = BasicProperties::default()
                                .with_correlation_id(id.into())
                                .with_reply_to(rq.as_str().into());
                            let props = if oslo {
                                props
                                    .with_delivery_mode(2)
                                    .with_expiration("60000".into())
                                    .with_content_type("application/json".into())
                                    .with_content_encoding("utf-8".into())
                            } else {
                                props
                            };
                            ch.basic_publish(
                                xreq.as_str().into(),
                                q.as_str().into(),
                                BasicPublishOptions::default(),
                                &payload,
                                props,
                            )
                            .await
                            .unwrap();
                            assert_eq!(rx.await.unwrap().len(), 100);
                        }
                    })
                })
                .collect::<Vec<_>>();
            async move {
                for t in tasks {
                    t.await.unwrap();
                }
            }
        };
        run(n / 10).await;
        let meter = cpu::Meter::start();
        run(n).await;
        let mode = if two {
            " two conns"
        } else if oslo {
            " oslo-amqp"
        } else {
            ""
        };
        meter.report(&format!("raw x{c}{mode}"), args.per_sender(n) * c);
        for name in [&q, &rq] {
            ch.queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                .await
                .unwrap();
        }
    });
}

/// Publish with confirms, consumed and acknowledged in the same process.
async fn publish(args: &cpu::Args) {
    let (n, c) = (args.messages, args.concurrency);
    let uri = "amqp://guest:guest@127.0.0.1:5672/%2f";
    let conn = Connection::connect(uri, ConnectionProperties::default())
        .await
        .unwrap();
    let q = format!("raw_publish_{}", std::process::id());
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let (tx, mut consumed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            d.ack(BasicAckOptions::default()).await.unwrap();
            let _ = tx.send(());
        }
    });
    let mut channels = Vec::new();
    for _ in 0..c {
        let ch = conn.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        channels.push(ch);
    }
    let payload = vec![b'x'; 100];
    let round = Round {
        channels: &channels,
        queue: &q,
        payload: &payload,
        concurrency: c,
    };
    round.run(n / 10, &mut consumed).await;
    let meter = cpu::Meter::start();
    round.run(n, &mut consumed).await;
    meter.report(&format!("raw publish x{c}"), args.per_sender(n) * c);
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
}

/// One measured round of `publish`.
struct Round<'a> {
    channels: &'a [lapin::Channel],
    queue: &'a str,
    payload: &'a [u8],
    concurrency: usize,
}

impl Round<'_> {
    /// Publishes `count` messages and waits until all are consumed.
    async fn run(&self, count: usize, consumed: &mut tokio::sync::mpsc::UnboundedReceiver<()>) {
        let per_sender = count / self.concurrency;
        let senders: Vec<_> = self
            .channels
            .iter()
            .cloned()
            .map(|ch| {
                let (q, payload) = (self.queue.to_owned(), self.payload.to_vec());
                tokio::spawn(async move {
                    for _ in 0..per_sender {
                        let props = BasicProperties::default().with_delivery_mode(2);
                        ch.basic_publish(
                            "".into(),
                            q.as_str().into(),
                            BasicPublishOptions::default(),
                            &payload,
                            props,
                        )
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        for _ in 0..per_sender * self.concurrency {
            consumed.recv().await.unwrap();
        }
    }
}
