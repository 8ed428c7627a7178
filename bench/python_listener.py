"""The Python-server rows of bench/compare.sh on Kafka: a Python
oslo.messaging notification listener (threading executor) on --topic's
notifications of every priority (as `oslo-messaging bench notify-server`
listens), which exits once it has --count of them.

    python bench/python_listener.py --url kafka://127.0.0.1:9092/ --topic T --count N

Prints {"event": "ready"} once listening, then, at the end, one JSON line:
{"messages", "seconds"} (seconds from ready to the last notification).

Python's kafka listener starts a new group at the topic's end
(auto.offset.reset = latest) and does not create topics: the topic is
created here first and the group's offsets committed at its start, so
that nothing sent after "ready" is skipped.
"""

import argparse
import json
import sys
import threading
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from oslo_config import cfg
import oslo_messaging

GROUP = "oslo_messaging_consumer"
PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")


def prepare(servers, topics):
    admin = AdminClient({"bootstrap.servers": servers})
    for future in admin.create_topics([NewTopic(t, -1, -1) for t in topics]).values():
        try:
            future.result()
        except Exception as e:  # already there
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    c = Consumer({"bootstrap.servers": servers, "group.id": GROUP})
    offsets = []
    for topic, meta in c.list_topics(timeout=10).topics.items():
        if topic in topics:
            for p in meta.partitions:
                _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                offsets.append(TopicPartition(topic, p, high))
    c.commit(offsets=offsets, asynchronous=False)
    c.close()


class Endpoint:
    def __init__(self, count, done):
        self.remaining = count
        self.done = done
        self.lock = threading.Lock()
        self.last = None

    def _seen(self):
        with self.lock:
            self.remaining -= 1
            if self.remaining == 0:
                self.last = time.time()
                self.done.set()


def _handler(self, ctxt, publisher_id, event_type, payload, metadata):
    self._seen()


for _p in PRIORITIES:
    setattr(Endpoint, _p, _handler)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    args = p.parse_args()
    servers = args.url.split("://", 1)[1].split("/", 1)[0]
    prepare(servers, [f"{args.topic}.{p}" for p in PRIORITIES])
    cfg.CONF([], project="bench")
    transport = oslo_messaging.get_notification_transport(cfg.CONF, url=args.url)
    done = threading.Event()
    endpoint = Endpoint(args.count, done)
    listener = oslo_messaging.get_notification_listener(
        transport,
        [oslo_messaging.Target(topic=args.topic)],
        [endpoint],
        executor="threading",
    )
    listener.start()
    start = time.time()
    print(json.dumps({"event": "ready"}), flush=True)
    done.wait()
    print(json.dumps({"messages": args.count, "seconds": endpoint.last - start}), flush=True)
    listener.stop()
    listener.wait()
    transport.cleanup()
    sys.exit(0)


if __name__ == "__main__":
    main()
