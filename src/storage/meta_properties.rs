//! `meta.properties`: the identity of a formatted log directory (version 1, KRaft).

use std::path::{Path, PathBuf};

use super::error::StorageError;
use crate::config::properties;
use crate::types::NodeId;

pub const META_PROPERTIES: &str = "meta.properties";

/// The contents of a version-1 `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: NodeId,
    pub directory_id: Option<String>,
}

impl MetaProperties {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(META_PROPERTIES)
    }

    /// Reads `dir/meta.properties`; `Ok(None)` when the file does not exist.
    pub fn read(dir: &Path) -> Result<Option<MetaProperties>, StorageError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io(&path)(e)),
        };
        Self::parse(&text, &path).map(Some)
    }

    pub fn parse(text: &str, path: &Path) -> Result<MetaProperties, StorageError> {
        let malformed = |reason: String| StorageError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let props = properties::parse(text, path).map_err(|e| malformed(e.to_string()))?;
        let get = |k: &str| {
            props
                .iter()
                .rev()
                .find(|p| p.key == k)
                .map(|p| p.value.trim().to_string())
        };
        match get("version").as_deref() {
            Some("1") => {}
            Some(v) => {
                return Err(malformed(format!(
                    "version={v} is not supported (KRaft directories are version 1)"
                )));
            }
            None => return Err(malformed("version was not found".into())),
        }
        let cluster_id =
            get("cluster.id").ok_or_else(|| malformed("cluster.id was not found".into()))?;
        let node_id = get("node.id")
            .ok_or_else(|| malformed("node.id was not found".into()))?
            .parse::<i32>()
            .map_err(|_| malformed("node.id is not an integer".into()))?;
        Ok(MetaProperties {
            cluster_id,
            node_id: NodeId(node_id),
            directory_id: get("directory.id"),
        })
    }

    pub fn render(&self) -> String {
        let mut out = String::from("#\n# Written by kraftd storage format. Do not edit.\n");
        out.push_str(&format!(
            "cluster.id={}\nnode.id={}\nversion=1\n",
            self.cluster_id, self.node_id
        ));
        if let Some(d) = &self.directory_id {
            out.push_str(&format!("directory.id={d}\n"));
        }
        out
    }

    /// Writes the file atomically (temp file, fsync, rename, fsync the directory).
    pub fn write(&self, dir: &Path) -> Result<(), StorageError> {
        write_atomically(&Self::path(dir), self.render().as_bytes())
    }
}

/// Writes `path` atomically (`crate::atomic_file`), as a storage error.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), StorageError> {
    crate::atomic_file::write(path, contents).map_err(StorageError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaProperties {
            cluster_id: "MkU3OEVBNTcwNTJENDM2Qk".into(),
            node_id: NodeId(3),
            directory_id: Some("J8aAPcfLQt2bqs1JT_rMgQ".into()),
        };
        m.write(dir.path()).unwrap();
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), Some(m));
        let text = std::fs::read_to_string(dir.path().join("meta.properties")).unwrap();
        for field in ["version=1", "cluster.id=", "node.id=3", "directory.id="] {
            assert!(text.contains(field), "{text}");
        }
    }

    #[test]
    fn missing_file_is_none_and_bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), None);
        let p = Path::new("m");
        assert!(MetaProperties::parse("cluster.id=x\nnode.id=1\n", p).is_err());
        assert!(MetaProperties::parse("version=0\nbroker.id=1\n", p).is_err());
        let err = MetaProperties::parse("version=1\nnode.id=1\n", p).unwrap_err();
        assert!(err.to_string().contains("cluster.id was not found"));
        assert!(MetaProperties::parse("version=1\ncluster.id=a\nnode.id=x\n", p).is_err());
    }
}
