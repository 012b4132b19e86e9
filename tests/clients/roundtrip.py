"""Produces with confluent-kafka (every acks level and codec, keys, headers, timestamps) and
kafka-python, reads everything back with both, and checks it byte-exact and in order.
Prints "ok N" on success; any mismatch exits non-zero with the difference."""
import argparse
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
import kafka


def produce_confluent(bootstrap, topic, acks, codec, base, n):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "compression.type": codec,
        "linger.ms": 5,
        "enable.idempotence": acks == "all",
    })
    errors = []
    sent = []
    for i in range(n):
        key = f"k-{base + i}".encode()
        value = (f"v-{codec}-{acks}-{base + i}-" + "ü" * (i % 7)).encode()
        headers = [("h", f"{i}".encode()), ("empty", b"")]
        ts = 1_700_000_000_000 + base + i
        p.produce(topic, key=key, value=value, headers=headers, timestamp=ts, partition=0,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        sent.append((key, value, headers, ts))
    p.flush(30)
    if errors:
        raise SystemExit(f"delivery errors ({codec}, acks={acks}): {errors[:3]}")
    return sent


def produce_kafka_python(bootstrap, topic, base, n):
    p = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip",
                            api_version=(2, 5, 0))
    sent = []
    for i in range(n):
        key = f"k-{base + i}".encode()
        value = f"v-kafka-python-{base + i}".encode()
        headers = [("h", f"{i}".encode())]
        ts = 1_700_000_000_000 + base + i
        p.send(topic, key=key, value=value, headers=headers, timestamp_ms=ts, partition=0).get(timeout=30)
        sent.append((key, value, headers, ts))
    p.flush()
    p.close()
    return sent


def consume_confluent(bootstrap, topic, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    while len(got) < count:
        m = c.poll(10)
        if m is None:
            raise SystemExit(f"confluent consumer stalled after {len(got)} of {count}")
        if m.error():
            raise SystemExit(f"consume error: {m.error()}")
        got.append((m.key(), m.value(), [(k, v if v is not None else b"") for k, v in (m.headers() or [])], m.timestamp()[1]))
    c.close()
    return got


def consume_kafka_python(bootstrap, topic, count):
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, api_version=(2, 5, 0),
                            consumer_timeout_ms=10000)
    tp = kafka.TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    got = []
    for m in c:
        got.append((m.key, m.value, [(k, v) for k, v in m.headers], m.timestamp))
        if len(got) == count:
            break
    c.close()
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    args = ap.parse_args()
    sent = []
    for acks in ["1", "all"]:
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
            sent += produce_confluent(args.bootstrap, args.topic, acks, codec, len(sent), 25)
    sent += produce_kafka_python(args.bootstrap, args.topic, len(sent), 25)
    # acks=0 last: nothing orders it against a later producer's connection.
    sent += produce_confluent(args.bootstrap, args.topic, "0", "zstd", len(sent), 25)
    for name, consume in [("confluent-kafka", consume_confluent), ("kafka-python", consume_kafka_python)]:
        got = consume(args.bootstrap, args.topic, len(sent))
        for i, (s, g) in enumerate(zip(sent, got)):
            if s != g:
                raise SystemExit(f"{name}: record {i} differs: sent {s!r} got {g!r}")
        if len(got) != len(sent):
            raise SystemExit(f"{name}: {len(got)} records, expected {len(sent)}")
    print(f"ok {len(sent)}")


if __name__ == "__main__":
    sys.exit(main())
