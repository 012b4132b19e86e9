//! `bootstrap.checkpoint`: the initial feature levels the first active controller writes to an
//! empty metadata log. Same format as a KRaft snapshot: a SnapshotHeader control batch, one
//! batch of `FeatureLevelRecord`s, a SnapshotFooter control batch.

use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::{SnapshotFooterRecord, SnapshotHeaderRecord};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::error::StorageError;
use super::meta_properties::write_atomically;
use crate::metadata::records::{self, ApiMessageAndVersion, FeatureLevelRecord, MetadataRecord};

pub const BOOTSTRAP_CHECKPOINT: &str = "bootstrap.checkpoint";

/// The `metadata.version` feature level kraftd bootstraps new clusters with: 3.9-IV0, the
/// last level of a static (kraft.version 0) quorum before Kafka 4.0's changes.
pub const BOOTSTRAP_METADATA_VERSION: i16 = 21;
pub const BOOTSTRAP_METADATA_VERSION_NAME: &str = "3.9-IV0";

/// Control record types (Kafka's `ControlRecordType`).
const SNAPSHOT_HEADER: i16 = 3;
const SNAPSHOT_FOOTER: i16 = 4;

pub fn path(dir: &Path) -> PathBuf {
    dir.join(BOOTSTRAP_CHECKPOINT)
}

/// Encodes a `FeatureLevelRecord` v0 in the metadata record envelope (frame version 1).
pub fn encode_feature_level(name: &str, level: i16) -> Bytes {
    let record = FeatureLevelRecord {
        name: name.to_string(),
        feature_level: level,
        ..Default::default()
    };
    records::encode(&ApiMessageAndVersion::new(record.into(), 0))
        .expect("feature names are short constants")
}

/// Decodes a `FeatureLevelRecord` from an envelope; `None` for any other record.
pub fn decode_feature_level(value: Bytes) -> Option<(String, i16)> {
    match records::decode(&value).ok()?.record {
        MetadataRecord::FeatureLevel(r) => Some((r.name, r.feature_level)),
        _ => None,
    }
}

fn record(offset: i64, control: bool, key: Option<Bytes>, value: Bytes) -> Record {
    Record {
        transactional: false,
        control,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: 0,
        key,
        value: Some(value),
        headers: IndexMap::new(),
    }
}

fn control_key(kind: i16) -> Bytes {
    let mut k = BytesMut::with_capacity(4);
    k.put_i16(0);
    k.put_i16(kind);
    k.freeze()
}

fn encode_batch(buf: &mut BytesMut, records: &[Record]) -> Result<(), String> {
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(buf, records.iter(), &options).map_err(|e| e.to_string())
}

/// Renders the checkpoint bytes for the given `metadata.version` level.
pub fn render(metadata_version: i16) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    let mut header = BytesMut::new();
    SnapshotHeaderRecord::default()
        .encode(&mut header, 0)
        .map_err(|e| e.to_string())?;
    encode_batch(
        &mut buf,
        &[record(
            0,
            true,
            Some(control_key(SNAPSHOT_HEADER)),
            header.freeze(),
        )],
    )?;
    encode_batch(
        &mut buf,
        &[record(
            1,
            false,
            None,
            encode_feature_level("metadata.version", metadata_version),
        )],
    )?;
    let mut footer = BytesMut::new();
    SnapshotFooterRecord::default()
        .encode(&mut footer, 0)
        .map_err(|e| e.to_string())?;
    encode_batch(
        &mut buf,
        &[record(
            2,
            true,
            Some(control_key(SNAPSHOT_FOOTER)),
            footer.freeze(),
        )],
    )?;
    Ok(buf.freeze())
}

/// Writes `dir/bootstrap.checkpoint` atomically.
pub fn write(dir: &Path, metadata_version: i16) -> Result<(), StorageError> {
    let p = path(dir);
    let bytes = render(metadata_version).map_err(|reason| StorageError::Malformed {
        path: p.clone(),
        reason,
    })?;
    write_atomically(&p, &bytes)
}

/// Reads the `metadata.version` level from `dir/bootstrap.checkpoint`, if the file exists.
pub fn read_metadata_version(dir: &Path) -> Result<Option<i16>, StorageError> {
    let p = path(dir);
    let data = match std::fs::read(&p) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(&p)(e)),
    };
    let mut buf = Bytes::from(data);
    let sets = RecordBatchDecoder::decode_all(&mut buf).map_err(|e| StorageError::Malformed {
        path: p.clone(),
        reason: e.to_string(),
    })?;
    let level = sets
        .iter()
        .flat_map(|s| s.records.iter())
        .filter(|r| !r.control)
        .filter_map(|r| r.value.clone().and_then(decode_feature_level))
        .find(|(name, _)| name == "metadata.version")
        .map(|(_, level)| level);
    level.map(Some).ok_or_else(|| StorageError::Malformed {
        path: p,
        reason: "no metadata.version FeatureLevelRecord".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_level_round_trip() {
        let v = encode_feature_level("metadata.version", 21);
        assert_eq!(v[0], 1, "frame version 1");
        assert_eq!(v[1], 12, "FeatureLevelRecord api key");
        assert_eq!(
            decode_feature_level(v),
            Some(("metadata.version".to_string(), 21))
        );
    }

    #[test]
    fn checkpoint_round_trip_with_header_and_footer() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), BOOTSTRAP_METADATA_VERSION).unwrap();
        assert_eq!(
            read_metadata_version(dir.path()).unwrap(),
            Some(BOOTSTRAP_METADATA_VERSION)
        );
        let mut bytes = Bytes::from(std::fs::read(path(dir.path())).unwrap());
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        let records: Vec<_> = sets.iter().flat_map(|s| s.records.iter()).collect();
        assert_eq!(records.len(), 3);
        assert!(records[0].control && records[2].control && !records[1].control);
        assert_eq!(records[0].key.as_deref(), Some(&[0, 0, 0, 3][..]));
        assert_eq!(records[2].key.as_deref(), Some(&[0, 0, 0, 4][..]));
    }

    #[test]
    fn missing_checkpoint_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_metadata_version(dir.path()).unwrap(), None);
    }
}
