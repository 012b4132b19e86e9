//! `replication-offset-checkpoint`: the high watermark of every partition in one log
//! directory, in Kafka's offset-checkpoint text format (version `0`, the entry count, then one
//! `topic partition offset` line per partition), replaced atomically. A restarted replica
//! starts from it, so consumers never see the high watermark go back after a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "replication-offset-checkpoint";

pub fn path(log_dir: &Path) -> PathBuf {
    log_dir.join(FILE_NAME)
}

/// Reads a checkpoint; a missing or malformed file is empty (every replica then starts at its
/// log start and learns the high watermark from its leader).
pub fn read(log_dir: &Path) -> HashMap<(String, i32), i64> {
    let Ok(text) = std::fs::read_to_string(path(log_dir)) else {
        return HashMap::new();
    };
    parse(&text).unwrap_or_else(|| {
        tracing::warn!(dir = %log_dir.display(), "malformed {FILE_NAME}; high watermarks start from the log start");
        HashMap::new()
    })
}

fn parse(text: &str) -> Option<HashMap<(String, i32), i64>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut out = HashMap::with_capacity(count.min(1 << 20));
    for line in lines.take(count) {
        let mut f = line.split_whitespace();
        let (topic, partition, offset) = (f.next()?, f.next()?, f.next()?);
        out.insert(
            (topic.to_string(), partition.parse().ok()?),
            offset.parse().ok()?,
        );
    }
    (out.len() == count).then_some(out)
}

pub fn render(entries: &[(String, i32, i64)]) -> String {
    let mut text = format!("0\n{}\n", entries.len());
    for (topic, partition, offset) in entries {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

/// Replaces the directory's checkpoint with `entries`.
pub fn write(log_dir: &Path, entries: &[(String, i32, i64)]) -> std::io::Result<()> {
    crate::atomic_file::write(&path(log_dir), render(entries).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_malformed_files() {
        let entries = vec![("orders".to_string(), 0, 42), ("a.b-c_d".to_string(), 7, 0)];
        let text = render(&entries);
        assert_eq!(text, "0\n2\norders 0 42\na.b-c_d 7 0\n");
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed[&("orders".to_string(), 0)], 42);
        assert_eq!(parsed.len(), 2);
        assert!(parse("1\n0\n").is_none(), "unknown version");
        assert!(parse("0\n2\norders 0 42\n").is_none(), "short");
        assert!(parse("0\n1\norders x 42\n").is_none());
        assert_eq!(parse("0\n0\n").unwrap().len(), 0);
    }

    #[test]
    fn a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_empty());
        write(dir.path(), &[("t".into(), 1, 5)]).unwrap();
        assert_eq!(read(dir.path())[&("t".to_string(), 1)], 5);
    }
}
