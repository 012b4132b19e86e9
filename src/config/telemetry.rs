//! The process's own observability keys: the HTTP listener for metrics and health
//! (`kraftd.http.listener`), the log format (`kraftd.log.format`) and the OTLP endpoint
//! (`kraftd.otlp.endpoint`).

use std::net::SocketAddr;

use super::reader::Reader;

/// Log output format of the process (`kraftd.log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Reader<'_> {
    pub(super) fn http_listener(&mut self) -> SocketAddr {
        let (value, origin) = self.value("kraftd.http.listener").unwrap_or_default();
        value.parse().unwrap_or_else(|_| {
            self.invalid(
                "kraftd.http.listener",
                &value,
                &origin,
                "not an IP:port socket address",
                "allowed: e.g. 0.0.0.0:9464 or 127.0.0.1:9464",
            );
            SocketAddr::from(([0, 0, 0, 0], 9464))
        })
    }

    pub(super) fn log_format(&mut self) -> LogFormat {
        let (value, origin) = self.value("kraftd.log.format").unwrap_or_default();
        match value.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                self.invalid(
                    "kraftd.log.format",
                    &value,
                    &origin,
                    "unknown format",
                    "allowed: text or json",
                );
                LogFormat::Text
            }
        }
    }

    pub(super) fn otlp_endpoint(&mut self) -> Option<String> {
        let (value, origin) = self.explicit("kraftd.otlp.endpoint")?;
        if value.starts_with("http://") || value.starts_with("https://") {
            Some(value)
        } else {
            self.invalid(
                "kraftd.otlp.endpoint",
                &value,
                &origin,
                "not an http(s) URL",
                "allowed: e.g. http://127.0.0.1:4318",
            );
            None
        }
    }
}
