//! `kraftd dev`: a single-node combined broker + controller in one data directory, formatted
//! on first run only.

use std::path::Path;

use crate::config::{
    ConfigErrors, LoadedConfig, ServerConfig, properties::PropertiesFile, sources,
};
use crate::storage;

/// The defaults of `kraftd dev` as a properties text (shown by `kraftd dev --print-config`).
pub fn dev_properties(data_dir: &Path) -> String {
    let data = data_dir.display();
    format!(
        "process.roles=broker,controller\n\
         node.id=1\n\
         controller.quorum.voters=1@127.0.0.1:9093\n\
         listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:9092\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         log.dirs={data}/logs\n\
         metadata.log.dir={data}/metadata\n\
         offsets.topic.replication.factor=1\n\
         group.initial.rebalance.delay.ms=0\n\
         kraftd.http.listener=127.0.0.1:9464\n"
    )
}

/// Builds the dev configuration; `KRAFTD_*` variables and overrides apply on top.
pub fn config(
    data_dir: &Path,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &[String],
) -> Result<LoadedConfig, ConfigErrors> {
    let file = PropertiesFile::from_text(
        &dev_properties(data_dir),
        Path::new("(kraftd dev defaults)"),
    )?;
    let raw = sources::merge(Some(&file), env, overrides)?;
    ServerConfig::from_raw(&raw)
}

/// Formats the dev storage when no directory is formatted yet. Returns the new cluster id,
/// or `None` when the storage was already formatted (then the normal startup checks apply).
pub fn format_on_first_run(
    config: &ServerConfig,
) -> Result<Option<String>, super::storage::FormatError> {
    if config.all_dirs().iter().any(|d| storage::is_formatted(d)) {
        return Ok(None);
    }
    let id = storage::cluster_id::random_uuid();
    super::storage::format_node(config, &id, false)?;
    Ok(Some(id))
}

/// The banner `kraftd dev` prints once it is listening.
pub fn banner(config: &ServerConfig, data_dir: &Path, http: std::net::SocketAddr) -> String {
    let bootstrap = config
        .advertised_listeners
        .first()
        .map(|l| l.address.to_string())
        .unwrap_or_default();
    format!(
        "kraftd dev is running (single node, broker + controller)\n\
         \x20 data directory:    {}\n\
         \x20 bootstrap server:  {bootstrap}\n\
         \x20 metrics:           http://{http}/metrics   (also /healthz, /readyz)\n\
         \x20 try:               kcat -b {bootstrap} -L\n\
         Stop with Ctrl-C.\n",
        data_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_config_is_valid_and_formats_once() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = config(dir.path(), Vec::new(), &[]).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let c = loaded.config;
        assert!(c.roles.broker && c.roles.controller);
        assert!(format_on_first_run(&c).unwrap().is_some());
        assert!(format_on_first_run(&c).unwrap().is_none());
        storage::verify_for_startup(&c).unwrap();
    }

    #[test]
    fn overrides_apply_to_dev_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(
            dir.path(),
            Vec::new(),
            &["kraftd.http.listener=127.0.0.1:0".into()],
        )
        .unwrap()
        .config;
        assert_eq!(c.http_listener.port(), 0);
    }
}
