//! Log errors and the Kafka error codes they map to.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A batch failed framing, magic or CRC checks (`CORRUPT_MESSAGE`).
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    /// A batch is larger than `message.max.bytes` (`MESSAGE_TOO_LARGE`).
    #[error("record batch of {size} bytes exceeds the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    /// Structurally valid but inconsistent records (`INVALID_RECORD`).
    #[error("invalid records: {0}")]
    InvalidRecord(String),
    /// Offsets that do not continue the log (`OFFSET_OUT_OF_RANGE` for reads,
    /// a replication bug for follower appends).
    #[error("offset {offset} is out of range [{start}, {end}]")]
    OutOfRange { offset: i64, start: i64, end: i64 },
    #[error("follower append at offset {got} does not continue the log end offset {expected}")]
    NonContiguous { expected: i64, got: i64 },
    /// An I/O failure (`KAFKA_STORAGE_ERROR`); the caller decides whether the directory goes
    /// offline (partition logs) or the process exits (the metadata log), see ADR 0004.
    #[error("I/O error on {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl LogError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LogError {
        let path = path.into();
        move |cause| LogError::Io { path, cause }
    }

    /// The Kafka error code for a response.
    pub fn error_code(&self) -> i16 {
        match self {
            LogError::Corrupt(_) => 2,
            LogError::TooLarge { .. } => 10,
            LogError::InvalidRecord(_) => 87,
            LogError::OutOfRange { .. } => 1,
            LogError::NonContiguous { .. } => 87,
            LogError::Io { .. } => 56,
        }
    }

    pub fn is_io(&self) -> bool {
        matches!(self, LogError::Io { .. })
    }
}
