//! The Kafka-format append-only log (segments, indexes, recovery, retention).
