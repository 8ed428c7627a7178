//! Unit tests of [`Notifier`](super::Notifier).

use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::message::NotificationFormat;
use crate::notify::test_support::{transport_on, RecordingDriver};
use crate::notify::{NotifySendExt, TestNotifierDriver};

struct Upper;
impl Serializer for Upper {
    fn serialize_entity(&self, _: &Context, entity: Value) -> Result<Value> {
        match entity {
            Value::String(s) => Ok(Value::String(s.to_uppercase())),
            _ => Err(crate::MessagingError::Serialization("strings only".into())),
        }
    }
}

#[tokio::test]
async fn builds_once_and_fans_out_to_every_driver() {
    let rec = RecordingDriver::default();
    let sent = rec.sent.clone();
    let transport = transport_on(rec);
    let test = TestNotifierDriver::new();
    let notifier = Notifier::builder(&transport)
        .publisher_id("compute.host1")
        .drivers(["messaging", "messagingv2", "messagingv2"])
        .driver_instance(Arc::new(test.clone()))
        .topics(["a", "b"])
        .retry(Some(3))
        .serializer(Arc::new(Upper))
        .build()
        .expect("builds");
    assert!(notifier.is_enabled());
    let mut ctx = Context::new();
    ctx.insert("user".into(), json!("u"));
    ctx.insert("auth_token".into(), json!("secret"));
    notifier
        .warn(&ctx, "compute.create", json!("payload"))
        .await
        .expect("sent");
    let sent = sent.lock().expect("lock").clone();
    let topics: Vec<_> = sent.iter().map(|(t, f, _)| (t.as_str(), *f)).collect();
    assert_eq!(
        topics,
        [
            ("a.warn", NotificationFormat::V1),
            ("b.warn", NotificationFormat::V1),
            ("a.warn", NotificationFormat::V2),
            ("b.warn", NotificationFormat::V2)
        ]
    );
    assert!(sent.iter().all(|(_, _, m)| m == &sent[0].2), "built once");
    let recorded = test.notifications();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.message, sent[0].2);
    assert_eq!(r.message["payload"], "PAYLOAD");
    assert_eq!(r.message["priority"], "WARN");
    assert_eq!(r.message["publisher_id"], "compute.host1");
    assert_eq!(
        (r.priority, r.retry, r.topics.clone()),
        (
            Priority::Warn,
            Some(3),
            vec!["a".to_owned(), "b".to_owned()]
        )
    );
    assert_eq!(r.context["user"], "u");
    assert_eq!(r.context["auth_token"], Value::Null, "tokens are redacted");
    let err = notifier
        .info(&ctx, "e", json!(1))
        .await
        .expect_err("serializer refuses");
    assert!(err.to_string().contains("strings only"), "{err}");
}

#[tokio::test]
async fn driver_failure_is_logged_not_fatal() {
    let transport = transport_on(RecordingDriver {
        fail_topic: Some("a.info".into()),
        ..Default::default()
    });
    let test = TestNotifierDriver::new();
    let notifier = Notifier::builder(&transport)
        .driver("messagingv2")
        .driver_instance(Arc::new(test.clone()))
        .topics(["a"])
        .build()
        .expect("builds");
    notifier
        .notify(&Context::new(), Priority::Info, "e", json!({}))
        .await
        .expect("Python semantics: not reported");
    let err = notifier
        .notify_checked(&Context::new(), Priority::Info, "e", json!({}))
        .await
        .expect_err("reported");
    assert!(err.to_string().contains("refused a.info"), "{err}");
    assert_eq!(test.notifications().len(), 2, "later drivers still run");
}

#[tokio::test]
async fn defaults_prepare_and_disabled() {
    let transport = transport_on(RecordingDriver::default());
    let n = Notifier::builder(&transport)
        .build()
        .expect("builds from options");
    assert!(!n.is_enabled(), "the driver option defaults to no driver");
    assert_eq!(n.topics(), ["notifications"]);
    assert_eq!(n.retry, None, "retry -1 means forever");
    n.info(&Context::new(), "e", json!({}))
        .await
        .expect("disabled notifier accepts and drops");
    let noop = Notifier::builder(&transport)
        .driver("noop")
        .build()
        .expect("builds");
    assert!(!noop.is_enabled());
    let p = noop
        .prepare()
        .with_publisher_id("x")
        .with_topics(["t"])
        .with_retry(Some(0));
    assert_eq!(
        (p.publisher_id(), p.topics(), p.retry),
        (Some("x"), &["t".to_owned()][..], Some(0))
    );
    assert_eq!(
        noop.publisher_id(),
        None,
        "prepare leaves the original alone"
    );
    let err = Notifier::builder(&transport)
        .driver("kafka")
        .build()
        .expect_err("unknown driver");
    let text = err.to_string();
    assert!(
        text.contains("\"kafka\"") && text.contains("messagingv2, routing, log, test, noop"),
        "{text}"
    );
    let err = Notifier::builder(&transport)
        .driver("routing")
        .build()
        .expect_err("no rules");
    assert!(
        matches!(err, crate::MessagingError::RoutingRules(_)),
        "{err}"
    );
    assert!(format!("{n:?}").contains("Notifier"));
}

#[tokio::test]
async fn global_test_driver_by_name() {
    let transport = transport_on(RecordingDriver::default());
    let n = Notifier::builder(&transport)
        .driver("test")
        .build()
        .expect("builds");
    let event = format!("unit.{}", uuid::Uuid::new_v4());
    n.sample(&Context::new(), &event, json!({"cpu": 70}))
        .await
        .expect("recorded");
    let mine: Vec<_> = TestNotifierDriver::global()
        .notifications()
        .into_iter()
        .filter(|r| r.message["event_type"] == event.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].priority, Priority::Sample);
}
