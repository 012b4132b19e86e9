//! The groups and offsets of one `__consumer_offsets` partition led by this broker: a
//! sans-IO state machine. Requests and timer ticks go in with the time (`now`, ms); out come
//! [`Effect`]s: answers to requests and records to write. A change that must be durable
//! before it is acknowledged (committed offsets, a generation's assignment, deletions)
//! answers only when the IO shell reports its write with [`GroupShard::write_done`].

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::classic_group::{ClassicGroup, GroupState, Member, ReplyId};
use super::offsets::{CommittedOffset, OffsetStore, TopicPartition};
use super::records::CoordinatorRecord;

/// Identifies a write of records handed to the IO shell.
pub type WriteId = u64;

/// The coordinator's settings (Kafka's `group.*` and `offsets.*` broker keys).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i64,
    pub max_size: usize,
    pub offset_metadata_max_bytes: usize,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_size: i32::MAX as usize,
            offset_metadata_max_bytes: 4096,
            offsets_retention_ms: 7 * 24 * 3600 * 1000,
            offsets_retention_check_interval_ms: 600_000,
        }
    }
}

/// A JoinGroup as the state machine sees it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member first gets its id with MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// The member id to hand out if this request needs one (randomness from the shell).
    pub fresh_member_id: String,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinOutcome {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// The members and their metadata (only the leader gets them).
    pub members: Vec<(String, Option<String>, Bytes)>,
    /// A static leader that rejoined without a rebalance keeps the assignment it made.
    pub skip_assignment: bool,
}

impl JoinOutcome {
    pub fn failed(error: ResponseError, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// A SyncGroup as the state machine sees it.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// One partition of an OffsetCommit.
#[derive(Debug, Clone)]
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// An OffsetCommit as the state machine sees it.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    /// OffsetCommit v2–v4: how long to keep these offsets (-1: the broker's retention).
    pub retention_ms: i64,
    pub partitions: Vec<CommitPartition>,
}

/// One partition of an OffsetFetch answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedOffset {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub error: Option<ResponseError>,
}

/// Per-item errors of a request, in request order.
pub type ItemErrors<K> = Vec<(K, Option<ResponseError>)>;

/// An answer to a request that waited (for the join phase or for a write).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Join(JoinOutcome),
    Sync {
        error: Option<ResponseError>,
        protocol_type: Option<String>,
        protocol: Option<String>,
        assignment: Bytes,
    },
    Heartbeat(Option<ResponseError>),
    Leave {
        error: Option<ResponseError>,
        members: ItemErrors<(String, Option<String>)>,
    },
    Commit {
        error: Option<ResponseError>,
        partitions: ItemErrors<TopicPartition>,
    },
    DeleteGroups(ItemErrors<String>),
    DeleteOffsets {
        error: Option<ResponseError>,
        partitions: ItemErrors<TopicPartition>,
    },
}

impl Reply {
    fn sync_error(e: ResponseError) -> Reply {
        Reply::Sync {
            error: Some(e),
            protocol_type: None,
            protocol: None,
            assignment: Bytes::new(),
        }
    }
}

/// What the IO shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Reply(ReplyId, Reply),
    /// Append these records to the partition and report the outcome with `write_done`.
    Write(WriteId, Vec<CoordinatorRecord>),
}

/// What to do when a write is acknowledged or fails.
enum PendingWrite {
    Commit {
        group: String,
        reply: ReplyId,
        written: Vec<(TopicPartition, CommittedOffset)>,
        refused: ItemErrors<TopicPartition>,
    },
    Sync {
        group: String,
        generation: i32,
        assignments: BTreeMap<String, Bytes>,
    },
    /// Answer `reply` with `ok` once written, or with `failed(error)`.
    Answer {
        reply: ReplyId,
        ok: Reply,
        failed: fn(&Reply, ResponseError) -> Reply,
    },
    /// Nobody waits (an emptied group, expired offsets).
    Silent,
}

/// A summary of a group for ListGroups and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
    pub members: usize,
}

/// A group described (DescribeGroups).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    /// member id, instance id, client id, client host, metadata, assignment.
    pub members: Vec<(String, Option<String>, String, String, Bytes, Bytes)>,
}

/// Why a rebalance started (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RebalanceCause {
    MemberJoined,
    MemberRejoined,
    MemberLeft,
    SessionTimeout,
    SyncTimeout,
    WriteFailed,
}

impl RebalanceCause {
    pub const ALL: [RebalanceCause; 6] = [
        RebalanceCause::MemberJoined,
        RebalanceCause::MemberRejoined,
        RebalanceCause::MemberLeft,
        RebalanceCause::SessionTimeout,
        RebalanceCause::SyncTimeout,
        RebalanceCause::WriteFailed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RebalanceCause::MemberJoined => "member_joined",
            RebalanceCause::MemberRejoined => "member_rejoined",
            RebalanceCause::MemberLeft => "member_left",
            RebalanceCause::SessionTimeout => "session_timeout",
            RebalanceCause::SyncTimeout => "sync_timeout",
            RebalanceCause::WriteFailed => "write_failed",
        }
    }
}

/// The groups and offsets of one offsets partition.
pub struct GroupShard {
    config: GroupConfig,
    groups: BTreeMap<String, ClassicGroup>,
    offsets: OffsetStore,
    writes: BTreeMap<WriteId, PendingWrite>,
    next_write: WriteId,
    next_expiry_check: i64,
    /// Rebalances started, by cause.
    pub rebalances: BTreeMap<RebalanceCause, u64>,
    /// What happened since the shell last asked (for its metrics).
    events: ShardEvents,
}

/// Counts the shell turns into metrics, drained with [`GroupShard::take_events`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ShardEvents {
    /// Rebalances started: group and cause.
    pub rebalances: Vec<(String, RebalanceCause)>,
    /// Offsets whose commit was acknowledged.
    pub offsets_committed: u64,
}

impl GroupShard {
    pub fn new(config: GroupConfig, now: i64) -> GroupShard {
        GroupShard {
            next_expiry_check: now + config.offsets_retention_check_interval_ms,
            config,
            groups: BTreeMap::new(),
            offsets: OffsetStore::default(),
            writes: BTreeMap::new(),
            next_write: 0,
            rebalances: BTreeMap::new(),
            events: ShardEvents::default(),
        }
    }

    /// What happened since the last call.
    pub fn take_events(&mut self) -> ShardEvents {
        std::mem::take(&mut self.events)
    }

    // ---- loading ----------------------------------------------------------------------

    /// Replays one record of the partition's log (loading, in log order).
    pub fn replay(&mut self, record: CoordinatorRecord, now: i64) {
        match record {
            CoordinatorRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => match value {
                Some(v) => {
                    self.groups
                        .entry(group.clone())
                        .or_insert_with(|| ClassicGroup::new(&group, now));
                    self.offsets
                        .put(&group, (topic, partition), CommittedOffset::from_stored(&v));
                }
                None => {
                    self.offsets.remove(&group, &(topic, partition));
                }
            },
            CoordinatorRecord::Group { group, value } => match value {
                Some(v) => {
                    self.groups
                        .insert(group.clone(), ClassicGroup::from_stored(&group, &v, now));
                }
                None => {
                    self.groups.remove(&group);
                }
            },
        }
    }

    // ---- queries ------------------------------------------------------------------------

    pub fn listings(&self) -> Vec<GroupListing> {
        self.groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
                members: g.members.len(),
            })
            .collect()
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let g = self.groups.get(group_id)?;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(GroupDescription {
            group_id: g.id.clone(),
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if g.state == GroupState::Stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| {
                    (
                        m.id.clone(),
                        m.instance_id.clone(),
                        m.client_id.clone(),
                        m.client_host.clone(),
                        m.metadata(&protocol),
                        if g.state == GroupState::Stable {
                            m.assignment.clone()
                        } else {
                            Bytes::new()
                        },
                    )
                })
                .collect(),
        })
    }

    /// The committed offsets of `group` for `topics` (all of them when `None`); with
    /// `require_stable`, a partition whose commit is still being written answers
    /// UNSTABLE_OFFSET_COMMIT (the client retries).
    pub fn fetch_offsets(
        &self,
        group: &str,
        topics: Option<&[(String, Vec<i32>)]>,
        require_stable: bool,
    ) -> Vec<(String, Vec<FetchedOffset>)> {
        let fetched = |topic: &str, partition: i32| {
            let tp = (topic.to_string(), partition);
            if require_stable && self.offsets.is_pending(group, &tp) {
                return FetchedOffset {
                    partition,
                    offset: -1,
                    leader_epoch: -1,
                    metadata: None,
                    error: Some(ResponseError::UnstableOffsetCommit),
                };
            }
            match self.offsets.get(group, &tp) {
                Some(c) => FetchedOffset {
                    partition,
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata: Some(c.metadata.clone()),
                    error: None,
                },
                None => FetchedOffset {
                    partition,
                    offset: -1,
                    leader_epoch: -1,
                    metadata: Some(String::new()),
                    error: None,
                },
            }
        };
        match topics {
            Some(topics) => topics
                .iter()
                .map(|(t, parts)| (t.clone(), parts.iter().map(|p| fetched(t, *p)).collect()))
                .collect(),
            None => {
                let mut out: BTreeMap<String, Vec<FetchedOffset>> = BTreeMap::new();
                if let Some(all) = self.offsets.group(group) {
                    for (t, p) in all.keys() {
                        out.entry(t.clone()).or_default().push(fetched(t, *p));
                    }
                }
                out.into_iter().collect()
            }
        }
    }

    /// Every committed offset, by group (for lag).
    pub fn offsets(&self) -> &OffsetStore {
        &self.offsets
    }

    pub fn group(&self, id: &str) -> Option<&ClassicGroup> {
        self.groups.get(id)
    }

    // ---- JoinGroup ----------------------------------------------------------------------

    pub fn join(&mut self, now: i64, r: JoinRequest, reply: ReplyId, out: &mut Vec<Effect>) {
        let fail = |e: ResponseError| {
            Effect::Reply(reply, Reply::Join(JoinOutcome::failed(e, &r.member_id)))
        };
        if r.group_id.is_empty() {
            return out.push(fail(ResponseError::InvalidGroupId));
        }
        if r.session_timeout_ms < self.config.min_session_timeout_ms
            || r.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return out.push(fail(ResponseError::InvalidSessionTimeout));
        }
        if !r.member_id.is_empty() && !self.groups.contains_key(&r.group_id) {
            return out.push(fail(ResponseError::UnknownMemberId));
        }
        let group = self
            .groups
            .entry(r.group_id.clone())
            .or_insert_with(|| ClassicGroup::new(&r.group_id, now));
        if group.state == GroupState::Dead {
            return out.push(fail(ResponseError::CoordinatorNotAvailable));
        }
        if !group.supports(&r.protocol_type, &r.protocols) {
            return out.push(fail(ResponseError::InconsistentGroupProtocol));
        }
        if r.member_id.is_empty() {
            self.join_unknown_member(now, r, reply, out);
        } else {
            self.join_known_member(now, r, reply, out);
        }
    }

    fn join_unknown_member(
        &mut self,
        now: i64,
        r: JoinRequest,
        reply: ReplyId,
        out: &mut Vec<Effect>,
    ) {
        let max_size = self.config.max_size;
        let group = self.groups.get_mut(&r.group_id).expect("group exists");
        let new_id = r.fresh_member_id.clone();
        if let Some(instance) = r.instance_id.clone()
            && let Some(old_id) = group.static_members.get(&instance).cloned()
        {
            return self.replace_static_member(now, r, &instance, &old_id, reply, out);
        }
        if group.members.len() + group.pending_members.len() >= max_size {
            let e = JoinOutcome::failed(ResponseError::GroupMaxSizeReached, &r.member_id);
            return out.push(Effect::Reply(reply, Reply::Join(e)));
        }
        if r.instance_id.is_none() && r.require_known_member_id {
            group
                .pending_members
                .insert(new_id.clone(), now + r.session_timeout_ms as i64);
            let e = JoinOutcome::failed(ResponseError::MemberIdRequired, &new_id);
            return out.push(Effect::Reply(reply, Reply::Join(e)));
        }
        self.add_member(now, r, new_id, reply, out);
    }

    /// A static member came back with a new member id: it takes over its old identity; a
    /// stable group keeps its generation and assignment (no rebalance).
    fn replace_static_member(
        &mut self,
        now: i64,
        r: JoinRequest,
        instance: &str,
        old_id: &str,
        reply: ReplyId,
        out: &mut Vec<Effect>,
    ) {
        let group = self.groups.get_mut(&r.group_id).expect("group exists");
        let Some(mut member) = group.members.remove(old_id) else {
            group.static_members.remove(instance);
            return self.add_member(now, r.clone(), r.fresh_member_id.clone(), reply, out);
        };
        for waiting in [member.awaiting_join.take(), member.awaiting_sync.take()]
            .into_iter()
            .flatten()
        {
            out.push(Effect::Reply(
                waiting,
                Reply::Join(JoinOutcome::failed(ResponseError::FencedInstanceId, old_id)),
            ));
        }
        let new_id = r.fresh_member_id.clone();
        let unchanged = member.same_protocols(&r.protocols);
        member.id = new_id.clone();
        member.client_id = r.client_id.clone();
        member.client_host = r.client_host.clone();
        member.session_timeout_ms = r.session_timeout_ms;
        member.rebalance_timeout_ms = r.rebalance_timeout_ms;
        member.protocols = r.protocols.clone();
        member.heartbeat_deadline = now + r.session_timeout_ms as i64;
        group.members.insert(new_id.clone(), member);
        group
            .static_members
            .insert(instance.to_string(), new_id.clone());
        if group.leader.as_deref() == Some(old_id) {
            group.leader = Some(new_id.clone());
        }
        if group.state == GroupState::Stable && unchanged {
            let is_leader = group.leader.as_deref() == Some(new_id.as_str());
            let outcome = join_answer(group, &new_id, is_leader, true);
            let write = CoordinatorRecord::Group {
                group: group.id.clone(),
                value: Some(group.stored()),
            };
            self.write(
                vec![write],
                PendingWrite::Answer {
                    reply,
                    ok: Reply::Join(outcome),
                    failed: |ok, e| match ok {
                        Reply::Join(j) => Reply::Join(JoinOutcome::failed(e, &j.member_id)),
                        other => other.clone(),
                    },
                },
                out,
            );
            return;
        }
        let group = self.groups.get_mut(&r.group_id).expect("group exists");
        if let Some(m) = group.members.get_mut(&new_id) {
            m.awaiting_join = Some(reply);
        }
        if group.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(&r.group_id, now, RebalanceCause::MemberRejoined, out);
        }
        self.maybe_complete_join(&r.group_id, now, out);
    }

    fn add_member(
        &mut self,
        now: i64,
        r: JoinRequest,
        id: String,
        reply: ReplyId,
        out: &mut Vec<Effect>,
    ) {
        let group = self.groups.get_mut(&r.group_id).expect("group exists");
        group.pending_members.remove(&id);
        let seq = group.next_seq;
        group.next_seq += 1;
        if group.members.is_empty() {
            group.protocol_type = Some(r.protocol_type.clone());
        }
        if let Some(i) = &r.instance_id {
            group.static_members.insert(i.clone(), id.clone());
        }
        group.members.insert(
            id.clone(),
            Member {
                id: id.clone(),
                instance_id: r.instance_id.clone(),
                client_id: r.client_id,
                client_host: r.client_host,
                session_timeout_ms: r.session_timeout_ms,
                rebalance_timeout_ms: r.rebalance_timeout_ms,
                protocols: r.protocols,
                assignment: Bytes::new(),
                heartbeat_deadline: now + r.session_timeout_ms as i64,
                awaiting_join: Some(reply),
                awaiting_sync: None,
                joined_seq: seq,
            },
        );
        if group.leader.is_none() {
            group.leader = Some(id);
        }
        if group.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(&r.group_id, now, RebalanceCause::MemberJoined, out);
        }
        self.maybe_complete_join(&r.group_id, now, out);
    }

    fn join_known_member(
        &mut self,
        now: i64,
        r: JoinRequest,
        reply: ReplyId,
        out: &mut Vec<Effect>,
    ) {
        let group = self.groups.get_mut(&r.group_id).expect("group exists");
        if group.pending_members.contains_key(&r.member_id) {
            let id = r.member_id.clone();
            return self.add_member(now, r, id, reply, out);
        }
        let fail = |e| Effect::Reply(reply, Reply::Join(JoinOutcome::failed(e, &r.member_id)));
        if group.fenced(&r.member_id, r.instance_id.as_deref()) {
            return out.push(fail(ResponseError::FencedInstanceId));
        }
        let Some(member) = group.members.get_mut(&r.member_id) else {
            return out.push(fail(ResponseError::UnknownMemberId));
        };
        member.heartbeat_deadline = now + r.session_timeout_ms as i64;
        let unchanged = member.same_protocols(&r.protocols);
        let is_leader = group.leader.as_deref() == Some(r.member_id.as_str());
        match group.state {
            GroupState::Empty | GroupState::Dead => out.push(fail(ResponseError::UnknownMemberId)),
            GroupState::PreparingRebalance => {
                member.protocols = r.protocols;
                member.session_timeout_ms = r.session_timeout_ms;
                member.rebalance_timeout_ms = r.rebalance_timeout_ms;
                if let Some(previous) = member.awaiting_join.replace(reply) {
                    out.push(Effect::Reply(
                        previous,
                        Reply::Join(JoinOutcome::failed(
                            ResponseError::RebalanceInProgress,
                            &r.member_id,
                        )),
                    ));
                }
                self.maybe_complete_join(&r.group_id, now, out);
            }
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged && !(is_leader && group.state == GroupState::Stable) =>
            {
                // A rejoin that changes nothing: the current generation again.
                let outcome = join_answer(group, &r.member_id, is_leader, false);
                out.push(Effect::Reply(reply, Reply::Join(outcome)));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.protocols = r.protocols;
                member.session_timeout_ms = r.session_timeout_ms;
                member.rebalance_timeout_ms = r.rebalance_timeout_ms;
                member.awaiting_join = Some(reply);
                self.prepare_rebalance(&r.group_id, now, RebalanceCause::MemberRejoined, out);
                self.maybe_complete_join(&r.group_id, now, out);
            }
        }
    }

    /// Starts a join phase: members must rejoin within the rebalance timeout.
    fn prepare_rebalance(
        &mut self,
        group_id: &str,
        now: i64,
        cause: RebalanceCause,
        out: &mut Vec<Effect>,
    ) {
        let delay = self.config.initial_rebalance_delay_ms;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.state == GroupState::CompletingRebalance {
            for m in group.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(waiting) = m.awaiting_sync.take() {
                    out.push(Effect::Reply(
                        waiting,
                        Reply::sync_error(ResponseError::RebalanceInProgress),
                    ));
                }
            }
        }
        let from_empty = group.state == GroupState::Empty;
        group.transition(GroupState::PreparingRebalance, now);
        group.sync_deadline = None;
        group.sync_write_pending = false;
        let timeout = group.rebalance_timeout_ms();
        group.rebalance_deadline = Some(now + timeout);
        group.initial_delay = (from_empty && delay > 0)
            .then(|| (now + delay.min(timeout), now + timeout, group.members.len()));
        *self.rebalances.entry(cause).or_default() += 1;
        self.events.rebalances.push((group_id.to_string(), cause));
    }

    fn maybe_complete_join(&mut self, group_id: &str, now: i64, out: &mut Vec<Effect>) {
        let Some(group) = self.groups.get(group_id) else {
            return;
        };
        if group.state == GroupState::PreparingRebalance
            && group.initial_delay.is_none()
            && group.all_joined()
        {
            self.complete_join(group_id, now, out);
        }
    }

    /// Ends the join phase: members that did not rejoin are removed, the next generation
    /// starts, and every waiting JoinGroup is answered (the leader gets the members).
    fn complete_join(&mut self, group_id: &str, now: i64, out: &mut Vec<Effect>) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let gone: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            group.remove_member(&id);
        }
        group.pending_members.clear();
        group.rebalance_deadline = None;
        group.initial_delay = None;
        group.generation += 1;
        if group.members.is_empty() {
            group.protocol = None;
            group.leader = None;
            group.transition(GroupState::Empty, now);
            let record = CoordinatorRecord::Group {
                group: group.id.clone(),
                value: Some(group.stored()),
            };
            self.write(vec![record], PendingWrite::Silent, out);
            return;
        }
        group.protocol = group.select_protocol();
        if group
            .leader
            .as_ref()
            .is_none_or(|l| !group.members.contains_key(l))
        {
            group.leader = group
                .members
                .values()
                .min_by_key(|m| m.joined_seq)
                .map(|m| m.id.clone());
        }
        group.transition(GroupState::CompletingRebalance, now);
        group.sync_deadline = Some(now + group.rebalance_timeout_ms());
        let leader = group.leader.clone().unwrap_or_default();
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in ids {
            let answer = join_answer(group, &id, id == leader, false);
            let m = group.members.get_mut(&id).expect("member exists");
            m.heartbeat_deadline = now + m.session_timeout_ms as i64;
            if let Some(waiting) = m.awaiting_join.take() {
                out.push(Effect::Reply(waiting, Reply::Join(answer)));
            }
        }
    }

    // ---- SyncGroup ----------------------------------------------------------------------

    pub fn sync(&mut self, now: i64, r: SyncRequest, reply: ReplyId, out: &mut Vec<Effect>) {
        let fail = |e| Effect::Reply(reply, Reply::sync_error(e));
        let Some(group) = self.groups.get_mut(&r.group_id) else {
            return out.push(fail(ResponseError::UnknownMemberId));
        };
        if group.state == GroupState::Dead {
            return out.push(fail(ResponseError::CoordinatorNotAvailable));
        }
        if group.fenced(&r.member_id, r.instance_id.as_deref()) {
            return out.push(fail(ResponseError::FencedInstanceId));
        }
        if !group.members.contains_key(&r.member_id) {
            return out.push(fail(ResponseError::UnknownMemberId));
        }
        if r.generation != group.generation {
            return out.push(fail(ResponseError::IllegalGeneration));
        }
        if r.protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != group.protocol_type.as_ref())
            || r.protocol
                .as_ref()
                .is_some_and(|p| Some(p) != group.protocol.as_ref())
        {
            return out.push(fail(ResponseError::InconsistentGroupProtocol));
        }
        let is_leader = group.leader.as_deref() == Some(r.member_id.as_str());
        let member = group.members.get_mut(&r.member_id).expect("member exists");
        member.heartbeat_deadline = now + member.session_timeout_ms as i64;
        match group.state {
            GroupState::Empty | GroupState::Dead => out.push(fail(ResponseError::UnknownMemberId)),
            GroupState::PreparingRebalance => out.push(fail(ResponseError::RebalanceInProgress)),
            GroupState::Stable => {
                let answer = Reply::Sync {
                    error: None,
                    protocol_type: group.protocol_type.clone(),
                    protocol: group.protocol.clone(),
                    assignment: member.assignment.clone(),
                };
                out.push(Effect::Reply(reply, answer));
            }
            GroupState::CompletingRebalance => {
                if let Some(previous) = member.awaiting_sync.replace(reply) {
                    out.push(Effect::Reply(
                        previous,
                        Reply::sync_error(ResponseError::RebalanceInProgress),
                    ));
                }
                if is_leader && !group.sync_write_pending {
                    group.sync_write_pending = true;
                    let assignments: BTreeMap<String, Bytes> = group
                        .members
                        .keys()
                        .map(|id| {
                            let a = r
                                .assignments
                                .iter()
                                .find(|(m, _)| m == id)
                                .map(|(_, a)| a.clone())
                                .unwrap_or_default();
                            (id.clone(), a)
                        })
                        .collect();
                    let mut stored = group.stored();
                    for m in &mut stored.members {
                        m.assignment = assignments.get(&m.member_id).cloned().unwrap_or_default();
                    }
                    let record = CoordinatorRecord::Group {
                        group: group.id.clone(),
                        value: Some(stored),
                    };
                    let pending = PendingWrite::Sync {
                        group: group.id.clone(),
                        generation: group.generation,
                        assignments,
                    };
                    self.write(vec![record], pending, out);
                }
            }
        }
    }

    // ---- Heartbeat and LeaveGroup -----------------------------------------------------

    pub fn heartbeat(
        &mut self,
        now: i64,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<ResponseError> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if group.state == GroupState::Dead {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if group.fenced(member_id, instance_id) {
            return Some(ResponseError::FencedInstanceId);
        }
        let state = group.state;
        let current = group.generation;
        let Some(member) = group.members.get_mut(member_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if generation != current {
            return Some(ResponseError::IllegalGeneration);
        }
        member.heartbeat_deadline = now + member.session_timeout_ms as i64;
        match state {
            GroupState::Empty | GroupState::Dead => Some(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => None,
        }
    }

    /// LeaveGroup for `members` (member id, instance id); answers at once.
    pub fn leave(
        &mut self,
        now: i64,
        group_id: &str,
        members: &[(String, Option<String>)],
        reply: ReplyId,
        out: &mut Vec<Effect>,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            let results = members
                .iter()
                .map(|m| (m.clone(), Some(ResponseError::UnknownMemberId)))
                .collect();
            let answer = Reply::Leave {
                error: Some(ResponseError::UnknownMemberId),
                members: results,
            };
            return out.push(Effect::Reply(reply, answer));
        };
        if group.state == GroupState::Dead {
            let answer = Reply::Leave {
                error: Some(ResponseError::CoordinatorNotAvailable),
                members: Vec::new(),
            };
            return out.push(Effect::Reply(reply, answer));
        }
        let mut results = Vec::new();
        let mut removed = false;
        for (member_id, instance_id) in members {
            let target = match instance_id {
                Some(i) => match group.static_members.get(i) {
                    None => Err(ResponseError::UnknownMemberId),
                    Some(owner) if !member_id.is_empty() && owner != member_id => {
                        Err(ResponseError::FencedInstanceId)
                    }
                    Some(owner) => Ok(owner.clone()),
                },
                None if group.members.contains_key(member_id) => Ok(member_id.clone()),
                None if group.pending_members.remove(member_id).is_some() => {
                    results.push(((member_id.clone(), instance_id.clone()), None));
                    continue;
                }
                None => Err(ResponseError::UnknownMemberId),
            };
            match target {
                Ok(id) => {
                    if let Some(m) = group.remove_member(&id) {
                        answer_removed(&m, out);
                        removed = true;
                    }
                    results.push(((member_id.clone(), instance_id.clone()), None));
                }
                Err(e) => results.push(((member_id.clone(), instance_id.clone()), Some(e))),
            }
        }
        let error = results.iter().find_map(|(_, e)| *e);
        out.push(Effect::Reply(
            reply,
            Reply::Leave {
                error,
                members: results,
            },
        ));
        if removed {
            self.members_removed(group_id, now, RebalanceCause::MemberLeft, out);
        } else {
            self.maybe_complete_join(group_id, now, out);
        }
    }

    /// After members left or expired: a rebalance, or the end of the current join phase.
    fn members_removed(
        &mut self,
        group_id: &str,
        now: i64,
        cause: RebalanceCause,
        out: &mut Vec<Effect>,
    ) {
        let Some(group) = self.groups.get(group_id) else {
            return;
        };
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(group_id, now, cause, out);
                self.maybe_complete_join(group_id, now, out);
            }
            GroupState::PreparingRebalance => {
                if self
                    .groups
                    .get(group_id)
                    .is_some_and(|g| g.members.is_empty())
                {
                    self.complete_join(group_id, now, out);
                } else {
                    self.maybe_complete_join(group_id, now, out);
                }
            }
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ---- offsets ------------------------------------------------------------------------

    pub fn commit(&mut self, now: i64, r: CommitRequest, reply: ReplyId, out: &mut Vec<Effect>) {
        let refuse_all = |e: ResponseError| {
            let partitions = r
                .partitions
                .iter()
                .map(|p| ((p.topic.clone(), p.partition), Some(e)))
                .collect();
            Effect::Reply(
                reply,
                Reply::Commit {
                    error: Some(e),
                    partitions,
                },
            )
        };
        if r.group_id.is_empty() {
            return out.push(refuse_all(ResponseError::InvalidGroupId));
        }
        let simple = r.generation < 0 && r.member_id.is_empty();
        if !self.groups.contains_key(&r.group_id) {
            if !simple {
                return out.push(refuse_all(ResponseError::IllegalGeneration));
            }
            self.groups
                .insert(r.group_id.clone(), ClassicGroup::new(&r.group_id, now));
        }
        let group = self.groups.get_mut(&r.group_id).expect("group exists");
        if group.state == GroupState::Dead {
            return out.push(refuse_all(ResponseError::CoordinatorNotAvailable));
        }
        if simple {
            if group.state != GroupState::Empty {
                return out.push(refuse_all(ResponseError::UnknownMemberId));
            }
        } else {
            if group.fenced(&r.member_id, r.instance_id.as_deref()) {
                return out.push(refuse_all(ResponseError::FencedInstanceId));
            }
            let Some(member) = group.members.get_mut(&r.member_id) else {
                return out.push(refuse_all(ResponseError::UnknownMemberId));
            };
            if r.generation != group.generation {
                return out.push(refuse_all(ResponseError::IllegalGeneration));
            }
            if group.state == GroupState::CompletingRebalance {
                return out.push(refuse_all(ResponseError::RebalanceInProgress));
            }
            member.heartbeat_deadline = now + member.session_timeout_ms as i64;
        }
        let expire = (r.retention_ms >= 0).then_some(now + r.retention_ms);
        let mut written = Vec::new();
        let mut refused = Vec::new();
        let mut records = Vec::new();
        for p in &r.partitions {
            let tp = (p.topic.clone(), p.partition);
            let metadata = p.metadata.clone().unwrap_or_default();
            if metadata.len() > self.config.offset_metadata_max_bytes {
                refused.push((tp, Some(ResponseError::OffsetMetadataTooLarge)));
                continue;
            }
            let committed = CommittedOffset {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata,
                commit_timestamp: now,
                expire_timestamp: expire,
            };
            records.push(CoordinatorRecord::Offset {
                group: r.group_id.clone(),
                topic: p.topic.clone(),
                partition: p.partition,
                value: Some(committed.stored()),
            });
            written.push((tp, committed));
        }
        if records.is_empty() {
            let error = refused.iter().find_map(|(_, e)| *e);
            return out.push(Effect::Reply(
                reply,
                Reply::Commit {
                    error,
                    partitions: refused,
                },
            ));
        }
        self.offsets
            .begin_pending(&r.group_id, written.iter().map(|(tp, _)| tp.clone()));
        let pending = PendingWrite::Commit {
            group: r.group_id.clone(),
            reply,
            written,
            refused,
        };
        self.write(records, pending, out);
    }

    /// DeleteGroups: empty groups only; their offsets go with them.
    pub fn delete_groups(
        &mut self,
        now: i64,
        groups: &[String],
        reply: ReplyId,
        out: &mut Vec<Effect>,
    ) {
        let _ = now;
        let mut results = Vec::new();
        let mut records = Vec::new();
        for id in groups {
            let error = match self.groups.get(id) {
                None => Some(ResponseError::GroupIdNotFound),
                Some(g) if g.state == GroupState::Dead => Some(ResponseError::GroupIdNotFound),
                Some(g) if g.state != GroupState::Empty => Some(ResponseError::NonEmptyGroup),
                Some(_) => None,
            };
            if error.is_none() {
                for (topic, partition) in self.offsets.remove_group(id) {
                    records.push(CoordinatorRecord::Offset {
                        group: id.clone(),
                        topic,
                        partition,
                        value: None,
                    });
                }
                records.push(CoordinatorRecord::Group {
                    group: id.clone(),
                    value: None,
                });
                self.groups.remove(id);
            }
            results.push((id.clone(), error));
        }
        if records.is_empty() {
            return out.push(Effect::Reply(reply, Reply::DeleteGroups(results)));
        }
        let pending = PendingWrite::Answer {
            reply,
            ok: Reply::DeleteGroups(results),
            failed: |ok, e| match ok {
                Reply::DeleteGroups(r) => Reply::DeleteGroups(
                    r.iter()
                        .map(|(g, err)| (g.clone(), err.or(Some(e))))
                        .collect(),
                ),
                other => other.clone(),
            },
        };
        self.write(records, pending, out);
    }

    /// OffsetDelete: offsets of topics the group's members do not subscribe to.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[TopicPartition],
        reply: ReplyId,
        out: &mut Vec<Effect>,
    ) {
        let fail = |e| {
            Effect::Reply(
                reply,
                Reply::DeleteOffsets {
                    error: Some(e),
                    partitions: Vec::new(),
                },
            )
        };
        let Some(group) = self.groups.get(group_id) else {
            return out.push(fail(ResponseError::GroupIdNotFound));
        };
        if group.state == GroupState::Dead {
            return out.push(fail(ResponseError::GroupIdNotFound));
        }
        let consumer = group.protocol_type.as_deref() == Some("consumer");
        if group.state != GroupState::Empty && !consumer {
            return out.push(fail(ResponseError::NonEmptyGroup));
        }
        let subscribed = if group.state == GroupState::Empty {
            Default::default()
        } else {
            group.subscribed_topics()
        };
        let mut results = Vec::new();
        let mut records = Vec::new();
        for tp in partitions {
            if subscribed.contains(&tp.0) {
                results.push((tp.clone(), Some(ResponseError::GroupSubscribedToTopic)));
                continue;
            }
            if self.offsets.remove(group_id, tp).is_some() {
                records.push(CoordinatorRecord::Offset {
                    group: group_id.to_string(),
                    topic: tp.0.clone(),
                    partition: tp.1,
                    value: None,
                });
            }
            results.push((tp.clone(), None));
        }
        let ok = Reply::DeleteOffsets {
            error: None,
            partitions: results,
        };
        if records.is_empty() {
            return out.push(Effect::Reply(reply, ok));
        }
        let pending = PendingWrite::Answer {
            reply,
            ok,
            failed: |_, e| Reply::DeleteOffsets {
                error: Some(e),
                partitions: Vec::new(),
            },
        };
        self.write(records, pending, out);
    }

    // ---- writes -------------------------------------------------------------------------

    fn write(
        &mut self,
        records: Vec<CoordinatorRecord>,
        pending: PendingWrite,
        out: &mut Vec<Effect>,
    ) {
        let id = self.next_write;
        self.next_write += 1;
        self.writes.insert(id, pending);
        out.push(Effect::Write(id, records));
    }

    /// The outcome of write `id`: `Ok` once the log holds it on every in-sync replica, or
    /// the error its requests get (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE …).
    pub fn write_done(
        &mut self,
        now: i64,
        id: WriteId,
        result: Result<(), ResponseError>,
        out: &mut Vec<Effect>,
    ) {
        let Some(pending) = self.writes.remove(&id) else {
            return;
        };
        match pending {
            PendingWrite::Commit {
                group,
                reply,
                written,
                mut refused,
            } => {
                self.offsets
                    .end_pending(&group, written.iter().map(|(tp, _)| tp.clone()));
                let error = result.err();
                let mut partitions: ItemErrors<TopicPartition> = Vec::new();
                for (tp, committed) in written {
                    if error.is_none() {
                        self.offsets.put(&group, tp.clone(), committed);
                        self.events.offsets_committed += 1;
                    }
                    partitions.push((tp, error));
                }
                partitions.append(&mut refused);
                let top = partitions.iter().find_map(|(_, e)| *e);
                out.push(Effect::Reply(
                    reply,
                    Reply::Commit {
                        error: top,
                        partitions,
                    },
                ));
            }
            PendingWrite::Sync {
                group,
                generation,
                assignments,
            } => self.sync_written(now, &group, generation, assignments, result, out),
            PendingWrite::Answer { reply, ok, failed } => {
                let answer = match result {
                    Ok(()) => ok,
                    Err(e) => failed(&ok, e),
                };
                out.push(Effect::Reply(reply, answer));
            }
            PendingWrite::Silent => {}
        }
    }

    fn sync_written(
        &mut self,
        now: i64,
        group_id: &str,
        generation: i32,
        assignments: BTreeMap<String, Bytes>,
        result: Result<(), ResponseError>,
        out: &mut Vec<Effect>,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.state != GroupState::CompletingRebalance || group.generation != generation {
            return;
        }
        group.sync_write_pending = false;
        match result {
            Ok(()) => {
                for (id, a) in assignments {
                    if let Some(m) = group.members.get_mut(&id) {
                        m.assignment = a;
                    }
                }
                group.transition(GroupState::Stable, now);
                group.sync_deadline = None;
                for m in group.members.values_mut() {
                    if let Some(waiting) = m.awaiting_sync.take() {
                        out.push(Effect::Reply(
                            waiting,
                            Reply::Sync {
                                error: None,
                                protocol_type: group.protocol_type.clone(),
                                protocol: group.protocol.clone(),
                                assignment: m.assignment.clone(),
                            },
                        ));
                    }
                }
            }
            Err(e) => {
                for m in group.members.values_mut() {
                    if let Some(waiting) = m.awaiting_sync.take() {
                        out.push(Effect::Reply(waiting, Reply::sync_error(e)));
                    }
                }
                self.prepare_rebalance(group_id, now, RebalanceCause::WriteFailed, out);
            }
        }
    }

    // ---- time ---------------------------------------------------------------------------

    /// The earliest time `tick` has something to do.
    pub fn next_deadline(&self) -> i64 {
        let mut next = self.next_expiry_check;
        for g in self.groups.values() {
            let deadlines = [
                g.rebalance_deadline,
                g.initial_delay.map(|(d, _, _)| d),
                g.sync_deadline,
                g.pending_members.values().min().copied(),
                g.members
                    .values()
                    .filter(|m| m.awaiting_join.is_none())
                    .map(|m| m.heartbeat_deadline)
                    .min(),
            ];
            for d in deadlines.into_iter().flatten() {
                next = next.min(d);
            }
        }
        next
    }

    /// Expires members, ends join phases and sync waits, and expires offsets, as of `now`.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Effect>) {
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in &ids {
            self.tick_group(id, now, out);
        }
        if now >= self.next_expiry_check {
            self.next_expiry_check = now + self.config.offsets_retention_check_interval_ms;
            self.expire_offsets(now, out);
        }
    }

    fn tick_group(&mut self, id: &str, now: i64, out: &mut Vec<Effect>) {
        let Some(group) = self.groups.get_mut(id) else {
            return;
        };
        // Handed-out member ids that never came back.
        group.pending_members.retain(|_, deadline| *deadline > now);
        // Members that stopped heartbeating (those waiting in a join phase are kept until
        // the phase ends).
        let expired: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.heartbeat_deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        let mut removed = false;
        for m in &expired {
            if let Some(m) = group.remove_member(m) {
                answer_removed(&m, out);
                removed = true;
            }
        }
        if removed {
            self.members_removed(id, now, RebalanceCause::SessionTimeout, out);
        }
        let Some(group) = self.groups.get_mut(id) else {
            return;
        };
        if let Some((next, limit, seen)) = group.initial_delay
            && now >= next
        {
            let grew = group.members.len() > seen;
            let delay = self.config.initial_rebalance_delay_ms;
            group.initial_delay = (grew && now < limit)
                .then(|| ((now + delay).min(limit), limit, group.members.len()));
            self.maybe_complete_join(id, now, out);
        }
        let Some(group) = self.groups.get_mut(id) else {
            return;
        };
        if group.state == GroupState::PreparingRebalance
            && group.rebalance_deadline.is_some_and(|d| d <= now)
        {
            self.complete_join(id, now, out);
            return;
        }
        if group.state == GroupState::CompletingRebalance
            && group.sync_deadline.is_some_and(|d| d <= now)
        {
            let silent: Vec<String> = group
                .members
                .values()
                .filter(|m| m.awaiting_sync.is_none())
                .map(|m| m.id.clone())
                .collect();
            for m in &silent {
                if let Some(m) = group.remove_member(m) {
                    answer_removed(&m, out);
                }
            }
            self.prepare_rebalance(id, now, RebalanceCause::SyncTimeout, out);
            self.maybe_complete_join(id, now, out);
        }
    }

    /// Offsets of empty groups expire `offsets.retention.ms` after the later of their commit
    /// and the group becoming empty (an explicit retention from OffsetCommit v2–v4 wins); a
    /// group left with neither members nor offsets is deleted.
    fn expire_offsets(&mut self, now: i64, out: &mut Vec<Effect>) {
        let retention = self.config.offsets_retention_ms;
        let mut records = Vec::new();
        let mut expired: Vec<(String, TopicPartition)> = Vec::new();
        for (group, offsets) in self.offsets.groups() {
            let g = self.groups.get(group);
            let empty_since = g
                .filter(|g| g.state == GroupState::Empty)
                .map(|g| g.state_since);
            for (tp, c) in offsets {
                let due = match (c.expire_timestamp, empty_since) {
                    (Some(at), _) => now >= at,
                    (None, Some(since)) => now - since.max(c.commit_timestamp) >= retention,
                    (None, None) => false,
                };
                if due && !self.offsets.is_pending(group, tp) {
                    expired.push((group.clone(), tp.clone()));
                }
            }
        }
        for (group, tp) in expired {
            self.offsets.remove(&group, &tp);
            records.push(CoordinatorRecord::Offset {
                group,
                topic: tp.0,
                partition: tp.1,
                value: None,
            });
        }
        let gone: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.state == GroupState::Empty && !self.offsets.has_offsets(&g.id))
            .filter(|g| now - g.state_since >= retention)
            .map(|g| g.id.clone())
            .collect();
        for g in gone {
            self.groups.remove(&g);
            records.push(CoordinatorRecord::Group {
                group: g,
                value: None,
            });
        }
        if !records.is_empty() {
            self.write(records, PendingWrite::Silent, out);
        }
    }

    /// This broker stops coordinating the partition: every waiting request is answered with
    /// `error` (NOT_COORDINATOR), so that clients find the new coordinator.
    pub fn unload(&mut self, error: ResponseError, out: &mut Vec<Effect>) {
        let writes = std::mem::take(&mut self.writes);
        for (id, pending) in writes {
            self.writes.insert(id, pending);
            self.write_done(0, id, Err(error), out);
        }
        for g in self.groups.values_mut() {
            for m in g.members.values_mut() {
                if let Some(w) = m.awaiting_join.take() {
                    out.push(Effect::Reply(
                        w,
                        Reply::Join(JoinOutcome::failed(error, &m.id)),
                    ));
                }
                if let Some(w) = m.awaiting_sync.take() {
                    out.push(Effect::Reply(w, Reply::sync_error(error)));
                }
            }
            g.state = GroupState::Dead;
        }
    }
}

/// The JoinGroup answer of `member_id` for the group's current generation.
fn join_answer(
    group: &ClassicGroup,
    member_id: &str,
    is_leader: bool,
    skip_assignment: bool,
) -> JoinOutcome {
    let protocol = group.protocol.clone().unwrap_or_default();
    JoinOutcome {
        error: None,
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol: group.protocol.clone(),
        leader: group.leader.clone().unwrap_or_default(),
        member_id: member_id.to_string(),
        members: if is_leader {
            group
                .members
                .values()
                .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol)))
                .collect()
        } else {
            Vec::new()
        },
        skip_assignment,
    }
}

/// Answers the waiting requests of a member that was removed.
fn answer_removed(m: &Member, out: &mut Vec<Effect>) {
    if let Some(w) = m.awaiting_join {
        out.push(Effect::Reply(
            w,
            Reply::Join(JoinOutcome::failed(ResponseError::UnknownMemberId, &m.id)),
        ));
    }
    if let Some(w) = m.awaiting_sync {
        out.push(Effect::Reply(
            w,
            Reply::sync_error(ResponseError::UnknownMemberId),
        ));
    }
}
