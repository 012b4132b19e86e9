//! A group of the classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup): its state, generation, members and their assignments.
//!
//! ```text
//!            first join / member change                  all members joined
//!   Empty ───────────────────────────▶ PreparingRebalance ─────────────────▶ CompletingRebalance
//!     ▲                                   ▲   │ nobody left                          │ leader's SyncGroup
//!     │ last member gone                  │   ▼                                      ▼ written
//!     └─────────────────────────────── (Empty)        member change / timeout ◀── Stable
//! ```
//! `Dead` is a deleted group (DeleteGroups, or its offsets partition moved away).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::records::{GroupValue, StoredMember};

/// The state of a classic group, named as Kafka names it in ListGroups and DescribeGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub const ALL: [GroupState; 5] = [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// The state named `name`, compared as Kafka's ListGroups state filter does (ignoring
    /// case).
    pub fn parse(name: &str) -> Option<GroupState> {
        GroupState::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// Identifies a request waiting for its answer in the IO shell.
pub type ReplyId = u64;

/// A member of a classic group.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// The protocols it supports, in its order of preference, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// When it is expired unless it heartbeats (ms).
    pub heartbeat_deadline: i64,
    /// Its JoinGroup waiting for the join phase to end.
    pub awaiting_join: Option<ReplyId>,
    /// Its SyncGroup waiting for the leader's assignment to be written.
    pub awaiting_sync: Option<ReplyId>,
    /// Order of arrival (the first member becomes leader when the leader left).
    pub joined_seq: u64,
}

impl Member {
    /// The metadata it gave for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether `protocols` are the ones it joined with (a rejoin that changes nothing).
    pub fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

/// A classic group.
#[derive(Debug, Clone)]
pub struct ClassicGroup {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they join (ms deadline).
    pub pending_members: BTreeMap<String, i64>,
    /// group.instance.id → member id of static members.
    pub static_members: BTreeMap<String, String>,
    /// When the group entered its state (ms).
    pub state_since: i64,
    /// PreparingRebalance: when the join phase ends whoever has rejoined.
    pub rebalance_deadline: Option<i64>,
    /// PreparingRebalance out of Empty: the initial delay's next check and its limit, and
    /// the member count at the last check.
    pub initial_delay: Option<(i64, i64, usize)>,
    /// CompletingRebalance: when members that have not sent SyncGroup are removed.
    pub sync_deadline: Option<i64>,
    /// Whether the leader's assignment is being written.
    pub sync_write_pending: bool,
    pub next_seq: u64,
}

impl ClassicGroup {
    pub fn new(id: &str, now: i64) -> ClassicGroup {
        ClassicGroup {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            state_since: now,
            rebalance_deadline: None,
            initial_delay: None,
            sync_deadline: None,
            sync_write_pending: false,
            next_seq: 0,
        }
    }

    pub fn transition(&mut self, state: GroupState, now: i64) {
        self.state = state;
        self.state_since = now;
    }

    /// The protocols every member supports (all of `protocols` when the group has none).
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// The protocol for the next generation: of those every member supports, the one most
    /// members prefer (ties go to the name first in order).
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        let mut votes: BTreeMap<&String, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((vote, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                *votes.entry(vote).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, v)| *v == best)
            .map(|(n, _)| n.clone())
    }

    /// The largest rebalance timeout of its members (how long a join phase may last).
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms as i64)
            .max()
            .unwrap_or(0)
    }

    /// Whether every member has rejoined and no handed-out member id is still to come.
    pub fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// Whether `member_id` is the member registered for `instance_id` (a request naming an
    /// instance with another member id comes from a fenced, older incarnation).
    pub fn fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        instance_id.is_some_and(|i| {
            self.static_members
                .get(i)
                .is_some_and(|owner| owner != member_id)
        })
    }

    /// Removes a member; returns it.
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let m = self.members.remove(member_id)?;
        if let Some(i) = &m.instance_id
            && self.static_members.get(i).is_some_and(|id| id == member_id)
        {
            self.static_members.remove(i);
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self
                .members
                .values()
                .min_by_key(|m| m.joined_seq)
                .map(|m| m.id.clone());
        }
        Some(m)
    }

    /// The group as written to `__consumer_offsets`.
    pub fn stored(&self) -> GroupValue {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_since,
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// A group read back from its record (members are given `now` + their session timeout
    /// to heartbeat to the new coordinator).
    pub fn from_stored(id: &str, v: &GroupValue, now: i64) -> ClassicGroup {
        let mut g = ClassicGroup::new(id, now);
        g.generation = v.generation;
        g.protocol_type = (!v.protocol_type.is_empty()).then(|| v.protocol_type.clone());
        g.protocol = v.protocol.clone();
        g.leader = v.leader.clone();
        for (seq, m) in v.members.iter().enumerate() {
            let protocols = v
                .protocol
                .iter()
                .map(|p| (p.clone(), m.subscription.clone()))
                .collect();
            if let Some(i) = &m.group_instance_id {
                g.static_members.insert(i.clone(), m.member_id.clone());
            }
            g.members.insert(
                m.member_id.clone(),
                Member {
                    id: m.member_id.clone(),
                    instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols,
                    assignment: m.assignment.clone(),
                    heartbeat_deadline: now + m.session_timeout_ms as i64,
                    awaiting_join: None,
                    awaiting_sync: None,
                    joined_seq: seq as u64,
                },
            );
        }
        g.next_seq = v.members.len() as u64;
        g.state = if g.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        g.state_since = if v.current_state_timestamp > 0 {
            v.current_state_timestamp
        } else {
            now
        };
        g
    }

    /// The topics its consumer members subscribe to (for OffsetDelete and lag).
    pub fn subscribed_topics(&self) -> std::collections::BTreeSet<String> {
        let mut topics = std::collections::BTreeSet::new();
        if self.protocol_type.as_deref() != Some("consumer") {
            return topics;
        }
        let Some(protocol) = &self.protocol else {
            return topics;
        };
        for m in self.members.values() {
            if let Some(sub) = super::consumer_protocol::subscription(&m.metadata(protocol)) {
                topics.extend(sub);
            }
        }
        topics
    }
}
