//! Kafka's generated-message primitives for flexible versions: unsigned varints, compact
//! (nullable) strings, bytes and arrays, UUIDs, fixed-width integers and the tagged-field
//! section that ends every struct. Also the one-line JSON rendering used by `Display`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::RecordError;

/// A cursor over the bytes of one record value.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.buf.len() {
            return Err(RecordError::Truncated {
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Kafka's `readUnsignedVarint`: at most 5 bytes, 32 bits.
    pub(crate) fn uvarint(&mut self) -> Result<u32, RecordError> {
        let mut value = 0u32;
        for i in 0..5 {
            let b = self.take(1)?[0];
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::Invalid(
            "unsigned varint is longer than 5 bytes".to_string(),
        ))
    }

    /// A compact length: `None` for null (0), otherwise the length (`n - 1`), checked against
    /// the bytes left so that a corrupt length cannot ask for a huge allocation.
    fn compact_len(&mut self) -> Result<Option<usize>, RecordError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Ok(None);
        }
        let len = (n - 1) as usize;
        Ok(Some(len))
    }
}

pub(crate) fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn put_compact_len(out: &mut BytesMut, len: usize) {
    put_uvarint(out, (len as u32) + 1);
}

fn null_in_non_nullable(what: &str) -> RecordError {
    RecordError::Invalid(format!("non-nullable {what} was serialized as null"))
}

/// A value with a wire encoding that does not depend on the record version (true of every
/// field type in the metadata schemas: nullability never changes between versions).
pub(crate) trait Wire: Sized {
    fn put(&self, out: &mut BytesMut) -> Result<(), RecordError>;
    fn get(r: &mut Reader<'_>) -> Result<Self, RecordError>;
}

macro_rules! fixed_width {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            fn put(&self, out: &mut BytesMut) -> Result<(), RecordError> {
                out.put_slice(&self.to_be_bytes());
                Ok(())
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, RecordError> {
                Ok(<$t>::from_be_bytes(r.array()?))
            }
        }
    )*};
}
fixed_width!(i8, i16, i32, i64, u16, f64);

impl Wire for bool {
    fn put(&self, out: &mut BytesMut) -> Result<(), RecordError> {
        out.put_u8(u8::from(*self));
        Ok(())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, RecordError> {
        Ok(r.take(1)?[0] != 0)
    }
}

impl Wire for Uuid {
    fn put(&self, out: &mut BytesMut) -> Result<(), RecordError> {
        out.put_slice(self.as_bytes());
        Ok(())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, RecordError> {
        Ok(Uuid::from_bytes(r.array()?))
    }
}

/// Kafka's limit on a string field's encoded length.
const MAX_STRING_LEN: usize = 0x7fff;

fn get_str(r: &mut Reader<'_>, len: usize) -> Result<String, RecordError> {
    if len > MAX_STRING_LEN {
        return Err(RecordError::Invalid(format!(
            "string field had invalid length {len}"
        )));
    }
    let raw = r.take(len)?;
    String::from_utf8(raw.to_vec())
        .map_err(|_| RecordError::Invalid("string is not valid UTF-8".to_string()))
}

impl Wire for String {
    fn put(&self, out: &mut BytesMut) -> Result<(), RecordError> {
        if self.len() > MAX_STRING_LEN {
            return Err(RecordError::Invalid(format!(
                "a string of {} bytes is too long to be serialized (at most {MAX_STRING_LEN})",
                self.len()
            )));
        }
        put_compact_len(out, self.len());
        out.put_slice(self.as_bytes());
        Ok(())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, RecordError> {
        let len = r
            .compact_len()?
            .ok_or_else(|| null_in_non_nullable("string"))?;
        get_str(r, len)
    }
}

impl Wire for Option<String> {
    fn put(&self, out: &mut BytesMut) -> Result<(), RecordError> {
        match self {
            None => {
                put_uvarint(out, 0);
                Ok(())
            }
            Some(s) => s.put(out),
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, RecordError> {
        match r.compact_len()? {
            None => Ok(None),
            Some(len) => get_str(r, len).map(Some),
        }
    }
}

impl Wire for Bytes {
    fn put(&self, out: &mut BytesMut) -> Result<(), RecordError> {
        put_compact_len(out, self.len());
        out.put_slice(self);
        Ok(())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, RecordError> {
        let len = r
            .compact_len()?
            .ok_or_else(|| null_in_non_nullable("bytes"))?;
        Ok(Bytes::copy_from_slice(r.take(len)?))
    }
}

fn get_elements<T: Wire>(r: &mut Reader<'_>, len: usize) -> Result<Vec<T>, RecordError> {
    // Every element takes at least one byte, so `remaining` bounds a sane length.
    if len > r.remaining() {
        return Err(RecordError::Truncated {
            needed: len,
            remaining: r.remaining(),
        });
    }
    let mut v = Vec::with_capacity(len);
    for _ in 0..len {
        v.push(T::get(r)?);
    }
    Ok(v)
}

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, out: &mut BytesMut) -> Result<(), RecordError> {
        put_compact_len(out, self.len());
        for e in self {
            e.put(out)?;
        }
        Ok(())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, RecordError> {
        let len = r
            .compact_len()?
            .ok_or_else(|| null_in_non_nullable("array"))?;
        get_elements(r, len)
    }
}

impl<T: Wire> Wire for Option<Vec<T>> {
    fn put(&self, out: &mut BytesMut) -> Result<(), RecordError> {
        match self {
            None => {
                put_uvarint(out, 0);
                Ok(())
            }
            Some(v) => v.put(out),
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, RecordError> {
        match r.compact_len()? {
            None => Ok(None),
            Some(len) => get_elements(r, len).map(Some),
        }
    }
}

/// The encoding of one value on its own (the payload of a tagged field).
pub(crate) fn to_bytes<T: Wire>(v: &T) -> Result<Bytes, RecordError> {
    let mut b = BytesMut::new();
    v.put(&mut b)?;
    Ok(b.freeze())
}

/// Decodes a tagged field's payload, which must be consumed exactly.
pub(crate) fn from_tagged<T: Wire>(tag: i32, data: &[u8]) -> Result<T, RecordError> {
    let mut r = Reader::new(data);
    let v = T::get(&mut r)?;
    if r.remaining() != 0 {
        return Err(RecordError::Invalid(format!(
            "tagged field {tag} has {} unread byte(s)",
            r.remaining()
        )));
    }
    Ok(v)
}

/// Writes the tagged-field section: count, then (tag, size, bytes) in ascending tag order.
pub(crate) fn put_tagged(out: &mut BytesMut, fields: &BTreeMap<i32, Bytes>) {
    put_uvarint(out, fields.len() as u32);
    for (tag, data) in fields {
        put_uvarint(out, *tag as u32);
        put_uvarint(out, data.len() as u32);
        out.put_slice(data);
    }
}

/// Reads the tagged-field section, handing each field to `on_field`.
pub(crate) fn get_tagged<'a>(
    r: &mut Reader<'a>,
    mut on_field: impl FnMut(i32, &'a [u8]) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    let count = r.uvarint()?;
    for _ in 0..count {
        let tag = r.uvarint()?;
        let tag = i32::try_from(tag)
            .map_err(|_| RecordError::Invalid(format!("tag {tag} is out of range")))?;
        let size = r.uvarint()? as usize;
        let data = r.take(size)?;
        on_field(tag, data)?;
    }
    Ok(())
}

/// Kafka's `Uuid.toString()`: URL-safe base64 without padding (22 characters).
pub fn uuid_string(u: &Uuid) -> String {
    URL_SAFE_NO_PAD.encode(u.as_bytes())
}

/// One-line JSON rendering in the style of Kafka's generated `JsonConverter`s.
pub(crate) trait Json {
    fn json(&self, out: &mut String);
}

fn json_str(s: &str, out: &mut String) {
    out.push_str(&serde_json::Value::String(s.to_string()).to_string());
}

macro_rules! json_display {
    ($($t:ty),*) => {$(
        impl Json for $t {
            fn json(&self, out: &mut String) {
                out.push_str(&self.to_string());
            }
        }
    )*};
}
json_display!(i8, i16, i32, i64, u16, bool);

impl Json for f64 {
    fn json(&self, out: &mut String) {
        out.push_str(&serde_json::Value::from(*self).to_string());
    }
}

impl Json for Uuid {
    fn json(&self, out: &mut String) {
        json_str(&uuid_string(self), out);
    }
}

impl Json for String {
    fn json(&self, out: &mut String) {
        json_str(self, out);
    }
}

impl Json for Bytes {
    fn json(&self, out: &mut String) {
        json_str(&STANDARD.encode(self), out);
    }
}

impl<T: Json> Json for Option<T> {
    fn json(&self, out: &mut String) {
        match self {
            None => out.push_str("null"),
            Some(v) => v.json(out),
        }
    }
}

impl<T: Json> Json for Vec<T> {
    fn json(&self, out: &mut String) {
        out.push('[');
        for (i, e) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            e.json(out);
        }
        out.push(']');
    }
}

/// Writes `"camelName":` for a snake_case Rust field name (`topic_id` -> `topicId`).
pub(crate) fn json_key(field: &str, first: &mut bool, out: &mut String) {
    if !*first {
        out.push(',');
    }
    *first = false;
    out.push('"');
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out.push_str("\":");
}

/// Random values for the round-trip property tests.
#[cfg(test)]
pub(crate) mod arb {
    use bytes::Bytes;
    use rand::Rng;
    use rand_chacha::ChaCha8Rng;
    use uuid::Uuid;

    pub(crate) trait Arb {
        fn arb(rng: &mut ChaCha8Rng) -> Self;
    }

    macro_rules! arb_random {
        ($($t:ty),*) => {$(
            impl Arb for $t {
                fn arb(rng: &mut ChaCha8Rng) -> Self {
                    rng.random()
                }
            }
        )*};
    }
    arb_random!(i8, i16, i32, i64, u16, bool);

    impl Arb for f64 {
        fn arb(rng: &mut ChaCha8Rng) -> Self {
            // Finite values only: NaN never compares equal.
            let mantissa: i32 = rng.random();
            f64::from(mantissa) / 8.0
        }
    }

    impl Arb for Uuid {
        fn arb(rng: &mut ChaCha8Rng) -> Self {
            Uuid::from_u128(rng.random())
        }
    }

    impl Arb for String {
        fn arb(rng: &mut ChaCha8Rng) -> Self {
            let len = rng.random_range(0..12);
            (0..len).map(|_| rng.random::<char>()).collect()
        }
    }

    impl Arb for Bytes {
        fn arb(rng: &mut ChaCha8Rng) -> Self {
            let len = rng.random_range(0..40);
            (0..len)
                .map(|_| rng.random::<u8>())
                .collect::<Vec<u8>>()
                .into()
        }
    }

    impl<T: Arb> Arb for Option<T> {
        fn arb(rng: &mut ChaCha8Rng) -> Self {
            rng.random_bool(0.7).then(|| T::arb(rng))
        }
    }

    impl<T: Arb> Arb for Vec<T> {
        fn arb(rng: &mut ChaCha8Rng) -> Self {
            let len = rng.random_range(0..5);
            (0..len).map(|_| T::arb(rng)).collect()
        }
    }
}
