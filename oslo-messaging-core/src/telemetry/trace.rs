//! Spans and W3C trace-context propagation through the request context.
//!
//! The trace context travels inside the request context, as oslo.messaging
//! 18.3 (`oslo_messaging/_tracing/client.py`) puts it there with
//! `opentelemetry.propagate.inject(msg_ctxt)`: the keys `traceparent` and
//! `tracestate`, which the wire format writes as `_context_traceparent` and
//! `_context_tracestate`.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{global::BoxedTracer, Context as OtelContext, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::Value;

use crate::message::Context;

/// The context key (and AMQP header) of the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// The context key (and AMQP header) of the W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";

struct ContextInjector<'a>(&'a mut Context);

impl Injector for ContextInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), Value::String(value));
    }
}

struct ContextExtractor<'a>(&'a Context);

impl Extractor for ContextExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Writes the trace context of `cx` into a request context (`traceparent`,
/// and `tracestate` when it is not empty).
pub fn inject(cx: &OtelContext, context: &mut Context) {
    TraceContextPropagator::new().inject_context(cx, &mut ContextInjector(context));
}

/// The remote span a request context carries (`traceparent`,
/// `tracestate`), as the parent of what processes it; an empty
/// OpenTelemetry context when there is none or it is malformed.
pub fn extract(context: &Context) -> OtelContext {
    TraceContextPropagator::new()
        .extract_with_context(&OtelContext::new(), &ContextExtractor(context))
}

/// The W3C trace context of a request context as message headers
/// (`traceparent`, then `tracestate`, those it has), for the drivers that
/// also send it where their protocol's instrumentations read it: AMQP
/// headers (RabbitMQ), record headers (Kafka).
pub fn headers(context: &Context) -> impl Iterator<Item = (&'static str, &str)> {
    [TRACEPARENT, TRACESTATE]
        .into_iter()
        .filter_map(|key| Some((key, context.get(key)?.as_str()?)))
}

/// Takes the trace context a message's headers carry (`header(name)`, the
/// value of header `name`) into its request context, when the context has
/// no `traceparent` of its own: a publisher that sets only the headers is
/// honoured, and the body's own context wins over the headers'.
pub fn merge_headers(context: &mut Context, header: impl Fn(&str) -> Option<String>) {
    if context.contains_key(TRACEPARENT) || header(TRACEPARENT).is_none() {
        return;
    }
    // A `tracestate` belongs with its `traceparent`: the body's goes.
    context.remove(TRACESTATE);
    for key in [TRACEPARENT, TRACESTATE] {
        if let Some(value) = header(key) {
            context.insert(key.to_owned(), Value::String(value));
        }
    }
}

/// Starts a span of `kind` named `name` as a child of `parent`, and returns
/// the context that holds it.
pub(crate) fn start(
    tracer: &BoxedTracer,
    name: String,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    parent: &OtelContext,
) -> OtelContext {
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(tracer, parent);
    parent.with_span(span)
}

/// Ends the span of `cx`: with status error and `error.type` when `error`
/// (its type and message) is given.
pub(crate) fn end(cx: &OtelContext, error: Option<(String, String)>) {
    let span = cx.span();
    if let Some((kind, message)) = error {
        span.set_attribute(KeyValue::new("error.type", kind));
        span.set_status(Status::error(message));
    }
    span.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn headers_are_the_contexts_trace_keys() {
        let mut context = Context::new();
        assert_eq!(headers(&context).count(), 0);
        context.insert("user".into(), "alice".into());
        context.insert(TRACESTATE.into(), "congo=t61".into());
        context.insert(TRACEPARENT.into(), PARENT.into());
        let h: Vec<_> = headers(&context).collect();
        assert_eq!(h, [(TRACEPARENT, PARENT), (TRACESTATE, "congo=t61")]);
    }

    #[test]
    fn headers_fill_a_context_without_its_own_trace() {
        let from = |key: &str| match key {
            TRACEPARENT => Some(PARENT.to_owned()),
            TRACESTATE => Some("congo=t61".to_owned()),
            _ => None,
        };
        let mut context = Context::new();
        merge_headers(&mut context, from);
        assert_eq!(context[TRACEPARENT], PARENT);
        assert_eq!(context[TRACESTATE], "congo=t61");
        let own = "00-11111111111111111111111111111111-2222222222222222-01";
        let mut context = Context::new();
        context.insert(TRACEPARENT.into(), own.into());
        merge_headers(&mut context, from);
        assert_eq!(context[TRACEPARENT], own, "the body's own context wins");
        assert!(!context.contains_key(TRACESTATE));
        // A body's tracestate without its traceparent does not stay with
        // the headers' traceparent; headers without one change nothing.
        let mut context = Context::new();
        context.insert(TRACESTATE.into(), "other=1".into());
        merge_headers(&mut context, |key| {
            (key == TRACEPARENT).then(|| PARENT.to_owned())
        });
        assert_eq!(context[TRACEPARENT], PARENT);
        assert!(!context.contains_key(TRACESTATE));
        let mut context = Context::new();
        context.insert(TRACESTATE.into(), "other=1".into());
        merge_headers(&mut context, |key| {
            (key == TRACESTATE).then(|| "congo=t61".to_owned())
        });
        assert_eq!(context[TRACESTATE], "other=1");
        assert!(!context.contains_key(TRACEPARENT));
    }
}
