"""Consumer groups with real clients, driven by tests/groups/main.rs.

Commands print one line starting with "ok" on success, or "FAIL: ..." and exit 1.
"""
import argparse
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def create(b, topic, partitions, rf):
    a = AdminClient({"bootstrap.servers": b})
    fs = a.create_topics([NewTopic(topic, partitions, rf)])
    try:
        fs[topic].result(30)
    except Exception as e:  # noqa: BLE001
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            fail(f"create {topic}: {e}")


def produce(b, topic, start, count):
    p = Producer({"bootstrap.servers": b, "acks": "all", "enable.idempotence": True})
    errors = []
    for i in range(start, start + count):
        p.produce(topic, key=str(i), value=str(i), on_delivery=lambda e, m: e and errors.append(e))
    if p.flush(60) != 0 or errors:
        fail(f"produce: {len(errors)} errors {errors[:3]}")


class Member:
    """One group member polling on its own thread, recording what it saw."""

    def __init__(self, kind, b, group, topic, name, instance=None):
        self.kind, self.name = kind, name
        self.seen = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.error = None
        if kind == "confluent":
            conf = {
                "bootstrap.servers": b,
                "group.id": group,
                "client.id": name,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 10000,
                "heartbeat.interval.ms": 500,
                "partition.assignment.strategy": "range",
            }
            if instance:
                conf["group.instance.id"] = instance
            self.c = Consumer(conf)
            self.c.subscribe([topic])
        else:
            from kafka import KafkaConsumer

            self.c = KafkaConsumer(
                topic,
                bootstrap_servers=b,
                group_id=group,
                client_id=name,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                session_timeout_ms=10000,
                heartbeat_interval_ms=500,
            )
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            while not self.stop.is_set():
                if self.kind == "confluent":
                    m = self.c.poll(0.1)
                    if m is None:
                        continue
                    if m.error():
                        if m.error().code() != KafkaError._PARTITION_EOF:
                            self.error = str(m.error())
                        continue
                    with self.lock:
                        self.seen.append((m.partition(), m.offset(), m.value().decode()))
                    self.c.commit(message=m, asynchronous=True)
                else:
                    batches = self.c.poll(timeout_ms=100)
                    for tp, msgs in batches.items():
                        with self.lock:
                            for m in msgs:
                                self.seen.append((tp.partition, m.offset, m.value.decode()))
                    if batches:
                        self.c.commit()
        except Exception as e:  # noqa: BLE001
            self.error = repr(e)

    def assignment(self):
        if self.kind == "confluent":
            return {tp.partition for tp in self.c.assignment()}
        return {tp.partition for tp in self.c.assignment()}

    def close(self):
        self.stop.set()
        self.t.join(10)
        if self.kind == "confluent" and self.seen:
            try:
                self.c.commit(asynchronous=False)
            except KafkaException as e:
                # Everything seen was committed already.
                if e.args[0].code() != KafkaError._NO_OFFSET:
                    raise
        self.c.close()


def wait_split(members, partitions, deadline_s):
    """Waits until the members own every partition, each exactly once, all owning some."""
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        owned = [m.assignment() for m in members]
        union = set().union(*owned)
        if union == set(range(partitions)) and sum(len(o) for o in owned) == partitions and all(owned):
            return owned
        time.sleep(0.1)
    fail(f"no split of {partitions} partitions within {deadline_s}s: {[sorted(m.assignment()) for m in members]}")


def wait_seen(members, expected, deadline_s):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        for m in members:
            if m.error:
                fail(f"{m.name}: {m.error}")
        values = set()
        for m in members:
            with m.lock:
                values.update(v for _, _, v in m.seen)
        if values >= expected:
            return
        time.sleep(0.1)
    missing = len(expected - values)
    fail(f"{missing} of {len(expected)} records not seen within {deadline_s}s")


def committed_total(b, group, topic, partitions):
    c = Consumer({"bootstrap.servers": b, "group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
    finally:
        c.close()
    for tp in tps:
        if tp.error:
            fail(f"committed: {tp.error}")
    return sum(max(tp.offset, 0) for tp in tps)


def split(args):
    b, topic, group, n = args.bootstrap, args.topic, args.group, args.count
    create(b, topic, args.partitions, args.rf)
    produce(b, topic, 0, n)
    a = Member(args.client, b, group, topic, "m1")
    m2 = Member(args.client, b, group, topic, "m2")
    wait_split([a, m2], args.partitions, 60)
    wait_seen([a, m2], {str(i) for i in range(n)}, 60)
    # A third member: a rebalance that loses nothing while records keep coming.
    m3 = Member(args.client, b, group, topic, "m3")
    produce(b, topic, n, n)
    wait_split([a, m2, m3], args.partitions, 60)
    produce(b, topic, 2 * n, n)
    everything = {str(i) for i in range(3 * n)}
    wait_seen([a, m2, m3], everything, 60)
    total = sum(len(m.seen) for m in (a, m2, m3))
    dups = total - len(everything)
    for m in (a, m2, m3):
        m.close()
    # Committed offsets survive the consumers: a new member starts at the end.
    got = committed_total(b, group, topic, args.partitions)
    if got != 3 * n:
        fail(f"committed offsets sum {got}, expected {3 * n}")
    late = Member(args.client, b, group, topic, "late")
    time.sleep(0)  # the member polls on its own thread
    wait_split([late], args.partitions, 60)
    deadline = time.time() + 3
    while time.time() < deadline:
        time.sleep(0.1)
    if late.seen:
        fail(f"a restarted member re-read {len(late.seen)} committed records")
    late.close()
    print(f"ok seen={total} records={len(everything)} duplicates={dups}")


def committed(args):
    got = committed_total(args.bootstrap, args.group, args.topic, args.partitions)
    if got != args.count:
        fail(f"committed offsets sum {got}, expected {args.count}")
    print(f"ok committed={got}")


def admin(args):
    a = AdminClient({"bootstrap.servers": args.bootstrap})
    listed = a.list_consumer_groups().result(30)
    ids = sorted(g.group_id for g in listed.valid)
    if args.group not in ids:
        fail(f"{args.group} not listed: {ids}")
    d = a.describe_consumer_groups([args.group])[args.group].result(30)
    state = str(d.state).split(".")[-1]
    if args.delete:
        a.delete_consumer_groups([args.group])[args.group].result(30)
        after = sorted(g.group_id for g in a.list_consumer_groups().result(30).valid)
        if args.group in after:
            fail(f"{args.group} still listed after delete: {after}")
    print(f"ok groups={','.join(ids)} state={state} members={len(d.members)}")


def static(args):
    """A static member that restarts within its session timeout keeps its partitions."""
    b, topic, group = args.bootstrap, args.topic, args.group
    create(b, topic, args.partitions, args.rf)
    m = Member("confluent", b, group, topic, "s1", instance="instance-1")
    wait_split([m], args.partitions, 60)
    m.stop.set()
    m.t.join(10)
    m.c.close()  # a static member does not leave the group when it closes
    again = Member("confluent", b, group, topic, "s1", instance="instance-1")
    wait_split([again], args.partitions, 60)
    again.close()
    print("ok")


def produce_old(args):
    """Produces --count records stamped --age-seconds in the past (CreateTime)."""
    p = Producer({"bootstrap.servers": args.bootstrap, "acks": "all"})
    stamp = int((time.time() - args.age_seconds) * 1000)
    errors = []
    for i in range(args.count):
        p.produce(args.topic, value=str(i), timestamp=stamp, on_delivery=lambda e, m: e and errors.append(e))
    if p.flush(60) != 0 or errors:
        fail(f"produce: {errors[:3]}")
    print(f"ok produced={args.count}")


def drain(args):
    """A member of --group consumes until its lag is gone and commits."""
    m = Member(args.client, args.bootstrap, args.group, args.topic, "drain")
    deadline = time.time() + 60
    while time.time() < deadline and len(m.seen) < args.count:
        if m.error:
            fail(m.error)
        time.sleep(0.1)
    m.close()
    if len(m.seen) < args.count:
        fail(f"drained {len(m.seen)} of {args.count}")
    print(f"ok drained={len(m.seen)}")


def aio(args):
    """aiokafka (old, non-flexible versions): two members split the topic, commit, and a
    restarted member starts from the committed offsets."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    b, topic, group, n = args.bootstrap, args.topic, args.group, args.count
    create(b, topic, args.partitions, args.rf)
    produce(b, topic, 0, n)

    async def member(i, seen, owned, stop):
        c = AIOKafkaConsumer(topic, bootstrap_servers=b, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, heartbeat_interval_ms=500)
        await c.start()
        try:
            while not stop.is_set():
                batches = await c.getmany(timeout_ms=100)
                for msgs in batches.values():
                    seen.extend(m.value.decode() for m in msgs)
                if batches:
                    await c.commit()
                owned[i] = {tp.partition for tp in c.assignment()}
        finally:
            await c.stop()

    def split(owned):
        return all(owned) and sum(len(o) for o in owned) == args.partitions \
            and set().union(*owned) == set(range(args.partitions))

    async def run():
        seen, owned, stop = [], [set(), set()], asyncio.Event()
        tasks = [asyncio.create_task(member(i, seen, owned, stop)) for i in range(2)]
        deadline = time.time() + 60
        while (len(set(seen)) < n or not split(owned)) and time.time() < deadline:
            await asyncio.sleep(0.1)
        was_split = split(owned)
        stop.set()
        await asyncio.gather(*tasks)
        if len(set(seen)) < n:
            fail(f"aiokafka members saw {len(set(seen))} of {n}")
        if not was_split:
            fail(f"aiokafka members did not split the partitions: {owned}")
        return len(seen)

    total = asyncio.run(run())
    got = committed_total(b, group, topic, args.partitions)
    if got != n:
        fail(f"committed offsets sum {got}, expected {n}")
    print(f"ok seen={total} records={n}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["split", "committed", "admin", "static", "produce-old", "drain", "aio"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", default="t")
    ap.add_argument("--group", default="g")
    ap.add_argument("--client", default="confluent", choices=["confluent", "kafka-python"])
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--rf", type=int, default=1)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--delete", action="store_true")
    ap.add_argument("--age-seconds", type=int, default=600)
    args = ap.parse_args()
    {"split": split, "committed": committed, "admin": admin, "static": static,
     "produce-old": produce_old, "drain": drain, "aio": aio}[args.command](args)


if __name__ == "__main__":
    main()
