//! `kraftd metadata dump <path>`: prints the batches and records of a metadata log directory
//! (`<metadata.log.dir>/__cluster_metadata-0`), one `.checkpoint` snapshot or one `.log`
//! segment. Files are only read: no directory lock is taken, so it runs next to a live server
//! (a batch being appended at that moment may show as a truncated tail).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::metadata::records;
use crate::raft::codec;
use crate::raft::{BatchPayload, ControlRecord};
use crate::raft_io::metadata_log::METADATA_PARTITION_DIR;

/// RecordBatch v2 header: `baseOffset` (8) + `batchLength` (4) precede the rest of the batch.
const LOG_OVERHEAD: usize = 12;
/// Offset of `attributes` and of `recordsCount` in a RecordBatch v2 header.
const ATTRIBUTES_AT: usize = 21;
const RECORDS_COUNT_AT: usize = 57;
const CONTROL_FLAG: u16 = 0x20;

/// The dump's text and the number of batches or records that could not be decoded.
#[derive(Debug, Default)]
pub struct Dump {
    pub text: String,
    pub errors: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{} holds no .log segments or .checkpoint snapshots", .0.display())]
    Empty(PathBuf),
    #[error("cannot write the dump: {cause}")]
    Output { cause: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DumpError + '_ {
    move |cause| DumpError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// The files to dump: snapshots first, then segments, each in name (= offset) order.
fn files(path: &Path) -> Result<Vec<PathBuf>, DumpError> {
    if !path.is_dir() {
        std::fs::metadata(path).map_err(io(path))?;
        return Ok(vec![path.to_path_buf()]);
    }
    let list = |dir: &Path| -> Result<(Vec<PathBuf>, Vec<PathBuf>), DumpError> {
        let mut snapshots = Vec::new();
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let p = entry.map_err(io(dir))?.path();
            match p.extension().and_then(|e| e.to_str()) {
                Some("checkpoint") => snapshots.push(p),
                Some("log") => segments.push(p),
                _ => {}
            }
        }
        snapshots.sort();
        segments.sort();
        Ok((snapshots, segments))
    };
    let (mut snapshots, mut segments) = list(path)?;
    // Given `metadata.log.dir` itself: its bootstrap.checkpoint, then the partition directory.
    let partition = path.join(METADATA_PARTITION_DIR);
    if partition.is_dir() {
        let (s, l) = list(&partition)?;
        snapshots.extend(s);
        segments.extend(l);
    }
    if snapshots.is_empty() && segments.is_empty() {
        return Err(DumpError::Empty(path.to_path_buf()));
    }
    snapshots.extend(segments);
    Ok(snapshots)
}

/// Dumps `path` (a directory, a `.checkpoint` or a `.log` file) to `w`, batch by batch;
/// returns the number of batches or records that could not be decoded.
pub fn dump_to(path: &Path, w: &mut dyn std::io::Write) -> Result<usize, DumpError> {
    let mut out = Dump::default();
    let output = |cause| DumpError::Output { cause };
    for file in files(path)? {
        let bytes = std::fs::read(&file).map_err(io(&file))?;
        let _ = writeln!(out.text, "file {}", file.display());
        dump_bytes(Bytes::from(bytes), &mut out, w).map_err(output)?;
    }
    w.flush().map_err(output)?;
    Ok(out.errors)
}

/// [`dump_to`] into memory.
pub fn dump(path: &Path) -> Result<Dump, DumpError> {
    let mut buf = Vec::new();
    let errors = dump_to(path, &mut buf)?;
    Ok(Dump {
        text: String::from_utf8_lossy(&buf).into_owned(),
        errors,
    })
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Dumps consecutive RecordBatches, going on after a batch that does not decode; the text of
/// each batch is written to `w` as soon as it is formatted.
fn dump_bytes(mut bytes: Bytes, out: &mut Dump, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut position = 0usize;
    loop {
        w.write_all(out.text.as_bytes())?;
        out.text.clear();
        if bytes.is_empty() {
            return Ok(());
        }
        let header_ok = bytes.len() >= LOG_OVERHEAD;
        let length = if header_ok { be_i32(&bytes, 8) } else { -1 };
        let size = LOG_OVERHEAD as i64 + i64::from(length);
        if !header_ok || length < 0 || size > bytes.len() as i64 {
            out.errors += 1;
            let _ = writeln!(
                out.text,
                "error at position {position}: truncated batch ({} byte(s) left{})",
                bytes.len(),
                if header_ok {
                    format!(", batch length {length}")
                } else {
                    String::new()
                }
            );
            bytes.clear();
            continue;
        }
        let batch_bytes = bytes.split_to(size as usize);
        dump_batch(position, batch_bytes, out);
        position += size as usize;
    }
}

fn dump_batch(position: usize, raw: Bytes, out: &mut Dump) {
    if raw.len() < RECORDS_COUNT_AT + 4 {
        out.errors += 1;
        let _ = writeln!(
            out.text,
            "error at position {position}: batch shorter than a RecordBatch v2 header"
        );
        return;
    }
    let base_offset = i64::from_be_bytes(raw[..8].try_into().unwrap_or_default());
    let epoch = be_i32(&raw, 12);
    let count = be_i32(&raw, RECORDS_COUNT_AT);
    let attributes = u16::from_be_bytes([raw[ATTRIBUTES_AT], raw[ATTRIBUTES_AT + 1]]);
    let kind = if attributes & CONTROL_FLAG != 0 {
        "control"
    } else {
        "data"
    };
    let _ = writeln!(
        out.text,
        "batch base_offset {base_offset} epoch {epoch} records {count} {kind} position {position}"
    );
    let batches = match codec::decode_batches(raw) {
        Ok(batches) => batches,
        Err(e) => {
            out.errors += 1;
            let _ = writeln!(out.text, "error at position {position}: {e}");
            return;
        }
    };
    for batch in batches {
        let epoch = batch.epoch.0;
        match batch.payload {
            BatchPayload::Control(controls) => {
                for (i, c) in controls.iter().enumerate() {
                    let offset = batch.base_offset.0 + i as i64;
                    let _ = writeln!(
                        out.text,
                        "offset {offset} epoch {epoch} {}",
                        control_line(c)
                    );
                }
            }
            BatchPayload::Data(values) => {
                for (i, value) in values.iter().enumerate() {
                    let offset = batch.base_offset.0 + i as i64;
                    match records::decode(value) {
                        Ok(m) => {
                            let _ = writeln!(out.text, "offset {offset} epoch {epoch} {m}");
                        }
                        Err(e) => {
                            out.errors += 1;
                            let _ = writeln!(out.text, "offset {offset} epoch {epoch} error: {e}");
                        }
                    }
                }
            }
        }
    }
}

fn ids(ids: &[crate::types::NodeId]) -> String {
    let list: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
    format!("[{}]", list.join(","))
}

/// Control records in the same `Name {json}` style as data records.
fn control_line(c: &ControlRecord) -> String {
    match c {
        ControlRecord::LeaderChange {
            leader_id,
            voters,
            granting_voters,
        } => format!(
            "LeaderChangeMessage {{\"leaderId\":{},\"voters\":{},\"grantingVoters\":{}}}",
            leader_id.0,
            ids(voters),
            ids(granting_voters)
        ),
        ControlRecord::SnapshotHeader {
            last_contained_log_timestamp,
        } => format!(
            "SnapshotHeaderRecord {{\"lastContainedLogTimestamp\":{last_contained_log_timestamp}}}"
        ),
        ControlRecord::SnapshotFooter => "SnapshotFooterRecord {}".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Log, LogConfig};
    use crate::metadata::records::{
        ApiMessageAndVersion, FeatureLevelRecord, PartitionChangeRecord, TopicRecord, encode,
    };
    use crate::raft::{Batch, snapshot_file_name};
    use crate::types::{Epoch, NodeId, Offset};

    fn value(record: impl Into<records::MetadataRecord>) -> Bytes {
        encode(&ApiMessageAndVersion::latest(record.into())).unwrap()
    }

    fn topic(name: &str, id: u128) -> TopicRecord {
        TopicRecord {
            name: name.into(),
            topic_id: uuid::Uuid::from_u128(id),
            ..Default::default()
        }
    }

    fn batches() -> Vec<Batch> {
        vec![
            Batch {
                base_offset: Offset(0),
                epoch: Epoch(1),
                payload: BatchPayload::Control(vec![ControlRecord::LeaderChange {
                    leader_id: NodeId(1),
                    voters: vec![NodeId(1), NodeId(2), NodeId(3)],
                    granting_voters: vec![NodeId(1), NodeId(2)],
                }]),
            },
            Batch {
                base_offset: Offset(1),
                epoch: Epoch(1),
                payload: BatchPayload::Data(vec![
                    value(FeatureLevelRecord {
                        name: "metadata.version".into(),
                        feature_level: 21,
                        ..Default::default()
                    }),
                    value(topic("orders", 1)),
                ]),
            },
            Batch {
                base_offset: Offset(3),
                epoch: Epoch(2),
                payload: BatchPayload::Data(vec![
                    value(PartitionChangeRecord {
                        partition_id: 0,
                        topic_id: uuid::Uuid::from_u128(1),
                        leader: 2,
                        ..Default::default()
                    }),
                    Bytes::from_static(b"\x00garbage"),
                ]),
            },
        ]
    }

    /// A metadata.log.dir with bootstrap.checkpoint, a snapshot and two segments.
    fn metadata_dir() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        crate::storage::bootstrap::write(tmp.path(), 21).unwrap();
        let dir = tmp.path().join(METADATA_PARTITION_DIR);
        let config = LogConfig {
            segment_bytes: 150,
            retention: None,
            ..LogConfig::default()
        };
        let (mut log, _) = Log::open(&dir, config, 0).unwrap();
        for b in batches() {
            log.append_as_follower(codec::encode_batches(&[b], 0).unwrap(), 0)
                .unwrap();
        }
        log.flush().unwrap();
        let snapshot = [
            Batch {
                base_offset: Offset(0),
                epoch: Epoch(1),
                payload: BatchPayload::Control(vec![ControlRecord::SnapshotHeader {
                    last_contained_log_timestamp: 5,
                }]),
            },
            Batch {
                base_offset: Offset(0),
                epoch: Epoch(1),
                payload: BatchPayload::Data(vec![value(topic("orders", 1))]),
            },
            Batch {
                base_offset: Offset(1),
                epoch: Epoch(1),
                payload: BatchPayload::Control(vec![ControlRecord::SnapshotFooter]),
            },
        ];
        std::fs::write(
            dir.join(snapshot_file_name(crate::raft::SnapshotId::new(
                Offset(3),
                Epoch(1),
            ))),
            codec::encode_batches(&snapshot, 0).unwrap(),
        )
        .unwrap();
        tmp
    }

    #[test]
    fn dumps_a_metadata_directory() {
        let tmp = metadata_dir();
        let d = dump(tmp.path()).unwrap();
        let text = &d.text;
        let lines: Vec<&str> = text.lines().collect();
        let files: Vec<&&str> = lines.iter().filter(|l| l.starts_with("file ")).collect();
        // bootstrap.checkpoint, the snapshot, then at least two segments in offset order.
        assert!(files.len() >= 4, "{text}");
        assert!(files[0].ends_with("bootstrap.checkpoint"), "{text}");
        assert!(
            files[1].ends_with("00000000000000000003-0000000001.checkpoint"),
            "{text}"
        );
        assert!(files[2].ends_with("00000000000000000000.log"), "{text}");
        for expected in [
            "batch base_offset 0 epoch 1 records 1 control position 0",
            r#"offset 0 epoch 1 LeaderChangeMessage {"leaderId":1,"voters":[1,2,3],"grantingVoters":[1,2]}"#,
            "batch base_offset 1 epoch 1 records 2 data",
            r#"offset 1 epoch 1 FeatureLevelRecord(v0) {"name":"metadata.version","featureLevel":21}"#,
            r#"offset 2 epoch 1 TopicRecord(v0) {"name":"orders","topicId":"AAAAAAAAAAAAAAAAAAAAAQ"}"#,
            r#"offset 3 epoch 2 PartitionChangeRecord(v2) {"partitionId":0,"topicId":"AAAAAAAAAAAAAAAAAAAAAQ","leader":2}"#,
            "offset 4 epoch 2 error: could not deserialize metadata record due to unknown frame version 0",
            r#"offset 0 epoch 1 SnapshotHeaderRecord {"lastContainedLogTimestamp":5}"#,
            "offset 1 epoch 1 SnapshotFooterRecord {}",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert_eq!(d.errors, 1, "{text}");
        // The partition directory alone gives the same records without the bootstrap file.
        let partition = dump(&tmp.path().join(METADATA_PARTITION_DIR)).unwrap();
        assert!(partition.text.lines().count() < lines.len());
        assert_eq!(partition.errors, 1);
    }

    #[test]
    fn dumps_one_segment_and_reports_a_torn_tail() {
        let tmp = metadata_dir();
        let segment = tmp
            .path()
            .join(METADATA_PARTITION_DIR)
            .join("00000000000000000000.log");
        let clean = dump(&segment).unwrap();
        assert_eq!(clean.errors, 0, "{}", clean.text);
        assert!(clean.text.contains("LeaderChangeMessage"));

        let mut bytes = std::fs::read(&segment).unwrap();
        let good = bytes.len();
        let torn = codec::encode_batches(&batches()[1..2], 0).unwrap();
        bytes.extend_from_slice(&torn[..torn.len() - 5]);
        let path = tmp.path().join("torn.log");
        std::fs::write(&path, &bytes).unwrap();
        let d = dump(&path).unwrap();
        assert_eq!(d.errors, 1, "{}", d.text);
        assert!(
            d.text
                .contains(&format!("error at position {good}: truncated batch")),
            "{}",
            d.text
        );

        // A corrupt batch (bad CRC) is reported and the next batch is still dumped.
        let mut bytes = codec::encode_batches(&batches(), 0).unwrap().to_vec();
        let first_len = codec::encode_batches(&batches()[..1], 0).unwrap().len();
        bytes[first_len - 1] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let d = dump(&path).unwrap();
        assert_eq!(d.errors, 2, "{}", d.text);
        assert!(
            d.text
                .contains("error at position 0: corrupt metadata log batch"),
            "{}",
            d.text
        );
        assert!(d.text.contains("TopicRecord(v0)"), "{}", d.text);
    }

    #[test]
    fn an_empty_directory_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(dump(tmp.path()), Err(DumpError::Empty(_))));
        assert!(matches!(
            dump(&tmp.path().join("missing.log")),
            Err(DumpError::Io { .. })
        ));
    }
}
