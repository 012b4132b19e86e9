//! Storage formatting and startup checks: `meta.properties` in every log directory, the
//! bootstrap checkpoint, directory locks, and `kraftd storage random-uuid | format | info`.

pub mod bootstrap;
pub mod cluster_id;
pub mod error;
pub mod lock;
pub mod meta_properties;

use std::path::{Path, PathBuf};

pub use error::StorageError;
pub use lock::DirLock;
pub use meta_properties::MetaProperties;

use crate::config::ServerConfig;

/// What `format` did to each directory.
#[derive(Debug, Default)]
pub struct FormatOutcome {
    pub formatted: Vec<PathBuf>,
    pub skipped: Vec<PathBuf>,
}

/// Formats every log directory and the metadata directory of `config` for `cluster_id`.
///
/// All directories are checked before anything is written, so a refused format leaves no
/// directory half-done. Formatted directories are refused unless `ignore_formatted`, which
/// skips them (a directory of another cluster is refused even then).
pub fn format(
    config: &ServerConfig,
    cluster_id: &str,
    ignore_formatted: bool,
) -> Result<FormatOutcome, StorageError> {
    cluster_id::validate(cluster_id)?;
    let mut outcome = FormatOutcome::default();
    for dir in config.all_dirs() {
        match MetaProperties::read(&dir)? {
            Some(meta) if !ignore_formatted => {
                return Err(StorageError::AlreadyFormatted {
                    dir,
                    cluster_id: meta.cluster_id,
                });
            }
            Some(meta) if meta.cluster_id != cluster_id => {
                return Err(StorageError::ClusterIdMismatch {
                    path: MetaProperties::path(&dir),
                    expected: cluster_id.to_string(),
                    expected_from: PathBuf::from("--cluster-id"),
                    found: meta.cluster_id,
                });
            }
            Some(_) => outcome.skipped.push(dir),
            None => outcome.formatted.push(dir),
        }
    }
    for dir in &outcome.formatted {
        std::fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
        bootstrap::write(dir, bootstrap::BOOTSTRAP_METADATA_VERSION)?;
        MetaProperties {
            cluster_id: cluster_id.to_string(),
            node_id: config.node_id,
            directory_id: Some(cluster_id::random_uuid()),
        }
        .write(dir)?;
    }
    Ok(outcome)
}

/// The state of one directory, as `kraftd storage info` reports it.
#[derive(Debug)]
pub enum DirState {
    Missing,
    Unformatted,
    Formatted {
        meta: MetaProperties,
        metadata_version: Option<i16>,
    },
    Unreadable(StorageError),
}

/// Inspects every directory of `config` without changing anything.
pub fn info(config: &ServerConfig) -> Vec<(PathBuf, DirState)> {
    config
        .all_dirs()
        .into_iter()
        .map(|dir| {
            let state = if !dir.exists() {
                DirState::Missing
            } else {
                match MetaProperties::read(&dir) {
                    Ok(None) => DirState::Unformatted,
                    Ok(Some(meta)) => match bootstrap::read_metadata_version(&dir) {
                        Ok(metadata_version) => DirState::Formatted {
                            meta,
                            metadata_version,
                        },
                        Err(e) => DirState::Unreadable(e),
                    },
                    Err(e) => DirState::Unreadable(e),
                }
            };
            (dir, state)
        })
        .collect()
}

/// The identity of a node's formatted storage, checked and locked for this process.
#[derive(Debug)]
pub struct VerifiedStorage {
    pub cluster_id: String,
    pub metadata_log_dir: PathBuf,
    pub directories: Vec<(PathBuf, MetaProperties)>,
    pub locks: Vec<DirLock>,
}

/// The startup check: every directory is formatted, all carry one cluster id, the stored node
/// id matches the configuration, and no other process holds them.
pub fn verify_for_startup(config: &ServerConfig) -> Result<VerifiedStorage, StorageError> {
    let mut directories: Vec<(PathBuf, MetaProperties)> = Vec::new();
    for dir in config.all_dirs() {
        let meta = MetaProperties::read(&dir)?
            .ok_or_else(|| StorageError::NotFormatted { dir: dir.clone() })?;
        if meta.node_id != config.node_id {
            return Err(StorageError::NodeIdMismatch {
                path: MetaProperties::path(&dir),
                stored: meta.node_id.0,
                configured: config.node_id.0,
            });
        }
        if let Some((first_dir, first)) = directories.first()
            && first.cluster_id != meta.cluster_id
        {
            return Err(StorageError::ClusterIdMismatch {
                path: MetaProperties::path(&dir),
                expected: first.cluster_id.clone(),
                expected_from: MetaProperties::path(first_dir),
                found: meta.cluster_id,
            });
        }
        directories.push((dir, meta));
    }
    let locks = directories
        .iter()
        .map(|(dir, _)| DirLock::acquire(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let cluster_id = directories
        .first()
        .map(|(_, m)| m.cluster_id.clone())
        .unwrap_or_default();
    Ok(VerifiedStorage {
        cluster_id,
        metadata_log_dir: config.metadata_log_dir.clone(),
        directories,
        locks,
    })
}

/// Free and total bytes of the file system holding `dir` (`statvfs`).
pub fn disk_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid NUL-terminated string and `st` a writable statvfs struct.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    let unit = st.f_frsize as u64;
    Some((st.f_bavail as u64 * unit, st.f_blocks as u64 * unit))
}

/// Whether `dir` holds a `meta.properties`.
pub fn is_formatted(dir: &Path) -> bool {
    MetaProperties::path(dir).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn config_for(dirs: &[&Path], node_id: i32) -> ServerConfig {
        let list: Vec<_> = dirs.iter().map(|d| d.display().to_string()).collect();
        config::from_text(
            &format!(
                "process.roles=broker,controller\nnode.id={node_id}\ncontroller.quorum.voters={node_id}@localhost:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\nlog.dirs={}\n",
                list.join(",")
            ),
            Path::new("t.properties"),
            &[],
        )
        .unwrap()
        .config
    }

    #[test]
    fn format_then_verify_then_refuse_reformat() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let cfg = config_for(&[a.path(), b.path()], 1);
        let id = cluster_id::random_uuid();
        let out = format(&cfg, &id, false).unwrap();
        assert_eq!(out.formatted.len(), 2);
        let verified = verify_for_startup(&cfg).unwrap();
        assert_eq!(verified.cluster_id, id);
        let ids: Vec<_> = verified
            .directories
            .iter()
            .map(|(_, m)| m.directory_id.clone().unwrap())
            .collect();
        assert_ne!(ids[0], ids[1], "each directory gets its own id");
        drop(verified);

        let err = format(&cfg, &id, false).unwrap_err().to_string();
        assert!(
            err.contains("already formatted") && err.contains("--ignore-formatted"),
            "{err}"
        );
        let out = format(&cfg, &id, true).unwrap();
        assert_eq!((out.formatted.len(), out.skipped.len()), (0, 2));
    }

    #[test]
    fn startup_checks_name_the_problem_and_the_fix() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let cfg = config_for(&[a.path(), b.path()], 1);
        let err = verify_for_startup(&cfg).unwrap_err().to_string();
        assert!(
            err.contains("not formatted") && err.contains("kraftd storage format"),
            "{err}"
        );

        format(&cfg, &cluster_id::random_uuid(), false).unwrap();
        let other = config_for(&[b.path()], 1);
        std::fs::remove_file(b.path().join("meta.properties")).unwrap();
        format(&other, &cluster_id::random_uuid(), false).unwrap();
        let err = verify_for_startup(&cfg).unwrap_err().to_string();
        assert!(
            err.contains("invalid cluster.id") && err.contains("expected"),
            "{err}"
        );

        let c = tempfile::tempdir().unwrap();
        format(
            &config_for(&[c.path()], 1),
            &cluster_id::random_uuid(),
            false,
        )
        .unwrap();
        let err = verify_for_startup(&config_for(&[c.path()], 2))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stored node id 1") && err.contains("node.id=2"),
            "{err}"
        );
    }

    #[test]
    fn invalid_cluster_id_is_refused_before_writing() {
        let a = tempfile::tempdir().unwrap();
        let cfg = config_for(&[a.path()], 1);
        let err = format(&cfg, "not-a-uuid", false).unwrap_err().to_string();
        assert!(
            err.contains("invalid cluster id") && err.contains("random-uuid"),
            "{err}"
        );
        assert!(!is_formatted(a.path()));
    }

    #[test]
    fn a_locked_directory_refuses_a_second_server() {
        let a = tempfile::tempdir().unwrap();
        let cfg = config_for(&[a.path()], 1);
        format(&cfg, &cluster_id::random_uuid(), false).unwrap();
        let _held = verify_for_startup(&cfg).unwrap();
        let err = verify_for_startup(&cfg).unwrap_err().to_string();
        assert!(err.contains("locked by another process"), "{err}");
    }
}
