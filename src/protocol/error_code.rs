//! Kafka error codes and their names as Kafka spells them (`UNSUPPORTED_VERSION`), for logs
//! and metric labels.

use kafka_protocol::ResponseError;

pub const NONE: i16 = 0;
pub const UNSUPPORTED_VERSION: i16 = 35;

/// The Kafka name of an error code (`NONE` for 0, `UNKNOWN_SERVER_ERROR` for unknown codes).
pub fn name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(e) => upper_snake(&format!("{e:?}")),
    }
}

fn upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_kafkas_spelling() {
        assert_eq!(name(0), "NONE");
        assert_eq!(name(35), "UNSUPPORTED_VERSION");
        assert_eq!(name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(name(3), "UNKNOWN_TOPIC_OR_PARTITION");
    }
}
