use super::*;
use serde_json::json;

/// Bodies printed by Python oslo.messaging 18.3.1 (`common.serialize_msg`).
const PY_REQUEST: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"add\", \"args\": {\"a\": 1, \"b\": 2}, \"namespace\": \"ns\", \"version\": \"1.2\", \"_msg_id\": \"m1\", \"_reply_q\": \"reply_q1\", \"_timeout\": null, \"_unique_id\": \"u1\", \"_context_user\": \"alice\", \"_context_request_id\": \"req-1\"}"}"#;
const PY_REPLY: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"result\": {\"x\": [1, 2]}, \"failure\": null, \"ending\": true, \"_msg_id\": \"m1\", \"_unique_id\": \"u2\"}"}"#;

fn ctx() -> Context {
    json!({"user": "alice", "request_id": "req-1"})
        .as_object()
        .cloned()
        .expect("object")
}

fn inner_of(body: &[u8]) -> Map<String, Value> {
    let outer: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(outer["oslo.version"], "2.0");
    let inner: Value =
        serde_json::from_str(outer["oslo.message"].as_str().expect("string")).expect("inner json");
    inner.as_object().cloned().expect("inner object")
}

#[test]
fn python_request_unpacks() {
    let mut u = unpack(PY_REQUEST.as_bytes()).expect("unpacks");
    assert_eq!(u.context, ctx());
    assert_eq!(u.unique_id.as_deref(), Some("u1"));
    assert_eq!(u.msg_id.as_deref(), Some("m1"));
    assert_eq!(u.reply_q.as_deref(), Some("reply_q1"));
    assert_eq!(u.call_monitor_timeout, None);
    let m = request(&mut u.body).expect("request");
    assert_eq!(m.method, "add");
    assert_eq!(Value::Object(m.args), json!({"a": 1, "b": 2}));
    assert_eq!(m.namespace.as_deref(), Some("ns"));
    assert_eq!(m.version.as_deref(), Some("1.2"));
}

#[test]
fn request_has_python_keys() {
    let m = RpcMessage {
        method: "add".into(),
        args: json!({"a": 1}).as_object().cloned().expect("object"),
        namespace: None,
        version: Some("1.1".into()),
    };
    let call = CallInfo {
        msg_id: "m9",
        reply_q: "reply_abc",
        call_monitor_timeout: Some(Duration::from_secs(4)),
    };
    let inner = inner_of(&request_body(&ctx(), &m, Some(&call)));
    let mut keys: Vec<&str> = inner.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "_context_request_id",
            "_context_user",
            "_msg_id",
            "_reply_q",
            "_timeout",
            "_unique_id",
            "args",
            "method",
            "version"
        ]
    );
    assert_eq!(inner["_timeout"], json!(4));
    assert_eq!(inner["_unique_id"].as_str().map(str::len), Some(32));
    let cast = inner_of(&request_body(&ctx(), &m, None));
    assert!(!cast.contains_key("_msg_id") && !cast.contains_key("_timeout"));
    let half = CallInfo {
        call_monitor_timeout: Some(Duration::from_millis(1500)),
        ..call
    };
    assert_eq!(
        inner_of(&request_body(&ctx(), &m, Some(&half)))["_timeout"],
        json!(1.5)
    );
}

#[test]
fn python_reply_reads_as_result() {
    let u = unpack(PY_REPLY.as_bytes()).expect("unpacks");
    assert_eq!(u.msg_id.as_deref(), Some("m1"));
    assert_eq!(
        reply(&u.body).expect("reply"),
        ReplyPart::Result {
            value: json!({"x": [1, 2]}),
            ending: true
        }
    );
}

#[test]
fn replies_keepalives_and_failures_round_trip() {
    let ok = unpack(&reply_body("m1", &Ok(json!(5)))).expect("unpacks");
    assert_eq!(ok.msg_id.as_deref(), Some("m1"));
    assert_eq!(
        reply(&ok.body).expect("reply"),
        ReplyPart::Result {
            value: json!(5),
            ending: true
        }
    );
    let none = unpack(&reply_body("m1", &Ok(Value::Null))).expect("unpacks");
    assert_eq!(reply(&none.body).expect("reply"), ReplyPart::End);
    let ka = unpack(&keepalive_body("m1")).expect("unpacks");
    assert_eq!(reply(&ka.body).expect("reply"), ReplyPart::KeepAlive);
    let failure = RemoteFailure::new("ValueError", "builtins", "bad value");
    let f = unpack(&reply_body("m1", &Err(Box::new(failure)))).expect("unpacks");
    assert!(
        f.body["failure"].is_string(),
        "failure travels as a JSON string"
    );
    match reply(&f.body).expect("reply") {
        ReplyPart::Failure(f) => {
            assert_eq!(
                (f.class.as_str(), f.module.as_str()),
                ("ValueError", "builtins")
            );
            assert_eq!(f.message, "bad value");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn notifications_are_enveloped_for_v2_only() {
    let n = json!({"event_type": "e", "priority": "INFO", "payload": {"k": 1}})
        .as_object()
        .cloned()
        .expect("object");
    let v2 = notification_body(&ctx(), n.clone(), NotificationFormat::V2);
    let inner = inner_of(&v2);
    assert_eq!(inner["_context_user"], "alice");
    assert_eq!(inner["payload"], json!({"k": 1}));
    let v1: Value = serde_json::from_slice(&notification_body(&ctx(), n, NotificationFormat::V1))
        .expect("json");
    assert_eq!(v1["event_type"], "e");
    assert!(v1.get("oslo.version").is_none());
    for body in [v2, v1.to_string().into_bytes()] {
        let u = unpack(&body).expect("unpacks");
        assert_eq!(u.context, ctx());
        assert_eq!(u.body["priority"], "INFO");
        assert!(u.unique_id.is_some() && !u.body.contains_key("_unique_id"));
    }
}

#[test]
fn malformed_bodies_say_what_is_wrong() {
    let cases: [(&[u8], &str); 6] = [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (
            br#"{"oslo.version": "2.0", "oslo.message": 5}"#,
            "not a string",
        ),
        (
            br#"{"oslo.version": "2.0", "oslo.message": "{oops"}"#,
            "not JSON",
        ),
        (
            br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#,
            "unsupported envelope",
        ),
        (br#"{"_msg_id": 7}"#, "_msg_id is 7"),
    ];
    for (body, expected) in cases {
        let e = unpack(body).expect_err("malformed");
        assert!(
            e.to_string().contains(expected),
            "{e} should say {expected}"
        );
    }
    for (body, expected) in [
        (json!({"args": {}}), "no \"method\""),
        (json!({"method": 3}), "not a name"),
        (json!({"method": "m", "args": [1]}), "not an object"),
        (json!({"method": "m", "namespace": 1}), "namespace is 1"),
    ] {
        let mut body = body.as_object().cloned().expect("object");
        let e = request(&mut body).expect_err("malformed request");
        assert!(
            e.to_string().contains(expected),
            "{e} should say {expected}"
        );
    }
}

#[test]
fn a_unique_id_is_a_duplicate_within_the_window_only() {
    let mut recent = RecentIds::default();
    assert!(!recent.seen_before(None) && !recent.seen_before(None));
    assert!(!recent.seen_before(Some("a")));
    assert!(recent.seen_before(Some("a")));
    for n in 0..RECENT_IDS {
        assert!(!recent.seen_before(Some(&n.to_string())));
    }
    assert!(!recent.seen_before(Some("a")), "forgotten past the window");
}

/// A record as Python's Kafka driver writes it (`impl_kafka.py`
/// `pack_message` then `jsonutils.dumps`).
const PYTHON_KAFKA_RECORD: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"m1\", \"publisher_id\": \"p\", \"event_type\": \"e\", \"priority\": \"INFO\", \"payload\": {\"n\": 1}, \"timestamp\": \"2026-12-01 00:00:00.000000\", \"_context\": {\"user\": \"u1\", \"request_id\": \"req-1\"}}"}"#;

#[test]
fn nested_context_notifications_read_and_write_as_python_kafka() {
    let (context, message) =
        unpack_nested_context(PYTHON_KAFKA_RECORD.as_bytes()).expect("python record");
    assert_eq!(
        Value::Object(context.clone()),
        json!({"user": "u1", "request_id": "req-1"})
    );
    assert_eq!(message["event_type"], "e");
    assert_eq!(message["payload"], json!({"n": 1}));
    assert!(!message.contains_key("_context"));

    let body = notification_body_nested_context(&context, message.clone());
    let inner = inner_of(&body);
    assert_eq!(
        inner["_context"],
        json!({"user": "u1", "request_id": "req-1"})
    );
    assert!(
        !inner.contains_key("_unique_id"),
        "Python's kafka driver sends none"
    );
    assert!(
        inner.keys().all(|k| !k.starts_with("_context_")),
        "{inner:?}"
    );
    assert_eq!(
        unpack_nested_context(&body).expect("round trip"),
        (context, message)
    );

    for (bad, says) in [
        (&br#"{"event_type": "e"}"#[..], "no _context"),
        (br#"{"_context": 3}"#, "not an object"),
        (br#"[1]"#, "not a JSON object"),
    ] {
        let e = unpack_nested_context(bad)
            .expect_err("malformed")
            .to_string();
        assert!(e.contains(says), "{e}");
    }
}
