"""Consumer-group figures for docs/performance.md, against a running cluster.

  settle:  N members split a topic; one more joins; seconds until all N+1 own partitions
           again with every partition owned exactly once (classic protocol, librdkafka).
  commits: synchronous OffsetCommit round trips per second from T members of one group.
"""
import argparse
import statistics
import sys
import threading
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create(b, topic, partitions):
    a = AdminClient({"bootstrap.servers": b})
    try:
        a.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    except Exception as e:  # noqa: BLE001
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            raise


class Member(threading.Thread):
    def __init__(self, b, group, topic, hb):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": b, "group.id": group, "enable.auto.commit": False,
                           "heartbeat.interval.ms": hb, "session.timeout.ms": 30000,
                           "partition.assignment.strategy": "range"})
        self.c.subscribe([topic])
        self.owned = set()
        self.stop = False
        self.start()

    def run(self):
        while not self.stop:
            self.c.poll(0.05)
            self.owned = {tp.partition for tp in self.c.assignment()}

    def close(self):
        self.stop = True
        self.join(10)
        self.c.close()


def settled(members, partitions):
    owned = [m.owned for m in members]
    return all(owned) and sum(len(o) for o in owned) == partitions and set().union(*owned) == set(range(partitions))


def settle(args):
    topic = f"settle-{args.members}-{int(time.time())}"
    create(args.bootstrap, topic, args.members + 1)
    samples = []
    for r in range(args.rounds):
        group = f"{topic}-g{r}"
        members = [Member(args.bootstrap, group, topic, args.heartbeat_ms) for _ in range(args.members)]
        deadline = time.time() + 120
        while not settled(members, args.members + 1):
            if time.time() > deadline:
                sys.exit("the first generation did not settle")
            time.sleep(0.01)
        started = time.time()
        members.append(Member(args.bootstrap, group, topic, args.heartbeat_ms))
        while not settled(members, args.members + 1):
            if time.time() - started > 120:
                sys.exit("no settle after the join")
            time.sleep(0.005)
        samples.append(time.time() - started)
        for m in members:
            m.close()
    print(f"settle members={args.members}+1 heartbeat.interval.ms={args.heartbeat_ms} "
          f"rounds={len(samples)} median={statistics.median(samples):.3f}s "
          f"min={min(samples):.3f}s max={max(samples):.3f}s")


def commits(args):
    topic = f"commits-{int(time.time())}"
    create(args.bootstrap, topic, args.threads)
    counts = [0] * args.threads
    stop = time.time() + args.seconds

    def worker(i):
        c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": f"{topic}-g"})
        off = 0
        while time.time() < stop:
            off += 1
            c.commit(offsets=[TopicPartition(topic, i, off)], asynchronous=False)
            counts[i] += 1
        c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(counts)
    print(f"commits threads={args.threads} seconds={args.seconds} total={total} per_second={total / args.seconds:.0f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["settle", "commits"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--heartbeat-ms", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    {"settle": settle, "commits": commits}[args.command](args)


if __name__ == "__main__":
    main()
