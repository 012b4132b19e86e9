//! Java `.properties` files (the format of Kafka's `server.properties`) as a `config` source.
//!
//! Parsing follows `java.util.Properties.load`: `#`/`!` comments, `=`, `:` or whitespace as
//! the key/value separator, backslash line continuation, and `\t \n \r \f \uXXXX` escapes.
//! Every value remembers where it came from (file and line) so that validation errors can
//! point at the line to fix.

use std::path::{Path, PathBuf};

use config::{Map, Source, Value, ValueKind};

use super::error::ConfigError;

/// One `key=value` entry and the (1-based) line where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parses the text of a properties file. Later duplicates win, as in Java.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Property>, ConfigError> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let start_line = index + 1;
        let trimmed = first.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        // Join continuation lines: a line ending in an odd number of backslashes continues.
        let mut logical = String::from(trimmed);
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_entry(&logical);
        let key = unescape(key).map_err(|detail| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: start_line,
            detail,
        })?;
        let value = unescape(value).map_err(|detail| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: start_line,
            detail,
        })?;
        out.push(Property {
            key,
            value,
            line: start_line,
        });
    }
    Ok(out)
}

fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped `=`, `:` or whitespace.
fn split_entry(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("malformed \\uXXXX escape \\u{hex}"))?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// A properties file as a `config` crate source; each value's origin is `<path>:<line>`.
#[derive(Debug, Clone)]
pub struct PropertiesFile {
    path: PathBuf,
    properties: Vec<Property>,
}

impl PropertiesFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Self::from_text(&text, path)
    }

    /// Parses `text` as if read from `path` (used by tests and `kraftd dev`).
    pub fn from_text(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Ok(PropertiesFile {
            path: path.to_path_buf(),
            properties: parse(text, path)?,
        })
    }

    pub fn properties(&self) -> &[Property] {
        &self.properties
    }

    /// The path the properties were read from (or are named after).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Source for PropertiesFile {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        let mut map = Map::new();
        for p in &self.properties {
            let origin = format!("{}:{}", self.path.display(), p.line);
            map.insert(
                p.key.clone(),
                Value::new(Some(&origin), ValueKind::String(p.value.clone())),
            );
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String, usize)> {
        parse(text, Path::new("t.properties"))
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value, p.line))
            .collect()
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let got = kv(
            "# comment\n! also\n\nnode.id=1\nprocess.roles : broker\nlog.dirs /tmp/x\n  a=b=c\n",
        );
        assert_eq!(
            got,
            vec![
                ("node.id".into(), "1".into(), 4),
                ("process.roles".into(), "broker".into(), 5),
                ("log.dirs".into(), "/tmp/x".into(), 6),
                ("a".into(), "b=c".into(), 7),
            ]
        );
    }

    #[test]
    fn continuation_lines_join_and_keep_first_line_number() {
        let got = kv("controller.quorum.voters=1@a:9093,\\\n    2@b:9093\nx=1\n");
        assert_eq!(
            got,
            vec![
                (
                    "controller.quorum.voters".into(),
                    "1@a:9093,2@b:9093".into(),
                    1
                ),
                ("x".into(), "1".into(), 3),
            ]
        );
    }

    #[test]
    fn escapes() {
        let got = kv("a\\=b=c\\td\nu=\\u0041\ntrail=x\\\\\n");
        assert_eq!(got[0].0, "a=b");
        assert_eq!(got[0].1, "c\td");
        assert_eq!(got[1].1, "A");
        assert_eq!(got[2].1, "x\\");
    }

    #[test]
    fn bad_unicode_escape_names_the_line() {
        let err = parse("ok=1\nbad=\\u00zz\n", Path::new("s.properties")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("s.properties:2"), "{msg}");
        assert!(msg.contains("\\u"), "{msg}");
    }

    #[test]
    fn key_without_value_is_empty() {
        assert_eq!(kv("flag\n"), vec![("flag".into(), "".into(), 1)]);
    }
}
