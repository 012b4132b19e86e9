//! An exclusive advisory lock (`flock`) on `<dir>/.lock`, held for the life of the process, so
//! two processes never use one log directory.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::error::StorageError;

pub const LOCK_FILE: &str = ".lock";

/// Holds the lock until dropped (the kernel also releases it when the process exits).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock without waiting; fails with [`StorageError::Locked`] when it is held.
    pub fn acquire(dir: &Path) -> Result<DirLock, StorageError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StorageError::io(&path))?;
        // SAFETY: flock on a valid, owned file descriptor; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                StorageError::Locked {
                    dir: dir.to_path_buf(),
                    lock: path,
                }
            } else {
                StorageError::io(&path)(err)
            });
        }
        Ok(DirLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_a_dir_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("locked by another process"),
            "{err}"
        );
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
