"""A Python oslo.messaging peer for the Rust drivers' interop tests.

Each subcommand plays one role with the real oslo.messaging and reports what
it saw as JSON lines on stdout (one object a line, flushed); logs go to
stderr. The Rust tests (driver-rabbit/tests/interop*.rs,
driver-kafka/tests/interop.rs, through interop/peer.rs) spawn it. The
broker is the one --url names: rabbit:// or kafka:// (notify and listen).

    peer.py serve  --url U --topic T --server S
    peer.py call   --url U --topic T --method add --args '{"a": 1, "b": 2}'
    peer.py cast   --url U --topic T --method record --args '{"value": 1}' [--fanout]
    peer.py notify --url U --topic T --publisher-id P --event-type E \
                   --priority info --payload '{"k": 1}'
    peer.py listen --url U --topic T [--pool P] [--count N]
    peer.py serve  --url U --topic T --server S --interface
    peer.py call-interface --url U --topic T
    peer.py objects --url U --topic T make | read --primitive JSON  (no broker)

Every role takes --rabbit OPTION=VALUE (repeatable) for the
[oslo_messaging_rabbit] group, e.g. --rabbit kombu_compression=gzip, and
--trace: [oslo_messaging_tracing] tracing_enabled with an OpenTelemetry SDK
tracer provider whose finished spans `serve` prints as {"event": "span",
...} lines and `call` adds to its line as "spans" (see span_json).

Long-running roles (serve, listen) print {"event": "ready"} once consuming,
and stop cleanly on stdin EOF or SIGTERM.
"""

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading

from oslo_concurrency import lockutils
from oslo_config import cfg
import oslo_messaging
from oslo_messaging._drivers import amqp as rpc_amqp
from oslo_messaging._drivers import impl_rabbit

import objects

LOG = logging.getLogger("interop-peer")
PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")

_out_lock = threading.Lock()


def emit(obj):
    """Print one JSON line on stdout, flushed."""
    # Keys in the order they came: the tests check that order is kept.
    line = json.dumps(obj)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def json_arg(text):
    try:
        return json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}")


_finished_spans = []


def span_json(span):
    """A finished span as the tests read it: ids in W3C hex."""
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "attributes": dict(span.attributes or {}),
    }


def setup_tracing(args):
    """Python's own tracing (oslo_messaging/_tracing) with a provider that
    keeps what it records, installed before oslo.messaging looks for one."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Keep(SpanExporter):
        def export(self, spans):
            for span in spans:
                _finished_spans.append(span_json(span))
                if args.command == "serve":
                    emit({"event": "span", **span_json(span)})
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Keep()))
    trace.set_tracer_provider(provider)
    cfg.CONF.set_override("tracing_enabled", True, group="oslo_messaging_tracing")


def make_transport(args, notifications=False):
    if args.exchange:
        oslo_messaging.set_transport_defaults(control_exchange=args.exchange)
    conf = cfg.CONF
    conf([], project="interop-peer")
    # Set before the driver exists: RabbitDriver.__init__ reads some of them
    # (use_queue_manager), the rest are read at the first connection.
    conf.register_opts(impl_rabbit.rabbit_opts, group="oslo_messaging_rabbit")
    conf.register_opts(rpc_amqp.amqp_opts, group="oslo_messaging_rabbit")
    # use_queue_manager takes an external lock, as a service's nova.conf
    # allows with [oslo_concurrency] lock_path.
    lock_path = os.path.join(tempfile.gettempdir(), "oslo-messaging-interop-locks")
    os.makedirs(lock_path, exist_ok=True)
    lockutils.set_defaults(lock_path)
    if args.trace:
        setup_tracing(args)
    for option in args.rabbit:
        key, _, value = option.partition("=")
        conf.set_override(key, value, group="oslo_messaging_rabbit")
    if notifications:
        transport = oslo_messaging.get_notification_transport(conf, url=args.url)
    else:
        transport = oslo_messaging.get_rpc_transport(conf, url=args.url)
    return transport


def target(args, **kwargs):
    return oslo_messaging.Target(topic=args.topic, exchange=args.exchange, **kwargs)


def run_until_stopped(stop_event):
    """Block until stdin reaches EOF, SIGTERM arrives or stop_event is set."""

    def on_sigterm(signum, frame):
        stop_event.set()

    signal.signal(signal.SIGTERM, on_sigterm)

    def watch_stdin():
        sys.stdin.read()
        stop_event.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    # wait() with a timeout so the main thread still runs signal handlers.
    while not stop_event.wait(0.2):
        pass


def stop_and_cleanup(server, transport):
    server.stop()
    server.wait()
    transport.cleanup()


# --- serve -------------------------------------------------------------------


class DefaultEndpoint:
    target = oslo_messaging.Target(version="1.3")

    def __init__(self, server):
        self.server = server

    def add(self, ctxt, a, b):
        return a + b

    def echo(self, ctxt, value):
        return value

    def whoami(self, ctxt):
        # With the default NoOpSerializer the context is the dict as sent.
        return ctxt

    def fail(self, ctxt, message):
        raise ValueError(message)

    def record(self, ctxt, value):
        emit({"event": "record", "server": self.server, "value": value})


class NamespacedEndpoint:
    target = oslo_messaging.Target(namespace="ns", version="2.1")

    def which(self, ctxt):
        return "ns-2.1"


class InterfaceEndpoint:
    """What the Rust `Interop` trait declares (namespace interop, 1.1)."""

    target = oslo_messaging.Target(namespace="interop", version="1.1")

    def add(self, ctxt, a, b, c=None):
        return a + b + (c or 0)

    def rename(self, ctxt, instance, hostname):
        # With the serializer, `instance` arrived as an objects.Instance.
        assert isinstance(instance, objects.Instance), type(instance)
        instance.obj_reset_changes(recursive=True)
        instance.hostname = hostname
        return instance

    def fail(self, ctxt, message):
        raise ValueError(message)


def cmd_serve(args):
    transport = make_transport(args)
    endpoints = [DefaultEndpoint(args.server), NamespacedEndpoint()]
    serializer = None
    if args.interface:
        endpoints.append(InterfaceEndpoint())
        serializer = objects.NovaObjectSerializer()
    server = oslo_messaging.get_rpc_server(
        transport,
        target(args, server=args.server),
        endpoints,
        executor=args.executor,
        serializer=serializer,
    )
    server.start()
    emit({"event": "ready"})
    run_until_stopped(threading.Event())
    stop_and_cleanup(server, transport)


# --- call / cast ---------------------------------------------------------------


def describe_error(e):
    """What a test needs to assert on an exception raised by a call."""
    text = str(e)
    return {
        "type": type(e).__name__,
        "module": type(e).__module__,
        "is_value_error": isinstance(e, ValueError),
        "is_remote_error": isinstance(e, oslo_messaging.RemoteError),
        "is_timeout": isinstance(e, oslo_messaging.MessagingTimeout),
        "exc_type": getattr(e, "exc_type", None),
        "value": getattr(e, "value", None),
        "first_line": text.splitlines()[0] if text else "",
    }


def rpc_client(args, transport):
    client = oslo_messaging.get_rpc_client(transport, target(args))
    prepare = {}
    for key in ("server", "namespace", "version"):
        if getattr(args, key, None) is not None:
            prepare[key] = getattr(args, key)
    if getattr(args, "fanout", False):
        prepare["fanout"] = True
    if getattr(args, "timeout", None) is not None:
        prepare["timeout"] = args.timeout
    return client.prepare(**prepare) if prepare else client


def reply_queue(transport):
    """The reply queue this process's calls used (so tests can delete it)."""
    return getattr(transport._driver, "_reply_q", None)


def cmd_call(args):
    transport = make_transport(args)
    client = rpc_client(args, transport)
    try:
        out = {"result": client.call(args.context, args.method, **args.args)}
    except Exception as e:  # noqa: BLE001 - reporting it is the point
        LOG.info("call raised", exc_info=True)
        out = {"error": describe_error(e)}
    out["reply_queue"] = reply_queue(transport)
    if args.trace:
        out["spans"] = _finished_spans
    emit(out)
    transport.cleanup()


def cmd_call_interface(args):
    """Calls a server of the Rust `Interop` trait as a Python client would
    (keyword arguments, an optional one left out, an object argument, an
    error) and emits what each call gave."""
    transport = make_transport(args)
    client = oslo_messaging.get_rpc_client(
        transport, target(args), serializer=objects.NovaObjectSerializer()
    ).prepare(namespace="interop", version="1.1")
    ctxt = {"user": "py"}

    def attempt(name, method, **kwargs):
        try:
            result = client.call(ctxt, method, **kwargs)
            emit({"call": name, "result": objects.plain(result)})
        except Exception as e:  # noqa: BLE001 - reporting it is the point
            emit({"call": name, "error": describe_error(e)})

    attempt("add", "add", a=1, b=2)
    attempt("add_c", "add", a=1, b=2, c=3)
    attempt("add_unknown", "add", a=1, b=2, d=4)
    attempt("rename", "rename", instance=objects.sample(), hostname="vm-2")
    attempt("fail", "fail", message="boom")
    emit({"event": "done", "reply_queue": reply_queue(transport)})
    transport.cleanup()


def cmd_objects(args):
    """Makes or reads primitives, without a broker."""
    if args.action == "make":
        emit({"primitive": objects.sample().obj_to_primitive()})
        return
    try:
        obj = objects.NovaObject.obj_from_primitive(args.primitive)
        emit({"read": objects.plain(obj)})
    except Exception as e:  # noqa: BLE001
        emit({"error": describe_error(e)})


def cmd_cast(args):
    transport = make_transport(args)
    rpc_client(args, transport).cast(args.context, args.method, **args.args)
    emit({"event": "sent"})
    transport.cleanup()


# --- notify / listen -------------------------------------------------------------


class NotifyContext(dict):
    """A request context the Notifier keeps.

    oslo.messaging's Notifier drops a context that is exactly a dict
    (notifier._sanitize_context) and sends redacted_copy() of anything else,
    as it would for an oslo.context RequestContext.
    """

    def redacted_copy(self):
        return {
            k: (None if k in ("auth_token", "service_token") else v)
            for k, v in self.items()
        }


def cmd_notify(args):
    transport = make_transport(args, notifications=True)
    notifier = oslo_messaging.Notifier(
        transport,
        publisher_id=args.publisher_id,
        driver=args.driver,
        topics=[args.topic],
    )
    getattr(notifier, args.priority)(
        NotifyContext(args.context), args.event_type, args.payload
    )
    emit({"event": "sent"})
    transport.cleanup()


class ListenEndpoint:
    def __init__(self, count, done):
        self.remaining = count
        self.done = done
        self.lock = threading.Lock()

    def _seen(self, priority, ctxt, publisher_id, event_type, payload, metadata):
        emit(
            {
                "ctxt": ctxt,
                "publisher_id": publisher_id,
                "event_type": event_type,
                "priority": priority,
                "payload": payload,
                "metadata": metadata,
            }
        )
        with self.lock:
            self.remaining -= 1
            if self.remaining <= 0:
                self.done.set()


def _priority_method(priority):
    def handler(self, ctxt, publisher_id, event_type, payload, metadata):
        self._seen(priority, ctxt, publisher_id, event_type, payload, metadata)

    handler.__name__ = priority
    return handler


for _p in PRIORITIES:
    setattr(ListenEndpoint, _p, _priority_method(_p))


def cmd_listen(args):
    transport = make_transport(args, notifications=True)
    done = threading.Event()
    listener = oslo_messaging.get_notification_listener(
        transport,
        [target(args)],
        [ListenEndpoint(args.count, done)],
        executor="threading",
        pool=args.pool,
    )
    listener.start()
    emit({"event": "ready"})
    run_until_stopped(done)
    stop_and_cleanup(listener, transport)


# --- command line ---------------------------------------------------------------


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, func):
        c = sub.add_parser(name)
        c.set_defaults(func=func)
        c.add_argument("--url", required=True)
        c.add_argument("--topic", required=True)
        c.add_argument("--exchange", default=None)
        c.add_argument(
            "--rabbit",
            action="append",
            default=[],
            metavar="OPTION=VALUE",
            help="an [oslo_messaging_rabbit] option, e.g. kombu_compression=gzip",
        )
        c.add_argument(
            "--trace", action="store_true", help="[oslo_messaging_tracing] on"
        )
        return c

    def with_context(c):
        c.add_argument("--context", type=json_arg, default={})
        return c

    serve = command("serve", cmd_serve)
    serve.add_argument("--server", required=True)
    serve.add_argument("--executor", default="threading")
    serve.add_argument(
        "--interface", action="store_true", help="also serve InterfaceEndpoint"
    )
    command("call-interface", cmd_call_interface)

    # --url and --topic are taken like the other roles' and not used.
    objs = command("objects", cmd_objects)
    objs.add_argument("action", choices=("make", "read"))
    objs.add_argument("--primitive", type=json_arg, default=None)

    for name, func in (("call", cmd_call), ("cast", cmd_cast)):
        c = with_context(command(name, func))
        c.add_argument("--method", required=True)
        c.add_argument("--args", type=json_arg, default={})
        c.add_argument("--server", default=None)
        c.add_argument("--namespace", default=None)
        c.add_argument("--version", default=None)
    call = sub.choices["call"]
    call.add_argument("--timeout", type=float, default=None)
    sub.choices["cast"].add_argument("--fanout", action="store_true")

    notify = with_context(command("notify", cmd_notify))
    notify.add_argument("--publisher-id", required=True)
    notify.add_argument("--event-type", required=True)
    notify.add_argument("--priority", required=True, choices=PRIORITIES)
    notify.add_argument("--payload", type=json_arg, required=True)
    notify.add_argument(
        "--driver", default="messagingv2", choices=("messagingv2", "messaging")
    )

    listen = command("listen", cmd_listen)
    listen.add_argument("--pool", default=None)
    listen.add_argument("--count", type=int, default=1)
    return p


def main():
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="peer %(levelname)s %(name)s: %(message)s",
    )
    args = parser().parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
