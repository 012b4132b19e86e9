//! Who this process is: its roles (`process.roles`) and its id (`node.id`).

use super::reader::Reader;
use crate::types::NodeId;

/// Which roles this process runs (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

impl Roles {
    /// The roles as Kafka writes them (`broker`, `controller`, `broker,controller`).
    pub fn label(&self) -> &'static str {
        match (self.broker, self.controller) {
            (true, true) => "broker,controller",
            (true, false) => "broker",
            (false, true) => "controller",
            (false, false) => "",
        }
    }
}

impl Reader<'_> {
    pub(super) fn roles(&mut self) -> Option<Roles> {
        let Some((value, origin)) = self.explicit("process.roles") else {
            self.missing(
                "process.roles",
                "add `process.roles=broker,controller` (combined), `process.roles=broker` or `process.roles=controller`".into(),
            );
            return None;
        };
        let mut roles = Roles {
            broker: false,
            controller: false,
        };
        for item in value.split(',').map(str::trim) {
            let slot = match item {
                "broker" => &mut roles.broker,
                "controller" => &mut roles.controller,
                _ => {
                    self.invalid(
                        "process.roles",
                        &value,
                        &origin,
                        &format!("unknown role {item:?}"),
                        "allowed: broker, controller or broker,controller",
                    );
                    return None;
                }
            };
            if *slot {
                self.invalid(
                    "process.roles",
                    &value,
                    &origin,
                    &format!("role {item:?} is listed twice"),
                    "allowed: broker, controller or broker,controller",
                );
                return None;
            }
            *slot = true;
        }
        Some(roles)
    }

    pub(super) fn node_id(&mut self) -> Option<NodeId> {
        let Some((value, origin)) = self.explicit("node.id") else {
            self.missing(
                "node.id",
                "add `node.id=<n>` with a number that is unique in the cluster (for a controller, its id in controller.quorum.voters)".into(),
            );
            return None;
        };
        match value.parse::<i32>() {
            Ok(n) if n >= 0 => Some(NodeId(n)),
            _ => {
                self.invalid(
                    "node.id",
                    &value,
                    &origin,
                    "not a valid node id",
                    "allowed: an integer in [0, 2147483647]",
                );
                None
            }
        }
    }
}
