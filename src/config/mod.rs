//! Configuration: Kafka's `server.properties` keys, loaded through the `config` crate from a
//! properties file, then `KRAFTD_*` environment variables, then `--override key=value`
//! (highest precedence), into a typed, validated [`ServerConfig`].
//!
//! Every key is listed once in [`keys::KEYS`]; `docs/configuration.md` is rendered from it.

pub mod connection_limits;
pub mod endpoint;
pub mod error;
pub mod group_settings;
mod identity;
pub mod keys;
mod listeners;
mod log_settings;
pub mod properties;
mod quorum;
mod reader;
pub mod replication;
pub mod server_config;
pub mod sources;
mod telemetry;

use std::path::Path;

pub use connection_limits::ConnectionLimits;
pub use endpoint::{HostPort, Listener, SecurityProtocol, Voter};
pub use error::{ConfigError, ConfigErrors};
pub use group_settings::GroupSettings;
pub use replication::ReplicationSettings;
pub use server_config::{LoadedConfig, LogFormat, Roles, ServerConfig};

/// Loads and validates the configuration from a properties file (optional), the process
/// environment and command-line overrides.
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &[String],
) -> Result<LoadedConfig, ConfigErrors> {
    let raw = sources::load_raw(path, env, overrides)?;
    ServerConfig::from_raw(&raw)
}

/// Validates configuration text as if it were the file at `path` (no environment).
pub fn from_text(
    text: &str,
    path: &Path,
    overrides: &[String],
) -> Result<LoadedConfig, ConfigErrors> {
    let file = properties::PropertiesFile::from_text(text, path)?;
    let raw = sources::merge(Some(&file), Vec::new(), overrides)?;
    ServerConfig::from_raw(&raw)
}

#[cfg(test)]
mod tests;
