//! The raw-config reader: typed access to the merged raw map (integers in a range,
//! durations, booleans, lists, Kafka's retention-style precedence) that records every invalid
//! value as a [`ConfigError`] and carries on, so one load reports every problem at once.

use std::str::FromStr;
use std::time::Duration;

use super::error::{ConfigError, ConfigErrors};
use super::keys;
use super::sources::RawConfig;

/// Typed access to the raw map that accumulates errors instead of stopping at the first.
pub(super) struct Reader<'a> {
    raw: &'a RawConfig,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(raw: &'a RawConfig) -> Self {
        Reader {
            raw,
            errors: Vec::new(),
        }
    }

    /// `value` when nothing read was invalid, else every error found.
    pub(super) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

impl Reader<'_> {
    /// The explicit value (trimmed), or `None` when the key is unset or empty.
    pub(super) fn explicit(&self, key: &str) -> Option<(String, String)> {
        self.raw
            .get(key)
            .map(|v| (v.value.trim().to_string(), v.origin.clone()))
            .filter(|(v, _)| !v.is_empty())
    }

    /// The explicit value, else the documented default.
    pub(super) fn value(&self, key: &str) -> Option<(String, String)> {
        self.explicit(key).or_else(|| {
            keys::spec(key)
                .and_then(|s| s.default)
                .map(|d| (d.to_string(), "default".to_string()))
        })
    }

    /// Records that a required key is unset, with a hint on what to add.
    pub(super) fn missing(&mut self, key: &'static str, hint: String) {
        self.errors.push(ConfigError::Missing { key, hint });
    }

    pub(super) fn invalid(
        &mut self,
        key: &str,
        value: &str,
        origin: &str,
        reason: &str,
        allowed: &str,
    ) {
        self.errors.push(ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            origin: origin.to_string(),
            reason: reason.to_string(),
            allowed: allowed.to_string(),
        });
    }

    pub(super) fn int_in<T>(&mut self, key: &str, min: T, max: T) -> T
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let (value, origin) = self.value(key).expect("numeric keys have defaults");
        match value.parse::<T>() {
            Ok(n) if n >= min && n <= max => n,
            Ok(_) => {
                self.invalid(
                    key,
                    &value,
                    &origin,
                    "out of range",
                    &format!("allowed: an integer in [{min}, {max}]"),
                );
                min
            }
            Err(_) => {
                self.invalid(
                    key,
                    &value,
                    &origin,
                    "not an integer",
                    &format!("allowed: an integer in [{min}, {max}]"),
                );
                min
            }
        }
    }

    pub(super) fn ms_in(&mut self, key: &str, min: u64) -> Duration {
        Duration::from_millis(self.int_in::<u64>(key, min, i64::MAX as u64))
    }

    pub(super) fn opt_ms(&mut self, key: &str) -> Option<Duration> {
        self.explicit(key)?;
        Some(self.ms_in(key, 0))
    }

    fn parse_signed(&mut self, key: &str, value: &str, origin: &str) -> Option<i64> {
        match value.parse::<i64>() {
            Ok(n) if n >= -1 => Some(n),
            _ => {
                self.invalid(
                    key,
                    value,
                    origin,
                    "not a valid number",
                    "allowed: -1 (no limit) or an integer ≥ 0",
                );
                None
            }
        }
    }

    /// A `-1 = unlimited` byte limit.
    pub(super) fn optional_limit(&mut self, key: &str) -> Option<u64> {
        let (value, origin) = self.value(key)?;
        match self.parse_signed(key, &value, &origin) {
            Some(-1) | None => None,
            Some(n) => Some(n as u64),
        }
    }

    pub(super) fn signed_ms_or_forever(&mut self, key: &str) -> Option<Duration> {
        let (value, origin) = self.value(key)?;
        match self.parse_signed(key, &value, &origin) {
            Some(-1) | None => None,
            Some(n) => Some(Duration::from_millis(n as u64)),
        }
    }

    /// Kafka's precedence for `*.ms` over coarser units; `-1` (when allowed) means forever.
    pub(super) fn retention_like(
        &mut self,
        ms_keys: &[&str],
        coarser: &[(&str, u64)],
        allow_forever: bool,
    ) -> Option<Duration> {
        let mut candidates: Vec<(&str, u64)> = ms_keys.iter().map(|k| (*k, 1)).collect();
        candidates.extend_from_slice(coarser);
        // Explicit values in precedence order, then the default of the coarsest key.
        let chosen = candidates
            .iter()
            .find_map(|(k, unit)| self.explicit(k).map(|v| (*k, *unit, v)))
            .or_else(|| {
                candidates
                    .iter()
                    .find_map(|(k, unit)| self.value(k).map(|v| (*k, *unit, v)))
            });
        let (key, unit, (value, origin)) = chosen?;
        let allowed = if allow_forever {
            "allowed: -1 (forever) or an integer ≥ 0"
        } else {
            "allowed: an integer ≥ 1"
        };
        match value.parse::<i64>() {
            Ok(-1) if allow_forever => None,
            Ok(n) if n >= 1 || (allow_forever && n == 0) => {
                Some(Duration::from_millis((n as u64).saturating_mul(unit)))
            }
            _ => {
                self.invalid(key, &value, &origin, "not a valid duration", allowed);
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, key: &str) -> bool {
        let (value, origin) = self.value(key).expect("boolean keys have defaults");
        match value.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                self.invalid(
                    key,
                    &value,
                    &origin,
                    "not a boolean",
                    "allowed: true or false",
                );
                false
            }
        }
    }

    pub(super) fn opt_string(&self, key: &str) -> Option<String> {
        self.explicit(key).map(|(v, _)| v)
    }

    /// Parses a comma-separated list; empty items are skipped.
    pub(super) fn list_of<T>(
        &mut self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, (String, String)>,
    ) -> Vec<T> {
        let Some((value, origin)) = self.value(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match parse(item) {
                Ok(v) => out.push(v),
                Err((reason, allowed)) => self.invalid(
                    key,
                    item,
                    &origin,
                    &reason,
                    &format!("allowed: a comma-separated list of {allowed}"),
                ),
            }
        }
        out
    }
}
