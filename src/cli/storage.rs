//! `kraftd storage random-uuid | format | info`.

use std::fmt::Write;

use crate::config::ServerConfig;
use crate::raft_io::metadata_log;
use crate::storage::{self, DirState, FormatOutcome, StorageError, bootstrap};

/// `kraftd storage random-uuid`.
pub fn random_uuid() -> String {
    storage::cluster_id::random_uuid()
}

/// Formats the node's directories and prepares a newly formatted metadata directory for the
/// quorum (its log directory and initial `quorum-state`).
pub fn format_node(
    config: &ServerConfig,
    cluster_id: &str,
    ignore_formatted: bool,
) -> Result<FormatOutcome, FormatError> {
    let outcome = storage::format(config, cluster_id, ignore_formatted)?;
    if outcome.formatted.contains(&config.metadata_log_dir) {
        let voters = config.voters.iter().map(|v| v.id).collect();
        metadata_log::initialize(&config.metadata_log_dir, voters)?;
    }
    Ok(outcome)
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    MetadataLog(#[from] metadata_log::MetadataLogError),
}

/// `kraftd storage format`: returns the report to print.
pub fn format(
    config: &ServerConfig,
    cluster_id: &str,
    ignore_formatted: bool,
) -> Result<String, FormatError> {
    let FormatOutcome { formatted, skipped } = format_node(config, cluster_id, ignore_formatted)?;
    let mut out = String::new();
    for d in &formatted {
        let _ = writeln!(
            out,
            "Formatted {} with cluster.id {cluster_id}, node.id {} and metadata.version {} ({}).",
            d.display(),
            config.node_id,
            bootstrap::BOOTSTRAP_METADATA_VERSION_NAME,
            bootstrap::BOOTSTRAP_METADATA_VERSION
        );
    }
    for d in &skipped {
        let _ = writeln!(out, "Skipped {} (already formatted).", d.display());
    }
    Ok(out)
}

/// `kraftd storage info`: a report, and whether every directory is formatted and consistent.
pub fn info(config: &ServerConfig) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    let mut cluster_ids = Vec::new();
    for (dir, state) in storage::info(config) {
        let role = if dir == config.metadata_log_dir {
            " (metadata log dir)"
        } else {
            ""
        };
        let line = match state {
            DirState::Missing => {
                ok = false;
                "missing: run `kraftd storage format`".to_string()
            }
            DirState::Unformatted => {
                ok = false;
                "not formatted: run `kraftd storage format`".to_string()
            }
            DirState::Formatted {
                meta,
                metadata_version,
            } => {
                if meta.node_id != config.node_id {
                    ok = false;
                }
                cluster_ids.push(meta.cluster_id.clone());
                format!(
                    "formatted: cluster.id={} node.id={}{} directory.id={} metadata.version={}",
                    meta.cluster_id,
                    meta.node_id,
                    if meta.node_id != config.node_id {
                        format!(" (configured node.id is {})", config.node_id)
                    } else {
                        String::new()
                    },
                    meta.directory_id.as_deref().unwrap_or("-"),
                    metadata_version.map_or("-".to_string(), |v| v.to_string())
                )
            }
            DirState::Unreadable(e) => {
                ok = false;
                format!("unreadable: {e}")
            }
        };
        let _ = writeln!(out, "{}{role}: {line}", dir.display());
    }
    cluster_ids.dedup();
    if cluster_ids.len() > 1 {
        ok = false;
        let _ = writeln!(
            out,
            "directories disagree on cluster.id: {}",
            cluster_ids.join(", ")
        );
    }
    (out, ok)
}
