//! The layers of configuration, lowest precedence first: the properties file, `KRAFTD_*`
//! environment variables, then `--override key=value` arguments. They are merged by the
//! `config` crate; each value keeps its origin for error messages.

use std::collections::BTreeMap;
use std::path::Path;

use config::{Config, Map, Source, Value, ValueKind};

use super::error::ConfigError;
use super::properties::PropertiesFile;

/// The prefix of environment variables that override keys: `KRAFTD_NODE_ID` → `node.id`.
pub const ENV_PREFIX: &str = "KRAFTD_";

/// A value and where it came from (`server.properties:3`, `environment variable KRAFTD_NODE_ID`,
/// `--override node.id=2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue {
    pub value: String,
    pub origin: String,
}

/// The merged, flat `key → value` view of every layer.
pub type RawConfig = BTreeMap<String, RawValue>;

/// Maps an environment variable name to a key: strip `KRAFTD_`, lower-case, `_` → `.`.
pub fn env_var_to_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix(ENV_PREFIX)?;
    // KRAFTD_TEST_* are test hooks (fault injection), never configuration keys.
    if rest.is_empty() || rest.starts_with("TEST_") {
        return None;
    }
    Some(rest.to_ascii_lowercase().replace('_', "."))
}

/// Maps a key to its environment variable: `node.id` → `KRAFTD_NODE_ID`.
pub fn key_to_env_var(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.to_ascii_uppercase().replace(['.', '-'], "_")
    )
}

#[derive(Debug, Clone)]
struct EnvSource {
    vars: Vec<(String, String)>,
}

impl Source for EnvSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        let mut map = Map::new();
        for (var, value) in &self.vars {
            if let Some(key) = env_var_to_key(var) {
                let origin = format!("environment variable {var}");
                map.insert(
                    key,
                    Value::new(Some(&origin), ValueKind::String(value.clone())),
                );
            }
        }
        Ok(map)
    }
}

#[derive(Debug, Clone)]
struct OverrideSource {
    pairs: Vec<(String, String)>,
}

impl Source for OverrideSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        let mut map = Map::new();
        for (key, value) in &self.pairs {
            let origin = format!("--override {key}={value}");
            map.insert(
                key.clone(),
                Value::new(Some(&origin), ValueKind::String(value.clone())),
            );
        }
        Ok(map)
    }
}

/// Parses `key=value` override arguments.
pub fn parse_overrides(args: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(ConfigError::MalformedOverride { arg: arg.clone() }),
        })
        .collect()
}

/// Merges the three layers into one flat map.
pub fn merge(
    file: Option<&PropertiesFile>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &[String],
) -> Result<RawConfig, ConfigError> {
    let mut builder = Config::builder();
    if let Some(file) = file {
        for p in file.properties() {
            check_key(&p.key, || format!("{}:{}", file.path().display(), p.line))?;
        }
        builder = builder.add_source(file.clone());
    }
    let vars: Vec<_> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    for (var, _) in &vars {
        if let Some(key) = env_var_to_key(var) {
            check_key(&key, || format!("environment variable {var}"))?;
        }
    }
    builder = builder.add_source(EnvSource { vars });
    let pairs = parse_overrides(overrides)?;
    for (key, value) in &pairs {
        check_key(key, || format!("--override {key}={value}"))?;
    }
    builder = builder.add_source(OverrideSource { pairs });
    let merged = builder.build()?;
    let mut out = RawConfig::new();
    flatten("", merged.collect()?, &mut out);
    Ok(out)
}

/// Refuses a key that the `config` crate would read as an array subscript (`name[N]`): Kafka
/// keys have none, and the crate sizes an array by `N` (a key ending in `[268268822]` asked
/// for 25 GB).
fn check_key(key: &str, origin: impl FnOnce() -> String) -> Result<(), ConfigError> {
    if key.contains(['[', ']']) {
        return Err(ConfigError::InvalidKey {
            key: key.to_string(),
            origin: origin(),
        });
    }
    Ok(())
}

/// The `config` crate nests dotted keys into tables; Kafka keys are flat, so flatten back.
fn flatten(prefix: &str, table: Map<String, Value>, out: &mut RawConfig) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        let origin = value.origin().unwrap_or("unknown source").to_string();
        match value.kind {
            ValueKind::Table(inner) => flatten(&key, inner, out),
            other => {
                let value = Value::new(Some(&origin), other).to_string();
                out.insert(key, RawValue { value, origin });
            }
        }
    }
}

/// Reads the properties file at `path` (if any) and merges it with the other layers.
pub fn load_raw(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &[String],
) -> Result<RawConfig, ConfigError> {
    let file = path.map(PropertiesFile::read).transpose()?;
    merge(file.as_ref(), env, overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_map_both_ways() {
        assert_eq!(env_var_to_key("KRAFTD_NODE_ID").unwrap(), "node.id");
        assert_eq!(
            env_var_to_key("KRAFTD_CONTROLLER_QUORUM_VOTERS").unwrap(),
            "controller.quorum.voters"
        );
        assert_eq!(env_var_to_key("OTHER_NODE_ID"), None);
        assert_eq!(
            key_to_env_var("log.retention.ms"),
            "KRAFTD_LOG_RETENTION_MS"
        );
    }

    #[test]
    fn layers_override_in_order_and_keep_origins() {
        let file = PropertiesFile::from_text(
            "node.id=1\nprocess.roles=broker\nlog.dirs=/a\n",
            Path::new("s.properties"),
        )
        .unwrap();
        let env = vec![
            ("KRAFTD_NODE_ID".to_string(), "2".to_string()),
            ("KRAFTD_LOG_DIRS".to_string(), "/b".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let raw = merge(Some(&file), env, &["node.id=3".to_string()]).unwrap();
        assert_eq!(raw["node.id"].value, "3");
        assert_eq!(raw["node.id"].origin, "--override node.id=3");
        assert_eq!(raw["log.dirs"].value, "/b");
        assert_eq!(
            raw["log.dirs"].origin,
            "environment variable KRAFTD_LOG_DIRS"
        );
        assert_eq!(raw["process.roles"].origin, "s.properties:2");
        assert!(!raw.contains_key("path"));
    }

    #[test]
    fn malformed_override_is_rejected() {
        let err = merge(None, Vec::new(), &["novalue".to_string()]).unwrap_err();
        assert!(err.to_string().contains("novalue"), "{err}");
    }

    #[test]
    fn an_array_subscript_in_a_key_is_refused_before_anything_is_allocated() {
        // Found by fuzzing: the `config` crate reads `key[N]` as an array element and sizes
        // the array by N (this file asked for 25 GB).
        let file = PropertiesFile::from_text(
            "node.id=1\n26I[268268822][1]=2\n",
            Path::new("s.properties"),
        )
        .unwrap();
        let err = merge(Some(&file), Vec::new(), &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidKey { key, origin }
                if key == "26I[268268822][1]" && origin == "s.properties:2"),
            "{err}"
        );
        let err = merge(None, Vec::new(), &["a[-99999999]=1".to_string()]).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidKey { .. }), "{err}");
        let env = vec![("KRAFTD_A[9999999999]".to_string(), "1".to_string())];
        let err = merge(None, env, &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidKey { origin, .. }
                if origin == "environment variable KRAFTD_A[9999999999]"),
            "{err}"
        );
    }
}
