"""Real-client checks driven by tests/clients/main.rs. Each subcommand prints "ok ..." on
success and exits non-zero with the reason otherwise.

  admin      create, describe (configs included), list and delete topics with AdminClient
  oversize   a record above max.message.bytes is refused and nothing is stored
  times      ListOffsets by timestamp (offsets_for_times), earliest and latest
  produce    idempotent producer (acks=all) writing numbered records until a stop file
             appears; prints the count acknowledged
  verify     every acknowledged number present exactly once, in order
"""
import argparse
import os
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def admin(args):
    a = AdminClient({"bootstrap.servers": args.bootstrap})
    name = args.topic
    fs = a.create_topics([NewTopic(name, num_partitions=3, replication_factor=3,
                                   config={"retention.ms": "3600000", "cleanup.policy": "delete"})])
    fs[name].result(30)
    try:
        a.create_topics([NewTopic(name, num_partitions=1, replication_factor=3)])[name].result(30)
        fail("creating an existing topic succeeded")
    except KafkaException as e:
        if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
            fail(f"unexpected error {e}")
    deadline = time.time() + 30
    while name not in a.list_topics(timeout=10).topics:
        if time.time() > deadline:
            fail("created topic not listed")
        time.sleep(0.1)
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    # Brokers apply metadata independently: the one asked may learn of the topic a moment after
    # the one that listed it (as with Kafka), so UNKNOWN_TOPIC_OR_PART is retried briefly.
    while True:
        try:
            configs = a.describe_configs([res])[res].result(30)
            break
        except KafkaException as e:
            if e.args[0].name() != "UNKNOWN_TOPIC_OR_PART" or time.time() > deadline:
                raise
            time.sleep(0.1)
    if configs["retention.ms"].value != "3600000" or configs["retention.ms"].is_default:
        fail(f"retention.ms: {configs['retention.ms']}")
    if not configs["segment.bytes"].is_default:
        fail(f"segment.bytes should be a default: {configs['segment.bytes']}")
    broker_id = min(a.list_topics(timeout=10).brokers)
    broker = ConfigResource(ConfigResource.Type.BROKER, str(broker_id))
    bconf = a.describe_configs([broker])[broker].result(30)
    if "log.retention.ms" not in bconf:
        fail("broker configs lack log.retention.ms")
    a.delete_topics([name])[name].result(30)
    deadline = time.time() + 30
    while name in a.list_topics(timeout=10).topics:
        if time.time() > deadline:
            fail("deleted topic still listed")
        time.sleep(0.1)
    print("ok admin")


def oversize(args):
    a = AdminClient({"bootstrap.servers": args.bootstrap})
    a.create_topics([NewTopic(args.topic, 1, -1, config={"max.message.bytes": "2000"})])[args.topic].result(30)
    p = Producer({"bootstrap.servers": args.bootstrap, "message.max.bytes": 100000,
                  "compression.type": "none", "linger.ms": 0})
    errors = []
    p.produce(args.topic, value=b"x" * 10000, partition=0,
              on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    if not errors or errors[0] is None or errors[0].name() != "MSG_SIZE_TOO_LARGE":
        fail(f"oversized record: {errors}")
    c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "x"})
    lo, hi = c.get_watermark_offsets(TopicPartition(args.topic, 0), timeout=10)
    if (lo, hi) != (0, 0):
        fail(f"something was stored: {lo}..{hi}")
    print("ok oversize")


def times(args):
    p = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 0})
    base = 1_600_000_000_000
    for i in range(10):
        p.produce(args.topic, value=f"{i}".encode(), timestamp=base + i * 1000, partition=0)
        p.flush(30)
    c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "x"})
    got = c.offsets_for_times([TopicPartition(args.topic, 0, base + 4500)], timeout=10)
    if got[0].offset != 5:
        fail(f"offset for time: {got[0]}")
    got = c.offsets_for_times([TopicPartition(args.topic, 0, base + 99_000)], timeout=10)
    if got[0].offset != -1:
        fail(f"offset after the last record: {got[0]}")
    lo, hi = c.get_watermark_offsets(TopicPartition(args.topic, 0), timeout=10)
    if (lo, hi) != (0, 10):
        fail(f"watermarks {lo}..{hi}")
    print("ok times")


def produce(args):
    p = Producer({
        "bootstrap.servers": args.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 60000,
        "retry.backoff.ms": 50,
        "reconnect.backoff.max.ms": 200,
    })
    acked = []
    failed = []

    def done(err, msg):
        if err is None:
            acked.append(int(msg.value()))
        else:
            failed.append(err)

    pad = b" " * max(0, args.value_size - 12)
    i = 0
    while not os.path.exists(args.stop) and (args.total == 0 or i < args.total):
        try:
            p.produce(args.topic, value=str(i).encode() + pad, partition=0, on_delivery=done)
        except BufferError:
            p.poll(0.05)
            continue
        p.poll(0)
        i += 1
        if i % 100 == 0:
            time.sleep(0.01)
    p.flush(60)
    if failed:
        fail(f"{len(failed)} deliveries failed, first: {failed[0]}")
    print(f"ok {len(acked)} {i}")


def verify(args):
    c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "x", "enable.auto.commit": False})
    c.assign([TopicPartition(args.topic, 0, 0)])
    seen = []
    idle = time.time()
    while len(seen) < args.count:
        m = c.poll(1)
        if m is None:
            if time.time() - idle > 20:
                break
            continue
        idle = time.time()
        if m.error():
            fail(f"consume error: {m.error()}")
        seen.append(int(m.value().split(b" ", 1)[0]))
    if any(v != i for i, v in enumerate(seen)):
        dups = len(seen) - len(set(seen))
        fail(f"records out of order or duplicated ({dups} duplicates) in {len(seen)}")
    if len(seen) < args.count:
        fail(f"only {len(seen)} of {args.count} acknowledged records present")
    print(f"ok {len(seen)}")


def spread(args):
    a = AdminClient({"bootstrap.servers": args.bootstrap})
    a.create_topics([NewTopic(args.topic, 6, -1)])[args.topic].result(30)
    return spread_records(args)


def spread_records(args):
    """Keyed records over every partition of a topic whose leaders are spread over brokers:
    each key lands in one partition and is read back in order; every record exactly once."""
    p = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "linger.ms": 5,
                  "enable.idempotence": True})
    n = args.count or 3000
    keys = [f"key-{k}" for k in range(30)]
    for i in range(n):
        k = keys[i % len(keys)]
        p.produce(args.topic, key=k.encode(), value=f"{k}:{i}".encode())
        if i % 500 == 0:
            p.poll(0)
    if p.flush(60) != 0:
        fail("records left unacknowledged")
    md = p.list_topics(args.topic, timeout=10).topics[args.topic]
    leaders = {pid: part.leader for pid, part in md.partitions.items()}
    c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "x", "enable.auto.commit": False})
    c.assign([TopicPartition(args.topic, pid, 0) for pid in md.partitions])
    seen = {}
    partition_of = {}
    got = 0
    idle = time.time()
    while got < n:
        m = c.poll(1)
        if m is None:
            if time.time() - idle > 20:
                fail(f"stalled at {got} of {n}")
            continue
        idle = time.time()
        if m.error():
            fail(f"consume error: {m.error()}")
        k, i = m.value().decode().split(":")
        if partition_of.setdefault(k, m.partition()) != m.partition():
            fail(f"key {k} in two partitions")
        seen.setdefault(k, []).append(int(i))
        got += 1
    for k, ids in seen.items():
        if ids != sorted(ids) or len(ids) != len(set(ids)):
            fail(f"key {k} out of order or duplicated")
    if sum(len(v) for v in seen.values()) != n:
        fail("wrong count")
    print(f"ok {n} leaders={sorted(set(leaders.values()))}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["admin", "oversize", "times", "produce", "verify", "spread"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--stop")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--total", type=int, default=0)
    ap.add_argument("--value-size", type=int, default=0)
    args = ap.parse_args()
    {"admin": admin, "oversize": oversize, "times": times, "produce": produce, "verify": verify,
     "spread": spread}[args.command](args)


if __name__ == "__main__":
    main()
