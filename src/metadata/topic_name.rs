//! Kafka's rules for topic names, shared by the controller (CreateTopics) and the broker
//! (auto-creation from Metadata).

/// Longest legal topic name.
pub const MAX_NAME_LENGTH: usize = 249;

/// Checks `name` against Kafka's rules; the error is Kafka's message.
pub fn validate(name: &str) -> Result<(), String> {
    let invalid = |m: String| Err(m);
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_NAME_LENGTH {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
    {
        return invalid(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}
