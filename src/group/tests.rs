//! Transition tests of the classic group state machine: requests and ticks in, answers and
//! records out, with time and member ids given by the test.

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::classic_group::{GroupState, ReplyId};
use super::records::CoordinatorRecord;
use super::shard::*;

/// A shard with the records it wrote, acknowledging writes when asked.
struct Harness {
    shard: GroupShard,
    now: i64,
    next_reply: ReplyId,
    replies: Vec<(ReplyId, Reply)>,
    writes: Vec<(WriteId, Vec<CoordinatorRecord>)>,
    log: Vec<CoordinatorRecord>,
}

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

impl Harness {
    fn new(config: GroupConfig) -> Harness {
        Harness {
            shard: GroupShard::new(config, 0),
            now: 1_000,
            next_reply: 0,
            replies: Vec::new(),
            writes: Vec::new(),
            log: Vec::new(),
        }
    }

    fn effects(&mut self, out: Vec<Effect>) {
        for e in out {
            match e {
                Effect::Reply(id, r) => self.replies.push((id, r)),
                Effect::Write(id, records) => self.writes.push((id, records)),
            }
        }
    }

    /// Acknowledges every outstanding write (they reach the log).
    fn ack_writes(&mut self) {
        while !self.writes.is_empty() {
            let writes = std::mem::take(&mut self.writes);
            for (id, records) in writes {
                self.log.extend(records);
                let mut out = Vec::new();
                self.shard.write_done(self.now, id, Ok(()), &mut out);
                self.effects(out);
            }
        }
    }

    fn fail_writes(&mut self, e: ResponseError) {
        let writes = std::mem::take(&mut self.writes);
        for (id, _) in writes {
            let mut out = Vec::new();
            self.shard.write_done(self.now, id, Err(e), &mut out);
            self.effects(out);
        }
    }

    fn reply(&mut self, id: ReplyId) -> Option<Reply> {
        let i = self.replies.iter().position(|(r, _)| *r == id)?;
        Some(self.replies.remove(i).1)
    }

    fn join(
        &mut self,
        member: &str,
        fresh: &str,
        instance: Option<&str>,
        protocols: &[&str],
    ) -> ReplyId {
        let id = self.next_reply;
        self.next_reply += 1;
        let r = JoinRequest {
            group_id: "g".into(),
            member_id: member.into(),
            instance_id: instance.map(str::to_string),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
                .collect(),
            require_known_member_id: true,
            fresh_member_id: fresh.into(),
        };
        let mut out = Vec::new();
        self.shard.join(self.now, r, id, &mut out);
        self.effects(out);
        id
    }

    /// A dynamic member's two-step join (MEMBER_ID_REQUIRED, then the join); returns the
    /// reply id of the second JoinGroup.
    fn join_new(&mut self, id: &str) -> ReplyId {
        let first = self.join("", id, None, &["range"]);
        match self.reply(first) {
            Some(Reply::Join(j)) => {
                assert_eq!(j.error, Some(ResponseError::MemberIdRequired));
                assert_eq!(j.member_id, id);
            }
            other => panic!("expected MEMBER_ID_REQUIRED, got {other:?}"),
        }
        self.join(id, "unused", None, &["range"])
    }

    fn sync(&mut self, member: &str, generation: i32, assignments: &[(&str, &str)]) -> ReplyId {
        let id = self.next_reply;
        self.next_reply += 1;
        let r = SyncRequest {
            group_id: "g".into(),
            generation,
            member_id: member.into(),
            instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol: Some("range".into()),
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                .collect(),
        };
        let mut out = Vec::new();
        self.shard.sync(self.now, r, id, &mut out);
        self.effects(out);
        id
    }

    fn heartbeat(&mut self, member: &str, generation: i32) -> Option<ResponseError> {
        self.shard
            .heartbeat(self.now, "g", generation, member, None)
    }

    fn commit(&mut self, member: &str, generation: i32, offset: i64) -> ReplyId {
        let id = self.next_reply;
        self.next_reply += 1;
        let r = CommitRequest {
            group_id: "g".into(),
            generation,
            member_id: member.into(),
            instance_id: None,
            retention_ms: -1,
            partitions: vec![CommitPartition {
                topic: "t".into(),
                partition: 0,
                offset,
                leader_epoch: 3,
                metadata: Some("md".into()),
            }],
        };
        let mut out = Vec::new();
        self.shard.commit(self.now, r, id, &mut out);
        self.effects(out);
        id
    }

    fn advance(&mut self, ms: i64) {
        self.now += ms;
        let mut out = Vec::new();
        self.shard.tick(self.now, &mut out);
        self.effects(out);
    }

    fn state(&self) -> GroupState {
        self.shard.group("g").map_or(GroupState::Dead, |g| g.state)
    }

    fn committed(&self) -> i64 {
        self.shard
            .fetch_offsets("g", Some(&[("t".into(), vec![0])]), false)[0]
            .1[0]
            .offset
    }
}

fn joined(r: Option<Reply>) -> JoinOutcome {
    match r {
        Some(Reply::Join(j)) => j,
        other => panic!("expected a JoinGroup answer, got {other:?}"),
    }
}

fn synced(r: Option<Reply>) -> (Option<ResponseError>, Bytes) {
    match r {
        Some(Reply::Sync {
            error, assignment, ..
        }) => (error, assignment),
        other => panic!("expected a SyncGroup answer, got {other:?}"),
    }
}

/// Two members in a stable generation 1 with assignments "a1" and "a2"; m1 leads.
fn stable_pair() -> Harness {
    let mut h = Harness::new(config());
    let j1 = h.join_new("m1");
    let j1 = joined(h.reply(j1));
    assert_eq!((j1.generation, j1.leader.as_str()), (1, "m1"));
    // m2 joining starts a rebalance; m1 learns of it from its heartbeat and rejoins.
    let s1 = h.sync("m1", 1, &[("m1", "solo")]);
    h.ack_writes();
    assert_eq!(synced(h.reply(s1)), (None, Bytes::from("solo")));
    let j2 = h.join_new("m2");
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(
        h.heartbeat("m1", 1),
        Some(ResponseError::RebalanceInProgress)
    );
    let j1 = h.join("m1", "unused", None, &["range"]);
    let (a, b) = (joined(h.reply(j1)), joined(h.reply(j2)));
    assert_eq!((a.generation, b.generation), (2, 2));
    assert_eq!(a.members.len(), 2, "the leader gets every member");
    assert!(b.members.is_empty());
    assert_eq!(a.protocol.as_deref(), Some("range"));
    let s2 = h.sync("m2", 2, &[]);
    assert!(
        h.reply(s2).is_none(),
        "a follower waits for the leader's assignment"
    );
    let s1 = h.sync("m1", 2, &[("m1", "a1"), ("m2", "a2")]);
    assert!(
        h.reply(s1).is_none(),
        "nobody is answered before the assignment is written"
    );
    h.ack_writes();
    assert_eq!(synced(h.reply(s1)), (None, Bytes::from("a1")));
    assert_eq!(synced(h.reply(s2)), (None, Bytes::from("a2")));
    assert_eq!(h.state(), GroupState::Stable);
    h
}

#[test]
fn members_join_sync_and_heartbeat_through_a_rebalance() {
    let mut h = stable_pair();
    assert_eq!(h.heartbeat("m1", 2), None);
    assert_eq!(h.heartbeat("m1", 1), Some(ResponseError::IllegalGeneration));
    assert_eq!(
        h.heartbeat("nobody", 2),
        Some(ResponseError::UnknownMemberId)
    );
    // A synced member asking again gets the same assignment.
    let s = h.sync("m2", 2, &[]);
    assert_eq!(synced(h.reply(s)), (None, Bytes::from("a2")));
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_and_the_others_rebalance() {
    let mut h = stable_pair();
    for _ in 0..2 {
        h.advance(4_000);
        assert_eq!(h.heartbeat("m1", 2), None);
    }
    h.advance(4_000);
    assert_eq!(
        h.state(),
        GroupState::PreparingRebalance,
        "m2 expired after 10 s"
    );
    assert_eq!(
        h.heartbeat("m1", 2),
        Some(ResponseError::RebalanceInProgress)
    );
    assert_eq!(h.heartbeat("m2", 2), Some(ResponseError::UnknownMemberId));
    let j = h.join("m1", "unused", None, &["range"]);
    let j = joined(h.reply(j));
    assert_eq!((j.generation, j.members.len()), (3, 1));
    assert_eq!(
        h.shard.rebalances.get(&RebalanceCause::SessionTimeout),
        Some(&1)
    );
}

#[test]
fn a_member_that_does_not_rejoin_in_time_is_dropped_from_the_generation() {
    let mut h = stable_pair();
    let j3 = h.join_new("m3");
    let j1 = h.join("m1", "unused", None, &["range"]);
    // m2 keeps heartbeating but never rejoins: the phase ends at the rebalance timeout.
    for _ in 0..7 {
        h.advance(4_500);
        assert!(h.heartbeat("m2", 2).is_some());
    }
    let (a, b) = (joined(h.reply(j1)), joined(h.reply(j3)));
    assert_eq!((a.generation, b.generation), (3, 3));
    assert_eq!(a.members.len(), 2);
    assert_eq!(h.heartbeat("m2", 3), Some(ResponseError::UnknownMemberId));
}

#[test]
fn leaving_rebalances_and_the_last_member_leaving_empties_the_group() {
    let mut h = stable_pair();
    let mut out = Vec::new();
    h.shard
        .leave(h.now, "g", &[("m2".into(), None)], 100, &mut out);
    h.effects(out);
    assert!(matches!(
        h.reply(100),
        Some(Reply::Leave { error: None, .. })
    ));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let j = h.join("m1", "unused", None, &["range"]);
    assert_eq!(joined(h.reply(j)).generation, 3);
    let mut out = Vec::new();
    h.shard.leave(
        h.now,
        "g",
        &[("m1".into(), None), ("ghost".into(), None)],
        101,
        &mut out,
    );
    h.effects(out);
    match h.reply(101) {
        Some(Reply::Leave { members, .. }) => {
            assert_eq!(members[0].1, None);
            assert_eq!(members[1].1, Some(ResponseError::UnknownMemberId));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.state(), GroupState::Empty);
    h.ack_writes();
    assert!(
        matches!(h.log.last(), Some(CoordinatorRecord::Group { value: Some(v), .. }) if v.members.is_empty())
    );
}

#[test]
fn a_static_member_rejoining_with_a_new_id_keeps_the_generation() {
    let mut h = Harness::new(config());
    let j = h.join("", "s1-a", Some("instance-1"), &["range"]);
    let j = joined(h.reply(j));
    assert_eq!(
        (j.error, j.generation),
        (None, 1),
        "static members need no MEMBER_ID_REQUIRED"
    );
    let s = h.sync("s1-a", 1, &[("s1-a", "mine")]);
    h.ack_writes();
    assert_eq!(synced(h.reply(s)).0, None);
    // The same instance restarts: a new member id, the old one is fenced, no rebalance.
    let j = h.join("", "s1-b", Some("instance-1"), &["range"]);
    assert!(
        h.reply(j).is_none(),
        "answered once the new member id is written"
    );
    h.ack_writes();
    let j = joined(h.reply(j));
    assert_eq!(
        (j.error, j.generation, j.member_id.as_str()),
        (None, 1, "s1-b")
    );
    assert!(j.skip_assignment, "a static leader keeps its assignment");
    assert_eq!(h.state(), GroupState::Stable);
    assert_eq!(
        h.shard.heartbeat(h.now, "g", 1, "s1-a", Some("instance-1")),
        Some(ResponseError::FencedInstanceId)
    );
    let s = h.sync("s1-b", 1, &[]);
    assert_eq!(synced(h.reply(s)), (None, Bytes::from("mine")));
}

#[test]
fn offsets_are_acknowledged_only_once_written() {
    let mut h = stable_pair();
    let c = h.commit("m1", 1, 5);
    assert!(matches!(
        h.reply(c),
        Some(Reply::Commit {
            error: Some(ResponseError::IllegalGeneration),
            ..
        })
    ));
    let c = h.commit("m1", 2, 5);
    assert!(h.reply(c).is_none());
    assert_eq!(h.committed(), -1, "not visible before it is written");
    let stable = h
        .shard
        .fetch_offsets("g", Some(&[("t".into(), vec![0])]), true);
    assert_eq!(
        stable[0].1[0].error,
        Some(ResponseError::UnstableOffsetCommit)
    );
    h.ack_writes();
    assert!(matches!(
        h.reply(c),
        Some(Reply::Commit { error: None, .. })
    ));
    assert_eq!(h.committed(), 5);
    // A failed write is reported and changes nothing.
    let c = h.commit("m2", 2, 9);
    h.fail_writes(ResponseError::NotCoordinator);
    assert!(matches!(
        h.reply(c),
        Some(Reply::Commit {
            error: Some(ResponseError::NotCoordinator),
            ..
        })
    ));
    assert_eq!(h.committed(), 5);
}

#[test]
fn simple_commits_need_an_empty_group() {
    let mut h = Harness::new(config());
    let c = h.commit("", -1, 7);
    h.ack_writes();
    assert!(matches!(
        h.reply(c),
        Some(Reply::Commit { error: None, .. })
    ));
    assert_eq!((h.state(), h.committed()), (GroupState::Empty, 7));
    let mut h = stable_pair();
    let c = h.commit("", -1, 7);
    assert!(matches!(
        h.reply(c),
        Some(Reply::Commit {
            error: Some(ResponseError::UnknownMemberId),
            ..
        })
    ));
}

#[test]
fn a_new_coordinator_replays_the_log_to_the_same_groups_and_offsets() {
    let mut h = stable_pair();
    let c = h.commit("m1", 2, 42);
    h.ack_writes();
    assert!(h.reply(c).is_some());
    let mut replayed = GroupShard::new(config(), 0);
    for r in h.log.clone() {
        replayed.replay(r, h.now);
    }
    let offsets = replayed.fetch_offsets("g", None, false);
    assert_eq!(offsets[0].0, "t");
    assert_eq!(
        (offsets[0].1[0].offset, offsets[0].1[0].leader_epoch),
        (42, 3)
    );
    let g = replayed.group("g").expect("group loaded");
    assert_eq!(
        (g.state, g.generation, g.members.len()),
        (GroupState::Stable, 2, 2)
    );
    assert_eq!(g.members["m2"].assignment, Bytes::from("a2"));
    assert_eq!(replayed.heartbeat(h.now, "g", 2, "m2", None), None);
}

#[test]
fn deleting_groups_needs_them_empty_and_takes_their_offsets() {
    let mut h = stable_pair();
    let c = h.commit("m1", 2, 1);
    h.ack_writes();
    h.reply(c);
    let mut out = Vec::new();
    h.shard
        .delete_groups(h.now, &["g".into(), "other".into()], 200, &mut out);
    h.effects(out);
    assert_eq!(
        h.reply(200),
        Some(Reply::DeleteGroups(vec![
            ("g".into(), Some(ResponseError::NonEmptyGroup)),
            ("other".into(), Some(ResponseError::GroupIdNotFound)),
        ]))
    );
    let mut out = Vec::new();
    h.shard.leave(
        h.now,
        "g",
        &[("m1".into(), None), ("m2".into(), None)],
        201,
        &mut out,
    );
    h.effects(out);
    h.ack_writes();
    assert_eq!(h.state(), GroupState::Empty);
    let mut out = Vec::new();
    h.shard.delete_groups(h.now, &["g".into()], 202, &mut out);
    h.effects(out);
    h.ack_writes();
    assert_eq!(
        h.reply(202),
        Some(Reply::DeleteGroups(vec![("g".into(), None)]))
    );
    assert_eq!(h.state(), GroupState::Dead);
    assert!(
        h.log
            .iter()
            .any(|r| matches!(r, CoordinatorRecord::Offset { value: None, .. }))
    );
    assert!(matches!(
        h.log.last(),
        Some(CoordinatorRecord::Group { value: None, .. })
    ));
}

#[test]
fn the_initial_delay_waits_for_more_members_before_the_first_generation() {
    let mut h = Harness::new(GroupConfig {
        initial_rebalance_delay_ms: 3_000,
        ..GroupConfig::default()
    });
    let j1 = h.join_new("m1");
    h.advance(2_000);
    let j2 = h.join_new("m2");
    h.advance(1_000);
    assert!(
        h.reply(j1).is_none(),
        "a member joined during the delay: it is extended"
    );
    h.advance(3_000);
    let (a, b) = (joined(h.reply(j1)), joined(h.reply(j2)));
    assert_eq!((a.generation, b.generation), (1, 1));
}

#[test]
fn a_failed_assignment_write_restarts_the_rebalance() {
    let mut h = Harness::new(config());
    let j = h.join_new("m1");
    joined(h.reply(j));
    let s = h.sync("m1", 1, &[("m1", "x")]);
    h.fail_writes(ResponseError::CoordinatorNotAvailable);
    assert_eq!(
        synced(h.reply(s)).0,
        Some(ResponseError::CoordinatorNotAvailable)
    );
    assert_eq!(h.state(), GroupState::PreparingRebalance);
}

#[test]
fn unloading_answers_everyone_waiting_with_not_coordinator() {
    let mut h = stable_pair();
    let j = h.join_new("m3");
    let c = h.commit("m1", 2, 3);
    let mut out = Vec::new();
    h.shard.unload(ResponseError::NotCoordinator, &mut out);
    h.effects(out);
    assert_eq!(
        joined(h.reply(j)).error,
        Some(ResponseError::NotCoordinator)
    );
    assert!(matches!(
        h.reply(c),
        Some(Reply::Commit {
            error: Some(ResponseError::NotCoordinator),
            ..
        })
    ));
}

#[test]
fn offsets_of_an_empty_group_expire_after_the_retention() {
    let mut h = Harness::new(GroupConfig {
        offsets_retention_ms: 60_000,
        offsets_retention_check_interval_ms: 10_000,
        ..config()
    });
    let c = h.commit("", -1, 7);
    h.ack_writes();
    h.reply(c);
    h.advance(50_000);
    assert_eq!(h.committed(), 7);
    h.advance(20_000);
    h.ack_writes();
    assert_eq!(h.committed(), -1);
    assert_eq!(
        h.state(),
        GroupState::Dead,
        "an empty group without offsets is deleted"
    );
}

#[test]
fn inconsistent_protocols_and_bad_timeouts_are_refused() {
    let mut h = stable_pair();
    let j = h.join("", "m9", None, &["roundrobin"]);
    assert_eq!(
        joined(h.reply(j)).error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
    let id = 500;
    let mut out = Vec::new();
    h.shard.join(
        h.now,
        JoinRequest {
            group_id: "g".into(),
            member_id: String::new(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout_ms: 10,
            rebalance_timeout_ms: 10,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::new())],
            require_known_member_id: true,
            fresh_member_id: "x".into(),
        },
        id,
        &mut out,
    );
    h.effects(out);
    assert_eq!(
        joined(h.reply(id)).error,
        Some(ResponseError::InvalidSessionTimeout)
    );
}

#[test]
fn groups_map_to_partitions_as_kafka_places_them() {
    // Java: "abc".hashCode() == 96354; "polygenelubricants".hashCode() == Integer.MIN_VALUE.
    assert_eq!(super::partition_for("abc", 50), 96354 % 50);
    assert_eq!(super::partition_for("polygenelubricants", 50), 0);
    assert_eq!(super::partition_for("", 50), 0);
    for g in ["a", "group-1", "ünïcode"] {
        assert!((0..50).contains(&super::partition_for(g, 50)));
    }
}
