//! The deterministic cluster simulator: N raft cores, a simulated network, simulated disks,
//! a virtual clock and one seed.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::time::Duration;

use bytes::Bytes;
use kraftd::raft::invariants::{
    self, CommittedHistory, InvariantChecker, InvariantSet, NodeObservation, RunningNode, Violation,
};
use kraftd::raft::messages::Message;
use kraftd::raft::{
    Input, MemLog, OffsetAndEpoch, Output, QuorumStateData, RaftConfig, RaftCore, RaftLog,
    StateKind,
};
use kraftd::types::{Epoch, MonoTime, NodeId, Offset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Network behaviour.
#[derive(Debug, Clone, Copy)]
pub struct NetConfig {
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
    pub drop_prob: f64,
    pub dup_prob: f64,
}

impl NetConfig {
    pub fn reliable() -> Self {
        NetConfig {
            min_delay_ms: 1,
            max_delay_ms: 5,
            drop_prob: 0.0,
            dup_prob: 0.0,
        }
    }

    pub fn lossy() -> Self {
        NetConfig {
            min_delay_ms: 1,
            max_delay_ms: 20,
            drop_prob: 0.05,
            dup_prob: 0.02,
        }
    }
}

/// Cluster shape and options.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub voters: usize,
    pub observers: usize,
    pub net: NetConfig,
    pub invariants: InvariantSet,
    /// Appends by the simulated controller: one record every `append_interval_ms` (0 = none).
    pub append_interval_ms: u64,
    /// Take a snapshot every this many committed offsets (0 = never).
    pub snapshot_every: i64,
    /// Clean the log below each new snapshot.
    pub clean_after_snapshot: bool,
    /// Probability of a hard crash just before a persistence output of a step is executed
    /// (the rest of that step's outputs, sends included, are lost with the node).
    pub crash_mid_step: f64,
    pub tweak: fn(&mut RaftConfig),
}

impl SimConfig {
    pub fn new(voters: usize) -> Self {
        SimConfig {
            voters,
            observers: 0,
            net: NetConfig::reliable(),
            invariants: InvariantSet::default(),
            append_interval_ms: 20,
            snapshot_every: 50,
            clean_after_snapshot: true,
            crash_mid_step: 0.0,
            tweak: |_| {},
        }
    }
}

#[derive(Debug)]
enum EventKind {
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: Message,
    },
    Tick {
        node: NodeId,
        generation: u64,
    },
    ClientAppend,
}

#[derive(Debug)]
struct Event {
    time: MonoTime,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// The replicated state machine of the simulation: a digest folded over committed batches.
#[derive(Debug, Clone, Default)]
struct StateMachine {
    applied: Offset,
    state: u64,
    last_epoch: Epoch,
    last_snapshot: Offset,
}

fn encode_state(sm: &StateMachine) -> Bytes {
    let mut v = sm.state.to_le_bytes().to_vec();
    v.extend_from_slice(&sm.last_epoch.0.to_le_bytes());
    Bytes::from(v)
}

fn decode_state(data: &[u8]) -> (u64, Epoch) {
    let state = u64::from_le_bytes(data[0..8].try_into().unwrap());
    let epoch = i32::from_le_bytes(data[8..12].try_into().unwrap());
    (state, Epoch(epoch))
}

pub struct SimNode {
    pub id: NodeId,
    pub core: Option<RaftCore<MemLog>>,
    down_log: Option<MemLog>,
    pub persisted: Option<QuorumStateData>,
    pub incarnation: u64,
    tick_generation: u64,
    sm: StateMachine,
    pub shutdown_ready: bool,
    /// When `Input::Shutdown` was given to this incarnation.
    pub shutdown_since: Option<MonoTime>,
    /// Epochs in which this incarnation was elected (became leader).
    pub led_epochs: BTreeSet<Epoch>,
}

/// A record of something scenarios assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    LeaderEpochCommitted {
        node: NodeId,
        epoch: Epoch,
        at: MonoTime,
    },
}

pub struct Sim {
    pub cfg: SimConfig,
    pub seed: u64,
    pub now: MonoTime,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<Event>>,
    seq: u64,
    pub nodes: Vec<SimNode>,
    pub voters: Vec<NodeId>,
    /// Directed links that drop everything: (from, to).
    blocked: BTreeSet<(NodeId, NodeId)>,
    pub checker: InvariantChecker,
    pub history: CommittedHistory,
    trace: u64,
    pub events: u64,
    next_record: u64,
    pub notes: Vec<Note>,
    pub snapshots_created: u64,
    pub snapshots_rejected: u64,
    pub crashed_mid_step: u64,
    pub violation: Option<(MonoTime, Violation)>,
    /// Offsets of snapshot requests a scenario wants to try (KAFKA-13968).
    pub bad_snapshot_attempts: bool,
    /// `SIM_TRACE=1` prints every step (debugging one seed).
    verbose: bool,
}

impl Sim {
    pub fn new(cfg: SimConfig, seed: u64) -> Sim {
        let voters: Vec<NodeId> = (1..=cfg.voters as i32).map(NodeId).collect();
        let all = cfg.voters + cfg.observers;
        let mut sim = Sim {
            checker: InvariantChecker::new(cfg.invariants),
            cfg,
            seed,
            now: MonoTime(0),
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            seq: 0,
            nodes: Vec::new(),
            voters,
            blocked: BTreeSet::new(),
            history: CommittedHistory::new(),
            trace: invariants::digest(&seed.to_le_bytes(), 0),
            events: 0,
            next_record: 0,
            notes: Vec::new(),
            snapshots_created: 0,
            snapshots_rejected: 0,
            crashed_mid_step: 0,
            violation: None,
            bad_snapshot_attempts: false,
            verbose: std::env::var("SIM_TRACE").is_ok_and(|v| v == "1"),
        };
        for i in 1..=all as i32 {
            sim.nodes.push(SimNode {
                id: NodeId(i),
                core: None,
                down_log: Some(MemLog::new()),
                persisted: None,
                incarnation: 0,
                tick_generation: 0,
                sm: StateMachine::default(),
                shutdown_ready: false,
                shutdown_since: None,
                led_epochs: BTreeSet::new(),
            });
        }
        for i in 1..=all as i32 {
            sim.start(NodeId(i));
        }
        if sim.cfg.append_interval_ms > 0 {
            sim.schedule(
                MonoTime(sim.cfg.append_interval_ms),
                EventKind::ClientAppend,
            );
        }
        sim
    }

    fn idx(&self, id: NodeId) -> usize {
        (id.0 - 1) as usize
    }

    pub fn node(&self, id: NodeId) -> &SimNode {
        &self.nodes[self.idx(id)]
    }

    pub fn raft_config(&self, id: NodeId) -> RaftConfig {
        let mut c = RaftConfig::new(id, "sim-cluster", self.voters.clone());
        (self.cfg.tweak)(&mut c);
        c
    }

    fn schedule(&mut self, time: MonoTime, kind: EventKind) {
        self.seq += 1;
        self.queue.push(Reverse(Event {
            time,
            seq: self.seq,
            kind,
        }));
    }

    fn mix(&mut self, words: &[u64]) {
        for w in words {
            self.trace = invariants::digest(&w.to_le_bytes(), self.trace);
        }
    }

    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    // ----- node lifecycle -----

    /// Starts a node that is down, from its durable state.
    pub fn start(&mut self, id: NodeId) {
        let i = self.idx(id);
        assert!(self.nodes[i].core.is_none(), "node {id} already running");
        let log = self.nodes[i].down_log.take().expect("down node has a log");
        let cfg = self.raft_config(id);
        let incarnation = self.nodes[i].incarnation + 1;
        let rng = ChaCha8Rng::seed_from_u64(self.seed ^ ((id.0 as u64) << 32) ^ incarnation);
        let core = match RaftCore::new(cfg, log, self.nodes[i].persisted, rng, self.now) {
            Ok(core) => core,
            Err(e) => panic!("node {id} refused to start: {e}"),
        };
        let n = &mut self.nodes[i];
        n.incarnation = incarnation;
        n.shutdown_ready = false;
        n.shutdown_since = None;
        n.led_epochs.clear();
        // The state machine restarts from the latest snapshot.
        n.sm = StateMachine::default();
        if let Some(s) = core.log().latest_snapshot() {
            let (state, epoch) = decode_state(core.log().snapshot_data(s).unwrap());
            n.sm = StateMachine {
                applied: s.offset,
                state,
                last_epoch: epoch,
                last_snapshot: s.offset,
            };
        }
        n.core = Some(core);
        self.mix(&[1, id.0 as u64, self.now.0]);
        self.step(id, Input::Tick);
    }

    /// Hard-kills a node: unflushed log data and partial snapshots are lost.
    pub fn kill(&mut self, id: NodeId) {
        let i = self.idx(id);
        if let Some(core) = self.nodes[i].core.take() {
            let mut log = core.into_log();
            log.crash();
            self.nodes[i].down_log = Some(log);
            self.nodes[i].tick_generation += 1;
            self.mix(&[2, id.0 as u64, self.now.0]);
        }
    }

    /// Kills a node and wipes its disk (log and quorum-state).
    pub fn kill_and_wipe(&mut self, id: NodeId) {
        self.kill(id);
        let i = self.idx(id);
        self.nodes[i].down_log = Some(MemLog::new());
        self.nodes[i].persisted = None;
        self.checker.forget_node(id);
    }

    pub fn is_running(&self, id: NodeId) -> bool {
        self.node(id).core.is_some()
    }

    pub fn input(&mut self, id: NodeId, input: Input) {
        if self.is_running(id) {
            if input == Input::Shutdown {
                let i = self.idx(id);
                self.nodes[i].shutdown_since.get_or_insert(self.now);
            }
            self.step(id, input);
            self.check_invariants();
        }
    }

    // ----- network -----

    pub fn block(&mut self, from: NodeId, to: NodeId) {
        self.blocked.insert((from, to));
    }

    /// Cuts every link between `group` and the rest, both ways.
    pub fn isolate(&mut self, group: &[NodeId]) {
        let all: Vec<NodeId> = self.nodes.iter().map(|n| n.id).collect();
        for a in group {
            for b in &all {
                if !group.contains(b) {
                    self.blocked.insert((*a, *b));
                    self.blocked.insert((*b, *a));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    pub fn set_net(&mut self, net: NetConfig) {
        self.cfg.net = net;
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: Message) {
        if self.blocked.contains(&(from, to)) || to.0 < 1 || to.0 as usize > self.nodes.len() {
            return;
        }
        let net = self.cfg.net;
        if net.drop_prob > 0.0 && self.rng.random_bool(net.drop_prob) {
            return;
        }
        let copies = if net.dup_prob > 0.0 && self.rng.random_bool(net.dup_prob) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.random_range(net.min_delay_ms..=net.max_delay_ms);
            let at = MonoTime(self.now.0 + delay);
            self.schedule(
                at,
                EventKind::Deliver {
                    from,
                    to,
                    msg: msg.clone(),
                },
            );
        }
    }

    // ----- stepping -----

    fn step(&mut self, id: NodeId, input: Input) {
        let i = self.idx(id);
        if self.nodes[i].core.is_none() {
            // Crashed earlier in this event (crash_mid_step).
            return;
        }
        let now = self.now;
        let mut out = Vec::new();
        if self.verbose {
            println!("t={} node {id} <- {input:?}", now.0);
        }
        {
            let core = self.nodes[i].core.as_mut().expect("running");
            core.step(now, input, &mut out);
        }
        self.mix(&[3, id.0 as u64, now.0, out.len() as u64]);
        if self.verbose {
            let st = self.nodes[i].core.as_ref().unwrap().status();
            println!(
                "    {} e{} l{:?} -> {out:?}",
                st.state.as_str(),
                st.epoch,
                st.leader_id
            );
        }
        // Persistence first (the driver rule), then everything else in order.
        for o in out {
            let persistence = matches!(o, Output::PersistQuorumState(_) | Output::FlushLog { .. });
            if persistence
                && self.cfg.crash_mid_step > 0.0
                && self.rng.random_bool(self.cfg.crash_mid_step)
            {
                self.mix(&[6, id.0 as u64]);
                self.kill(id);
                self.crashed_mid_step += 1;
                return;
            }
            if self.nodes[self.idx(id)].core.is_none() {
                return;
            }
            self.execute(id, o);
        }
        let i = self.idx(id);
        if let Some(core) = &self.nodes[i].core {
            let next = core.next_deadline();
            let next = MonoTime(next.0.max(now.0 + 1));
            self.nodes[i].tick_generation += 1;
            let generation = self.nodes[i].tick_generation;
            if next.0 != u64::MAX {
                self.schedule(
                    next,
                    EventKind::Tick {
                        node: id,
                        generation,
                    },
                );
            }
        }
    }

    fn execute(&mut self, id: NodeId, o: Output) {
        let i = self.idx(id);
        match o {
            Output::PersistQuorumState(q) => {
                self.nodes[i].persisted = Some(q);
                self.mix(&[
                    4,
                    q.leader_epoch.0 as u64,
                    q.leader_id.map_or(0, |l| l.0 as u64 + 1),
                ]);
            }
            Output::FlushLog { up_to } => {
                let core = self.nodes[i].core.as_mut().unwrap();
                core.log_mut().flush();
                assert!(core.log().flushed_end() >= up_to);
            }
            Output::Send { to, msg } => self.send(id, to, msg),
            Output::Committed { high_watermark } => self.apply_committed(id, high_watermark),
            Output::LeaderChanged { epoch, leader_id } => {
                self.mix(&[5, epoch.0 as u64, leader_id.map_or(0, |l| l.0 as u64 + 1)]);
                let leading =
                    self.nodes[i].core.as_ref().map(|c| c.state()) == Some(StateKind::Leader);
                if leader_id == Some(id) && leading {
                    self.nodes[i].led_epochs.insert(epoch);
                }
            }
            Output::LeaderEpochCommitted { epoch, .. } => {
                assert!(
                    self.nodes[i].led_epochs.contains(&epoch),
                    "KAFKA-17333: node {id} committed epoch {epoch} it was not elected in by this incarnation"
                );
                self.notes.push(Note::LeaderEpochCommitted {
                    node: id,
                    epoch,
                    at: self.now,
                });
            }
            Output::Appended { epoch, .. } => {
                assert!(
                    self.nodes[i].led_epochs.contains(&epoch),
                    "node {id} accepted an append in epoch {epoch} without being elected in it"
                );
            }
            Output::AppendRejected { .. } => {}
            Output::SnapshotCreated { .. } => self.snapshots_created += 1,
            Output::SnapshotRejected { .. } => self.snapshots_rejected += 1,
            Output::SnapshotInstalled { id: snap } => {
                let core = self.nodes[i].core.as_ref().unwrap();
                let state = core.state();
                let (s, e) = decode_state(core.log().snapshot_data(snap).unwrap());
                if let Err(v) = invariants::check_snapshot_load(id, state, snap) {
                    self.fail(v);
                }
                self.nodes[i].sm = StateMachine {
                    applied: snap.offset,
                    state: s,
                    last_epoch: e,
                    last_snapshot: snap.offset,
                };
                if let Err(v) = self.history.observe_state(id, snap.offset, s) {
                    self.fail(v);
                }
            }
            Output::ShutdownReady => self.nodes[i].shutdown_ready = true,
        }
    }

    fn fail(&mut self, v: Violation) {
        if self.violation.is_none() {
            self.violation = Some((self.now, v));
        }
    }

    /// Applies newly committed batches to the node's state machine and records them in the
    /// global committed history; takes snapshots by policy.
    fn apply_committed(&mut self, id: NodeId, hw: Offset) {
        let i = self.idx(id);
        let mut batches = Vec::new();
        {
            let n = &self.nodes[i];
            let core = n.core.as_ref().unwrap();
            let mut at = n.sm.applied;
            while at < hw {
                let read = core.log().read(at, 1 << 20);
                let Some(last) = read.last() else { break };
                at = last.next_offset();
                batches.extend(read.into_iter().filter(|b| b.next_offset() <= hw));
            }
        }
        for b in &batches {
            if let Err(v) = self.history.observe_batch(id, b) {
                self.fail(v);
            }
            let sm = &mut self.nodes[i].sm;
            sm.state = invariants::digest(&invariants::batch_digest(b).to_le_bytes(), sm.state);
            sm.applied = b.next_offset();
            sm.last_epoch = b.epoch;
        }
        let sm = self.nodes[i].sm.clone();
        if self.cfg.snapshot_every > 0
            && sm.applied.0 - sm.last_snapshot.0 >= self.cfg.snapshot_every
        {
            if let Err(v) = self.history.observe_state(id, sm.applied, sm.state) {
                self.fail(v);
            }
            if self.bad_snapshot_attempts {
                // KAFKA-13968: attempts above the high watermark and off batch boundaries must
                // be refused.
                let above = OffsetAndEpoch::new(Offset(hw.0 + 1), sm.last_epoch);
                self.step(
                    id,
                    Input::CreateSnapshot {
                        id: above,
                        data: encode_state(&sm),
                    },
                );
                let mid = OffsetAndEpoch::new(Offset(sm.applied.0 - 1), sm.last_epoch);
                let aligned_prev = batches.last().is_some_and(|b| b.record_count() > 1);
                if aligned_prev {
                    self.step(
                        id,
                        Input::CreateSnapshot {
                            id: mid,
                            data: encode_state(&sm),
                        },
                    );
                }
            }
            let snap = OffsetAndEpoch::new(sm.applied, sm.last_epoch);
            self.nodes[i].sm.last_snapshot = sm.applied;
            self.step(
                id,
                Input::CreateSnapshot {
                    id: snap,
                    data: encode_state(&sm),
                },
            );
            if self.cfg.clean_after_snapshot {
                self.step(id, Input::CleanLog);
            }
        }
    }

    fn client_append(&mut self) {
        let leader = self.nodes.iter().find_map(|n| {
            let c = n.core.as_ref()?;
            (c.state() == StateKind::Leader).then(|| (n.id, c.epoch()))
        });
        if let Some((id, epoch)) = leader {
            let count = self.rng.random_range(1..=3);
            let mut records = Vec::new();
            for _ in 0..count {
                self.next_record += 1;
                records.push(Bytes::from(self.next_record.to_le_bytes().to_vec()));
            }
            self.step(id, Input::Append { epoch, records });
        }
        let gap = self
            .rng
            .random_range(self.cfg.append_interval_ms / 2..=self.cfg.append_interval_ms * 3 / 2);
        self.schedule(MonoTime(self.now.0 + gap.max(1)), EventKind::ClientAppend);
    }

    /// Runs events up to and including virtual time `until`.
    pub fn run_until(&mut self, until: MonoTime) -> Result<(), (MonoTime, Violation)> {
        while let Some(Reverse(ev)) = self.queue.peek() {
            if ev.time > until {
                break;
            }
            let Reverse(ev) = self.queue.pop().unwrap();
            self.now = ev.time;
            self.events += 1;
            match ev.kind {
                EventKind::Deliver { from, to, msg } => {
                    if self.blocked.contains(&(from, to)) || !self.is_running(to) {
                        continue;
                    }
                    self.step(to, Input::Received { from, msg });
                }
                EventKind::Tick { node, generation } => {
                    let n = self.node(node);
                    if n.core.is_none() || n.tick_generation != generation {
                        continue;
                    }
                    self.step(node, Input::Tick);
                }
                EventKind::ClientAppend => {
                    if self.cfg.append_interval_ms > 0 {
                        self.client_append();
                    }
                }
            }
            self.check_invariants();
            if let Some(v) = &self.violation {
                return Err(v.clone());
            }
        }
        self.now = self.now.max(until);
        if let Some(v) = &self.violation {
            return Err(v.clone());
        }
        Ok(())
    }

    pub fn run_for(&mut self, d: Duration) -> Result<(), (MonoTime, Violation)> {
        let until = self.now.plus(d);
        self.run_until(until)
    }

    fn check_invariants(&mut self) {
        let mut obs = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let (running, leo) = match &n.core {
                Some(c) => {
                    if let Err(v) = invariants::check_snapshot_at_log_start(n.id, c.log()) {
                        self.violation.get_or_insert((self.now, v));
                    }
                    let st = c.status();
                    (
                        Some(RunningNode {
                            state: st.state,
                            epoch: st.epoch,
                            high_watermark: st.high_watermark,
                            epoch_committed: st.epoch_committed,
                        }),
                        // A voter acknowledges only flushed data.
                        c.log().flushed_end().min(c.log().end_offset()),
                    )
                }
                None => (None, n.down_log.as_ref().unwrap().end_offset()),
            };
            obs.push(NodeObservation {
                node_id: n.id,
                incarnation: n.incarnation,
                running,
                persisted: n.persisted,
                log_end_offset: leo,
            });
        }
        if let Err(v) = self.checker.check(&self.voters, &obs) {
            self.fail(v);
        }
    }

    // ----- queries for scenarios -----

    /// The running node in Leader state whose epoch is committed, if exactly one is.
    pub fn committed_leader(&self) -> Option<(NodeId, Epoch)> {
        let leaders: Vec<(NodeId, Epoch)> = self
            .nodes
            .iter()
            .filter_map(|n| {
                let c = n.core.as_ref()?;
                let st = c.status();
                (st.state == StateKind::Leader && st.epoch_committed).then_some((n.id, st.epoch))
            })
            .collect();
        match leaders.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Runs until a committed leader exists (other than `excluding`), up to `limit`.
    pub fn wait_for_leader(
        &mut self,
        excluding: Option<NodeId>,
        limit: Duration,
    ) -> Result<(NodeId, Epoch), String> {
        let deadline = self.now.plus(limit);
        loop {
            if let Some((l, e)) = self.committed_leader()
                && Some(l) != excluding
            {
                return Ok((l, e));
            }
            if self.now >= deadline {
                return Err(format!(
                    "no committed leader within {limit:?} (t={})",
                    self.now.0
                ));
            }
            let step = MonoTime((self.now.0 + 5).min(deadline.0));
            self.run_until(step)
                .map_err(|(t, v)| format!("t={}: {v}", t.0))?;
        }
    }

    /// Liveness: with faults stopped, one leader emerges and every running node converges
    /// (same epoch, same leader, high watermark = leader's log end) within `limit`.
    pub fn converge(&mut self, limit: Duration) -> Result<Duration, String> {
        let start = self.now;
        // Faults stop for the liveness phase.
        self.cfg.crash_mid_step = 0.0;
        self.complete_shutdowns(Duration::ZERO);
        let saved_interval = self.cfg.append_interval_ms;
        self.heal();
        self.set_net(NetConfig::reliable());
        self.wait_for_leader(None, limit)?;
        // Stop appends so that everyone can catch up.
        self.cfg.append_interval_ms = 0;
        let deadline = start.plus(limit);
        loop {
            if let Some((leader, epoch)) = self.committed_leader() {
                let lc = self.node(leader).core.as_ref().unwrap();
                let leo = lc.log().end_offset();
                let converged = lc.high_watermark() == Some(leo)
                    && self.nodes.iter().filter(|n| n.core.is_some()).all(|n| {
                        let c = n.core.as_ref().unwrap();
                        c.epoch() == epoch
                            && (n.id == leader || c.leader_id() == Some(leader))
                            && c.log().end_offset() == leo
                            && c.high_watermark() == Some(leo)
                    });
                if converged {
                    self.cfg.append_interval_ms = saved_interval;
                    self.final_consistency().map_err(|v| v.to_string())?;
                    return Ok(self.now.since(start));
                }
            }
            if self.now >= deadline {
                return Err(format!(
                    "no convergence within {limit:?}: {}",
                    self.describe()
                ));
            }
            let step = MonoTime((self.now.0 + 10).min(deadline.0));
            self.run_until(step)
                .map_err(|(t, v)| format!("t={}: {v}", t.0))?;
        }
    }

    /// ConsistentCommittedData at the end: every running node's committed batches and state
    /// match the global history.
    pub fn final_consistency(&mut self) -> Result<(), Violation> {
        for i in 0..self.nodes.len() {
            let id = self.nodes[i].id;
            let Some(core) = self.nodes[i].core.as_ref() else {
                continue;
            };
            let hw = core.high_watermark().unwrap_or(Offset(0));
            let batches: Vec<_> = core
                .log()
                .batches()
                .iter()
                .filter(|b| b.next_offset() <= hw)
                .cloned()
                .collect();
            for b in &batches {
                self.history.observe_batch(id, b)?;
            }
            let sm = self.nodes[i].sm.clone();
            self.history.observe_state(id, sm.applied, sm.state)?;
        }
        Ok(())
    }

    /// Drops committed history no node can observe again (bounded memory for soak runs).
    pub fn prune_history(&mut self) {
        let floor = self
            .nodes
            .iter()
            .map(|n| {
                let log = n
                    .core
                    .as_ref()
                    .map(|c| c.log())
                    .or(n.down_log.as_ref())
                    .unwrap();
                let snap = log
                    .earliest_snapshot()
                    .map_or(log.start_offset(), |s| s.offset);
                log.start_offset().min(snap).min(n.sm.applied)
            })
            .min()
            .unwrap_or(Offset(0));
        self.history.prune_below(floor);
    }

    /// What a driver does with a node that was asked to shut down: exit once it reports
    /// `ShutdownReady`, or when its shutdown deadline passes (it may never see a new leader).
    /// The simulator restarts such nodes.
    pub fn complete_shutdowns(&mut self, deadline: Duration) {
        for id in self.node_ids() {
            let n = self.node(id);
            let overdue = n
                .shutdown_since
                .is_some_and(|t| self.now.since(t) >= deadline);
            if n.core.is_some() && (n.shutdown_ready || overdue) {
                self.kill(id);
                self.start(id);
            }
        }
    }

    pub fn describe(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            match &n.core {
                Some(c) => {
                    let st = c.status();
                    s.push_str(&format!(
                        "[{} {} e{} l{:?} hw{:?} leo{} start{}] ",
                        n.id,
                        st.state.as_str(),
                        st.epoch,
                        st.leader_id.map(|l| l.0),
                        st.high_watermark.map(|h| h.0),
                        st.log_end_offset,
                        st.log_start_offset
                    ));
                }
                None => s.push_str(&format!("[{} down] ", n.id)),
            }
        }
        s
    }

    pub fn random_voter(&mut self) -> NodeId {
        let i = self.rng.random_range(0..self.voters.len());
        self.voters[i]
    }

    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.iter().map(|n| n.id).collect()
    }
}
