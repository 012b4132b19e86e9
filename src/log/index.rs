//! Sparse indexes of a segment: the offset index (`.index`: relative offset u32, file position
//! u32) and the time index (`.timeindex`: timestamp i64, relative offset u32), big-endian
//! fixed-size entries as in Kafka.
//!
//! Only the active segment's indexes are memory-mapped (preallocated to
//! `log.index.size.max.bytes`, trimmed when the segment is sealed); sealed indexes are read
//! with positioned reads. So a log holds at most two mappings whatever its segment count, far
//! below the kernel's `vm.max_map_count`. This file holds the crate's only `unsafe` mmap.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use super::error::LogError;

pub const OFFSET_ENTRY: usize = 8;
pub const TIME_ENTRY: usize = 12;

/// A fixed-entry-size index file.
#[derive(Debug)]
pub struct IndexFile {
    path: PathBuf,
    file: File,
    entry_size: usize,
    map: Option<MmapMut>,
    entries: usize,
    max_entries: usize,
}

impl IndexFile {
    /// Creates (or resets) a writable, mapped index preallocated to `max_bytes`.
    pub fn create_active(
        path: &Path,
        entry_size: usize,
        max_bytes: u64,
    ) -> Result<IndexFile, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(LogError::io(path))?;
        let max_entries = (max_bytes as usize / entry_size).max(1);
        file.set_len((max_entries * entry_size) as u64)
            .map_err(LogError::io(path))?;
        // SAFETY: the file is owned by this process (the log directory is locked against other
        // kraftd processes), it was just sized to the mapped length, and it is only resized
        // after the map is dropped (`seal`, `Drop`).
        let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(LogError::io(path))?;
        // Take the first page's fault now. The file is sparse, and the first write to a hole
        // through the mapping costs a major fault that waits on the file system (≈ 4 ms seen
        // right after a partition's files were created): on the first Produce otherwise.
        if let Some(first) = map.first_mut() {
            *first = 0;
        }
        Ok(IndexFile {
            path: path.to_path_buf(),
            file,
            entry_size,
            map: Some(map),
            entries: 0,
            max_entries,
        })
    }

    /// Opens a sealed index for reading (entries = file length / entry size).
    pub fn open_sealed(path: &Path, entry_size: usize) -> Result<IndexFile, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(LogError::io(path))?;
        let len = file.metadata().map_err(LogError::io(path))?.len() as usize;
        let entries = len / entry_size;
        Ok(IndexFile {
            path: path.to_path_buf(),
            file,
            entry_size,
            map: None,
            entries,
            max_entries: entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn len(&self) -> usize {
        self.entries
    }
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
    pub fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }
    /// Whether the file length is a whole number of entries (a sealed index sanity check).
    pub fn has_whole_entries(&self) -> bool {
        self.file
            .metadata()
            .map(|m| (m.len() as usize).is_multiple_of(self.entry_size))
            .unwrap_or(false)
    }

    /// Reads entry `i` into `out` (`entry_size` bytes).
    pub fn read(&self, i: usize, out: &mut [u8]) -> Result<(), LogError> {
        let at = i * self.entry_size;
        match &self.map {
            Some(m) => {
                out.copy_from_slice(&m[at..at + self.entry_size]);
                Ok(())
            }
            None => self
                .file
                .read_exact_at(out, at as u64)
                .map_err(LogError::io(&self.path)),
        }
    }

    /// Appends an entry to an active index; false when it is full.
    pub fn append(&mut self, entry: &[u8]) -> bool {
        let Some(m) = self.map.as_mut() else {
            return false;
        };
        if self.entries >= self.max_entries {
            return false;
        }
        let at = self.entries * self.entry_size;
        m[at..at + self.entry_size].copy_from_slice(entry);
        self.entries += 1;
        true
    }

    /// Keeps the first `n` entries.
    pub fn truncate_entries(&mut self, n: usize) -> Result<(), LogError> {
        if n >= self.entries {
            return Ok(());
        }
        self.entries = n;
        if self.map.is_none() {
            self.file
                .set_len((n * self.entry_size) as u64)
                .map_err(LogError::io(&self.path))?;
        }
        Ok(())
    }

    pub fn flush(&self) -> Result<(), LogError> {
        match &self.map {
            Some(m) => m.flush().map_err(LogError::io(&self.path)),
            None => self.file.sync_all().map_err(LogError::io(&self.path)),
        }
    }

    /// Unmaps the index and trims the file to its entries without waiting for the disk (a
    /// segment roll: the next flush makes it durable, recovery rebuilds it until then).
    pub fn seal_unsynced(&mut self) -> Result<(), LogError> {
        if let Some(m) = self.map.take() {
            drop(m);
            self.file
                .set_len((self.entries * self.entry_size) as u64)
                .map_err(LogError::io(&self.path))?;
            self.max_entries = self.entries;
        }
        Ok(())
    }

    /// The file, opened again (to fsync it without holding the log).
    pub fn reopen(&self) -> Result<(PathBuf, File), LogError> {
        let f = self.file.try_clone().map_err(LogError::io(&self.path))?;
        Ok((self.path.clone(), f))
    }

    /// Unmaps the index and trims the file to its entries (on close).
    pub fn seal(&mut self) -> Result<(), LogError> {
        if let Some(m) = self.map.take() {
            m.flush().map_err(LogError::io(&self.path))?;
            drop(m);
            self.file
                .set_len((self.entries * self.entry_size) as u64)
                .map_err(LogError::io(&self.path))?;
            self.file.sync_all().map_err(LogError::io(&self.path))?;
            self.max_entries = self.entries;
        }
        Ok(())
    }
}

impl Drop for IndexFile {
    fn drop(&mut self) {
        // Trim a preallocated index so a later open sees only real entries.
        let _ = self.seal();
    }
}

/// Largest index `i` in `0..n` with `key(i) <= target`, by binary search.
pub fn floor_search(
    n: usize,
    target: i64,
    mut key: impl FnMut(usize) -> Result<i64, LogError>,
) -> Result<Option<usize>, LogError> {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if key(mid)? <= target {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo.checked_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_index_maps_then_seals_to_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx = IndexFile::create_active(&p, OFFSET_ENTRY, 64).unwrap();
        assert!(idx.is_mapped());
        for i in 0..8u32 {
            let mut e = [0u8; 8];
            e[..4].copy_from_slice(&i.to_be_bytes());
            assert!(idx.append(&e));
        }
        assert!(idx.is_full() && !idx.append(&[0; 8]));
        idx.truncate_entries(5).unwrap();
        idx.seal().unwrap();
        assert!(!idx.is_mapped());
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 40);
        let sealed = IndexFile::open_sealed(&p, OFFSET_ENTRY).unwrap();
        let mut e = [0u8; 8];
        sealed.read(4, &mut e).unwrap();
        assert_eq!(u32::from_be_bytes(e[..4].try_into().unwrap()), 4);
        let found = floor_search(5, 3, |i| {
            let mut e = [0u8; 8];
            sealed.read(i, &mut e)?;
            Ok(i64::from(u32::from_be_bytes(e[..4].try_into().unwrap())))
        })
        .unwrap();
        assert_eq!(found, Some(3));
    }
}
