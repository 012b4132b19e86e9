"""Real clients for tests/groups/cli.rs (`kraftd consumer-groups` against a cluster).

produce: creates the topic and writes PER_PARTITION records to each partition, the first
         OLD of them stamped T0 + i, the rest T1 + i (for --to-datetime).
members: two confluent-kafka members of --group consume each partition up to its limit
         (--limits 30,50,0: offsets below 30 of partition 0, ...), commit exactly those
         offsets, and print one JSON line with what the AdminClient reports (list, describe,
         committed offsets); then they stay in the group until a line arrives on stdin, leave
         and print "left".
reread:  a new member of --group prints the first offset it reads from each partition.
Failures print "FAIL: ..." and exit 1.
"""
import argparse
import json
import sys
import threading
import time

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PER_PARTITION = 100
OLD = 60
T0 = 1_700_000_000_000
T1 = T0 + 3_600_000


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def produce(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    fs = admin.create_topics([NewTopic(a.topic, a.partitions, a.rf)])
    try:
        fs[a.topic].result(30)
    except Exception as e:  # noqa: BLE001
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            fail(f"create {a.topic}: {e}")
    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "enable.idempotence": True})
    errors = []
    for part in range(a.partitions):
        for i in range(PER_PARTITION):
            ts = (T0 if i < OLD else T1) + i
            p.produce(
                a.topic,
                key=str(i),
                value=f"{part}-{i}",
                partition=part,
                timestamp=ts,
                on_delivery=lambda e, m: e and errors.append(e),
            )
    if p.flush(60) != 0 or errors:
        fail(f"produce: {errors[:3]}")
    print(f"ok produced {PER_PARTITION} to each of {a.partitions} partitions", flush=True)


class Member(threading.Thread):
    def __init__(self, a, name, limits):
        super().__init__(daemon=True)
        self.topic, self.limits = a.topic, limits
        self.c = Consumer(
            {
                "bootstrap.servers": a.bootstrap,
                "group.id": a.group,
                "client.id": name,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 10000,
                "heartbeat.interval.ms": 500,
                "max.poll.interval.ms": 600000,
                "partition.assignment.strategy": "range",
            }
        )
        self.lock = threading.Lock()
        self.assigned = set()
        self.seen = {}  # partition -> highest offset read
        self.committed = False
        self.stop = threading.Event()
        self.error = None

    def on_assign(self, consumer, partitions):
        with self.lock:
            self.assigned = {tp.partition for tp in partitions}
            self.committed = False
        consumer.assign(partitions)
        idle = [tp for tp in partitions if self.limits[tp.partition] == 0]
        if idle:
            consumer.pause(idle)

    def on_revoke(self, consumer, partitions):
        with self.lock:
            self.assigned = set()

    def done(self):
        with self.lock:
            return bool(self.assigned) and all(
                self.seen.get(p, -1) >= self.limits[p] - 1 for p in self.assigned
            )

    def run(self):
        try:
            self.c.subscribe([self.topic], on_assign=self.on_assign, on_revoke=self.on_revoke)
            while not self.stop.is_set():
                m = self.c.poll(0.1)
                if m is not None and not m.error():
                    p, o = m.partition(), m.offset()
                    # A member that takes a partition over after another's commit starts at
                    # the limit: reaching it counts as done.
                    with self.lock:
                        self.seen[p] = max(self.seen.get(p, -1), o)
                    if o >= self.limits[p]:
                        self.c.pause([TopicPartition(self.topic, p)])
                if self.done() and not self.committed:
                    with self.lock:
                        mine = sorted(self.assigned)
                    offsets = [
                        TopicPartition(self.topic, p, self.limits[p])
                        for p in mine
                        if self.limits[p] > 0
                    ]
                    if offsets:
                        self.c.commit(offsets=offsets, asynchronous=False)
                    self.committed = True
        except Exception as e:  # noqa: BLE001
            self.error = repr(e)


def admin_view(a, admin):
    listed = admin.list_consumer_groups().result(30)
    groups = {g.group_id: str(g.state).split(".")[-1] for g in listed.valid}
    d = admin.describe_consumer_groups([a.group])[a.group].result(30)
    members = [
        {
            "consumer_id": m.member_id,
            "client_id": m.client_id,
            "host": m.host,
            "partitions": sorted(tp.partition for tp in m.assignment.topic_partitions),
        }
        for m in d.members
    ]
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(a.group)])
    committed = {
        f"{tp.topic}:{tp.partition}": tp.offset
        for tp in offsets[a.group].result(30).topic_partitions
        if tp.offset >= 0
    }
    return {
        "groups": groups,
        "state": str(d.state).split(".")[-1],
        "coordinator": d.coordinator.id,
        "assignor": d.partition_assignor,
        "members": members,
        "committed": committed,
    }


def members(a):
    limits = [int(x) for x in a.limits.split(",")]
    ms = [Member(a, f"{a.group}-m{i}", limits) for i in range(2)]
    for m in ms:
        m.start()
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    want = {f"{a.topic}:{p}": n for p, n in enumerate(limits) if n > 0}
    deadline = time.time() + 45
    view = None
    while time.time() < deadline:
        errors = [m.error for m in ms if m.error]
        if errors:
            fail(f"member: {errors}")
        if all(m.done() and m.committed for m in ms):
            view = admin_view(a, admin)
            if view["state"] == "STABLE" and len(view["members"]) == 2 and view["committed"] == want:
                break
        time.sleep(0.1)
    else:
        states = [(m.assigned, m.seen, m.committed) for m in ms]
        fail(f"the group did not settle with its commits: {view}; members {states}")
    print(json.dumps(view), flush=True)
    sys.stdin.readline()
    for m in ms:
        m.stop.set()
        m.join(10)
        m.c.close()
    print("left", flush=True)


def reread(a):
    c = Consumer(
        {
            "bootstrap.servers": a.bootstrap,
            "group.id": a.group,
            "client.id": f"{a.group}-reread",
            "auto.offset.reset": "latest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([a.topic])
    first = {}
    deadline = time.time() + 60
    while len(first) < a.partitions and time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            first.setdefault(m.partition(), m.offset())
    c.close()
    if len(first) < a.partitions:
        fail(f"read only partitions {sorted(first)}")
    print("ok " + json.dumps({str(p): o for p, o in sorted(first.items())}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["produce", "members", "reread"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group")
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--rf", type=int, default=3)
    ap.add_argument("--limits", default="30,50,0")
    a = ap.parse_args()
    {"produce": produce, "members": members, "reread": reread}[a.command](a)


if __name__ == "__main__":
    main()
