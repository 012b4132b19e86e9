//! The `quorum-state` file: the election state a voter must never forget (epoch, leader, vote),
//! as one line of JSON in Kafka's version-0 layout. Written via `quorum-state.tmp`, fsync,
//! rename, fsync of the directory, so a crash leaves the old or the new state, never a torn one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::raft::QuorumStateData;
use crate::types::{Epoch, NodeId};

pub const QUORUM_STATE_FILE: &str = "quorum-state";

#[derive(Debug, thiserror::Error)]
pub enum QuorumStateError {
    #[error("cannot read {}: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("corrupt {}: {reason}; it holds this voter's vote and epoch — restore it from backup rather than deleting it", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot write {}: {cause}", path.display())]
    Write { path: PathBuf, cause: String },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Voter {
    voter_id: i32,
}

/// Kafka's `QuorumStateData` v0 JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileData {
    #[serde(default)]
    cluster_id: String,
    leader_id: i32,
    leader_epoch: i32,
    voted_id: i32,
    #[serde(default)]
    applied_offset: i64,
    #[serde(default)]
    current_voters: Vec<Voter>,
    #[serde(rename = "data_version")]
    data_version: i16,
}

/// Reads and writes the `quorum-state` file of one metadata log directory.
#[derive(Debug, Clone)]
pub struct QuorumStateStore {
    path: PathBuf,
    voters: Vec<NodeId>,
}

fn opt(id: i32) -> Option<NodeId> {
    (id >= 0).then_some(NodeId(id))
}

impl QuorumStateStore {
    /// The store for `dir` (the `__cluster_metadata-0` directory) with the static voter set.
    pub fn new(dir: &Path, voters: Vec<NodeId>) -> Self {
        QuorumStateStore {
            path: dir.join(QUORUM_STATE_FILE),
            voters,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The persisted state, `None` when the file does not exist (a new node).
    pub fn read(&self) -> Result<Option<QuorumStateData>, QuorumStateError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => {
                return Err(QuorumStateError::Read {
                    path: self.path.clone(),
                    cause,
                });
            }
        };
        let data: FileData =
            serde_json::from_str(text.trim()).map_err(|e| QuorumStateError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        if !(0..=1).contains(&data.data_version) {
            return Err(QuorumStateError::Corrupt {
                path: self.path.clone(),
                reason: format!("unknown data_version {}", data.data_version),
            });
        }
        Ok(Some(QuorumStateData {
            leader_epoch: Epoch(data.leader_epoch.max(0)),
            leader_id: opt(data.leader_id),
            voted_id: opt(data.voted_id),
        }))
    }

    /// Writes `state` durably before returning.
    pub fn write(&self, state: &QuorumStateData) -> Result<(), QuorumStateError> {
        let data = FileData {
            cluster_id: String::new(),
            leader_id: state.leader_id.map_or(-1, |n| n.0),
            leader_epoch: state.leader_epoch.0,
            voted_id: state.voted_id.map_or(-1, |n| n.0),
            applied_offset: 0,
            current_voters: self
                .voters
                .iter()
                .map(|v| Voter { voter_id: v.0 })
                .collect(),
            data_version: 0,
        };
        let json = serde_json::to_string(&data).map_err(|e| QuorumStateError::Write {
            path: self.path.clone(),
            cause: e.to_string(),
        })?;
        crate::atomic_file::write(&self.path, json.as_bytes()).map_err(|e| {
            QuorumStateError::Write {
                path: self.path.clone(),
                cause: e.to_string(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kafka_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = QuorumStateStore::new(dir.path(), vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(store.read().unwrap(), None);
        let state = QuorumStateData {
            leader_epoch: Epoch(7),
            leader_id: None,
            voted_id: Some(NodeId(2)),
        };
        store.write(&state).unwrap();
        assert_eq!(store.read().unwrap(), Some(state));
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert_eq!(
            text,
            r#"{"clusterId":"","leaderId":-1,"leaderEpoch":7,"votedId":2,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":2},{"voterId":3}],"data_version":0}"#
        );
        assert!(!dir.path().join("quorum-state.tmp").exists());
    }

    #[test]
    fn reads_kafkas_version_1_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = QuorumStateStore::new(dir.path(), vec![NodeId(1)]);
        std::fs::write(
            store.path(),
            r#"{"leaderId":1,"leaderEpoch":2,"votedId":1,"votedDirectoryId":"J8aAPcfLQt2bqs1JT_rMgQ","data_version":1}"#,
        )
        .unwrap();
        assert_eq!(
            store.read().unwrap(),
            Some(QuorumStateData {
                leader_epoch: Epoch(2),
                leader_id: Some(NodeId(1)),
                voted_id: Some(NodeId(1)),
            })
        );
        std::fs::write(store.path(), "{not json").unwrap();
        let err = store.read().unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("restore"), "{err}");
        std::fs::write(
            store.path(),
            r#"{"leaderId":1,"leaderEpoch":2,"votedId":1,"data_version":7}"#,
        )
        .unwrap();
        assert!(store.read().is_err());
    }
}
