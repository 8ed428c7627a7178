//! What a transport records with, once the settings are known: the
//! [`Observer`] starts an [`Operation`] (its span and its metrics) for
//! each call, cast and notification sent and each request and
//! notification processed, and the operation records its outcome.

use std::sync::Arc;
use std::time::Instant;

use ::metrics::Label;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context as OtelContext, KeyValue};

use super::instruments::{Cache, Family, Instruments};
use super::{trace, Failed};
use crate::error::Result;
use crate::message::Context;
use crate::target::Target;

/// What a transport records with, once the settings are known.
pub(crate) struct Observer {
    pub(super) tracer: Option<Arc<BoxedTracer>>,
    pub(super) metrics: bool,
    pub(super) process: String,
    pub(super) system: &'static str,
    pub(super) instruments: Cache,
}

/// One operation being recorded: its span (when tracing) and metrics
/// (when on). [`Operation::finish`] records the outcome.
/// An operation dropped before it finished (a caller's timeout or
/// `select!` cancelled it) is recorded as failed with `Cancelled`.
pub(crate) struct Operation {
    cx: Option<OtelContext>,
    started: Instant,
    metrics: Option<Arc<Instruments>>,
    done: bool,
}

/// What a request to record names.
pub(crate) struct Request<'a> {
    pub target: &'a Target,
    pub method: &'a str,
    pub namespace: Option<&'a str>,
    pub version: Option<&'a str>,
}

impl Observer {
    fn semconv(&self, operation: &'static str, destination: &str) -> Vec<Label> {
        vec![
            Label::new("messaging.system", self.system),
            Label::new("messaging.operation.name", operation),
            Label::from_static_parts("messaging.operation.type", operation_type(operation)),
            Label::new("messaging.destination.name", destination.to_owned()),
        ]
    }

    fn span_attributes(&self, operation: &'static str, destination: &str) -> Vec<KeyValue> {
        vec![
            KeyValue::new("messaging.system", self.system),
            KeyValue::new("messaging.operation.type", operation_type(operation)),
            KeyValue::new("messaging.operation.name", operation),
            KeyValue::new("messaging.destination.name", destination.to_owned()),
        ]
    }

    /// A call (`call_type` `call`) or cast (`cast`) about to be sent: its
    /// span, child of the application's current OpenTelemetry context,
    /// goes into `context` (the serialized request context).
    pub(crate) fn start_rpc(
        &self,
        call_type: &'static str,
        request: &Request<'_>,
        context: &mut Context,
    ) -> Operation {
        let target = request.target;
        let topic = target.topic.as_deref().unwrap_or_default();
        let cx = self.tracer.as_deref().map(|tracer| {
            let mut attributes = self.span_attributes(call_type, topic);
            rpc_attributes(request, &mut attributes);
            if self.system == "rabbitmq" && !target.fanout {
                attributes.push(KeyValue::new(
                    "messaging.rabbitmq.destination.routing_key",
                    crate::address::request_routing_key(topic, target),
                ));
            }
            request_id(context, &mut attributes);
            let cx = trace::start(
                tracer,
                format!("{call_type} {topic}"),
                SpanKind::Producer,
                attributes,
                &OtelContext::current(),
            );
            trace::inject(&cx, context);
            cx
        });
        let metrics = self.metrics.then(|| {
            use super::metrics::py_str;
            let (exchange, topic_label) = (
                py_str(target.exchange.as_deref()),
                py_str(target.topic.as_deref()),
            );
            let (namespace, version) = (py_str(request.namespace), py_str(request.version));
            let server = py_str(target.server.as_deref());
            // Python's Target.fanout is None unless a client asks for it.
            let fanout = if target.fanout { "True" } else { "None" };
            let key = [
                call_type,
                &exchange,
                &topic_label,
                &namespace,
                &version,
                &server,
                fanout,
                request.method,
            ];
            self.instruments.get(&key, || {
                let oslo = vec![
                    Label::new("call_type", call_type),
                    Label::new("exchange", exchange.clone()),
                    Label::new("topic", topic_label.clone()),
                    Label::new("namespace", namespace.clone()),
                    Label::new("version", version.clone()),
                    Label::new("server", server.clone()),
                    Label::new("fanout", fanout),
                    Label::new("process", self.process.clone()),
                    Label::new("method", request.method.to_owned()),
                    // Python's measure_metrics never passes the timeout.
                    Label::new("timeout", "None"),
                ];
                Instruments::new(
                    Some((Family::Client, oslo)),
                    Some((
                        super::metrics::CLIENT_OPERATION_DURATION,
                        super::metrics::CLIENT_SENT_MESSAGES,
                        self.semconv(call_type, topic),
                    )),
                )
            })
        });
        Operation::started(cx, metrics)
    }

    /// A notification about to be sent to `destination`
    /// (`<topic>.<priority>`).
    pub(crate) fn start_notify(&self, destination: &str, context: &mut Context) -> Operation {
        let cx = self.tracer.as_deref().map(|tracer| {
            let mut attributes = self.span_attributes("notify", destination);
            request_id(context, &mut attributes);
            let cx = trace::start(
                tracer,
                format!("notify {destination}"),
                SpanKind::Producer,
                attributes,
                &OtelContext::current(),
            );
            trace::inject(&cx, context);
            cx
        });
        let metrics = self
            .metrics
            .then(|| self.semconv_only("notify", destination));
        Operation::started(cx, metrics)
    }

    /// A request a server received, about to be dispatched: its span is
    /// the child of the span the request context carries.
    pub(crate) fn start_process(
        &self,
        request: &Request<'_>,
        context: &Context,
        message_id: Option<&str>,
    ) -> Operation {
        let topic = request.target.topic.as_deref().unwrap_or_default();
        let cx = self.tracer.as_deref().map(|tracer| {
            let mut attributes = self.span_attributes("process", topic);
            rpc_attributes(request, &mut attributes);
            if let Some(id) = message_id {
                attributes.push(KeyValue::new("messaging.message.id", id.to_owned()));
            }
            request_id(context, &mut attributes);
            trace::start(
                tracer,
                format!("process {topic}"),
                SpanKind::Consumer,
                attributes,
                &trace::extract(context),
            )
        });
        let metrics = self.metrics.then(|| self.semconv_only("process", topic));
        Operation::started(cx, metrics)
    }

    /// A notification a listener received from `destination`
    /// (`<topic>.<priority>`), about to be dispatched: its `CONSUMER` span,
    /// `process <destination>`, is the child of the span `carrier` (what
    /// [`Observer::carrier`] kept of its received context) holds, the
    /// notifier's. Python 18.3.1 traces no notifications; this closes the
    /// trace its `notify` span opens.
    pub(crate) fn start_process_notification(
        &self,
        destination: &str,
        carrier: Option<&Context>,
        message_id: Option<&str>,
    ) -> Operation {
        let cx = self.tracer.as_deref().map(|tracer| {
            let mut attributes = self.span_attributes("process", destination);
            if let Some(id) = message_id {
                attributes.push(KeyValue::new("messaging.message.id", id.to_owned()));
            }
            let parent = match carrier {
                Some(carrier) => {
                    request_id(carrier, &mut attributes);
                    trace::extract(carrier)
                }
                None => OtelContext::new(),
            };
            trace::start(
                tracer,
                format!("process {destination}"),
                SpanKind::Consumer,
                attributes,
                &parent,
            )
        });
        let metrics = self
            .metrics
            .then(|| self.semconv_only("process", destination));
        Operation::started(cx, metrics)
    }

    /// What a received notification's span needs of its context, as the
    /// listener received it (before its serializer): the trace context and
    /// `request_id`; `None` when not tracing.
    pub(crate) fn carrier(&self, context: &Context) -> Option<Context> {
        self.tracer.as_ref()?;
        Some(
            [trace::TRACEPARENT, trace::TRACESTATE, "request_id"]
                .into_iter()
                .filter_map(|k| Some((k.to_owned(), context.get(k)?.clone())))
                .collect(),
        )
    }

    /// An `operation` on `destination` that is counted without a span of
    /// its own: a notification sent to one more topic (`notify`), to
    /// `<topic>.<priority>`.
    pub(crate) fn start_counted(&self, operation: &'static str, destination: &str) -> Operation {
        let metrics = self
            .metrics
            .then(|| self.semconv_only(operation, destination));
        Operation::started(None, metrics)
    }

    /// An endpoint method a server found for `request`, about to run
    /// (oslo.metrics' `oslo_messaging_rpc_server_*`); `None` when metrics
    /// are off.
    pub(crate) fn start_invocation(
        &self,
        endpoint: &str,
        request: &Request<'_>,
    ) -> Option<Operation> {
        use super::metrics::py_str;
        if !self.metrics {
            return None;
        }
        let target = request.target;
        let (exchange, topic) = (
            py_str(target.exchange.as_deref()),
            py_str(target.topic.as_deref()),
        );
        let server = py_str(target.server.as_deref());
        let (namespace, version) = (py_str(request.namespace), py_str(request.version));
        let key = [
            "server",
            &exchange,
            &topic,
            &server,
            endpoint,
            &namespace,
            &version,
            request.method,
        ];
        let instruments = self.instruments.get(&key, || {
            let oslo = vec![
                Label::new("exchange", exchange.clone()),
                Label::new("topic", topic.clone()),
                Label::new("server", server.clone()),
                Label::new("endpoint", endpoint.to_owned()),
                Label::new("namespace", namespace.clone()),
                Label::new("version", version.clone()),
                Label::new("method", request.method.to_owned()),
                Label::new("process", self.process.clone()),
            ];
            Instruments::new(Some((Family::Server, oslo)), None)
        });
        Some(Operation::started(None, Some(instruments)))
    }

    /// The semantic conventions' instruments of `operation` on `destination`.
    fn semconv_only(&self, operation: &'static str, destination: &str) -> Arc<Instruments> {
        self.instruments.get(&[operation, destination], || {
            let (duration, count) = match operation {
                "process" => (
                    super::metrics::PROCESS_DURATION,
                    super::metrics::CLIENT_CONSUMED_MESSAGES,
                ),
                _ => (
                    super::metrics::CLIENT_OPERATION_DURATION,
                    super::metrics::CLIENT_SENT_MESSAGES,
                ),
            };
            Instruments::new(
                None,
                Some((duration, count, self.semconv(operation, destination))),
            )
        })
    }
}

fn operation_type(operation: &'static str) -> &'static str {
    if operation == "process" {
        "process"
    } else {
        "send"
    }
}

/// Python's `rpc.method` and `rpc.service` (the namespace) attributes.
fn rpc_attributes(request: &Request<'_>, attributes: &mut Vec<KeyValue>) {
    attributes.push(KeyValue::new("rpc.method", request.method.to_owned()));
    if let Some(ns) = request.namespace {
        attributes.push(KeyValue::new("rpc.service", ns.to_owned()));
    }
}

/// Python's `openstack.request_id` attribute, from the context.
fn request_id(context: &Context, attributes: &mut Vec<KeyValue>) {
    if let Some(id) = context.get("request_id").and_then(|v| v.as_str()) {
        attributes.push(KeyValue::new("openstack.request_id", id.to_owned()));
    }
}

impl Operation {
    fn started(cx: Option<OtelContext>, metrics: Option<Arc<Instruments>>) -> Self {
        if let Some(m) = &metrics {
            m.started();
        }
        Self {
            cx,
            started: Instant::now(),
            metrics,
            done: false,
        }
    }

    /// The OpenTelemetry context holding the span, to make current while
    /// the operation runs.
    pub(crate) fn context(&self) -> Option<&OtelContext> {
        self.cx.as_ref()
    }

    /// Records the outcome: success, or `failed`.
    pub(crate) fn finish(mut self, failed: Option<Failed>) {
        self.record(failed);
    }

    /// [`finish`](Self::finish) with a client-side result.
    pub(crate) fn finish_with<T>(self, result: &Result<T>) {
        self.finish(result.as_ref().err().map(Failed::of_error));
    }

    fn record(&mut self, failed: Option<Failed>) {
        self.done = true;
        if let Some(m) = &self.metrics {
            let seconds = self.started.elapsed().as_secs_f64();
            m.finished(
                seconds,
                failed
                    .as_ref()
                    .map(|f| (f.error_type.as_str(), f.exception.as_str())),
            );
        }
        if let Some(cx) = &self.cx {
            trace::end(cx, failed.map(|f| (f.error_type, f.message)));
        }
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if !self.done {
            self.record(Some(Failed::of_class(
                "Cancelled",
                "dropped before it finished (its caller gave up on it)",
            )));
        }
    }
}
