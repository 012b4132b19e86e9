//! Cluster ids: 16 random bytes written as URL-safe base64 without padding (22 characters),
//! exactly as `kafka-storage random-uuid` prints them.

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};

/// Java's decoder ignores the unused low bits of the last character, so ids printed by Kafka
/// tooling (e.g. `MkU3OEVBNTcwNTJENDM2Qk`) decode here too.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

use super::error::StorageError;

/// Generates a fresh cluster (or directory) id, skipping the values Kafka reserves.
pub fn random_uuid() -> String {
    loop {
        let id = encode(*uuid::Uuid::new_v4().as_bytes());
        if validate(&id).is_ok() {
            return id;
        }
    }
}

fn encode(bytes: [u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The Kafka string form of a UUID (22 characters, URL-safe base64 without padding).
pub fn uuid_to_string(id: &uuid::Uuid) -> String {
    encode(*id.as_bytes())
}

/// Parses the Kafka string form of a UUID (lenient like Java's decoder).
pub fn uuid_from_string(id: &str) -> Option<uuid::Uuid> {
    let bytes: [u8; 16] = LENIENT.decode(id).ok()?.try_into().ok()?;
    Some(uuid::Uuid::from_bytes(bytes))
}

/// Checks that `id` is a valid Kafka UUID string: 22 URL-safe base64 characters decoding to
/// 16 bytes, not one of the reserved values (all zero, or `(0, 1)`), not starting with `-`.
pub fn validate(id: &str) -> Result<(), StorageError> {
    let invalid = |reason: &str| StorageError::InvalidClusterId {
        id: id.to_string(),
        reason: reason.to_string(),
    };
    if id.len() != 22 {
        return Err(invalid("it must be 22 characters of URL-safe base64"));
    }
    let bytes = LENIENT
        .decode(id)
        .map_err(|_| invalid("it is not URL-safe base64"))?;
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| invalid("it does not decode to 16 bytes"))?;
    let value = u128::from_be_bytes(bytes);
    if value == 0 || value == 1 {
        return Err(invalid("it is a reserved id"));
    }
    if id.starts_with('-') {
        return Err(invalid("it starts with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_22_url_safe_characters() {
        for _ in 0..200 {
            let id = random_uuid();
            assert_eq!(id.len(), 22, "{id}");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
            assert!(!id.starts_with('-'));
            validate(&id).unwrap();
        }
    }

    #[test]
    fn reserved_and_malformed_ids_are_rejected() {
        assert!(validate(&encode([0; 16])).is_err());
        let mut one = [0; 16];
        one[15] = 1;
        assert!(validate(&encode(one)).is_err());
        assert!(validate("short").is_err());
        assert!(validate("!!!!!!!!!!!!!!!!!!!!!!").is_err());
        assert!(validate("MkU3OEVBNTcwNTJENDM2Qk").is_ok());
    }
}
