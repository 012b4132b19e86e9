//! The records of `__consumer_offsets`, in Kafka's own layout so that Kafka's tools read them:
//! each record's key and value start with an int16 schema version.
//!
//! | key version | key | value |
//! |---|---|---|
//! | 0, 1 | group, topic, partition | committed offset (value versions 0–3 read, 3 written) |
//! | 2 | group | group metadata (value versions 0–3 read, 3 written) |
//!
//! A record with a null value is a tombstone: the offset or the group is gone.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Why a record of `__consumer_offsets` could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record truncated: {0}")]
    Truncated(&'static str),
    #[error("unknown {kind} schema version {version}")]
    UnknownVersion { kind: &'static str, version: i16 },
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// The key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// A committed offset of `group` for `topic`-`partition`.
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    /// The metadata of `group` (generation, protocol, members and their assignments).
    Group { group: String },
}

/// A committed offset as stored (value version 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only in value version 1 (an explicit retention asked for by OffsetCommit v2–v4).
    pub expire_timestamp: Option<i64>,
}

/// A member of a classic group as stored in its group record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A classic group as stored (value version 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

/// One record: a key and, unless it is a tombstone, a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    Group {
        group: String,
        value: Option<GroupValue>,
    },
}

impl CoordinatorRecord {
    /// The record's key bytes.
    pub fn encode_key(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            CoordinatorRecord::Offset {
                group,
                topic,
                partition,
                ..
            } => {
                b.put_i16(1);
                put_string(&mut b, group);
                put_string(&mut b, topic);
                b.put_i32(*partition);
            }
            CoordinatorRecord::Group { group, .. } => {
                b.put_i16(2);
                put_string(&mut b, group);
            }
        }
        b.freeze()
    }

    /// The record's value bytes; `None` for a tombstone.
    pub fn encode_value(&self) -> Option<Bytes> {
        let mut b = BytesMut::new();
        match self {
            CoordinatorRecord::Offset { value, .. } => {
                let v = value.as_ref()?;
                match v.expire_timestamp {
                    // Version 1 is the one layout that keeps an explicit expiry.
                    Some(expire) => {
                        b.put_i16(1);
                        b.put_i64(v.offset);
                        put_string(&mut b, &v.metadata);
                        b.put_i64(v.commit_timestamp);
                        b.put_i64(expire);
                    }
                    None => {
                        b.put_i16(3);
                        b.put_i64(v.offset);
                        b.put_i32(v.leader_epoch);
                        put_string(&mut b, &v.metadata);
                        b.put_i64(v.commit_timestamp);
                    }
                }
            }
            CoordinatorRecord::Group { value, .. } => {
                let v = value.as_ref()?;
                b.put_i16(3);
                put_string(&mut b, &v.protocol_type);
                b.put_i32(v.generation);
                put_nullable_string(&mut b, v.protocol.as_deref());
                put_nullable_string(&mut b, v.leader.as_deref());
                b.put_i64(v.current_state_timestamp);
                b.put_i32(v.members.len() as i32);
                for m in &v.members {
                    put_string(&mut b, &m.member_id);
                    put_nullable_string(&mut b, m.group_instance_id.as_deref());
                    put_string(&mut b, &m.client_id);
                    put_string(&mut b, &m.client_host);
                    b.put_i32(m.rebalance_timeout_ms);
                    b.put_i32(m.session_timeout_ms);
                    put_bytes(&mut b, &m.subscription);
                    put_bytes(&mut b, &m.assignment);
                }
            }
        }
        Some(b.freeze())
    }

    /// Reads a record from its key and value (`None`: a tombstone).
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<CoordinatorRecord, RecordError> {
        let mut k = key;
        let version = get_i16(&mut k)?;
        match version {
            0 | 1 => {
                let group = get_string(&mut k)?;
                let topic = get_string(&mut k)?;
                let partition = get_i32(&mut k)?;
                let value = value.map(decode_offset_value).transpose()?;
                Ok(CoordinatorRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            2 => {
                let group = get_string(&mut k)?;
                let value = value.map(decode_group_value).transpose()?;
                Ok(CoordinatorRecord::Group { group, value })
            }
            version => Err(RecordError::UnknownVersion {
                kind: "key",
                version,
            }),
        }
    }
}

fn decode_offset_value(mut v: &[u8]) -> Result<OffsetValue, RecordError> {
    let version = get_i16(&mut v)?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnknownVersion {
            kind: "offset value",
            version,
        });
    }
    let offset = get_i64(&mut v)?;
    let leader_epoch = if version >= 3 { get_i32(&mut v)? } else { -1 };
    let metadata = get_string(&mut v)?;
    let commit_timestamp = get_i64(&mut v)?;
    let expire_timestamp = if version == 1 {
        Some(get_i64(&mut v)?)
    } else {
        None
    };
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp,
    })
}

fn decode_group_value(mut v: &[u8]) -> Result<GroupValue, RecordError> {
    let version = get_i16(&mut v)?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnknownVersion {
            kind: "group value",
            version,
        });
    }
    let protocol_type = get_string(&mut v)?;
    let generation = get_i32(&mut v)?;
    let protocol = get_nullable_string(&mut v)?;
    let leader = get_nullable_string(&mut v)?;
    let current_state_timestamp = if version >= 2 { get_i64(&mut v)? } else { -1 };
    let count = get_i32(&mut v)?;
    if count < 0 || count as usize > v.len() {
        return Err(RecordError::Invalid("member count"));
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let member_id = get_string(&mut v)?;
        let group_instance_id = if version >= 3 {
            get_nullable_string(&mut v)?
        } else {
            None
        };
        let client_id = get_string(&mut v)?;
        let client_host = get_string(&mut v)?;
        let session_timeout_ms;
        let rebalance_timeout_ms;
        if version >= 1 {
            rebalance_timeout_ms = get_i32(&mut v)?;
            session_timeout_ms = get_i32(&mut v)?;
        } else {
            session_timeout_ms = get_i32(&mut v)?;
            rebalance_timeout_ms = session_timeout_ms;
        }
        let subscription = get_bytes(&mut v)?;
        let assignment = get_bytes(&mut v)?;
        members.push(StoredMember {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    Ok(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

fn put_string(b: &mut BytesMut, s: &str) {
    // Names are bounded by the request decoder (int16 lengths on the wire).
    let len = s.len().min(i16::MAX as usize);
    b.put_i16(len as i16);
    b.extend_from_slice(&s.as_bytes()[..len]);
}

fn put_nullable_string(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(b, s),
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.extend_from_slice(v);
}

fn get_i16(b: &mut &[u8]) -> Result<i16, RecordError> {
    if b.remaining() < 2 {
        return Err(RecordError::Truncated("int16"));
    }
    Ok(b.get_i16())
}

fn get_i32(b: &mut &[u8]) -> Result<i32, RecordError> {
    if b.remaining() < 4 {
        return Err(RecordError::Truncated("int32"));
    }
    Ok(b.get_i32())
}

fn get_i64(b: &mut &[u8]) -> Result<i64, RecordError> {
    if b.remaining() < 8 {
        return Err(RecordError::Truncated("int64"));
    }
    Ok(b.get_i64())
}

fn get_nullable_string(b: &mut &[u8]) -> Result<Option<String>, RecordError> {
    let len = get_i16(b)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if b.remaining() < len {
        return Err(RecordError::Truncated("string"));
    }
    let s = std::str::from_utf8(&b[..len]).map_err(|_| RecordError::Invalid("utf-8 string"))?;
    let s = s.to_string();
    b.advance(len);
    Ok(Some(s))
}

fn get_string(b: &mut &[u8]) -> Result<String, RecordError> {
    get_nullable_string(b)?.ok_or(RecordError::Invalid("null string"))
}

fn get_bytes(b: &mut &[u8]) -> Result<Bytes, RecordError> {
    let len = get_i32(b)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    let len = len as usize;
    if b.remaining() < len {
        return Err(RecordError::Truncated("bytes"));
    }
    let v = Bytes::copy_from_slice(&b[..len]);
    b.advance(len);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(r: CoordinatorRecord) {
        let key = r.encode_key();
        let value = r.encode_value();
        assert_eq!(CoordinatorRecord::decode(&key, value.as_deref()), Ok(r));
    }

    #[test]
    fn offsets_and_groups_round_trip() {
        round_trip(CoordinatorRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(OffsetValue {
                offset: 42,
                leader_epoch: 7,
                metadata: "m".into(),
                commit_timestamp: 1000,
                expire_timestamp: None,
            }),
        });
        round_trip(CoordinatorRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(OffsetValue {
                offset: 42,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 1000,
                expire_timestamp: Some(5000),
            }),
        });
        round_trip(CoordinatorRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            value: None,
        });
        round_trip(CoordinatorRecord::Group {
            group: "g".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation: 4,
                protocol: Some("range".into()),
                leader: Some("m-1".into()),
                current_state_timestamp: 99,
                members: vec![StoredMember {
                    member_id: "m-1".into(),
                    group_instance_id: Some("i-1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 45_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        });
        round_trip(CoordinatorRecord::Group {
            group: "g".into(),
            value: None,
        });
    }

    #[test]
    fn the_key_layout_is_kafkas() {
        let key = CoordinatorRecord::Offset {
            group: "ab".into(),
            topic: "t".into(),
            partition: 1,
            value: None,
        }
        .encode_key();
        assert_eq!(&key[..], &[0, 1, 0, 2, b'a', b'b', 0, 1, b't', 0, 0, 0, 1]);
        let key = CoordinatorRecord::Group {
            group: "ab".into(),
            value: None,
        }
        .encode_key();
        assert_eq!(&key[..], &[0, 2, 0, 2, b'a', b'b']);
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let r = CoordinatorRecord::Group {
            group: "g".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation: 1,
                protocol: None,
                leader: None,
                current_state_timestamp: 0,
                members: vec![],
            }),
        };
        let key = r.encode_key();
        let value = r.encode_value().unwrap();
        for cut in 0..value.len() {
            assert!(CoordinatorRecord::decode(&key, Some(&value[..cut])).is_err());
        }
        for cut in 0..key.len() {
            assert!(CoordinatorRecord::decode(&key[..cut], None).is_err());
        }
        assert!(matches!(
            CoordinatorRecord::decode(&[0, 9], None),
            Err(RecordError::UnknownVersion { .. })
        ));
    }
}
