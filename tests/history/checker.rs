//! A history checker for produce/consume workloads, independent of how the history was made
//! (broker faults here; network faults later). A workload records every produce with its
//! outcome and every record each consumer session read; [`check`] finds the anomalies and
//! explains each in one line.
//!
//! Anomalies:
//! - **lost write**: a value acknowledged at (partition, offset), and a session that read that
//!   partition past that offset (from at or before it) without reading the value there;
//! - **unseen after heal**: an acknowledged value that no final session (a full read after
//!   the faults healed) read at all;
//! - **duplicate**: one value read at two places (offsets or partitions);
//! - **divergent offset**: one (partition, offset) read with two different values;
//! - **non-monotonic**: within one session and partition, an offset not above the previous;
//! - **skip**: within one session and partition, an offset more than one above the previous
//!   (or above the offset the session started from);
//! - **never sent**: a value read that was never sent to that partition (or with that key);
//! - **failed read**: a value read whose produce failed definitely (never persisted);
//! - **reordered**: one producer's acknowledgements to a partition at offsets in a different
//!   order than it sent the values.
//!
//! Scenarios add what they observe beside the records ([`Report::add`]):
//! - **two quorum leaders**: two nodes leading the metadata quorum in one epoch;
//! - **lost metadata change**: an acknowledged topic creation, deletion or partition increase
//!   missing from a broker's metadata after the heal;
//! - **not converged**: the cluster did not come back whole after the heal (one active
//!   controller, every broker unfenced, nothing under-replicated);
//! - **lost commit**: a consumer group's offset commit that was acknowledged, and a committed
//!   offset below it after the heal (without a reset);
//! - **group skipped a record**: a record below the group's final committed offset that no
//!   member of the group read;
//! - **commit went back**: the group's committed offset of a partition observed lower than
//!   an earlier observation.
//!
//! Unknown outcomes (timed out, possibly persisted, or still pending) may be read or not.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Instant;

/// How a produce ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not answered yet; counted as unknown when checked.
    Pending,
    /// Acknowledged at this offset (negative when the acknowledgement carried none).
    Acked(i64),
    /// Definitely not written (the client knows it was never persisted).
    Failed(String),
    /// Possibly written (timed out, or failed after it may have been appended).
    Unknown(String),
}

/// One produce: what was sent where, and how it ended.
#[derive(Debug, Clone)]
pub struct Produce {
    /// The producer (client instance) that sent it.
    pub producer: u32,
    /// The send order within that producer.
    pub seq: u64,
    pub key: String,
    pub value: String,
    pub partition: i32,
    pub sent: Instant,
    pub outcome: Outcome,
    /// When the outcome arrived.
    pub completed: Option<Instant>,
}

/// One record a consumer session read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub session: u32,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: String,
}

/// One consumer session (a consumer instance with one assignment).
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub id: u32,
    /// Partition → the offset the session was assigned at, when known (0 for the beginning
    /// of a log that has never been truncated by retention).
    pub start: BTreeMap<i32, i64>,
    /// A full read after the faults healed.
    pub final_read: bool,
}

/// Everything a workload did.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub produces: Vec<Produce>,
    pub sessions: Vec<Session>,
    pub reads: Vec<Read>,
}

/// The kinds of anomaly, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anomaly {
    LostWrite,
    UnseenAfterHeal,
    Duplicate,
    DivergentOffset,
    NonMonotonic,
    Skip,
    NeverSent,
    FailedRead,
    Reordered,
    TwoQuorumLeaders,
    LostMetadataChange,
    NotConverged,
    LostCommit,
    GroupSkippedRecord,
    CommitWentBack,
}

impl Anomaly {
    pub const ALL: [Anomaly; 15] = [
        Anomaly::LostWrite,
        Anomaly::UnseenAfterHeal,
        Anomaly::Duplicate,
        Anomaly::DivergentOffset,
        Anomaly::NonMonotonic,
        Anomaly::Skip,
        Anomaly::NeverSent,
        Anomaly::FailedRead,
        Anomaly::Reordered,
        Anomaly::TwoQuorumLeaders,
        Anomaly::LostMetadataChange,
        Anomaly::NotConverged,
        Anomaly::LostCommit,
        Anomaly::GroupSkippedRecord,
        Anomaly::CommitWentBack,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Anomaly::LostWrite => "lost write",
            Anomaly::UnseenAfterHeal => "acked, unseen after heal",
            Anomaly::Duplicate => "duplicate",
            Anomaly::DivergentOffset => "offset with two values",
            Anomaly::NonMonotonic => "non-monotonic offset",
            Anomaly::Skip => "skipped offset",
            Anomaly::NeverSent => "read, never sent",
            Anomaly::FailedRead => "read, definitely failed",
            Anomaly::Reordered => "acks out of send order",
            Anomaly::TwoQuorumLeaders => "two quorum leaders",
            Anomaly::LostMetadataChange => "lost metadata change",
            Anomaly::NotConverged => "not converged",
            Anomaly::LostCommit => "acked commit lost",
            Anomaly::GroupSkippedRecord => "group skipped a record",
            Anomaly::CommitWentBack => "commit went back",
        }
    }
}

/// Totals of a history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: usize,
    pub acked: usize,
    /// Acknowledged without an offset (checked by the final read only).
    pub acked_without_offset: usize,
    pub failed: usize,
    /// Unknown or still pending.
    pub unknown: usize,
    /// Unknown outcomes that the final read found.
    pub unknown_read: usize,
    pub sessions: usize,
    pub reads: usize,
    /// Records the final sessions read.
    pub final_reads: usize,
}

/// At most this many explanations are kept per kind (the counts are complete).
const EXAMPLES: usize = 5;

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub counts: Counts,
    /// Kind → (count, the first explanations).
    pub anomalies: BTreeMap<Anomaly, (usize, Vec<String>)>,
}

impl Report {
    /// Counts one anomaly of `kind`, keeping its explanation while there are few.
    pub fn add(&mut self, kind: Anomaly, explain: impl FnOnce() -> String) {
        let e = self.anomalies.entry(kind).or_default();
        e.0 += 1;
        if e.1.len() < EXAMPLES {
            e.1.push(explain());
        }
    }

    pub fn count(&self, kind: Anomaly) -> usize {
        self.anomalies.get(&kind).map_or(0, |e| e.0)
    }

    pub fn total(&self) -> usize {
        self.anomalies.values().map(|e| e.0).sum()
    }

    pub fn is_clean(&self) -> bool {
        self.total() == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(
            f,
            "sent {} | acked {} ({} without offset) | failed {} | unknown {} ({} read) | \
             sessions {} | reads {} | final reads {}",
            c.sent,
            c.acked,
            c.acked_without_offset,
            c.failed,
            c.unknown,
            c.unknown_read,
            c.sessions,
            c.reads,
            c.final_reads
        )?;
        writeln!(f, "{:<28} {:>8}", "anomaly", "count")?;
        for kind in Anomaly::ALL {
            writeln!(f, "{:<28} {:>8}", kind.name(), self.count(kind))?;
            if let Some((_, examples)) = self.anomalies.get(&kind) {
                for e in examples {
                    writeln!(f, "    {e}")?;
                }
            }
        }
        Ok(())
    }
}

/// One session's reads of one partition.
#[derive(Default)]
struct Span<'a> {
    start: Option<i64>,
    /// Offsets in read order.
    order: Vec<i64>,
    at: HashMap<i64, BTreeSet<&'a str>>,
}

impl Span<'_> {
    /// The offsets this session read past: from its start (or first read) to its last read.
    fn covers(&self, offset: i64) -> bool {
        let Some(&last) = self.order.iter().max() else {
            return false;
        };
        let first = self
            .start
            .unwrap_or_else(|| *self.order.iter().min().expect("non-empty"));
        first <= offset && offset <= last
    }
}

/// Checks `h` and reports every anomaly.
pub fn check(h: &History) -> Report {
    let mut r = Report::default();
    let sent: HashMap<&str, &Produce> = h.produces.iter().map(|p| (p.value.as_str(), p)).collect();
    let final_sessions: BTreeSet<u32> = h
        .sessions
        .iter()
        .filter(|s| s.final_read)
        .map(|s| s.id)
        .collect();

    // Per session and partition, in read order.
    let mut spans: BTreeMap<(u32, i32), Span<'_>> = BTreeMap::new();
    for s in &h.sessions {
        for (&p, &o) in &s.start {
            spans.entry((s.id, p)).or_default().start = Some(o);
        }
    }
    let mut at_offset: BTreeMap<(i32, i64), BTreeSet<&str>> = BTreeMap::new();
    let mut places: HashMap<&str, BTreeSet<(i32, i64)>> = HashMap::new();
    let mut keys: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    let mut final_values: HashMap<&str, (i32, i64)> = HashMap::new();
    for read in &h.reads {
        let span = spans.entry((read.session, read.partition)).or_default();
        let previous = span.order.last().copied().or(span.start.map(|s| s - 1));
        if let Some(prev) = previous {
            if read.offset <= prev {
                r.add(Anomaly::NonMonotonic, || {
                    format!(
                        "session {} partition {}: offset {} after {}",
                        read.session, read.partition, read.offset, prev
                    )
                });
            } else if read.offset > prev + 1 {
                r.add(Anomaly::Skip, || {
                    format!(
                        "session {} partition {}: offset {} after {} (skipped {}..={})",
                        read.session,
                        read.partition,
                        read.offset,
                        prev,
                        prev + 1,
                        read.offset - 1
                    )
                });
            }
        }
        span.order.push(read.offset);
        span.at
            .entry(read.offset)
            .or_default()
            .insert(read.value.as_str());
        at_offset
            .entry((read.partition, read.offset))
            .or_default()
            .insert(read.value.as_str());
        places
            .entry(read.value.as_str())
            .or_default()
            .insert((read.partition, read.offset));
        keys.entry(read.value.as_str())
            .or_default()
            .insert(read.key.as_str());
        if final_sessions.contains(&read.session) {
            r.counts.final_reads += 1;
            final_values.insert(read.value.as_str(), (read.partition, read.offset));
        }
    }
    r.counts.reads = h.reads.len();
    r.counts.sessions = h.sessions.len();

    for ((p, o), values) in &at_offset {
        if values.len() > 1 {
            r.add(Anomaly::DivergentOffset, || {
                format!("partition {p} offset {o} read with values {values:?}")
            });
        }
    }
    for (value, at) in &places {
        if at.len() > 1 {
            r.add(Anomaly::Duplicate, || {
                format!("value {value:?} read at (partition, offset) {at:?}")
            });
        }
        match sent.get(value) {
            None => r.add(Anomaly::NeverSent, || {
                format!("value {value:?} read at {at:?} was never sent")
            }),
            Some(p) => {
                if let Some((rp, ro)) = at.iter().find(|(rp, _)| *rp != p.partition) {
                    r.add(Anomaly::NeverSent, || {
                        format!(
                            "value {value:?} sent to partition {} read in partition {rp} at {ro}",
                            p.partition
                        )
                    });
                }
                if let Some(k) = keys[value].iter().find(|k| **k != p.key) {
                    r.add(Anomaly::NeverSent, || {
                        format!(
                            "value {value:?} sent with key {:?} read with key {k:?}",
                            p.key
                        )
                    });
                }
                if let Outcome::Failed(e) = &p.outcome {
                    r.add(Anomaly::FailedRead, || {
                        format!("value {value:?} failed definitely ({e}) but was read at {at:?}")
                    });
                }
            }
        }
    }

    // Writes: outcomes, losses, final visibility.
    // (producer, partition) → (send order, acked offset, value).
    type Acks<'a> = BTreeMap<(u32, i32), Vec<(u64, i64, &'a str)>>;
    let mut acked_order: Acks<'_> = BTreeMap::new();
    for p in &h.produces {
        r.counts.sent += 1;
        match &p.outcome {
            Outcome::Failed(_) => r.counts.failed += 1,
            Outcome::Pending | Outcome::Unknown(_) => {
                r.counts.unknown += 1;
                if final_values.contains_key(p.value.as_str()) {
                    r.counts.unknown_read += 1;
                }
            }
            Outcome::Acked(offset) => {
                r.counts.acked += 1;
                if *offset < 0 {
                    r.counts.acked_without_offset += 1;
                } else {
                    acked_order
                        .entry((p.producer, p.partition))
                        .or_default()
                        .push((p.seq, *offset, &p.value));
                    let missed = spans.iter().find(|((_, sp), span)| {
                        *sp == p.partition
                            && span.covers(*offset)
                            && !span
                                .at
                                .get(offset)
                                .is_some_and(|v| v.contains(p.value.as_str()))
                    });
                    if let Some(((session, _), span)) = missed {
                        r.add(Anomaly::LostWrite, || {
                            let there = span
                                .at
                                .get(offset)
                                .map_or_else(|| "nothing".to_string(), |v| format!("{v:?}"));
                            let elsewhere = places
                                .get(p.value.as_str())
                                .map_or_else(String::new, |at| format!("; read at {at:?}"));
                            format!(
                                "value {:?} acked at partition {} offset {offset}: session \
                                 {session} read past it and found {there} there{elsewhere}",
                                p.value, p.partition
                            )
                        });
                    }
                }
                if !final_sessions.is_empty() && !final_values.contains_key(p.value.as_str()) {
                    r.add(Anomaly::UnseenAfterHeal, || {
                        format!(
                            "value {:?} acked at partition {} offset {offset} not in the final read",
                            p.value, p.partition
                        )
                    });
                }
            }
        }
    }
    for ((producer, partition), mut acks) in acked_order {
        acks.sort_unstable();
        for w in acks.windows(2) {
            if w[1].1 <= w[0].1 {
                r.add(Anomaly::Reordered, || {
                    format!(
                        "producer {producer} partition {partition}: {:?} (sent #{}) acked at {} \
                         after {:?} (sent #{}) at {}",
                        w[1].2, w[1].0, w[1].1, w[0].2, w[0].0, w[0].1
                    )
                });
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history builder for synthetic cases.
    struct H {
        h: History,
        t: Instant,
    }

    impl H {
        fn new() -> H {
            H {
                h: History::default(),
                t: Instant::now(),
            }
        }

        fn produce(mut self, value: &str, partition: i32, outcome: Outcome) -> H {
            let seq = self.h.produces.len() as u64;
            self.h.produces.push(Produce {
                producer: 0,
                seq,
                key: format!("k{seq}"),
                value: value.to_string(),
                partition,
                sent: self.t,
                outcome,
                completed: Some(self.t),
            });
            self
        }

        fn session(mut self, id: u32, start: &[(i32, i64)], final_read: bool) -> H {
            self.h.sessions.push(Session {
                id,
                start: start.iter().copied().collect(),
                final_read,
            });
            self
        }

        /// A read of `value` with the key it was sent with.
        fn read(self, session: u32, partition: i32, offset: i64, value: &str) -> H {
            let key = self
                .h
                .produces
                .iter()
                .find(|p| p.value == value)
                .map_or_else(|| "?".to_string(), |p| p.key.clone());
            self.read_key(session, partition, offset, &key, value)
        }

        fn read_key(
            mut self,
            session: u32,
            partition: i32,
            offset: i64,
            key: &str,
            value: &str,
        ) -> H {
            self.h.reads.push(Read {
                session,
                partition,
                offset,
                key: key.to_string(),
                value: value.to_string(),
            });
            self
        }

        /// Three values acked at offsets 0..3 of partition 0, read by a live session and a
        /// final one: the clean base every case below changes in one way.
        fn clean() -> H {
            H::new()
                .produce("a", 0, Outcome::Acked(0))
                .produce("b", 0, Outcome::Acked(1))
                .produce("c", 0, Outcome::Acked(2))
                .session(1, &[(0, 0)], false)
                .read(1, 0, 0, "a")
                .read(1, 0, 1, "b")
                .read(1, 0, 2, "c")
                .session(2, &[(0, 0)], true)
                .read(2, 0, 0, "a")
                .read(2, 0, 1, "b")
                .read(2, 0, 2, "c")
        }

        fn check(self) -> Report {
            let r = check(&self.h);
            eprintln!("{r}");
            r
        }
    }

    /// The report has exactly `expected` (kind, count) anomalies.
    fn assert_only(r: &Report, expected: &[(Anomaly, usize)]) {
        for kind in Anomaly::ALL {
            let want = expected
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0, |(_, n)| *n);
            assert_eq!(r.count(kind), want, "{kind:?} in\n{r}");
        }
        for (kind, (_, examples)) in &r.anomalies {
            assert!(!examples.is_empty(), "{kind:?} has no explanation");
        }
    }

    #[test]
    fn a_clean_history_has_no_anomaly() {
        let r = H::clean()
            .produce("d", 1, Outcome::Unknown("timed out".into()))
            .produce("e", 1, Outcome::Failed("too large".into()))
            .produce("f", 1, Outcome::Pending)
            .produce("g", 1, Outcome::Acked(-1))
            .session(3, &[(1, 0)], true)
            .read(3, 1, 0, "d")
            .read(3, 1, 1, "g")
            .check();
        assert!(r.is_clean(), "{r}");
        assert_eq!(
            r.counts,
            Counts {
                sent: 7,
                acked: 4,
                acked_without_offset: 1,
                failed: 1,
                unknown: 2,
                unknown_read: 1,
                sessions: 3,
                reads: 8,
                final_reads: 5,
            }
        );
    }

    #[test]
    fn a_write_missing_at_its_offset_from_a_session_that_read_past_it_is_lost() {
        // Session 1 skips b's offset: lost (and a skip); the final read has it.
        let mut h = H::clean();
        h.h.reads.remove(1);
        let r = h.check();
        assert_only(&r, &[(Anomaly::LostWrite, 1), (Anomaly::Skip, 1)]);
        assert!(r.anomalies[&Anomaly::LostWrite].1[0].contains("\"b\""));
    }

    #[test]
    fn a_write_whose_offset_holds_another_value_is_lost() {
        // Offset 1 holds "x", a value sent later whose ack was lost; "b" is gone everywhere.
        let r = H::new()
            .produce("a", 0, Outcome::Acked(0))
            .produce("b", 0, Outcome::Acked(1))
            .produce("x", 0, Outcome::Unknown("timed out".into()))
            .session(1, &[(0, 0)], true)
            .read(1, 0, 0, "a")
            .read(1, 0, 1, "x")
            .check();
        assert_only(
            &r,
            &[(Anomaly::LostWrite, 1), (Anomaly::UnseenAfterHeal, 1)],
        );
        assert!(r.anomalies[&Anomaly::LostWrite].1[0].contains("\"x\""));
    }

    #[test]
    fn a_session_that_stopped_before_an_offset_does_not_lose_it() {
        let r = H::clean()
            .produce("d", 0, Outcome::Acked(3))
            .session(3, &[(0, 0)], false)
            .read(3, 0, 0, "a")
            .session(4, &[(0, 1)], false)
            .read(4, 0, 1, "b")
            .read(4, 0, 2, "c")
            .read(2, 0, 3, "d")
            .check();
        assert!(r.is_clean(), "{r}");
    }

    #[test]
    fn an_acked_value_the_final_read_missed_is_unseen_after_heal() {
        // The final read stops early: not lost (it did not read past), but unseen.
        let mut h = H::clean();
        h.h.reads.pop();
        let r = h.check();
        assert_only(&r, &[(Anomaly::UnseenAfterHeal, 1)]);
    }

    #[test]
    fn an_acked_value_without_an_offset_is_checked_by_the_final_read() {
        let r = H::clean().produce("d", 0, Outcome::Acked(-1)).check();
        assert_only(&r, &[(Anomaly::UnseenAfterHeal, 1)]);
    }

    #[test]
    fn one_value_at_two_offsets_is_a_duplicate() {
        let r = H::clean().read(2, 0, 3, "c").check();
        assert_only(&r, &[(Anomaly::Duplicate, 1)]);
    }

    #[test]
    fn one_offset_with_two_values_across_sessions_is_divergent() {
        // Session 1 read "c" at 2, the final read "x" at 2 and "c" at 3: c moved.
        let mut h = H::clean().produce("x", 0, Outcome::Unknown("timed out".into()));
        h.h.reads.pop();
        let r = h.read(2, 0, 2, "x").read(2, 0, 3, "c").check();
        assert_only(
            &r,
            &[
                (Anomaly::DivergentOffset, 1),
                (Anomaly::Duplicate, 1),
                (Anomaly::LostWrite, 1),
            ],
        );
    }

    #[test]
    fn an_offset_going_back_in_a_session_is_non_monotonic() {
        let r = H::clean().read(1, 0, 1, "b").check();
        assert_only(&r, &[(Anomaly::NonMonotonic, 1)]);
    }

    #[test]
    fn a_gap_in_a_session_or_after_its_start_is_a_skip() {
        let r = H::clean()
            .produce("d", 1, Outcome::Acked(5))
            .session(3, &[(1, 0)], false)
            .read(3, 1, 5, "d")
            .session(4, &[(1, 5)], true)
            .read(4, 1, 5, "d")
            .check();
        assert_only(&r, &[(Anomaly::Skip, 1)]);
        assert!(r.anomalies[&Anomaly::Skip].1[0].contains("skipped 0..=4"));
    }

    #[test]
    fn a_value_never_sent_or_read_in_another_partition_or_with_another_key_is_never_sent() {
        let r = H::clean()
            .produce("d", 1, Outcome::Unknown("timed out".into()))
            .produce("e", 1, Outcome::Acked(0))
            .read(1, 0, 3, "zz")
            .read(2, 0, 3, "d")
            .session(3, &[(1, 0)], true)
            .read_key(3, 1, 0, "k-other", "e")
            .check();
        assert_only(
            &r,
            &[(Anomaly::NeverSent, 3), (Anomaly::DivergentOffset, 1)],
        );
    }

    #[test]
    fn a_definitely_failed_value_that_was_read_is_reported() {
        let r = H::clean()
            .produce("d", 0, Outcome::Failed("not persisted".into()))
            .read(2, 0, 3, "d")
            .check();
        assert_only(&r, &[(Anomaly::FailedRead, 1)]);
    }

    #[test]
    fn acks_at_offsets_out_of_send_order_are_reordered() {
        let r = H::new()
            .produce("a", 0, Outcome::Acked(1))
            .produce("b", 0, Outcome::Acked(0))
            .session(1, &[(0, 0)], true)
            .read(1, 0, 0, "b")
            .read(1, 0, 1, "a")
            .check();
        assert_only(&r, &[(Anomaly::Reordered, 1)]);
    }
}
