//! Snapshot files of the metadata log (KIP-630): `<20-digit end offset>-<10-digit epoch>.checkpoint`
//! in the `__cluster_metadata-0` directory. A snapshot is written as `<name>.checkpoint.part`,
//! fsynced, renamed and the directory fsynced, so a file with the final name is always
//! complete. Partial files left by a crash are deleted at open.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::raft::{SnapshotId, snapshot_file_name};
use crate::types::{Epoch, Offset};

const SUFFIX: &str = ".checkpoint";
const PART: &str = ".checkpoint.part";

#[derive(Debug, thiserror::Error)]
#[error("snapshot I/O on {}: {cause}", path.display())]
pub struct SnapshotIoError {
    pub path: PathBuf,
    pub cause: std::io::Error,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotIoError + '_ {
    move |cause| SnapshotIoError {
        path: path.to_path_buf(),
        cause,
    }
}

/// Parses a snapshot file name into its id.
pub fn parse_file_name(name: &str) -> Option<SnapshotId> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (offset, epoch) = stem.split_once('-')?;
    if offset.len() != 20 || epoch.len() != 10 {
        return None;
    }
    Some(SnapshotId::new(
        Offset(offset.parse().ok()?),
        Epoch(epoch.parse().ok()?),
    ))
}

/// The frozen snapshots of one directory and at most one download in progress.
#[derive(Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    snapshots: BTreeSet<SnapshotId>,
    download: Option<(SnapshotId, File, u64)>,
}

impl SnapshotStore {
    /// Lists the snapshots in `dir` and removes partial files.
    pub fn open(dir: &Path) -> Result<SnapshotStore, SnapshotIoError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut snapshots = BTreeSet::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(PART) {
                std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
                tracing::info!(file = %entry.path().display(), "removed a partial snapshot");
            } else if let Some(id) = parse_file_name(&name) {
                snapshots.insert(id);
            }
        }
        Ok(SnapshotStore {
            dir: dir.to_path_buf(),
            snapshots,
            download: None,
        })
    }

    pub fn path(&self, id: SnapshotId) -> PathBuf {
        self.dir.join(snapshot_file_name(id))
    }

    fn part_path(&self, id: SnapshotId) -> PathBuf {
        self.dir.join(format!("{}.part", snapshot_file_name(id)))
    }

    pub fn latest(&self) -> Option<SnapshotId> {
        self.snapshots.iter().next_back().copied()
    }

    pub fn earliest(&self) -> Option<SnapshotId> {
        self.snapshots.iter().next().copied()
    }

    pub fn ids(&self) -> impl Iterator<Item = &SnapshotId> {
        self.snapshots.iter()
    }

    pub fn size(&self, id: SnapshotId) -> Option<u64> {
        if !self.snapshots.contains(&id) {
            return None;
        }
        std::fs::metadata(self.path(id)).ok().map(|m| m.len())
    }

    /// Up to `max_bytes` of snapshot `id` from `position`.
    pub fn read(
        &self,
        id: SnapshotId,
        position: u64,
        max_bytes: usize,
    ) -> Result<Option<Bytes>, SnapshotIoError> {
        if !self.snapshots.contains(&id) {
            return Ok(None);
        }
        let path = self.path(id);
        let mut f = File::open(&path).map_err(io(&path))?;
        let len = f.metadata().map_err(io(&path))?.len();
        if position > len {
            return Ok(None);
        }
        f.seek(SeekFrom::Start(position)).map_err(io(&path))?;
        let n = ((len - position) as usize).min(max_bytes);
        let mut buf = vec![0u8; n];
        f.read_exact(&mut buf).map_err(io(&path))?;
        Ok(Some(Bytes::from(buf)))
    }

    /// Reads a whole snapshot (for loading state at startup).
    pub fn read_all(&self, id: SnapshotId) -> Result<Option<Bytes>, SnapshotIoError> {
        if !self.snapshots.contains(&id) {
            return Ok(None);
        }
        let path = self.path(id);
        std::fs::read(&path)
            .map(|v| Some(Bytes::from(v)))
            .map_err(io(&path))
    }

    fn freeze(&mut self, id: SnapshotId, part: &Path) -> Result<(), SnapshotIoError> {
        let fin = self.path(id);
        std::fs::rename(part, &fin).map_err(io(&fin))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        self.snapshots.insert(id);
        Ok(())
    }

    /// Writes a complete snapshot durably.
    pub fn create(&mut self, id: SnapshotId, data: &[u8]) -> Result<(), SnapshotIoError> {
        let part = self.part_path(id);
        let mut f = File::create(&part).map_err(io(&part))?;
        f.write_all(data).map_err(io(&part))?;
        f.sync_all().map_err(io(&part))?;
        drop(f);
        self.freeze(id, &part)
    }

    /// Appends a downloaded chunk at `position` (which must equal the bytes written so far; 0
    /// starts a new download and discards any other). Returns the partial size, or `None` when
    /// the position does not match.
    pub fn write_chunk(
        &mut self,
        id: SnapshotId,
        position: u64,
        chunk: &[u8],
    ) -> Result<Option<u64>, SnapshotIoError> {
        if position == 0 {
            self.abort_download()?;
            let part = self.part_path(id);
            let f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&part)
                .map_err(io(&part))?;
            self.download = Some((id, f, 0));
        }
        let part = self.part_path(id);
        let Some((current, file, written)) = self.download.as_mut() else {
            return Ok(None);
        };
        if *current != id || *written != position {
            return Ok(None);
        }
        file.write_all(chunk).map_err(io(&part))?;
        *written += chunk.len() as u64;
        Ok(Some(*written))
    }

    /// Drops a partial download.
    pub fn abort_download(&mut self) -> Result<(), SnapshotIoError> {
        if let Some((id, file, _)) = self.download.take() {
            drop(file);
            let part = self.part_path(id);
            match std::fs::remove_file(&part) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&part)(e)),
            }
        }
        Ok(())
    }

    /// Freezes the completed download `id` durably. Returns false when no such download exists.
    pub fn complete_download(&mut self, id: SnapshotId) -> Result<bool, SnapshotIoError> {
        match self.download.take() {
            Some((current, file, _)) if current == id => {
                let part = self.part_path(id);
                file.sync_all().map_err(io(&part))?;
                drop(file);
                self.freeze(id, &part)?;
                Ok(true)
            }
            other => {
                self.download = other;
                Ok(false)
            }
        }
    }

    /// Deletes every snapshot older than `id` (never `id` itself).
    pub fn delete_before(&mut self, id: SnapshotId) -> Result<usize, SnapshotIoError> {
        let old: Vec<SnapshotId> = self.snapshots.iter().copied().filter(|s| *s < id).collect();
        for s in &old {
            let path = self.path(*s);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
            self.snapshots.remove(s);
        }
        Ok(old.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(o: i64, e: i32) -> SnapshotId {
        SnapshotId::new(Offset(o), Epoch(e))
    }

    #[test]
    fn file_names_are_kafkas() {
        assert_eq!(
            parse_file_name("00000000000000000100-0000000003.checkpoint"),
            Some(id(100, 3))
        );
        assert_eq!(parse_file_name("100-3.checkpoint"), None);
        assert_eq!(parse_file_name("00000000000000000100-0000000003.log"), None);
    }

    #[test]
    fn create_read_download_and_clean() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SnapshotStore::open(dir.path()).unwrap();
        store.create(id(10, 1), b"0123456789").unwrap();
        assert_eq!(store.latest(), Some(id(10, 1)));
        assert_eq!(store.size(id(10, 1)), Some(10));
        assert_eq!(
            store.read(id(10, 1), 4, 3).unwrap().unwrap(),
            Bytes::from_static(b"456")
        );
        assert_eq!(store.read(id(10, 1), 11, 3).unwrap(), None);

        assert_eq!(store.write_chunk(id(20, 2), 0, b"abc").unwrap(), Some(3));
        assert_eq!(
            store.write_chunk(id(20, 2), 5, b"x").unwrap(),
            None,
            "wrong position"
        );
        assert_eq!(store.write_chunk(id(20, 2), 3, b"def").unwrap(), Some(6));
        assert!(store.complete_download(id(20, 2)).unwrap());
        assert_eq!(
            store.read_all(id(20, 2)).unwrap().unwrap(),
            Bytes::from_static(b"abcdef")
        );
        assert_eq!(store.delete_before(id(20, 2)).unwrap(), 1);
        assert_eq!(store.earliest(), Some(id(20, 2)));

        // A partial file left by a crash is removed at open; frozen ones survive.
        store.write_chunk(id(30, 3), 0, b"partial").unwrap();
        drop(store);
        let store = SnapshotStore::open(dir.path()).unwrap();
        assert_eq!(store.ids().copied().collect::<Vec<_>>(), vec![id(20, 2)]);
        assert!(
            !dir.path()
                .join("00000000000000000030-0000000003.checkpoint.part")
                .exists()
        );
    }
}
