"""The all-Python row of bench/compare.sh: a Python oslo.messaging client
sending what `oslo-messaging bench rpc-client` / `notify-client` send (the
simulator's `info(message)` with a `[seq, cargo, client_ts, 0, 0]` message,
or `compute.start` notifications), with a cargo of exactly --payload-bytes
bytes, from --concurrency threads. The simulator's own client cannot do
that: it only sends its own length distribution.

    python bench/python_client.py --url U --topic T --calls N --concurrency C [--cast|--notify]

Prints one JSON line: {"messages", "errors", "seconds", "messages_per_second",
"cpu_us_per_message", "context_switches_per_message"} (for casts and
notifications, the rate at which they were sent; CPU and context switches
of the whole process, every thread, during the sends, as getrusage counts
them, like our client's report).
"""

import argparse
import json
import resource
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--calls", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--payload-bytes", type=int, default=100)
    p.add_argument("--timeout", type=int, default=600)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--cast", action="store_true")
    kind.add_argument("--notify", action="store_true")
    args = p.parse_args()

    conf = cfg.CONF
    conf([], project="bench-python-client")
    if args.notify:
        transport = oslo_messaging.get_notification_transport(conf, url=args.url)
        notifier = oslo_messaging.Notifier(
            transport, publisher_id="publisher-0", driver="messagingv2", topics=[args.topic]
        )
    else:
        transport = oslo_messaging.get_rpc_transport(conf, url=args.url)
        client = oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(topic=args.topic), timeout=args.timeout
        )

    cargo = "x" * args.payload_bytes
    lock = threading.Lock()
    state = {"next": 0, "errors": 0}

    def take():
        with lock:
            seq = state["next"]
            state["next"] += 1
        return seq if seq < args.calls else None

    def sender():
        while (seq := take()) is not None:
            message = [seq, cargo, time.time(), 0, 0]
            try:
                if args.notify:
                    notifier.info({}, "compute.start", message)
                elif args.cast:
                    client.cast({}, "info", message=message)
                else:
                    client.call({}, "info", message=message)
            except Exception as e:  # counted, as our client counts them
                with lock:
                    state["errors"] += 1
                print(f"error: {e}", file=sys.stderr)

    def usage():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime, u.ru_nvcsw + u.ru_nivcsw

    threads = [threading.Thread(target=sender) for _ in range(args.concurrency)]
    cpu0, switches0 = usage()
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    cpu1, switches1 = usage()
    transport.cleanup()
    print(json.dumps({
        "messages": args.calls,
        "errors": state["errors"],
        "seconds": seconds,
        "messages_per_second": args.calls / seconds,
        "cpu_us_per_message": (cpu1 - cpu0) * 1e6 / args.calls,
        "context_switches_per_message": (switches1 - switches0) / args.calls,
    }))


if __name__ == "__main__":
    main()
