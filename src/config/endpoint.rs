//! Endpoints in configuration: listeners (`NAME://host:port`), voters (`id@host:port`) and
//! plain `host:port` pairs.

use std::fmt;

use crate::types::NodeId;

/// A `host:port` pair; an empty host means "every interface" for a bind address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A named listener, e.g. `CONTROLLER://:9093`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub address: HostPort,
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.name, self.address)
    }
}

/// One entry of `controller.quorum.voters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: NodeId,
    pub address: HostPort,
}

impl fmt::Display for Voter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.address)
    }
}

/// The security protocol of a listener. Only PLAINTEXT is served today; the others are
/// recognised so that configurations naming them fail with a clear message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

/// Parses `host:port`, `[v6]:port` or `:port` (empty host).
pub fn parse_host_port(s: &str) -> Result<HostPort, String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| "an IPv6 host must be written [addr]:port".to_string())?;
        (h, p)
    } else {
        s.rsplit_once(':')
            .ok_or_else(|| "expected host:port".to_string())?
    };
    if host.contains(':') && !s.starts_with('[') {
        return Err("an IPv6 host must be written [addr]:port".into());
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(format!("{host:?} is not a host name or address"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("port {port:?} is not a number in 1..=65535"))?;
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

/// Parses `NAME://host:port`.
pub fn parse_listener(s: &str) -> Result<Listener, String> {
    let (name, addr) = s
        .split_once("://")
        .ok_or_else(|| "expected NAME://host:port".to_string())?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "listener name {name:?} must be letters, digits, '_' or '-'"
        ));
    }
    Ok(Listener {
        name: name.to_ascii_uppercase(),
        address: parse_host_port(addr)?,
    })
}

/// Parses `id@host:port`.
pub fn parse_voter(s: &str) -> Result<Voter, String> {
    let (id, addr) = s
        .split_once('@')
        .ok_or_else(|| "expected id@host:port".to_string())?;
    let id: i32 = id
        .parse()
        .ok()
        .filter(|i| *i >= 0)
        .ok_or_else(|| format!("voter id {id:?} is not a non-negative integer"))?;
    let address = parse_host_port(addr)?;
    if address.host.is_empty() {
        return Err("a voter needs a host (id@host:port)".into());
    }
    Ok(Voter {
        id: NodeId(id),
        address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("a:1").unwrap(),
            HostPort {
                host: "a".into(),
                port: 1
            }
        );
        assert_eq!(parse_host_port(":9092").unwrap().host, "");
        assert_eq!(parse_host_port("[::1]:9092").unwrap().host, "::1");
        assert!(parse_host_port("::1:9092").is_err());
        assert!(parse_host_port("a").is_err());
        assert!(parse_host_port("a:0").is_err());
        assert!(parse_host_port("a:70000").is_err());
        assert!(parse_host_port("a:x").is_err());
    }

    #[test]
    fn listener_forms() {
        let l = parse_listener("controller://:9093").unwrap();
        assert_eq!(l.name, "CONTROLLER");
        assert_eq!(l.address.port, 9093);
        assert_eq!(l.to_string(), "CONTROLLER://:9093");
        assert!(parse_listener("PLAINTEXT:9092").is_err());
        assert!(parse_listener("://:9092").is_err());
    }

    #[test]
    fn voter_forms() {
        let v = parse_voter("3@node-1:9093").unwrap();
        assert_eq!(v.id, NodeId(3));
        assert_eq!(v.to_string(), "3@node-1:9093");
        assert!(parse_voter("x@h:1").is_err());
        assert!(parse_voter("-1@h:1").is_err());
        assert!(parse_voter("1@:9093").is_err());
        assert!(parse_voter("1h:9093").is_err());
    }
}
