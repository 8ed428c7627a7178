//! What of the wire is AMQP's: the message properties kombu sets, and
//! bodies decompressed by their `compression` header before the oslo
//! codec (`oslo_messaging_core::wire`, re-exported here) opens them.

use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use oslo_messaging_core::telemetry::trace;
pub(crate) use oslo_messaging_core::wire::*;
use oslo_messaging_core::{Context, Result};

/// AMQP properties of every message: JSON, UTF-8, persistent; `expiration`
/// in milliseconds for calls; the W3C trace context of `context`
/// (`traceparent`, `tracestate`), when it has one, also as AMQP headers of
/// those names, for the AMQP instrumentations that read them there.
pub(crate) fn properties(expiration: Option<Duration>, context: &Context) -> BasicProperties {
    let p = BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_content_encoding(ShortString::from("utf-8"))
        .with_delivery_mode(2);
    let p = match trace_headers(context) {
        Some(headers) => p.with_headers(headers),
        None => p,
    };
    match expiration {
        Some(d) => p.with_expiration(ShortString::from(d.as_millis().to_string())),
        None => p,
    }
}

/// The trace context of a request context as AMQP headers.
fn trace_headers(context: &Context) -> Option<FieldTable> {
    let mut headers = None;
    for (key, value) in trace::headers(context) {
        headers.get_or_insert_with(FieldTable::default).insert(
            ShortString::from(key),
            AMQPValue::LongString(LongString::from(value)),
        );
    }
    headers
}

/// The trace context AMQP headers carry, into the request context when it
/// has none of its own (see `trace::merge_headers`).
fn merge_trace_headers(headers: Option<&FieldTable>, context: &mut Context) {
    let Some(headers) = headers else { return };
    trace::merge_headers(context, |key| match headers.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    });
}

/// A delivery's body unpacked, decompressed first when its `compression`
/// header says so (see `crate::compression`).
///
/// # Errors
/// As `unpack`, and `compression::decompressed`'s.
pub(crate) fn unpack_delivery(
    headers: Option<&lapin::types::FieldTable>,
    data: &[u8],
) -> Result<Unpacked> {
    let mut unpacked = unpack(&crate::compression::decompressed(headers, data)?)?;
    merge_trace_headers(headers, &mut unpacked.context);
    Ok(unpacked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oslo_messaging_core::telemetry::trace::{TRACEPARENT, TRACESTATE};

    #[test]
    fn properties_match_kombu() {
        let p = properties(Some(Duration::from_secs(30)), &Context::new());
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(
            p.content_encoding().as_ref().map(|s| s.as_str()),
            Some("utf-8")
        );
        assert_eq!(*p.delivery_mode(), Some(2));
        assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("30000"));
        assert!(properties(None, &Context::new()).expiration().is_none());
        assert!(p.headers().is_none(), "no trace context, no headers");
    }

    #[test]
    fn trace_context_goes_out_and_comes_in_as_amqp_headers() {
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut context = Context::new();
        context.insert(TRACEPARENT.into(), parent.into());
        context.insert(TRACESTATE.into(), "congo=t61rcWkgMzE".into());
        let p = properties(None, &context);
        let headers = p.headers().as_ref().expect("trace headers");
        assert_eq!(
            headers.inner().get(TRACEPARENT),
            Some(&AMQPValue::LongString(parent.into()))
        );
        // A delivery whose body carries no trace context takes the headers'.
        let message = oslo_messaging_core::RpcMessage {
            method: "m".into(),
            args: serde_json::Map::new(),
            namespace: None,
            version: None,
        };
        let body = request_body(&Context::new(), &message, None);
        let u = unpack_delivery(Some(headers), &body).expect("unpacks");
        assert_eq!(
            u.context.get(TRACEPARENT).and_then(|v| v.as_str()),
            Some(parent)
        );
        assert_eq!(
            u.context.get(TRACESTATE).and_then(|v| v.as_str()),
            Some("congo=t61rcWkgMzE")
        );
        // The body's own trace context wins over the headers'.
        let mut own = Context::new();
        own.insert(
            TRACEPARENT.into(),
            "00-11111111111111111111111111111111-2222222222222222-01".into(),
        );
        let body = request_body(&own, &message, None);
        let u = unpack_delivery(Some(headers), &body).expect("unpacks");
        assert_eq!(
            u.context.get(TRACEPARENT).and_then(|v| v.as_str()),
            Some("00-11111111111111111111111111111111-2222222222222222-01")
        );
    }
}
