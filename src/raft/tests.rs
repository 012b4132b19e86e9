//! Core step tests: one test per transition edge of the table in `mod.rs`, plus the protocol
//! rules that are easiest to pin on a single core (persist before grant, pre-votes never
//! persisted, the high-watermark rule, truncation, snapshots, validation).

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::messages::*;
use super::*;
use crate::types::{Epoch, MonoTime, NodeId, Offset};

const CID: u64 = 9_000;

fn cfg(id: i32, voters: &[i32]) -> RaftConfig {
    RaftConfig::new(
        NodeId(id),
        "c1",
        voters.iter().map(|v| NodeId(*v)).collect(),
    )
}

fn start(
    id: i32,
    voters: &[i32],
    log: MemLog,
    persisted: Option<QuorumStateData>,
) -> RaftCore<MemLog> {
    RaftCore::new(
        cfg(id, voters),
        log,
        persisted,
        ChaCha8Rng::seed_from_u64(7),
        MonoTime(0),
    )
    .unwrap()
}

fn node1() -> RaftCore<MemLog> {
    start(1, &[1, 2, 3], MemLog::new(), None)
}

fn step(c: &mut RaftCore<MemLog>, now: u64, input: Input) -> Vec<Output> {
    let mut out = Vec::new();
    c.step(MonoTime(now), input, &mut out);
    out
}

fn request(from: i32, body: Request) -> Input {
    Input::Received {
        from: NodeId(from),
        msg: Message::Request {
            correlation_id: CID,
            body,
        },
    }
}

/// The requests sent in `out`, with their correlation ids.
fn sent_requests(out: &[Output]) -> Vec<(NodeId, u64, Request)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                msg:
                    Message::Request {
                        correlation_id,
                        body,
                    },
            } => Some((*to, *correlation_id, body.clone())),
            _ => None,
        })
        .collect()
}

fn sent_responses(out: &[Output]) -> Vec<(NodeId, Response)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                msg: Message::Response { body, .. },
            } => Some((*to, body.clone())),
            _ => None,
        })
        .collect()
}

/// Answers the request `out` sent to `to` with `body`.
fn answer(
    c: &mut RaftCore<MemLog>,
    now: u64,
    out: &[Output],
    to: i32,
    body: Response,
) -> Vec<Output> {
    let (_, correlation_id, _) = sent_requests(out)
        .into_iter()
        .find(|(t, _, _)| *t == NodeId(to))
        .unwrap_or_else(|| panic!("no request to {to} in {out:?}"));
    step(
        c,
        now,
        Input::Received {
            from: NodeId(to),
            msg: Message::Response {
                correlation_id,
                body,
            },
        },
    )
}

fn vote(granted: bool, epoch: i32, leader: Option<i32>) -> Response {
    Response::Vote(VoteResponse {
        error: ErrorKind::None,
        leader_id: leader.map(NodeId),
        leader_epoch: Epoch(epoch),
        vote_granted: granted,
    })
}

fn vote_request(
    candidate: i32,
    epoch: i32,
    last_epoch: i32,
    last_offset: i64,
    pre_vote: bool,
) -> Request {
    Request::Vote(VoteRequest {
        cluster_id: Some("c1".into()),
        voter_id: NodeId(1),
        candidate_id: NodeId(candidate),
        candidate_epoch: Epoch(epoch),
        last_offset_epoch: Epoch(last_epoch),
        last_offset: Offset(last_offset),
        pre_vote,
    })
}

fn begin_epoch(leader: i32, epoch: i32) -> Request {
    Request::BeginQuorumEpoch(BeginQuorumEpochRequest {
        cluster_id: Some("c1".into()),
        voter_id: NodeId(1),
        leader_id: NodeId(leader),
        leader_epoch: Epoch(epoch),
    })
}

fn fetch(replica: i32, epoch: i32, offset: i64, last_epoch: i32) -> Request {
    Request::Fetch(FetchRequest {
        cluster_id: Some("c1".into()),
        replica_id: NodeId(replica),
        replica_epoch: -1,
        current_leader_epoch: Epoch(epoch),
        fetch_offset: Offset(offset),
        last_fetched_epoch: Epoch(last_epoch),
        max_wait: std::time::Duration::ZERO,
        max_bytes: 1 << 20,
        high_watermark: None,
    })
}

fn persisted(out: &[Output]) -> Option<QuorumStateData> {
    out.iter().find_map(|o| match o {
        Output::PersistQuorumState(q) => Some(*q),
        _ => None,
    })
}

/// Index of the first Send, and of the last persistence output: persistence must come first.
fn assert_persist_before_send(out: &[Output]) {
    let first_send = out.iter().position(|o| matches!(o, Output::Send { .. }));
    let last_persist = out
        .iter()
        .rposition(|o| matches!(o, Output::PersistQuorumState(_) | Output::FlushLog { .. }));
    if let (Some(s), Some(p)) = (first_send, last_persist) {
        assert!(p < s, "persistence after a send: {out:?}");
    }
}

/// Drives node 1 of {1,2,3} to Prospective by its election timeout.
fn prospective() -> (RaftCore<MemLog>, Vec<Output>) {
    let mut c = node1();
    let out = step(&mut c, 10_000, Input::Tick);
    assert_eq!(c.state(), StateKind::Prospective);
    (c, out)
}

fn candidate() -> (RaftCore<MemLog>, Vec<Output>) {
    let (mut c, out) = prospective();
    let out = answer(&mut c, 10_001, &out, 2, vote(true, 0, None));
    assert_eq!(c.state(), StateKind::Candidate);
    (c, out)
}

fn leader() -> (RaftCore<MemLog>, Vec<Output>) {
    let (mut c, out) = candidate();
    let out = answer(&mut c, 10_002, &out, 2, vote(true, 1, None));
    assert_eq!(c.state(), StateKind::Leader);
    (c, out)
}

fn follower() -> RaftCore<MemLog> {
    let mut c = node1();
    step(&mut c, 10, request(2, begin_epoch(2, 1)));
    assert_eq!(c.state(), StateKind::Follower);
    c
}

// ----- Unattached -----

#[test]
fn unattached_to_unattached_on_higher_epoch() {
    let mut c = node1();
    // A candidate whose log is behind: epoch adopted, vote refused.
    c.log_mut()
        .append_as_leader(Epoch(3), BatchPayload::Data(vec![Bytes::from_static(b"x")]));
    let mut c = start(1, &[1, 2, 3], c.into_log(), None);
    let out = step(&mut c, 10, request(2, vote_request(2, 5, 1, 9, false)));
    assert_eq!(c.state(), StateKind::Unattached);
    assert_eq!(c.epoch(), Epoch(5));
    assert_eq!(persisted(&out).unwrap().voted_id, None);
    assert!(matches!(&sent_responses(&out)[0].1, Response::Vote(v) if !v.vote_granted));
}

#[test]
fn unattached_to_voted_persists_before_granting() {
    let mut c = node1();
    let out = step(&mut c, 10, request(2, vote_request(2, 1, 0, 0, false)));
    assert_eq!(c.status().metric_state(), "voted");
    let q = persisted(&out).expect("vote persisted");
    assert_eq!((q.leader_epoch, q.voted_id), (Epoch(1), Some(NodeId(2))));
    assert_persist_before_send(&out);
    assert!(matches!(&sent_responses(&out)[0].1, Response::Vote(v) if v.vote_granted));
    // At most one binding vote per epoch.
    let out = step(&mut c, 11, request(3, vote_request(3, 1, 0, 0, false)));
    assert!(matches!(&sent_responses(&out)[0].1, Response::Vote(v) if !v.vote_granted));
    // The same candidate again is fine (idempotent, nothing new persisted).
    let out = step(&mut c, 12, request(2, vote_request(2, 1, 0, 0, false)));
    assert!(persisted(&out).is_none());
    assert!(matches!(&sent_responses(&out)[0].1, Response::Vote(v) if v.vote_granted));
}

#[test]
fn planted_bug_grants_a_second_vote() {
    let mut config = cfg(1, &[1, 2, 3]);
    config.test_only_grant_second_vote = true;
    let mut c = RaftCore::new(
        config,
        MemLog::new(),
        None,
        ChaCha8Rng::seed_from_u64(1),
        MonoTime(0),
    )
    .unwrap();
    step(&mut c, 10, request(2, vote_request(2, 1, 0, 0, false)));
    let out = step(&mut c, 11, request(3, vote_request(3, 1, 0, 0, false)));
    assert!(matches!(&sent_responses(&out)[0].1, Response::Vote(v) if v.vote_granted));
}

#[test]
fn unattached_to_prospective_on_election_timeout() {
    let mut c = node1();
    // Nothing before T.
    step(&mut c, 149, Input::Tick);
    assert_eq!(c.state(), StateKind::Unattached);
    let (c, out) = prospective();
    // Pre-votes at the current epoch; nothing persisted.
    assert!(persisted(&out).is_none());
    let reqs = sent_requests(&out);
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(
        |(_, _, r)| matches!(r, Request::Vote(v) if v.pre_vote && v.candidate_epoch == Epoch(0))
    ));
    assert_eq!(c.status().counters.election_timeouts, 1);
}

#[test]
fn unattached_to_follower_on_begin_quorum_epoch() {
    let c = follower();
    assert_eq!(c.leader_id(), Some(NodeId(2)));
    assert_eq!(c.epoch(), Epoch(1));
}

#[test]
fn observer_never_campaigns_and_discovers_the_leader() {
    let mut c = start(4, &[1, 2, 3], MemLog::new(), None);
    let out = step(&mut c, 100_000, Input::Tick);
    assert_eq!(c.state(), StateKind::Unattached);
    // It asks a voter (bootstrap) with a Fetch, never a Vote.
    let reqs = sent_requests(&out);
    assert_eq!(reqs.len(), 1);
    assert!(matches!(reqs[0].2, Request::Fetch(_)));
    let to = reqs[0].0.0;
    let resp = Response::Fetch(FetchResponse {
        error: ErrorKind::FencedLeaderEpoch,
        high_watermark: None,
        log_start_offset: Offset(0),
        records: vec![],
        diverging_epoch: None,
        snapshot_id: None,
        leader_id: Some(NodeId(3)),
        leader_epoch: Epoch(4),
    });
    answer(&mut c, 100_001, &out, to, resp);
    assert_eq!(c.state(), StateKind::Follower);
    assert_eq!(c.status().metric_state(), "observer");
    // An observer answers real votes with a refusal.
    let out = step(
        &mut c,
        100_002,
        request(
            2,
            Request::Vote(VoteRequest {
                voter_id: NodeId(4),
                ..match vote_request(2, 5, 4, 1, false) {
                    Request::Vote(v) => v,
                    _ => unreachable!(),
                }
            }),
        ),
    );
    assert!(matches!(&sent_responses(&out)[0].1, Response::Vote(v) if !v.vote_granted));
}

// ----- Prospective -----

#[test]
fn prospective_to_candidate_on_pre_vote_majority() {
    let (c, out) = candidate();
    let q = persisted(&out).expect("candidacy persisted");
    assert_eq!((q.leader_epoch, q.voted_id), (Epoch(1), Some(NodeId(1))));
    assert_persist_before_send(&out);
    assert!(
        sent_requests(&out)
            .iter()
            .all(|(_, _, r)| matches!(r, Request::Vote(v) if !v.pre_vote))
    );
    assert_eq!(c.status().counters.elections, 1);
}

#[test]
fn prospective_to_follower_when_pre_vote_lost_with_known_leader() {
    let mut c = follower();
    let out = step(&mut c, 10_000, Input::Tick);
    assert_eq!(c.state(), StateKind::Prospective);
    assert_eq!(c.status().counters.fetch_timeouts, 1);
    answer(&mut c, 10_001, &out, 3, vote(false, 1, Some(2)));
    // One refusal of three voters: the pre-vote can still be won.
    assert_eq!(c.state(), StateKind::Prospective);
    answer(&mut c, 10_002, &out, 2, vote(false, 1, Some(2)));
    assert_eq!(
        (c.state(), c.leader_id()),
        (StateKind::Follower, Some(NodeId(2)))
    );
}

#[test]
fn prospective_to_unattached_on_timeout_without_leader() {
    let (mut c, _) = prospective();
    step(&mut c, 20_000, Input::Tick);
    assert_eq!(c.state(), StateKind::Unattached);
    assert_eq!(c.epoch(), Epoch(0));
}

#[test]
fn prospective_to_unattached_on_higher_epoch() {
    let (mut c, out) = prospective();
    answer(&mut c, 10_001, &out, 2, vote(false, 7, None));
    assert_eq!(c.state(), StateKind::Unattached);
    assert_eq!(c.epoch(), Epoch(7));
}

#[test]
fn pre_votes_are_never_persisted() {
    let mut c = node1();
    let out = step(&mut c, 10, request(2, vote_request(2, 0, 0, 0, true)));
    assert!(persisted(&out).is_none());
    assert!(matches!(&sent_responses(&out)[0].1, Response::Vote(v) if v.vote_granted));
    assert_eq!(c.quorum_state().voted_id, None);
}

#[test]
fn follower_that_fetched_rejects_pre_votes() {
    let mut c = node1();
    let out = step(&mut c, 10, request(2, begin_epoch(2, 1)));
    // Before its first successful fetch a follower still grants pre-votes.
    let early = step(&mut c, 11, request(3, vote_request(3, 1, 0, 0, true)));
    assert!(matches!(&sent_responses(&early)[0].1, Response::Vote(v) if v.vote_granted));
    let resp = Response::Fetch(FetchResponse {
        error: ErrorKind::None,
        high_watermark: None,
        log_start_offset: Offset(0),
        records: vec![],
        diverging_epoch: None,
        snapshot_id: None,
        leader_id: Some(NodeId(2)),
        leader_epoch: Epoch(1),
    });
    answer(&mut c, 12, &out, 2, resp);
    let late = step(&mut c, 13, request(3, vote_request(3, 1, 0, 0, true)));
    assert!(matches!(&sent_responses(&late)[0].1, Response::Vote(v) if !v.vote_granted));
}

// ----- Candidate -----

#[test]
fn candidate_to_leader_on_vote_majority() {
    let (c, out) = leader();
    assert_persist_before_send(&out);
    let q = persisted(&out).unwrap();
    assert_eq!(q.leader_id, Some(NodeId(1)));
    // The LeaderChange control batch opens the epoch and is flushed.
    let batches = c.log().batches();
    assert_eq!(batches.len(), 1);
    assert!(batches[0].is_control());
    assert!(out.iter().any(|o| matches!(o, Output::FlushLog { .. })));
    let bqe: Vec<_> = sent_requests(&out)
        .into_iter()
        .filter(|(_, _, r)| matches!(r, Request::BeginQuorumEpoch(_)))
        .collect();
    assert_eq!(bqe.len(), 2);
}

#[test]
fn candidate_to_prospective_when_election_lost() {
    let (mut c, out) = candidate();
    answer(&mut c, 10_002, &out, 2, vote(false, 1, None));
    assert_eq!(c.state(), StateKind::Candidate);
    answer(&mut c, 10_003, &out, 3, vote(false, 1, None));
    assert_eq!(c.state(), StateKind::Prospective);
    assert_eq!(c.epoch(), Epoch(1));
}

#[test]
fn candidate_to_prospective_on_election_timeout() {
    let (mut c, _) = candidate();
    step(&mut c, 20_000, Input::Tick);
    assert_eq!(c.state(), StateKind::Prospective);
}

#[test]
fn candidate_to_unattached_on_higher_epoch_and_follower_on_leader() {
    let (mut c, out) = candidate();
    answer(&mut c, 10_002, &out, 2, vote(false, 3, None));
    assert_eq!((c.state(), c.epoch()), (StateKind::Unattached, Epoch(3)));
    let (mut c, _) = candidate();
    step(&mut c, 10_002, request(3, begin_epoch(3, 1)));
    assert_eq!(
        (c.state(), c.leader_id()),
        (StateKind::Follower, Some(NodeId(3)))
    );
}

// ----- Leader -----

#[test]
fn high_watermark_waits_for_a_record_of_the_leaders_epoch() {
    let (mut c, _) = leader();
    assert_eq!(c.high_watermark(), None);
    // Follower 2 has not got the LeaderChange yet: no commit.
    step(&mut c, 10_010, request(2, fetch(2, 1, 0, 0)));
    assert_eq!(c.high_watermark(), None);
    // Once it acknowledges offset 1 (past the epoch start), the HW advances.
    let out = step(&mut c, 10_011, request(2, fetch(2, 1, 1, 1)));
    assert_eq!(c.high_watermark(), Some(Offset(1)));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::LeaderEpochCommitted {
            epoch: Epoch(1),
            ..
        }
    )));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Committed {
            high_watermark: Offset(1)
        }
    )));
    // Observers never move it.
    let out = step(
        &mut c,
        10_012,
        Input::Append {
            epoch: Epoch(1),
            records: vec![Bytes::from_static(b"a")],
        },
    );
    assert!(out.iter().any(|o| matches!(o, Output::Appended { .. })));
    step(&mut c, 10_013, request(9, fetch(9, 1, 2, 1)));
    assert_eq!(c.high_watermark(), Some(Offset(1)));
    step(&mut c, 10_014, request(3, fetch(3, 1, 2, 1)));
    assert_eq!(c.high_watermark(), Some(Offset(2)));
    // Appends in another epoch are refused.
    let out = step(
        &mut c,
        10_015,
        Input::Append {
            epoch: Epoch(0),
            records: vec![Bytes::from_static(b"b")],
        },
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::AppendRejected { .. }))
    );
}

#[test]
fn leader_answers_diverging_epoch_and_snapshot_id() {
    let (mut c, _) = leader();
    // A fetcher with an entry of an epoch the leader never had at that offset.
    let out = step(&mut c, 10_010, request(2, fetch(2, 1, 5, 1)));
    match &sent_responses(&out)[0].1 {
        Response::Fetch(f) => assert_eq!(
            f.diverging_epoch,
            Some(OffsetAndEpoch::new(Offset(1), Epoch(1)))
        ),
        other => panic!("{other:?}"),
    }
    // Stale and future epochs.
    let out = step(&mut c, 10_011, request(2, fetch(2, 0, 0, 0)));
    assert!(
        matches!(&sent_responses(&out)[0].1, Response::Fetch(f) if f.error == ErrorKind::FencedLeaderEpoch)
    );
    let out = step(&mut c, 10_012, request(2, fetch(2, 2, 0, 0)));
    assert!(
        matches!(&sent_responses(&out)[0].1, Response::Fetch(f) if f.error == ErrorKind::UnknownLeaderEpoch)
    );
    // A wrong cluster id.
    let mut bad = match fetch(2, 1, 0, 0) {
        Request::Fetch(f) => f,
        _ => unreachable!(),
    };
    bad.cluster_id = Some("other".into());
    let out = step(&mut c, 10_013, request(2, Request::Fetch(bad)));
    assert!(
        matches!(&sent_responses(&out)[0].1, Response::Fetch(f) if f.error == ErrorKind::InconsistentClusterId)
    );
    // Commit, snapshot, clean: a fetch from offset 0 is sent to the snapshot.
    step(&mut c, 10_014, request(2, fetch(2, 1, 1, 1)));
    let id = OffsetAndEpoch::new(Offset(1), Epoch(1));
    let out = step(
        &mut c,
        10_015,
        Input::CreateSnapshot {
            id,
            data: Bytes::from_static(b"state"),
        },
    );
    assert!(out.contains(&Output::SnapshotCreated { id }));
    step(&mut c, 10_016, Input::CleanLog);
    let out = step(&mut c, 10_017, request(3, fetch(3, 1, 0, 0)));
    assert!(matches!(&sent_responses(&out)[0].1, Response::Fetch(f) if f.snapshot_id == Some(id)));
    // FetchSnapshot with a position past the end.
    let out = step(
        &mut c,
        10_018,
        request(
            3,
            Request::FetchSnapshot(FetchSnapshotRequest {
                cluster_id: None,
                replica_id: NodeId(3),
                current_leader_epoch: Epoch(1),
                snapshot_id: id,
                position: 99,
                max_bytes: 10,
            }),
        ),
    );
    assert!(
        matches!(&sent_responses(&out)[0].1, Response::FetchSnapshot(f) if f.error == ErrorKind::PositionOutOfRange)
    );
}

#[test]
fn snapshots_only_of_committed_batch_aligned_state() {
    let (mut c, _) = leader();
    step(
        &mut c,
        10_010,
        Input::Append {
            epoch: Epoch(1),
            records: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
        },
    );
    let above = OffsetAndEpoch::new(Offset(3), Epoch(1));
    let out = step(
        &mut c,
        10_011,
        Input::CreateSnapshot {
            id: above,
            data: Bytes::new(),
        },
    );
    assert!(out.contains(&Output::SnapshotRejected {
        id: above,
        reason: SnapshotRejection::AboveHighWatermark
    }));
    step(&mut c, 10_012, request(2, fetch(2, 1, 3, 1)));
    let mid = OffsetAndEpoch::new(Offset(2), Epoch(1));
    let out = step(
        &mut c,
        10_013,
        Input::CreateSnapshot {
            id: mid,
            data: Bytes::new(),
        },
    );
    assert!(out.contains(&Output::SnapshotRejected {
        id: mid,
        reason: SnapshotRejection::NotBatchAligned
    }));
    let wrong_epoch = OffsetAndEpoch::new(Offset(3), Epoch(0));
    let out = step(
        &mut c,
        10_014,
        Input::CreateSnapshot {
            id: wrong_epoch,
            data: Bytes::new(),
        },
    );
    assert!(out.contains(&Output::SnapshotRejected {
        id: wrong_epoch,
        reason: SnapshotRejection::EpochMismatch
    }));
    let out = step(
        &mut c,
        10_015,
        Input::CreateSnapshot {
            id: above,
            data: Bytes::from_static(b"s"),
        },
    );
    assert!(out.contains(&Output::SnapshotCreated { id: above }));
}

#[test]
fn leader_to_resigned_on_resign_with_preferred_successors() {
    let (mut c, _) = leader();
    step(&mut c, 10_010, request(3, fetch(3, 1, 1, 1)));
    let out = step(&mut c, 10_011, Input::Resign { epoch: Epoch(1) });
    assert_eq!(c.state(), StateKind::Resigned);
    let eqe: Vec<_> = sent_requests(&out)
        .into_iter()
        .filter_map(|(_, _, r)| match r {
            Request::EndQuorumEpoch(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(eqe.len(), 2);
    // Node 3 fetched furthest: it is the first preferred successor.
    assert_eq!(eqe[0].preferred_successors, vec![NodeId(3), NodeId(2)]);
    // A resigned leader never grants a binding vote in its epoch and accepts no writes.
    let out = step(
        &mut c,
        10_012,
        Input::Append {
            epoch: Epoch(1),
            records: vec![Bytes::from_static(b"x")],
        },
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::AppendRejected { .. }))
    );
}

#[test]
fn leader_to_resigned_on_check_quorum_expiry() {
    let (mut c, _) = leader();
    // 1.5 × 300 ms without fetches from a majority.
    step(&mut c, 10_002 + 449, Input::Tick);
    assert_eq!(c.state(), StateKind::Leader);
    step(&mut c, 10_002 + 451, Input::Tick);
    assert_eq!(c.state(), StateKind::Resigned);
    assert_eq!(c.status().counters.check_quorum_resignations, 1);
}

#[test]
fn leader_fetches_from_a_majority_keep_it_in_office() {
    let (mut c, _) = leader();
    for t in (10_100..12_000).step_by(100) {
        step(&mut c, t, request(2, fetch(2, 1, 1, 1)));
    }
    assert_eq!(c.state(), StateKind::Leader);
}

#[test]
fn leader_to_follower_on_higher_epoch() {
    let (mut c, _) = leader();
    step(&mut c, 10_010, request(2, begin_epoch(2, 4)));
    assert_eq!(
        (c.state(), c.epoch(), c.leader_id()),
        (StateKind::Follower, Epoch(4), Some(NodeId(2)))
    );
    let (mut c, _) = leader();
    step(&mut c, 10_010, request(2, vote_request(2, 4, 0, 0, false)));
    assert_eq!((c.state(), c.epoch()), (StateKind::Unattached, Epoch(4)));
}

// ----- Follower -----

#[test]
fn follower_to_prospective_on_fetch_timeout() {
    let mut c = follower();
    step(&mut c, 10 + 299, Input::Tick);
    assert_eq!(c.state(), StateKind::Follower);
    step(&mut c, 10 + 300, Input::Tick);
    assert_eq!(c.state(), StateKind::Prospective);
}

#[test]
fn observer_follower_to_unattached_on_fetch_timeout() {
    let mut c = start(4, &[1, 2, 3], MemLog::new(), None);
    step(
        &mut c,
        10,
        Input::Received {
            from: NodeId(2),
            msg: Message::Request {
                correlation_id: 1,
                body: Request::BeginQuorumEpoch(BeginQuorumEpochRequest {
                    cluster_id: None,
                    voter_id: NodeId(4),
                    leader_id: NodeId(2),
                    leader_epoch: Epoch(1),
                }),
            },
        },
    );
    assert_eq!(c.state(), StateKind::Follower);
    step(&mut c, 400, Input::Tick);
    assert_eq!(c.state(), StateKind::Unattached);
}

/// An observer whose fetches timed out asks a bootstrap server; when that server is the
/// leader it already knew (a single controller), the leader's successful answer in the same
/// epoch makes it follow again and append, instead of being dropped forever.
#[test]
fn observer_unattached_after_a_fetch_timeout_follows_the_leader_that_answers_its_bootstrap_fetch() {
    let mut c = start(4, &[2], MemLog::new(), None);
    let begin = BeginQuorumEpochRequest {
        cluster_id: None,
        voter_id: NodeId(4),
        leader_id: NodeId(2),
        leader_epoch: Epoch(1),
    };
    step(&mut c, 10, request(2, Request::BeginQuorumEpoch(begin)));
    assert_eq!(c.state(), StateKind::Follower);
    let out = step(&mut c, 400, Input::Tick);
    assert_eq!(
        (c.state(), c.leader_id()),
        (StateKind::Unattached, Some(NodeId(2)))
    );
    let reqs = sent_requests(&out);
    assert!(
        matches!(reqs.as_slice(), [(NodeId(2), _, Request::Fetch(_))]),
        "a bootstrap fetch: {reqs:?}"
    );
    let batch = Batch {
        base_offset: Offset(0),
        epoch: Epoch(1),
        payload: BatchPayload::Data(vec![Bytes::from_static(b"r")]),
    };
    let resp = Response::Fetch(FetchResponse {
        error: ErrorKind::None,
        high_watermark: Some(Offset(1)),
        log_start_offset: Offset(0),
        records: vec![batch],
        diverging_epoch: None,
        snapshot_id: None,
        leader_id: Some(NodeId(2)),
        leader_epoch: Epoch(1),
    });
    answer(&mut c, 402, &out, 2, resp);
    assert_eq!(
        (c.state(), c.leader_id()),
        (StateKind::Follower, Some(NodeId(2)))
    );
    assert_eq!(c.log().end_offset(), Offset(1));
    assert_eq!(c.high_watermark(), Some(Offset(1)));
}

#[test]
fn follower_to_follower_on_higher_epoch() {
    let mut c = follower();
    step(&mut c, 20, request(3, begin_epoch(3, 2)));
    assert_eq!(
        (c.state(), c.epoch(), c.leader_id()),
        (StateKind::Follower, Epoch(2), Some(NodeId(3)))
    );
}

#[test]
fn follower_truncates_on_diverging_epoch_and_appends_records() {
    let mut log = MemLog::new();
    log.append_as_leader(Epoch(1), BatchPayload::Data(vec![Bytes::from_static(b"a")]));
    log.append_as_leader(
        Epoch(2),
        BatchPayload::Data(vec![Bytes::from_static(b"b"), Bytes::from_static(b"c")]),
    );
    let mut c = start(
        1,
        &[1, 2, 3],
        log,
        Some(QuorumStateData {
            leader_epoch: Epoch(3),
            leader_id: Some(NodeId(2)),
            voted_id: None,
        }),
    );
    assert_eq!(c.state(), StateKind::Follower);
    let out = step(&mut c, 1, Input::Tick);
    let resp = Response::Fetch(FetchResponse {
        error: ErrorKind::None,
        high_watermark: Some(Offset(1)),
        log_start_offset: Offset(0),
        records: vec![],
        diverging_epoch: Some(OffsetAndEpoch::new(Offset(1), Epoch(1))),
        snapshot_id: None,
        leader_id: Some(NodeId(2)),
        leader_epoch: Epoch(3),
    });
    let out = answer(&mut c, 2, &out, 2, resp);
    assert_eq!(c.log().end_offset(), Offset(1));
    // No high watermark from a diverging answer.
    assert_eq!(c.high_watermark(), None);
    let batch = Batch {
        base_offset: Offset(1),
        epoch: Epoch(3),
        payload: BatchPayload::Data(vec![Bytes::from_static(b"z")]),
    };
    let resp = Response::Fetch(FetchResponse {
        error: ErrorKind::None,
        high_watermark: Some(Offset(2)),
        log_start_offset: Offset(0),
        records: vec![batch],
        diverging_epoch: None,
        snapshot_id: None,
        leader_id: Some(NodeId(2)),
        leader_epoch: Epoch(3),
    });
    let out = answer(&mut c, 3, &out, 2, resp);
    assert_eq!(c.log().end_offset(), Offset(2));
    assert_eq!(c.high_watermark(), Some(Offset(2)));
    // The appended records are flushed before the next fetch acknowledges them.
    assert_persist_before_send(&out);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::FlushLog { up_to: Offset(2) }))
    );
}

#[test]
fn follower_installs_a_snapshot_atomically() {
    let mut c = node1();
    let out = step(&mut c, 10, request(2, begin_epoch(2, 1)));
    let id = OffsetAndEpoch::new(Offset(10), Epoch(1));
    let redirect = Response::Fetch(FetchResponse {
        error: ErrorKind::None,
        high_watermark: Some(Offset(10)),
        log_start_offset: Offset(10),
        records: vec![],
        diverging_epoch: None,
        snapshot_id: Some(id),
        leader_id: Some(NodeId(2)),
        leader_epoch: Epoch(1),
    });
    let out = answer(&mut c, 12, &out, 2, redirect);
    let chunk = |position: u64, data: &'static [u8]| {
        Response::FetchSnapshot(FetchSnapshotResponse {
            error: ErrorKind::None,
            snapshot_id: id,
            size: 4,
            position,
            unaligned_records: Bytes::from_static(data),
            leader_id: Some(NodeId(2)),
            leader_epoch: Epoch(1),
        })
    };
    assert!(matches!(
        sent_requests(&out)[0].2,
        Request::FetchSnapshot(FetchSnapshotRequest { position: 0, .. })
    ));
    let out = answer(&mut c, 13, &out, 2, chunk(0, b"ab"));
    assert_eq!(
        c.log().latest_snapshot(),
        None,
        "not installed before the last chunk"
    );
    assert!(matches!(
        sent_requests(&out)[0].2,
        Request::FetchSnapshot(FetchSnapshotRequest { position: 2, .. })
    ));
    let out = answer(&mut c, 14, &out, 2, chunk(2, b"cd"));
    assert!(out.contains(&Output::SnapshotInstalled { id }));
    assert_eq!(c.log().start_offset(), Offset(10));
    assert_eq!(c.high_watermark(), Some(Offset(10)));
    assert!(matches!(sent_requests(&out)[0].2, Request::Fetch(_)));
}

// ----- Resigned and startup -----

#[test]
fn resigned_to_prospective_on_election_timeout() {
    let (mut c, _) = leader();
    step(&mut c, 10_010, Input::Resign { epoch: Epoch(1) });
    step(&mut c, 30_000, Input::Tick);
    assert_eq!(c.state(), StateKind::Prospective);
}

#[test]
fn resigned_to_follower_on_higher_epoch() {
    let (mut c, _) = leader();
    step(&mut c, 10_010, Input::Shutdown);
    assert_eq!(c.state(), StateKind::Resigned);
    let out = step(&mut c, 10_011, request(2, begin_epoch(2, 2)));
    assert_eq!(
        (c.state(), c.leader_id()),
        (StateKind::Follower, Some(NodeId(2)))
    );
    assert!(out.contains(&Output::ShutdownReady));
}

#[test]
fn restarted_leader_comes_back_resigned() {
    let q = QuorumStateData {
        leader_epoch: Epoch(2),
        leader_id: Some(NodeId(1)),
        voted_id: Some(NodeId(1)),
    };
    let mut c = start(1, &[1, 2, 3], MemLog::new(), Some(q));
    assert_eq!(c.state(), StateKind::Resigned);
    let out = step(
        &mut c,
        1,
        Input::Append {
            epoch: Epoch(2),
            records: vec![Bytes::from_static(b"x")],
        },
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::AppendRejected { .. }))
    );
    // It never grants a binding vote in its old epoch.
    let out = step(&mut c, 2, request(2, vote_request(2, 2, 0, 0, false)));
    assert!(matches!(&sent_responses(&out)[0].1, Response::Vote(v) if !v.vote_granted));
}

#[test]
fn startup_rules() {
    let voted_self = QuorumStateData {
        leader_epoch: Epoch(2),
        leader_id: None,
        voted_id: Some(NodeId(1)),
    };
    assert_eq!(
        start(1, &[1, 2, 3], MemLog::new(), Some(voted_self)).state(),
        StateKind::Candidate
    );
    let knows_leader = QuorumStateData {
        leader_epoch: Epoch(2),
        leader_id: Some(NodeId(3)),
        voted_id: None,
    };
    assert_eq!(
        start(1, &[1, 2, 3], MemLog::new(), Some(knows_leader)).state(),
        StateKind::Follower
    );
    let voted_other = QuorumStateData {
        leader_epoch: Epoch(2),
        leader_id: None,
        voted_id: Some(NodeId(3)),
    };
    let c = start(1, &[1, 2, 3], MemLog::new(), Some(voted_other));
    assert_eq!(
        (c.state(), c.quorum_state().voted_id),
        (StateKind::Unattached, Some(NodeId(3)))
    );
    // The stored epoch is behind the log: Unattached in the log's epoch.
    let mut log = MemLog::new();
    log.append_as_leader(Epoch(5), BatchPayload::Data(vec![Bytes::from_static(b"a")]));
    let mut c = start(1, &[1, 2, 3], log, Some(knows_leader));
    assert_eq!((c.state(), c.epoch()), (StateKind::Unattached, Epoch(5)));
    assert!(persisted(&step(&mut c, 1, Input::Tick)).is_some());
}

#[test]
fn startup_refuses_a_log_start_without_snapshot() {
    let mut log = MemLog::new();
    log.corrupt_start_offset_for_test(Offset(3));
    let err = RaftCore::new(
        cfg(1, &[1, 2, 3]),
        log,
        None,
        ChaCha8Rng::seed_from_u64(1),
        MonoTime(0),
    )
    .unwrap_err();
    assert!(matches!(err, StartupError::NoSnapshotAtLogStart { .. }));
    let bad = RaftConfig {
        voters: vec![],
        ..cfg(1, &[1])
    };
    assert!(
        RaftCore::new(
            bad,
            MemLog::new(),
            None,
            ChaCha8Rng::seed_from_u64(1),
            MonoTime(0)
        )
        .is_err()
    );
}

#[test]
fn single_voter_elects_itself_and_commits_alone() {
    let mut c = start(1, &[1], MemLog::new(), None);
    step(&mut c, 1_000, Input::Tick);
    assert_eq!(c.state(), StateKind::Leader);
    assert_eq!(c.high_watermark(), Some(Offset(1)));
    let out = step(
        &mut c,
        1_001,
        Input::Append {
            epoch: Epoch(1),
            records: vec![Bytes::from_static(b"a")],
        },
    );
    assert!(out.contains(&Output::Committed {
        high_watermark: Offset(2)
    }));
    // Never resigns for lack of a quorum.
    step(&mut c, 100_000, Input::Tick);
    assert_eq!(c.state(), StateKind::Leader);
}

#[test]
fn status_and_describe_quorum_on_the_leader() {
    let (mut c, _) = leader();
    step(&mut c, 10_010, request(2, fetch(2, 1, 1, 1)));
    step(&mut c, 10_020, request(7, fetch(7, 1, 0, 0)));
    let st = c.status();
    assert_eq!(st.state, StateKind::Leader);
    assert_eq!(st.replicas.len(), 4);
    assert_eq!(st.max_follower_lag(), Some(1));
    let dq = c.describe_quorum();
    assert_eq!(dq.error, ErrorKind::None);
    assert_eq!(dq.current_voters.len(), 3);
    assert_eq!(dq.observers.len(), 1);
    assert_eq!(dq.high_watermark, Some(Offset(1)));
    let f = follower();
    assert_eq!(f.describe_quorum().error, ErrorKind::NotLeaderOrFollower);
    assert_eq!(f.describe_quorum().leader_id, Some(NodeId(2)));
}

#[test]
fn follower_to_unattached_on_higher_epoch_without_leader() {
    let mut c = follower();
    // A candidate of a later epoch whose log is behind ours: epoch adopted, no leader, no vote.
    c.log_mut()
        .append_as_leader(Epoch(1), BatchPayload::Data(vec![Bytes::from_static(b"a")]));
    step(&mut c, 20, request(3, vote_request(3, 4, 0, 0, false)));
    assert_eq!(
        (c.state(), c.epoch(), c.leader_id()),
        (StateKind::Unattached, Epoch(4), None)
    );
    assert_eq!(c.quorum_state().voted_id, None);
}

#[test]
fn resigned_to_unattached_on_higher_epoch() {
    let (mut c, _) = leader();
    step(&mut c, 10_010, Input::Resign { epoch: Epoch(1) });
    let out = step(&mut c, 10_011, request(2, vote_request(2, 3, 1, 1, false)));
    assert_eq!((c.state(), c.epoch()), (StateKind::Unattached, Epoch(3)));
    // Its log (LeaderChange at offset 0, epoch 1) equals the candidate's: the vote is granted.
    assert!(matches!(&sent_responses(&out)[0].1, Response::Vote(v) if v.vote_granted));
    assert_persist_before_send(&out);
}

#[test]
fn observer_discovers_through_bootstrap_servers() {
    let mut config = cfg(4, &[1, 2, 3]);
    config.bootstrap_servers = vec![NodeId(-2)];
    let mut c = RaftCore::new(
        config,
        MemLog::new(),
        None,
        ChaCha8Rng::seed_from_u64(3),
        MonoTime(0),
    )
    .unwrap();
    let out = step(&mut c, 1, Input::Tick);
    let reqs = sent_requests(&out);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].0, NodeId(-2));
    let resp = Response::Fetch(FetchResponse {
        error: ErrorKind::NotLeaderOrFollower,
        high_watermark: None,
        log_start_offset: Offset(0),
        records: vec![],
        diverging_epoch: None,
        snapshot_id: None,
        leader_id: Some(NodeId(1)),
        leader_epoch: Epoch(2),
    });
    answer(&mut c, 2, &out, -2, resp);
    assert_eq!(
        (c.state(), c.leader_id()),
        (StateKind::Follower, Some(NodeId(1)))
    );
    let mut no_bootstrap = cfg(4, &[1, 2, 3]);
    no_bootstrap.bootstrap_servers.clear();
    assert_eq!(
        no_bootstrap.validate(),
        Err(ConfigError::NoBootstrapServers)
    );
}

mod fuzz {
    //! Random inputs to one core: it never panics, never lowers its epoch, never changes a
    //! binding vote within an epoch, and always persists before it sends.

    use super::*;
    use proptest::prelude::*;

    fn arb_request() -> impl Strategy<Value = (i32, Request)> {
        let from = 2..=5i32;
        prop_oneof![
            (from.clone(), 0..6i32, 0..6i32, 0..8i64, any::<bool>())
                .prop_map(|(c, e, le, lo, pv)| { (c, vote_request(c, e, le.min(e), lo, pv)) }),
            (from.clone(), 0..6i32).prop_map(|(l, e)| (l, begin_epoch(l, e))),
            (from.clone(), 0..6i32, 0..8i64, 0..6i32)
                .prop_map(|(r, e, o, le)| (r, fetch(r, e, o, le.min(e)))),
            (from, 0..6i32).prop_map(|(l, e)| {
                (
                    l,
                    Request::EndQuorumEpoch(EndQuorumEpochRequest {
                        cluster_id: None,
                        leader_id: NodeId(l),
                        leader_epoch: Epoch(e),
                        preferred_successors: vec![NodeId(1)],
                    }),
                )
            }),
        ]
    }

    #[derive(Debug, Clone)]
    enum Event {
        Tick(u64),
        Req(i32, Request),
        /// Answer the last request sent to a peer with a vote or fetch answer.
        Answer(i32, bool, i32),
        Append,
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (1..400u64).prop_map(Event::Tick),
            arb_request().prop_map(|(f, r)| Event::Req(f, r)),
            (2..=3i32, any::<bool>(), 0..6i32).prop_map(|(p, g, e)| Event::Answer(p, g, e)),
            Just(Event::Append),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
        #[test]
        fn random_inputs_keep_the_core_consistent(events in prop::collection::vec(arb_event(), 1..60)) {
            let mut c = node1();
            let mut now = 0u64;
            let mut last: Vec<Output> = Vec::new();
            let mut epoch = c.epoch();
            let mut cast = (c.epoch(), c.quorum_state().voted_id);
            for ev in events {
                let out = match ev {
                    Event::Tick(d) => { now += d; step(&mut c, now, Input::Tick) }
                    Event::Req(from, r) => step(&mut c, now, request(from, r)),
                    Event::Append => { let e = c.epoch(); step(&mut c, now, Input::Append { epoch: e, records: vec![Bytes::from_static(b"r")] }) }
                    Event::Answer(peer, granted, e) => {
                        match sent_requests(&last).into_iter().find(|(t, _, _)| *t == NodeId(peer)) {
                            Some((_, cid, Request::Vote(_))) => step(&mut c, now, Input::Received { from: NodeId(peer), msg: Message::Response { correlation_id: cid, body: vote(granted, e, None) } }),
                            Some((_, cid, _)) => step(&mut c, now, Input::Received { from: NodeId(peer), msg: Message::Response { correlation_id: cid, body: Response::BeginQuorumEpoch(QuorumEpochResponse { error: ErrorKind::None, leader_id: None, leader_epoch: Epoch(e) }) } }),
                            None => step(&mut c, now, Input::Tick),
                        }
                    }
                };
                assert_persist_before_send(&out);
                prop_assert!(c.epoch() >= epoch);
                let q = c.quorum_state();
                if q.leader_epoch == cast.0 && cast.1.is_some() {
                    prop_assert_eq!(q.voted_id, cast.1, "vote changed within an epoch");
                }
                epoch = c.epoch();
                cast = (q.leader_epoch, q.voted_id);
                prop_assert!(c.next_deadline() > MonoTime(now) || c.next_deadline() == MonoTime(u64::MAX));
                if !out.is_empty() { last = out; }
            }
        }
    }
}

#[test]
fn diverging_epoch_inside_a_local_batch_of_an_older_epoch() {
    // Local: epoch 1 batches [0, 3) and [3, 6). The leader kept only [0, 3) of epoch 1 and then
    // wrote epoch 2 up to offset 5, which falls inside the local batch [3, 6).
    let mut log = MemLog::new();
    let three = || BatchPayload::Data(vec![Bytes::from_static(b"a"); 3]);
    log.append_as_leader(Epoch(1), three());
    log.append_as_leader(Epoch(1), three());
    let q = QuorumStateData {
        leader_epoch: Epoch(2),
        leader_id: Some(NodeId(2)),
        voted_id: None,
    };
    let mut c = start(1, &[1, 2, 3], log, Some(q));
    let out = step(&mut c, 1, Input::Tick);
    let diverging = |epoch: i32, offset: i64| {
        Response::Fetch(FetchResponse {
            error: ErrorKind::None,
            high_watermark: None,
            log_start_offset: Offset(0),
            records: vec![],
            diverging_epoch: Some(OffsetAndEpoch::new(Offset(offset), Epoch(epoch))),
            snapshot_id: None,
            leader_id: Some(NodeId(2)),
            leader_epoch: Epoch(2),
        })
    };
    // The fetch (6, epoch 1) is answered with the leader's end of epoch 1: offset 3.
    let out = answer(&mut c, 2, &out, 2, diverging(1, 3));
    assert_eq!(c.log().end_offset(), Offset(3));
    // Had it been answered (epoch 2, offset 5), the local epoch 1 end would be used instead of
    // cutting the batch [3, 6).
    let mut log = MemLog::new();
    log.append_as_leader(Epoch(1), three());
    log.append_as_leader(Epoch(1), three());
    let mut c = start(1, &[1, 2, 3], log, Some(q));
    let out2 = step(&mut c, 1, Input::Tick);
    answer(&mut c, 2, &out2, 2, diverging(2, 5));
    assert_eq!(c.log().end_offset(), Offset(6));
    let _ = out;
}
