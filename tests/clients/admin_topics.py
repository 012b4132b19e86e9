"""Creates a topic with confluent-kafka's AdminClient (librdkafka) and prints its partitions
as one JSON line: {"topic": ..., "partitions": {"0": {"leader": 1, "replicas": [...], "isrs": [...]}}}."""
import argparse
import json
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--replication-factor", type=int, required=True)
    args = ap.parse_args()
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    futures = admin.create_topics(
        [NewTopic(args.topic, num_partitions=args.partitions, replication_factor=args.replication_factor)],
        operation_timeout=30,
        request_timeout=30,
    )
    futures[args.topic].result(timeout=60)
    deadline = time.time() + 30
    while True:
        md = admin.list_topics(topic=args.topic, timeout=10)
        t = md.topics.get(args.topic)
        if t is not None and t.error is None and len(t.partitions) == args.partitions:
            break
        if time.time() > deadline:
            print(f"topic {args.topic} not visible: {t}", file=sys.stderr)
            return 1
        time.sleep(0.1)
    out = {
        "topic": args.topic,
        "partitions": {
            str(p.id): {"leader": p.leader, "replicas": list(p.replicas), "isrs": list(p.isrs)}
            for p in t.partitions.values()
        },
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
