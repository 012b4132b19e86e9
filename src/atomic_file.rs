//! Replacing a small file so that a crash leaves either the old or the new contents, never a
//! mix: write `path.tmp`, fsync it, rename it over `path`, fsync the directory. Used for
//! checkpoints, `meta.properties`, `quorum-state` and `bootstrap.checkpoint`.

use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path` atomically and durably. The error names the file it failed on.
pub fn write(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let at = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{p}: {e}"))
    };
    {
        let mut f = std::fs::File::create(&tmp).map_err(at(&tmp))?;
        f.write_all(contents).map_err(at(&tmp))?;
        f.sync_all().map_err(at(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(at(path))?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(at(parent))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("checkpoint");
        super::write(&p, b"one").unwrap();
        super::write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!p.with_extension("tmp").exists());
        let missing = dir.path().join("no/such/dir/file");
        let err = super::write(&missing, b"x").unwrap_err();
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }
}
