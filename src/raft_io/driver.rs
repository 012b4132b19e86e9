//! The raft driver: the only owner of a [`RaftCore`]. It turns inbound RPCs, proposals,
//! responses and timers into [`Input`]s, steps the core, and executes the [`Output`]s **in
//! order**: `PersistQuorumState` and `FlushLog` are durable before any `Send` of the same step
//! is handed to the network (they precede them in the output list and are executed
//! synchronously). The loop runs on its own thread with a current-thread runtime, so an fsync
//! never stalls the network runtime; outbound RPCs run as one task per peer on the network
//! runtime (one request in flight per peer, as the core expects).

use std::collections::{BTreeMap, VecDeque};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use super::committed::{CommitCursor, CommitEvent};
use super::peer::{PeerRequest, peer_task};
use super::quorum_state_store::QuorumStateStore;
use crate::clock::Clock;
use crate::raft::messages::{self as rm, DescribeQuorumResponse};
use crate::raft::{Input, Output, RaftCore, RaftLog, RaftStatus};
use crate::types::{Epoch, MonoTime, NodeId, Offset};

/// Events the driver loop consumes.
enum Event {
    /// A request from another node; `reply` receives the core's answer.
    Inbound {
        from: NodeId,
        request: rm::Request,
        reply: oneshot::Sender<rm::Response>,
    },
    /// The response of a peer to one of our requests.
    PeerResponse {
        from: NodeId,
        correlation_id: u64,
        response: rm::Response,
    },
    Append {
        epoch: Epoch,
        records: Vec<Bytes>,
        reply: oneshot::Sender<Result<(Offset, Offset), AppendError>>,
    },
    DescribeQuorum {
        reply: oneshot::Sender<DescribeQuorumResponse>,
    },
    /// From the layer above: freeze a snapshot of its state, or clean the log below the
    /// latest snapshot.
    Core(Input),
    Shutdown {
        reply: oneshot::Sender<()>,
        deadline: Instant,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("this node is not the leader of epoch {0}")]
    NotLeader(Epoch),
    #[error("the raft driver has stopped")]
    Stopped,
}

/// What the driver reports to the rest of the process after every step.
#[derive(Debug, Clone)]
pub struct DriverStatus {
    pub raft: RaftStatus,
    /// Commit latencies observed since the last report (append on this leader → committed).
    pub commit_latencies: Vec<Duration>,
    /// Requests waiting to be sent, summed over the peers' queues.
    pub peer_queue_depth: usize,
    /// Requests dropped because a peer's queue was full (raft resends what matters).
    pub peer_requests_dropped: u64,
}

/// A cloneable handle to a running driver.
#[derive(Clone)]
pub struct RaftHandle {
    events: mpsc::Sender<Event>,
    status: watch::Receiver<DriverStatus>,
    committed: watch::Receiver<Option<Offset>>,
    clock: Clock,
}

/// Where the peers of this node listen (controller listener of each voter).
pub type PeerAddresses = BTreeMap<NodeId, String>;

/// Settings of the IO around the core.
#[derive(Debug, Clone)]
pub struct DriverSettings {
    pub peers: PeerAddresses,
    /// Timeout of one outbound RPC (long-poll fetches add their max wait).
    pub request_timeout: Duration,
    pub client_id: String,
    /// How long the leader waits to gather appends into one batch
    /// (`controller.quorum.append.linger.ms`); zero appends at once.
    pub append_linger: Duration,
    /// Where committed state goes (the metadata loader); `None` delivers nothing.
    pub commit_listener: Option<mpsc::Sender<CommitEvent>>,
}

/// Largest batch gathered by the append linger before it is appended early.
const LINGER_MAX_BYTES: usize = 1 << 20;

type AppendReply = oneshot::Sender<Result<(Offset, Offset), AppendError>>;

/// Appends gathered during the linger: one batch, several callers.
struct PendingBatch {
    epoch: Epoch,
    records: Vec<Bytes>,
    bytes: usize,
    /// Each caller's record count and reply, in order.
    waiters: Vec<(usize, AppendReply)>,
    deadline: Instant,
}

const EVENT_QUEUE: usize = 4096;

/// Requests waiting for one peer; more are dropped (a voter that far behind is resent what it
/// needs by the core's timers).
const PEER_QUEUE: usize = 256;

/// Starts the driver for `core`. Outbound RPC tasks are spawned on `network`.
pub fn spawn<L>(
    core: RaftCore<L>,
    store: QuorumStateStore,
    settings: DriverSettings,
    clock: Clock,
    network: tokio::runtime::Handle,
) -> (RaftHandle, std::thread::JoinHandle<()>)
where
    L: RaftLog + Send + 'static,
{
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    let initial = DriverStatus {
        raft: core.status(),
        commit_latencies: Vec::new(),
        peer_queue_depth: 0,
        peer_requests_dropped: 0,
    };
    let (status_tx, status_rx) = watch::channel(initial);
    let (committed_tx, committed_rx) = watch::channel(core.high_watermark());
    let handle = RaftHandle {
        events: tx.clone(),
        status: status_rx,
        committed: committed_rx,
        clock,
    };
    let thread = std::thread::Builder::new()
        .name("kraftd-raft".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("raft driver runtime");
            let driver = Driver {
                core,
                store,
                settings,
                clock,
                network,
                events_tx: tx,
                status_tx,
                committed_tx,
                peers: BTreeMap::new(),
                peer_requests_dropped: 0,
                pending_inbound: BTreeMap::new(),
                next_inbound_id: 1,
                appends: VecDeque::new(),
                lingering: None,
                appending: Vec::new(),
                shutdown: None,
                cursor: None,
            };
            rt.block_on(driver.run(rx));
        })
        .expect("spawn the raft driver thread");
    (handle, thread)
}

impl RaftHandle {
    /// Hands a request from `from` to the core and waits for its answer. `None` when the core
    /// dropped it (e.g. it is shutting down) or the driver stopped.
    pub async fn request(&self, from: NodeId, request: rm::Request) -> Option<rm::Response> {
        let (reply, rx) = oneshot::channel();
        self.events
            .send(Event::Inbound {
                from,
                request,
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }

    /// The leader's DescribeQuorum answer (an error kind on a non-leader).
    pub async fn describe_quorum(&self) -> Option<DescribeQuorumResponse> {
        let (reply, rx) = oneshot::channel();
        self.events
            .send(Event::DescribeQuorum { reply })
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Appends one batch of record values as the leader of `epoch`; returns its first and
    /// last offsets. Commitment is reported through [`RaftHandle::committed`].
    pub async fn append(
        &self,
        epoch: Epoch,
        records: Vec<Bytes>,
    ) -> Result<(Offset, Offset), AppendError> {
        let (reply, rx) = oneshot::channel();
        self.events
            .send(Event::Append {
                epoch,
                records,
                reply,
            })
            .await
            .map_err(|_| AppendError::Stopped)?;
        rx.await.map_err(|_| AppendError::Stopped)?
    }

    /// Like [`RaftHandle::append`], but returns once the request is queued: appends queued by
    /// one caller are appended in the order queued, and the receiver yields the offsets.
    pub async fn append_queued(
        &self,
        epoch: Epoch,
        records: Vec<Bytes>,
    ) -> Result<oneshot::Receiver<Result<(Offset, Offset), AppendError>>, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.events
            .send(Event::Append {
                epoch,
                records,
                reply,
            })
            .await
            .map_err(|_| AppendError::Stopped)?;
        Ok(rx)
    }

    /// Asks the leader of `epoch` to resign (the active controller found its log position
    /// inconsistent with the state it holds).
    pub async fn resign(&self, epoch: Epoch) -> bool {
        self.events
            .send(Event::Core(Input::Resign { epoch }))
            .await
            .is_ok()
    }

    /// Hands the core a snapshot of the state machine at `id` (committed, batch-aligned); the
    /// outcome appears as `SnapshotCreated`/`SnapshotRejected` in the driver's log.
    pub async fn create_snapshot(&self, id: crate::raft::SnapshotId, data: Bytes) -> bool {
        self.events
            .send(Event::Core(Input::CreateSnapshot { id, data }))
            .await
            .is_ok()
    }

    /// Deletes log segments below the latest snapshot (never the snapshot itself).
    pub async fn clean_log(&self) -> bool {
        self.events.send(Event::Core(Input::CleanLog)).await.is_ok()
    }

    /// The latest status (updated after every step).
    pub fn status(&self) -> watch::Receiver<DriverStatus> {
        self.status.clone()
    }

    /// The high watermark as it advances.
    pub fn committed(&self) -> watch::Receiver<Option<Offset>> {
        self.committed.clone()
    }

    /// Converts a core time to milliseconds since the Unix epoch (for DescribeQuorum).
    pub fn wall_ms(&self, t: MonoTime) -> i64 {
        let now = self.clock.now();
        self.clock.wall_ms() - now.since(t).as_millis() as i64
    }

    /// Graceful shutdown: a leader resigns and hands over (EndQuorumEpoch) before the loop
    /// ends; returns when the driver stopped or `timeout` passed.
    pub async fn shutdown(&self, timeout: Duration) {
        let (reply, rx) = oneshot::channel();
        let deadline = crate::clock::instant_now() + timeout;
        if self
            .events
            .send(Event::Shutdown { reply, deadline })
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(timeout, rx).await;
        }
    }
}

struct Driver<L: RaftLog> {
    core: RaftCore<L>,
    store: QuorumStateStore,
    settings: DriverSettings,
    clock: Clock,
    network: tokio::runtime::Handle,
    events_tx: mpsc::Sender<Event>,
    status_tx: watch::Sender<DriverStatus>,
    committed_tx: watch::Sender<Option<Offset>>,
    /// One bounded queue per peer: a peer that cannot keep up loses requests (counted), the
    /// driver thread never blocks on it.
    peers: BTreeMap<NodeId, mpsc::Sender<PeerRequest>>,
    peer_requests_dropped: u64,
    pending_inbound: BTreeMap<(NodeId, u64), oneshot::Sender<rm::Response>>,
    next_inbound_id: u64,
    /// Leader appends awaiting commit: (last offset, when appended).
    appends: VecDeque<(Offset, Instant)>,
    /// Appends gathering during the linger.
    lingering: Option<PendingBatch>,
    /// The callers of the batch being appended in the current step.
    appending: Vec<(usize, AppendReply)>,
    shutdown: Option<(oneshot::Sender<()>, Instant)>,
    /// The listener's position in the committed log.
    cursor: Option<CommitCursor>,
}

impl<L: RaftLog> Driver<L> {
    async fn run(mut self, mut rx: mpsc::Receiver<Event>) {
        self.cursor = self.settings.commit_listener.take().map(CommitCursor::new);
        self.deliver_committed();
        let mut out = Vec::new();
        let mut latencies = Vec::new();
        loop {
            let input = match self.next_input(&mut rx).await {
                ControlFlow::Continue(Some(input)) => input,
                ControlFlow::Continue(None) => continue,
                ControlFlow::Break(()) => break,
            };
            let append_callers = match &input {
                Input::Append { .. } => std::mem::take(&mut self.appending),
                _ => Vec::new(),
            };
            out.clear();
            self.core.step(self.clock.now(), input, &mut out);
            let mut step = StepResult::default();
            for o in out.drain(..) {
                self.execute(o, &mut latencies, &mut step);
            }
            answer_appends(append_callers, &step.append);
            self.deliver_committed();
            self.publish_status(&mut latencies);
            self.pending_inbound.retain(|_, tx| !tx.is_closed());
            if step.ready || (rx.is_closed() && self.shutdown.is_none()) {
                break;
            }
        }
        if let Some((reply, _)) = self.shutdown.take() {
            let _ = reply.send(());
        }
        tracing::info!("raft driver stopped");
    }

    /// Waits for the next input of the core: an event, the core's timer, the end of the append
    /// linger. `Continue(None)` when the event was answered without the core; `Break` when the
    /// shutdown deadline passed.
    async fn next_input(
        &mut self,
        rx: &mut mpsc::Receiver<Event>,
    ) -> ControlFlow<(), Option<Input>> {
        let deadline = self.clock.instant(self.core.next_deadline());
        let shutdown_deadline = self.shutdown.as_ref().map(|(_, d)| *d);
        let linger_deadline = self.lingering.as_ref().map(|b| b.deadline);
        let input = tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => self.input_for(ev),
                None => Some(Input::Shutdown),
            },
            _ = tokio::time::sleep_until(deadline.into()) => Some(Input::Tick),
            _ = sleep_until_opt(linger_deadline) => Some(self.take_lingering()),
            _ = sleep_until_opt(shutdown_deadline) => {
                tracing::warn!("raft shutdown deadline passed before a hand-over completed");
                return ControlFlow::Break(());
            }
        };
        ControlFlow::Continue(input)
    }

    /// Executes one output of the core's step, in order.
    fn execute(&mut self, o: Output, latencies: &mut Vec<Duration>, step: &mut StepResult) {
        match o {
            Output::PersistQuorumState(state) => {
                if let Err(e) = self.store.write(&state) {
                    // The vote and epoch must be durable before any send: without them
                    // the quorum's safety is gone. Exit so systemd restarts the node.
                    tracing::error!(error = %e, "cannot persist quorum-state; exiting");
                    std::process::exit(70);
                }
            }
            Output::FlushLog { .. } => self.core.log_mut().flush(),
            Output::Send { to, msg } => self.send(to, msg),
            Output::Committed { high_watermark } => self.committed(high_watermark, latencies),
            Output::LeaderChanged { epoch, leader_id } => {
                tracing::info!(epoch = epoch.0, leader = ?leader_id.map(|l| l.0), "quorum leader changed");
                self.appends.clear();
            }
            Output::LeaderEpochCommitted {
                epoch,
                epoch_start_offset,
            } => {
                tracing::info!(
                    epoch = epoch.0,
                    epoch_start_offset = epoch_start_offset.0,
                    "leader epoch committed"
                );
            }
            Output::Appended {
                base_offset,
                last_offset,
                ..
            } => {
                self.appends
                    .push_back((last_offset, crate::clock::instant_now()));
                step.append = Some(Ok((base_offset, last_offset)));
            }
            Output::AppendRejected { epoch } => {
                step.append = Some(Err(AppendError::NotLeader(epoch)))
            }
            Output::SnapshotCreated { id } => {
                tracing::info!(offset = id.offset.0, epoch = id.epoch.0, "snapshot created");
            }
            Output::SnapshotRejected { id, reason } => {
                tracing::warn!(
                    offset = id.offset.0,
                    epoch = id.epoch.0,
                    ?reason,
                    "snapshot refused"
                );
            }
            Output::SnapshotInstalled { id } => {
                tracing::info!(
                    offset = id.offset.0,
                    epoch = id.epoch.0,
                    "snapshot installed from the leader"
                );
                if let Some(c) = &mut self.cursor {
                    c.reset();
                }
            }
            Output::ShutdownReady => step.ready = true,
        }
    }

    /// The high watermark advanced: the commit latency of every append below it is measured,
    /// and the watch is told.
    fn committed(&mut self, high_watermark: Offset, latencies: &mut Vec<Duration>) {
        let now = crate::clock::instant_now();
        while let Some((last, at)) = self.appends.front() {
            if *last < high_watermark {
                latencies.push(now.duration_since(*at));
                self.appends.pop_front();
            } else {
                break;
            }
        }
        self.committed_tx.send_replace(Some(high_watermark));
    }

    /// Reports the status after a step, with the commit latencies gathered since the last.
    fn publish_status(&mut self, latencies: &mut Vec<Duration>) {
        self.status_tx.send_replace(DriverStatus {
            raft: self.core.status(),
            commit_latencies: std::mem::take(latencies),
            peer_queue_depth: self
                .peers
                .values()
                .map(|q| q.max_capacity() - q.capacity())
                .sum(),
            peer_requests_dropped: self.peer_requests_dropped,
        });
    }

    /// Hands the listener what became committed.
    fn deliver_committed(&mut self) {
        if let Some(c) = &mut self.cursor {
            c.deliver(self.core.log(), self.core.high_watermark());
        }
    }

    /// Turns an event into a core input, or answers it directly.
    fn input_for(&mut self, ev: Event) -> Option<Input> {
        match ev {
            Event::Inbound {
                from,
                request,
                reply,
            } => {
                let correlation_id = self.next_inbound_id;
                self.next_inbound_id += 1;
                self.pending_inbound.insert((from, correlation_id), reply);
                Some(Input::Received {
                    from,
                    msg: rm::Message::Request {
                        correlation_id,
                        body: request,
                    },
                })
            }
            Event::PeerResponse {
                from,
                correlation_id,
                response,
            } => Some(Input::Received {
                from,
                msg: rm::Message::Response {
                    correlation_id,
                    body: response,
                },
            }),
            Event::Append {
                epoch,
                records,
                reply,
            } => self.gather(epoch, records, reply),
            Event::DescribeQuorum { reply } => {
                let _ = reply.send(self.core.describe_quorum());
                None
            }
            Event::Core(input) => Some(input),
            Event::Shutdown { reply, deadline } => {
                self.shutdown = Some((reply, deadline));
                Some(Input::Shutdown)
            }
        }
    }

    /// Adds an append to the lingering batch; returns an input when a batch must go now (the
    /// linger is zero, the batch is full, or the epoch changed).
    fn gather(&mut self, epoch: Epoch, records: Vec<Bytes>, reply: AppendReply) -> Option<Input> {
        let flush_first = self.lingering.as_ref().is_some_and(|b| b.epoch != epoch);
        let earlier = if flush_first {
            self.take_lingering_opt()
        } else {
            None
        };
        let bytes: usize = records.iter().map(Bytes::len).sum();
        let batch = self.lingering.get_or_insert_with(|| PendingBatch {
            epoch,
            records: Vec::new(),
            bytes: 0,
            waiters: Vec::new(),
            deadline: crate::clock::instant_now() + self.settings.append_linger,
        });
        batch.waiters.push((records.len(), reply));
        batch.records.extend(records);
        batch.bytes += bytes;
        if let Some(input) = earlier {
            // The earlier epoch's batch goes now; this one keeps lingering.
            return Some(input);
        }
        if self.settings.append_linger.is_zero() || batch.bytes >= LINGER_MAX_BYTES {
            return self.take_lingering_opt();
        }
        None
    }

    fn take_lingering_opt(&mut self) -> Option<Input> {
        let batch = self.lingering.take()?;
        self.appending = batch.waiters;
        Some(Input::Append {
            epoch: batch.epoch,
            records: batch.records,
        })
    }

    /// The lingering batch as an input (the linger deadline passed).
    fn take_lingering(&mut self) -> Input {
        self.take_lingering_opt().unwrap_or(Input::Tick)
    }

    fn send(&mut self, to: NodeId, msg: rm::Message) {
        match msg {
            rm::Message::Response {
                correlation_id,
                body,
            } => {
                if let Some(reply) = self.pending_inbound.remove(&(to, correlation_id)) {
                    let _ = reply.send(body);
                }
            }
            rm::Message::Request {
                correlation_id,
                body,
            } => {
                let Some(addr) = self.settings.peers.get(&to).cloned() else {
                    tracing::debug!(to = to.0, "no address for node; request dropped");
                    return;
                };
                let queue = self.peers.entry(to).or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(PEER_QUEUE);
                    let events = self.events_tx.clone();
                    self.network.spawn(peer_task(
                        to,
                        addr,
                        self.settings.client_id.clone(),
                        self.settings.request_timeout,
                        rx,
                        move |from, correlation_id, response| {
                            let events = events.clone();
                            async move {
                                let _ = events
                                    .send(Event::PeerResponse {
                                        from,
                                        correlation_id,
                                        response,
                                    })
                                    .await;
                            }
                        },
                    ));
                    tx
                });
                let sent = queue.try_send(PeerRequest {
                    correlation_id,
                    request: body,
                });
                if let Err(mpsc::error::TrySendError::Full(r)) = sent {
                    self.peer_requests_dropped += 1;
                    tracing::debug!(
                        to = to.0,
                        request = r.request.name(),
                        "peer queue full; request dropped"
                    );
                }
            }
        }
    }
}

/// What the outputs of one step tell the loop.
#[derive(Default)]
struct StepResult {
    /// The outcome of the step's append, if it had one.
    append: Option<Result<(Offset, Offset), AppendError>>,
    /// The core is ready to stop (`ShutdownReady`).
    ready: bool,
}

/// Answers the callers of a step's append: each caller gets its own slice of the batch's
/// offsets.
fn answer_appends(
    callers: Vec<(usize, AppendReply)>,
    append_result: &Option<Result<(Offset, Offset), AppendError>>,
) {
    let mut next = match append_result {
        Some(Ok((base, _))) => Some(*base),
        _ => None,
    };
    for (count, reply) in callers {
        let result = match (append_result, next) {
            (Some(Ok(_)), Some(first)) => {
                let last = Offset(first.0 + count as i64 - 1);
                next = Some(Offset(last.0 + 1));
                Ok((first, last))
            }
            (Some(Err(e)), _) => Err(e.clone()),
            _ => Err(AppendError::Stopped),
        };
        let _ = reply.send(result);
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
