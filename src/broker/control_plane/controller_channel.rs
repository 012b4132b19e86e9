//! The connection from a node to the active controller (Kafka's NodeToControllerChannel): it
//! finds the quorum leader through this node's raft state, connects to its controller
//! listener, and reconnects when the leader changes or the connection fails. A request in
//! flight to a controller that stops leading is abandoned as soon as this node learns of the
//! new leader (as Kafka's channel does): a paused or cut-off old controller must not hold the
//! broker's heartbeats until the request timeout, long enough for the new controller to
//! fence the broker.

use std::time::Duration;

use kafka_protocol::protocol::{Encodable, Request};
use tokio::sync::Mutex;

use crate::network::client::{ClientError, KafkaConnection};
use crate::raft_io::driver::RaftHandle;
use crate::raft_io::endpoint::ControllerNode;
use crate::types::NodeId;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("no active controller is known")]
    NoController,
    #[error("no address is configured for controller {0}")]
    UnknownController(i32),
    #[error("the active controller moved from {from} to {to:?} while the request was in flight")]
    ControllerMoved { from: i32, to: Option<i32> },
    #[error(transparent)]
    Client(#[from] ClientError),
}

pub struct ControllerChannel {
    raft: RaftHandle,
    controllers: Vec<ControllerNode>,
    client_id: String,
    timeout: Duration,
    conn: Mutex<Option<(NodeId, KafkaConnection)>>,
}

impl ControllerChannel {
    pub fn new(
        raft: RaftHandle,
        controllers: Vec<ControllerNode>,
        client_id: String,
        timeout: Duration,
    ) -> Self {
        ControllerChannel {
            raft,
            controllers,
            client_id,
            timeout,
            conn: Mutex::new(None),
        }
    }

    /// The quorum leader (the active controller) as this node knows it.
    pub fn controller_id(&self) -> Option<NodeId> {
        self.raft.status().borrow().raft.leader_id
    }

    /// Sends `request` to the active controller. A failed exchange drops the connection so
    /// the next call reconnects (to the leader of that moment).
    pub async fn send<R>(&self, request: &R, version: i16) -> Result<R::Response, ChannelError>
    where
        R: Request + Encodable,
    {
        let leader = self.controller_id().ok_or(ChannelError::NoController)?;
        let mut guard = self.conn.lock().await;
        if guard.as_ref().is_some_and(|(id, _)| *id != leader) {
            *guard = None;
        }
        if guard.is_none() {
            let node = self
                .controllers
                .iter()
                .find(|c| c.id == leader)
                .ok_or(ChannelError::UnknownController(leader.0))?;
            let addr = format!("{}:{}", node.host, node.port);
            let conn = KafkaConnection::connect(&addr, &self.client_id, self.timeout).await?;
            *guard = Some((leader, conn));
        }
        let (_, conn) = guard.as_mut().expect("connected above");
        let mut status = self.raft.status();
        let moved = async {
            loop {
                let now = status.borrow_and_update().raft.leader_id;
                if now != Some(leader) {
                    return now;
                }
                if status.changed().await.is_err() {
                    // The raft driver is gone: only the request's own timeout is left.
                    std::future::pending::<()>().await;
                }
            }
        };
        let outcome = tokio::select! {
            r = conn.send(request, version, self.timeout) => r.map_err(ChannelError::from),
            to = moved => Err(ChannelError::ControllerMoved {
                from: leader.0,
                to: to.map(|n| n.0),
            }),
        };
        if outcome.is_err() {
            *guard = None;
        }
        outcome
    }
}
