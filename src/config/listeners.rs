//! The listener keys: `listeners`, `listener.security.protocol.map`,
//! `controller.listener.names`, `advertised.listeners` and `inter.broker.listener.name`,
//! parsed and checked against each other and against this node's roles.

use std::collections::BTreeMap;

use super::endpoint::{Listener, SecurityProtocol, Voter, parse_listener};
use super::identity::Roles;
use super::reader::Reader;
use crate::types::NodeId;

/// The listener settings of one node, parsed and checked together.
pub(super) struct ListenerSettings {
    pub(super) listeners: Vec<Listener>,
    pub(super) advertised_listeners: Vec<Listener>,
    pub(super) security_protocols: BTreeMap<String, SecurityProtocol>,
    pub(super) controller_listener_names: Vec<String>,
    pub(super) inter_broker_listener_name: Option<String>,
}

impl Reader<'_> {
    /// Reads every listener key; `roles`, `node_id` and `voters` decide which listener is the
    /// controller's and what this node must bind.
    pub(super) fn listener_settings(
        &mut self,
        roles: Option<Roles>,
        node_id: Option<NodeId>,
        voters: &[Voter],
        warnings: &mut Vec<String>,
    ) -> ListenerSettings {
        let listeners = self.list_of("listeners", |s| {
            parse_listener(s).map_err(|e| (e, "NAME://host:port entries".to_string()))
        });
        let security_protocols = self.security_protocol_map();

        let controller_listener_names =
            self.controller_listener_names(roles, node_id, voters, &listeners, warnings);
        if let (Some(roles), Some(node_id)) = (roles, node_id) {
            self.check_roles(
                roles,
                node_id,
                voters,
                &listeners,
                &controller_listener_names,
                warnings,
            );
        }
        self.check_listener_protocols(&listeners, &security_protocols, &controller_listener_names);
        let advertised_listeners =
            self.advertised_listeners(&listeners, &controller_listener_names);
        let inter_broker_listener_name =
            self.inter_broker_listener(roles, &listeners, &controller_listener_names);
        ListenerSettings {
            listeners,
            advertised_listeners,
            security_protocols,
            controller_listener_names,
            inter_broker_listener_name,
        }
    }

    fn security_protocol_map(&mut self) -> BTreeMap<String, SecurityProtocol> {
        let entries = self.list_of("listener.security.protocol.map", |s| {
            let bad = || (format!("{s:?} is not NAME:PROTOCOL"), "NAME:PROTOCOL pairs with PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL".to_string());
            let (name, proto) = s.split_once(':').ok_or_else(bad)?;
            let proto = SecurityProtocol::parse(proto.trim()).ok_or_else(bad)?;
            Ok((name.trim().to_ascii_uppercase(), proto))
        });
        entries.into_iter().collect()
    }

    fn controller_listener_names(
        &mut self,
        roles: Option<Roles>,
        node_id: Option<NodeId>,
        voters: &[Voter],
        listeners: &[Listener],
        warnings: &mut Vec<String>,
    ) -> Vec<String> {
        if self.explicit("controller.listener.names").is_some() {
            return self.list_of("controller.listener.names", |s| Ok(s.to_ascii_uppercase()));
        }
        let is_controller = roles.is_some_and(|r| r.controller);
        // A controller's own voter entry names its controller port: the listener on that port
        // is the controller listener. Infer it when exactly one listener matches.
        if is_controller && let Some(me) = node_id.and_then(|id| voters.iter().find(|v| v.id == id))
        {
            let matching: Vec<_> = listeners
                .iter()
                .filter(|l| l.address.port == me.address.port)
                .collect();
            if let [only] = matching.as_slice() {
                warnings.push(format!(
                    "controller.listener.names is not set; using {} because it is the listener on port {} of this node's voter entry {me}. Add `controller.listener.names={}` to make this explicit",
                    only.name, me.address.port, only.name
                ));
                return vec![only.name.clone()];
            }
        }
        if roles.is_some() {
            let suggestion = listeners
                .iter()
                .find(|l| l.name.contains("CONTROLLER"))
                .map(|l| l.name.clone())
                .unwrap_or_else(|| "CONTROLLER".to_string());
            self.missing(
                "controller.listener.names",
                format!(
                    "add the line `controller.listener.names={suggestion}` (the listener controllers use; for a controller it must also be in `listeners`, e.g. `{suggestion}://:9093`)"
                ),
            );
        }
        Vec::new()
    }

    fn check_roles(
        &mut self,
        roles: Roles,
        node_id: NodeId,
        voters: &[Voter],
        listeners: &[Listener],
        controller_names: &[String],
        warnings: &mut Vec<String>,
    ) {
        let (voters_value, voters_origin) = self
            .explicit("controller.quorum.voters")
            .unwrap_or_default();
        let (listeners_value, listeners_origin) = self.value("listeners").unwrap_or_default();
        if roles.controller {
            if !voters.is_empty() && !voters.iter().any(|v| v.id == node_id) {
                self.invalid(
                    "controller.quorum.voters",
                    &voters_value,
                    &voters_origin,
                    &format!("this node runs the controller role with node.id={node_id}, which is not a voter"),
                    &format!("add `{node_id}@<host>:<port>` to controller.quorum.voters on every node, or remove `controller` from process.roles"),
                );
            }
            for name in controller_names {
                if !listeners.iter().any(|l| &l.name == name) {
                    self.invalid(
                        "listeners",
                        &listeners_value,
                        &listeners_origin,
                        &format!("controller listener {name} (controller.listener.names) is not among the listeners"),
                        &format!("add `{name}://:<port>` to listeners"),
                    );
                }
            }
            if voters.len() == 2 {
                warnings.push("controller.quorum.voters has 2 voters: a majority is 2, so the quorum tolerates no failure (use 3 or 5 voters)".to_string());
            } else if voters.len().is_multiple_of(2) && !voters.is_empty() {
                warnings.push(format!(
                    "controller.quorum.voters has {} voters: an even count tolerates no more failures than {} voters",
                    voters.len(),
                    voters.len() - 1
                ));
            }
        } else {
            for l in listeners {
                if controller_names.contains(&l.name) {
                    self.invalid(
                        "listeners",
                        &listeners_value,
                        &listeners_origin,
                        &format!("this node has process.roles=broker but lists the controller listener {l}"),
                        "remove the controller listener from listeners on broker-only nodes (brokers only connect to controllers)",
                    );
                }
            }
        }
        if roles.broker
            && !listeners
                .iter()
                .any(|l| !controller_names.contains(&l.name))
        {
            self.invalid(
                "listeners",
                &listeners_value,
                &listeners_origin,
                "a broker needs at least one listener that is not a controller listener",
                "add a client listener such as `PLAINTEXT://:9092`",
            );
        }
    }

    fn check_listener_protocols(
        &mut self,
        listeners: &[Listener],
        map: &BTreeMap<String, SecurityProtocol>,
        controller_names: &[String],
    ) {
        let (listeners_value, listeners_origin) = self.value("listeners").unwrap_or_default();
        let mut names = BTreeMap::new();
        let mut ports = BTreeMap::new();
        for l in listeners {
            if names.insert(l.name.clone(), ()).is_some() {
                self.invalid(
                    "listeners",
                    &listeners_value,
                    &listeners_origin,
                    &format!("listener name {} is used twice", l.name),
                    "allowed: each listener name once",
                );
            }
            if let Some(other) = ports.insert(l.address.port, l.name.clone()) {
                self.invalid(
                    "listeners",
                    &listeners_value,
                    &listeners_origin,
                    &format!(
                        "listeners {other} and {} share port {}",
                        l.name, l.address.port
                    ),
                    "allowed: one listener per port",
                );
            }
            let protocol = match map.get(&l.name) {
                Some(p) => *p,
                None if controller_names.contains(&l.name) => SecurityProtocol::Plaintext,
                None => {
                    self.invalid(
                        "listener.security.protocol.map",
                        &self
                            .value("listener.security.protocol.map")
                            .unwrap_or_default()
                            .0,
                        &self
                            .value("listener.security.protocol.map")
                            .unwrap_or_default()
                            .1,
                        &format!("listener {} has no security protocol", l.name),
                        &format!(
                            "add `{}:PLAINTEXT` to listener.security.protocol.map",
                            l.name
                        ),
                    );
                    continue;
                }
            };
            if protocol != SecurityProtocol::Plaintext {
                self.invalid(
                    "listener.security.protocol.map",
                    &format!("{}:{}", l.name, protocol.name()),
                    &self
                        .value("listener.security.protocol.map")
                        .unwrap_or_default()
                        .1,
                    &format!(
                        "listener {} uses {}, which kraftd does not serve yet",
                        l.name,
                        protocol.name()
                    ),
                    "allowed today: PLAINTEXT",
                );
            }
        }
    }

    fn advertised_listeners(
        &mut self,
        listeners: &[Listener],
        controller_names: &[String],
    ) -> Vec<Listener> {
        if self.explicit("advertised.listeners").is_some() {
            let advertised = self.list_of("advertised.listeners", |s| {
                parse_listener(s).map_err(|e| (e, "NAME://host:port entries".to_string()))
            });
            let (value, origin) = self.explicit("advertised.listeners").unwrap_or_default();
            for a in &advertised {
                if controller_names.contains(&a.name) {
                    self.invalid(
                        "advertised.listeners",
                        &value,
                        &origin,
                        &format!(
                            "controller listener {} must not be advertised to clients",
                            a.name
                        ),
                        "list only client listeners",
                    );
                } else if !listeners.iter().any(|l| l.name == a.name) {
                    self.invalid(
                        "advertised.listeners",
                        &value,
                        &origin,
                        &format!("{} is not among the listeners", a.name),
                        "advertise only listeners this node binds",
                    );
                }
                if a.address.host.is_empty() {
                    self.invalid(
                        "advertised.listeners",
                        &value,
                        &origin,
                        &format!("{a} has no host"),
                        "advertise a host name or address clients can reach",
                    );
                }
            }
            return advertised;
        }
        let host = local_host_name();
        listeners
            .iter()
            .filter(|l| !controller_names.contains(&l.name))
            .map(|l| {
                let mut l = l.clone();
                if l.address.host.is_empty()
                    || l.address.host == "0.0.0.0"
                    || l.address.host == "::"
                {
                    l.address.host = host.clone();
                }
                l
            })
            .collect()
    }

    fn inter_broker_listener(
        &mut self,
        roles: Option<Roles>,
        listeners: &[Listener],
        controller_names: &[String],
    ) -> Option<String> {
        if let Some((value, origin)) = self.explicit("inter.broker.listener.name") {
            let name = value.to_ascii_uppercase();
            if controller_names.contains(&name) {
                self.invalid(
                    "inter.broker.listener.name",
                    &value,
                    &origin,
                    "it names a controller listener",
                    "name a client listener from listeners",
                );
            } else if roles.is_some_and(|r| r.broker) && !listeners.iter().any(|l| l.name == name) {
                self.invalid(
                    "inter.broker.listener.name",
                    &value,
                    &origin,
                    "it is not among the listeners",
                    "name a listener from listeners",
                );
            }
            return Some(name);
        }
        listeners
            .iter()
            .find(|l| l.name == "PLAINTEXT" && !controller_names.contains(&l.name))
            .or_else(|| {
                listeners
                    .iter()
                    .find(|l| !controller_names.contains(&l.name))
            })
            .map(|l| l.name.clone())
    }
}

/// This machine's host name (what Kafka advertises for a listener without a host).
fn local_host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).trim().to_string()
    } else {
        String::new()
    };
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}
