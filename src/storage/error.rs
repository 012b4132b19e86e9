//! Storage errors: each says what is wrong and which command fixes it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid cluster id {id:?}: {reason}; generate one with `kraftd storage random-uuid`")]
    InvalidClusterId { id: String, reason: String },
    #[error(
        "log directory {} is not formatted (no meta.properties); format it with `kraftd storage format -t <cluster-id> -c <config>` (generate the id once per cluster with `kraftd storage random-uuid`)",
        dir.display()
    )]
    NotFormatted { dir: PathBuf },
    #[error(
        "log directory {} is already formatted (cluster.id={cluster_id}); use --ignore-formatted to skip formatted directories",
        dir.display()
    )]
    AlreadyFormatted { dir: PathBuf, cluster_id: String },
    #[error(
        "invalid cluster.id in {}: expected {expected} (from {}), but read {found}; all directories of a node must belong to one cluster — re-create the directory with `kraftd storage format -t {expected} -c <config>` only if its data is disposable",
        path.display(), expected_from.display()
    )]
    ClusterIdMismatch {
        path: PathBuf,
        expected: String,
        expected_from: PathBuf,
        found: String,
    },
    #[error(
        "stored node id {stored} in {} does not match node.id={configured} in the configuration; if you moved the data, set node.id={stored}; if this is meant to be a new node, remove the data in its log directories and run `kraftd storage format`",
        path.display()
    )]
    NodeIdMismatch {
        path: PathBuf,
        stored: i32,
        configured: i32,
    },
    #[error("malformed {}: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "log directory {} is locked by another process (lock file {}); is another kraftd running on this directory?",
        dir.display(), lock.display()
    )]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("I/O error on {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl StorageError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StorageError {
        let path = path.into();
        move |cause| StorageError::Io { path, cause }
    }
}
