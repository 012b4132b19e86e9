//! Configuration errors. Every message names the key, the bad value, where it came from and
//! what is allowed, so an operator can fix the line without reading code.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}:{line}: {detail}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    #[error("malformed --override {arg:?}: expected key=value")]
    MalformedOverride { arg: String },
    #[error("`{key}` (from {origin}) is not a configuration key: a key has no `[` or `]`")]
    InvalidKey { key: String, origin: String },
    #[error("cannot merge configuration sources: {0}")]
    Merge(config::ConfigError),
    #[error("missing required key `{key}`: {hint}")]
    Missing { key: &'static str, hint: String },
    #[error("invalid value {value:?} for `{key}` (from {origin}): {reason}; {allowed}")]
    Invalid {
        key: String,
        value: String,
        origin: String,
        reason: String,
        allowed: String,
    },
}

impl From<config::ConfigError> for ConfigError {
    fn from(e: config::ConfigError) -> Self {
        ConfigError::Merge(e)
    }
}

/// All problems found in one configuration, reported together.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "invalid configuration: {one}"),
            many => {
                write!(f, "invalid configuration ({} problems):", many.len())?;
                for e in many {
                    write!(f, "\n  - {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
