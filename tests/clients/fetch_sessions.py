"""A consumer with incremental fetch sessions (KIP-227) over many partitions, driven by
tests/clients/main.rs. kafka-python 3 opens a session with its first (full) fetch and then
sends incremental fetches that name only the partitions whose position changed; each broker
answers only partitions with something new. The topic has replication factor 3 on three
brokers, so the consumer holds one session per partition leader.

The topic is created and filled with confluent-kafka (librdkafka); the consumer is
kafka-python 3, found on PYTHONPATH (tests/clients/main.rs sets it). Two waves of records:
one on every partition, then a few more on three partitions while the consumer keeps its
sessions. Prints "ok records=N sessions=[(id, epoch), ...]" when every record arrived exactly
once and in order per partition, with every fetch session still open and its epoch advanced.
"""
import argparse
import sys
import time

import kafka
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, TopicPartition


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def produce(bootstrap, topic, records):
    """records: [(partition, value)]; waits for every delivery report."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    errors = []
    for partition, value in records:
        p.produce(topic, value=value, partition=partition,
                  on_delivery=lambda err, _m: err and errors.append(err))
    p.flush(60)
    if errors:
        fail(f"produce: {errors[:3]}")


def consume(consumer, want, got, deadline_s):
    """Polls until `want` records arrived in total; checks order and duplicates per partition."""
    deadline = time.time() + deadline_s
    while sum(len(v) for v in got.values()) < want:
        if time.time() > deadline:
            counts = {p: len(v) for p, v in got.items()}
            fail(f"consumed {sum(counts.values())} of {want} records: {counts}")
        for tp, msgs in consumer.poll(timeout_ms=200).items():
            for m in msgs:
                seen = got.setdefault(tp.partition, [])
                if seen and m.offset <= seen[-1][0]:
                    fail(f"partition {tp.partition}: offset {m.offset} after {seen[-1][0]}")
                seen.append((m.offset, m.value))


def sessions_of(consumer, brokers):
    """Broker id -> (session id, next epoch) of the consumer's fetch session with each of the
    `brokers` it fetches from (one session per partition leader)."""
    handlers = consumer._fetcher._session_handlers
    if len(handlers) != brokers:
        fail(f"expected {brokers} fetch session handlers (one per leader), have {len(handlers)}")
    return {node: (h.next_metadata.session_id, h.next_metadata.epoch)
            for node, h in handlers.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, default=50)
    ap.add_argument("--per-partition", type=int, default=20)
    args = ap.parse_args()
    if not kafka.__version__.startswith("3."):
        fail(f"kafka-python {kafka.__version__}: fetch sessions need kafka-python 3")

    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    admin.create_topics([NewTopic(args.topic, num_partitions=args.partitions,
                                  replication_factor=3)])[args.topic].result(30)
    first = [(p, f"{p}-{i}".encode()) for p in range(args.partitions)
             for i in range(args.per_partition)]
    produce(args.bootstrap, args.topic, first)

    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, enable_auto_commit=False,
                             group_id=None, fetch_max_wait_ms=100,
                             enable_incremental_fetch_sessions=True)
    tps = [TopicPartition(args.topic, p) for p in range(args.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got = {}
    consume(consumer, len(first), got, 60)
    leaders = len({consumer._client.cluster.leader_for_partition(tp) for tp in tps})
    before = sessions_of(consumer, leaders)
    if any(sid <= 0 or epoch < 1 for sid, epoch in before.values()):
        fail(f"no incremental fetch session after the first wave: {before}")

    # Quiet polls: incremental fetches whose answers carry no partition.
    for _ in range(5):
        if consumer.poll(timeout_ms=150):
            fail("records arrived while nothing was produced")
    second = [(p, f"{p}-late-{i}".encode()) for p in (3, 17, args.partitions - 1)
              for i in range(5)]
    produce(args.bootstrap, args.topic, second)
    consume(consumer, len(first) + len(second), got, 60)
    after = sessions_of(consumer, leaders)
    if any(after[n][0] != sid or after[n][1] <= epoch for n, (sid, epoch) in before.items()):
        fail(f"the sessions did not continue: {before} -> {after}")

    want = {}
    for p, v in first + second:
        want.setdefault(p, []).append(v)
    have = {p: [v for _, v in msgs] for p, msgs in got.items()}
    if have != want:
        diff = [p for p in sorted(set(want) | set(have)) if have.get(p) != want.get(p)]
        fail(f"records differ on partitions {diff[:5]}")
    print(f"ok records={sum(len(v) for v in have.values())} "
          f"sessions={sorted(after.values())}")
    sys.stdout.flush()
    consumer.close()


if __name__ == "__main__":
    main()
