//! KRaft consensus, sans-IO and deterministic.
//!
//! This module is the consensus core of the metadata quorum: Apache Kafka's KRaft protocol
//! (KIP-595, KIP-630 snapshots, KIP-996 pre-vote) as a pure state machine. KRaft calls the Raft
//! *term* the **epoch**; this code does too.
//!
//! # Shape
//!
//! [`RaftCore::step`]`(now, input, &mut outputs)` is the only way state changes. Time comes
//! only from `now` ([`crate::types::MonoTime`]); randomness only from the seeded
//! `rand_chacha::ChaCha8Rng` given to [`RaftCore::new`]. The module must not use tokio, the
//! file system, the network, clock reads, thread RNGs or hash-ordered collections; the test
//! `tests/architecture` enforces this. The metadata log is reached through the [`RaftLog`]
//! trait; [`MemLog`] is the in-memory implementation used by tests and the simulator.
//!
//! # Driver rule
//!
//! The IO driver (`crate::raft_io::driver`) executes the outputs of one step **in order**, and:
//! 1. [`Output::PersistQuorumState`] (write `quorum-state`: temp file, fsync, rename, fsync dir)
//!    and [`Output::FlushLog`] (fsync the log up to `up_to`) are durable **before** any
//!    [`Output::Send`] of the same step is handed to the network, and before the next step. The
//!    core emits them first in the output list, so executing in order satisfies this.
//!    A granted vote, a candidacy, a leadership, and a fetch offset that acknowledges records
//!    all rely on it.
//! 2. It ticks the core (`Input::Tick`) no later than [`RaftCore::next_deadline`].
//! 3. It delivers a response with the `correlation_id` of its request and `from` set to the id
//!    the request was sent to (bootstrap servers included, see
//!    [`RaftConfig::bootstrap_servers`]); requests that fail at the transport level may simply be
//!    dropped (the core times them out).
//! 4. `Committed` means "records below this offset are committed"; read them from the log and
//!    hand them to the layer above. `SnapshotInstalled` means "reload state from this snapshot".
//!    At startup the layer above loads the latest snapshot itself (the core starts with its
//!    high watermark at that snapshot's end offset) and then follows `Committed`.
//! 5. After [`Input::Shutdown`], wait for [`Output::ShutdownReady`] (with a deadline).
//!
//! A driver loop, in outline:
//!
//! ```text
//! loop {
//!     let input = select! { message => Received, proposal => Append, sleep_until(core.next_deadline()) => Tick, .. };
//!     core.step(now(), input, &mut outputs);
//!     for o in outputs.drain(..) {
//!         match o {
//!             PersistQuorumState(q) => write_quorum_state_atomically(q)?,   // fsync before sends
//!             FlushLog { .. }       => core.log_mut().flush(),             // fsync before sends
//!             Send { to, msg }      => transport.send(to, msg),
//!             Committed { high_watermark } => publish_committed(core.log(), high_watermark),
//!             other                 => handle(other),
//!         }
//!     }
//!     metrics.update(core.status());
//! }
//! ```
//!
//! # States and transitions
//!
//! | From \ event            | Target                                                        |
//! |-------------------------|---------------------------------------------------------------|
//! | Unattached              | → Unattached (higher epoch, or binding vote granted: "voted")  |
//! |                         | → Prospective (election timeout; voters only)                 |
//! |                         | → Follower (leader learned for an equal or higher epoch)      |
//! | Prospective             | → Candidate (pre-vote majority)                               |
//! |                         | → Follower (pre-vote lost or timed out, leader of epoch known)|
//! |                         | → Unattached (pre-vote lost or timed out without a leader; or higher epoch) |
//! | Candidate               | → Leader (vote majority)                                      |
//! |                         | → Prospective (election lost or timed out, after a backoff)   |
//! |                         | → Unattached (higher epoch) / Follower (leader learned)       |
//! | Leader                  | → Resigned (`Resign`, `Shutdown`, check-quorum expiry)        |
//! |                         | → Unattached / Follower (higher epoch)                        |
//! | Follower                | → Prospective (fetch timeout; voters)                         |
//! |                         | → Unattached (fetch timeout; observers — or higher epoch without leader) |
//! |                         | → Follower (higher epoch with leader)                         |
//! | Resigned                | → Prospective (election timeout)                              |
//! |                         | → Unattached / Follower (higher epoch)                        |
//! | (startup)               | Resigned if it was leader; Candidate if it voted for itself;  |
//! |                         | Follower if a leader is known; otherwise Unattached           |
//!
//! Observers (non-voters) only move between Unattached and Follower. Transitions that change
//! the epoch, leader or vote are **durable** (an `Output::PersistQuorumState`); Prospective and
//! Resigned are memory-only. Each edge has a unit test in `tests.rs`.
//!
//! # Rules (Kafka's, see `docs/raft.md`)
//!
//! - Vote: log up-to-date check on (last epoch, end offset); at most one binding vote per epoch,
//!   persisted before it is granted; pre-votes never persisted. A follower that has fetched from
//!   its leader rejects pre-votes, so a partitioned node cannot disrupt a healthy quorum.
//! - Election timeout uniform in `[T, 2T)`; binary exponential backoff after a lost election.
//! - BeginQuorumEpoch from a new leader (resent every `fetch_timeout / 2` to voters that have not
//!   fetched); EndQuorumEpoch with preferred successors on resignation.
//! - Pull replication via Fetch with diverging-epoch truncation (never below the high
//!   watermark) and snapshot redirection; fetches long-poll on the leader.
//! - High watermark: majority of voters, only above the leader's epoch start offset, monotonic.
//! - Check quorum: a leader without fetches from a majority for 1.5 × fetch timeout resigns.
//! - Snapshots (KIP-630): created by the layer above at committed batch boundaries, served with
//!   FetchSnapshot, installed atomically; the log is cleaned only below a snapshot.

mod api;
pub mod codec;
mod config;
mod core;
mod election;
pub mod invariants;
mod log;
mod mem_log;
pub mod messages;
mod replication;
mod state;
mod status;
#[cfg(test)]
mod tests;
mod timers;
mod transitions;

pub use self::api::{Input, Output, QuorumStateData, SnapshotRejection, StartupError};
pub use self::config::{ConfigError, RaftConfig};
pub use self::core::RaftCore;
pub use self::log::{
    Batch, BatchPayload, ControlRecord, OffsetAndEpoch, RaftLog, SnapshotId, snapshot_file_name,
};
pub use self::mem_log::MemLog;
pub use self::status::{RaftCounters, RaftStatus, ReplicaStatus, StateKind};
