//! `kraftd consumer-groups`: Kafka's `kafka-consumer-groups` against the brokers — list
//! (ListGroups on every broker), describe offsets, members and state (FindCoordinator,
//! DescribeGroups and OffsetFetch on the group's coordinator, ListOffsets on each partition's
//! leader), delete groups (DeleteGroups), reset offsets (OffsetCommit as a simple consumer:
//! generation -1, no member id) and delete offsets (OffsetDelete), with Kafka's columns and
//! messages. Tables go to stdout, notes and per-group errors to stderr; any failed group makes
//! the command fail.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId,
    ListGroupsRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::args::ConsumerGroupsArgs;
use crate::group::consumer_protocol;
use crate::network::client::{ClientError, KafkaConnection};
use crate::protocol::error_code;

const CLIENT_ID: &str = "kraftd-consumer-groups";

/// ListOffsets timestamps with a special meaning.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// Group states as Kafka spells them (ListGroups filters are case-sensitive on the wire).
pub const STATES: [&str; 8] = [
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
    "Assigning",
    "Reconciling",
    "Unknown",
];

#[derive(Debug, thiserror::Error)]
pub enum GroupsError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot reach any of {0}")]
    Unreachable(String),
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {name}: {message}")]
    Kafka {
        what: String,
        name: String,
        message: String,
    },
}

fn kafka_error(what: impl Into<String>, code: i16) -> GroupsError {
    GroupsError::Kafka {
        what: what.into(),
        name: error_code::name(code),
        message: ResponseError::try_from_code(code)
            .map(|e| e.to_string())
            .unwrap_or_default(),
    }
}

/// Errors after which asking the (possibly new) coordinator again may succeed.
fn coordinator_retriable(code: i16) -> bool {
    [
        ResponseError::CoordinatorNotAvailable,
        ResponseError::CoordinatorLoadInProgress,
        ResponseError::NotCoordinator,
    ]
    .iter()
    .any(|e| e.code() == code)
}

/// What the command prints, and how many groups or partitions failed (non-zero exit).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub failures: usize,
}

impl Output {
    fn fail(&mut self, line: impl AsRef<str>) {
        self.stderr.push_str(line.as_ref());
        self.stderr.push('\n');
        self.failures += 1;
    }

    fn note(&mut self, line: impl AsRef<str>) {
        self.stderr.push_str(line.as_ref());
        self.stderr.push('\n');
    }
}

/// Left-aligned columns, each at least its minimum width and as wide as its widest cell,
/// separated by one space (the last column unpadded), as `kafka-consumer-groups` prints them.
pub fn table(headers: &[(&str, usize)], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, (h, min))| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([h.len(), *min])
                .max()
                .unwrap_or(*min)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$} ", w = widths[i]));
            }
        }
        format!("{}\n", s.trim_end())
    };
    let mut out = line(headers.iter().map(|(h, _)| *h).collect());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Parses `--to-datetime`: `YYYY-MM-DDTHH:mm:SS[.sss]` followed by `Z`, `±hh:mm`, `±hhmm` or
/// nothing (the local time zone, as Kafka's tool reads it), into milliseconds since the epoch.
pub fn parse_datetime(s: &str) -> Result<i64, GroupsError> {
    let bad = || {
        GroupsError::Usage(format!(
            "--to-datetime {s:?}: expected YYYY-MM-DDTHH:mm:SS.sss with an optional zone \
             (Z, +hh:mm or -hh:mm), e.g. 2024-01-31T12:00:00.000Z"
        ))
    };
    let (date, rest) = s.split_once('T').ok_or_else(bad)?;
    let num = |t: &str, digits: usize| -> Result<i64, GroupsError> {
        if t.len() != digits || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, mo, da] = d.as_slice() else {
        return Err(bad());
    };
    let (year, month, day) = (num(y, 4)?, num(mo, 2)?, num(da, 2)?);
    // Split the zone off the time.
    let (time, zone_ms) = if let Some(t) = rest.strip_suffix('Z') {
        (t, Some(0))
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (t, z) = rest.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let z = z[1..].replace(':', "");
        if z.len() != 4 {
            return Err(bad());
        }
        let (h, m) = (num(&z[..2], 2)?, num(&z[2..], 2)?);
        (t, Some(sign * (h * 60 + m) * 60_000))
    } else {
        (rest, None)
    };
    let (hms, millis) = match time.split_once('.') {
        Some((hms, ms)) if !ms.is_empty() && ms.len() <= 3 => {
            (hms, num(ms, ms.len())? * 10i64.pow(3 - ms.len() as u32))
        }
        Some(_) => return Err(bad()),
        None => (time, 0),
    };
    let t: Vec<&str> = hms.split(':').collect();
    let [h, mi, se] = t.as_slice() else {
        return Err(bad());
    };
    let (hour, minute, second) = (num(h, 2)?, num(mi, 2)?, num(se, 2)?);
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 59
        || year < 1970
    {
        return Err(bad());
    }
    let Some(zone_ms) = zone_ms else {
        let fields = [year - 1900, month - 1, day, hour, minute, second];
        return local_epoch_seconds(fields)
            .map(|t| t * 1000 + millis)
            .ok_or_else(bad);
    };
    let days_before_year: i64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    let days_before_month: i64 = month_days[..(month - 1) as usize].iter().sum();
    let days = days_before_year + days_before_month + day - 1;
    let ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis;
    Ok(ms - zone_ms)
}

/// Seconds since the epoch of a wall-clock time in the process's time zone (`TZ`, else the
/// system's), daylight saving time decided by the C library; fields as in `struct tm`: years
/// since 1900, month 0–11, day, hour, minute, second.
fn local_epoch_seconds([year, month, day, hour, minute, second]: [i64; 6]) -> Option<i64> {
    let field = |v: i64| i32::try_from(v).ok();
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct (a null `tm_zone`
    // included, which mktime does not read).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = field(year)?;
    tm.tm_mon = field(month)?;
    tm.tm_mday = field(day)?;
    tm.tm_hour = field(hour)?;
    tm.tm_min = field(minute)?;
    tm.tm_sec = field(second)?;
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, exclusively borrowed `struct tm` for the duration of the call.
    let t = unsafe { libc::mktime(&mut tm) };
    (t != -1).then_some(t)
}

/// Parses `--topic T` or `--topic T:0,1,2` into the topic and its partitions (`None`: all).
pub fn parse_topic(s: &str) -> Result<(String, Option<Vec<i32>>), GroupsError> {
    match s.split_once(':') {
        None if !s.is_empty() => Ok((s.to_string(), None)),
        Some((t, ps)) if !t.is_empty() => {
            let partitions = ps
                .split(',')
                .map(|p| {
                    p.trim().parse::<i32>().map_err(|_| {
                        GroupsError::Usage(format!("--topic {s}: {p:?} is not a partition number"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((t.to_string(), Some(partitions)))
        }
        _ => Err(GroupsError::Usage(format!(
            "--topic {s:?}: expected TOPIC or TOPIC:PARTITION,..."
        ))),
    }
}

/// The canonical spelling of a state given on the command line, in any case.
pub fn parse_state(s: &str) -> Result<&'static str, GroupsError> {
    STATES
        .iter()
        .find(|k| k.eq_ignore_ascii_case(s.trim()))
        .copied()
        .ok_or_else(|| {
            GroupsError::Usage(format!(
                "--state {s}: not a group state (one of {})",
                STATES.join(", ")
            ))
        })
}

/// How `--reset-offsets` picks the new offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    Earliest,
    Latest,
    Offset(i64),
    Datetime(i64),
    ShiftBy(i64),
}

/// The new offset of one partition for `reset`: `committed` is the group's offset,
/// `start..=end` the log's range, `at_time` the first offset at the `--to-datetime` time
/// (`None`: no record that late). Every result is clamped into the log's range. `Err` names
/// why no offset can be computed.
pub fn new_offset(
    reset: Reset,
    committed: Option<i64>,
    start: i64,
    end: i64,
    at_time: Option<i64>,
) -> Result<i64, String> {
    let wanted = match reset {
        Reset::Earliest => start,
        Reset::Latest => end,
        Reset::Offset(n) => n,
        Reset::Datetime(_) => at_time.unwrap_or(end),
        Reset::ShiftBy(n) => match committed {
            Some(c) => c.saturating_add(n),
            None => return Err("no committed offset to shift".into()),
        },
    };
    Ok(wanted.clamp(start, end.max(start)))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    id: i32,
    addr: String,
}

type Tp = (String, i32);

/// Connections to the brokers, opened on first use and kept for the command's duration.
struct Admin {
    bootstrap: String,
    timeout: Duration,
    conns: BTreeMap<String, KafkaConnection>,
    bootstrap_addr: Option<String>,
}

impl Admin {
    fn deadline(&self) -> std::time::Instant {
        crate::clock::instant_now() + self.timeout
    }

    async fn conn(&mut self, addr: &str) -> Result<&mut KafkaConnection, GroupsError> {
        if !self.conns.contains_key(addr) {
            let c = KafkaConnection::connect(addr, CLIENT_ID, self.timeout).await?;
            self.conns.insert(addr.to_string(), c);
        }
        self.conns
            .get_mut(addr)
            .ok_or_else(|| GroupsError::Unreachable(addr.to_string()))
    }

    /// Sends `req` to `addr`; a connection that failed is dropped so that a retry reconnects.
    async fn send<R>(
        &mut self,
        addr: &str,
        req: &R,
        version: i16,
    ) -> Result<R::Response, GroupsError>
    where
        R: kafka_protocol::protocol::Request + kafka_protocol::protocol::Encodable,
    {
        let timeout = self.timeout;
        let result = self.conn(addr).await?.send(req, version, timeout).await;
        if result.is_err() {
            self.conns.remove(addr);
        }
        Ok(result?)
    }

    async fn bootstrap(&mut self) -> Result<String, GroupsError> {
        if let Some(a) = &self.bootstrap_addr
            && self.conns.contains_key(a)
        {
            return Ok(a.clone());
        }
        let c = KafkaConnection::connect_any(&self.bootstrap, CLIENT_ID, self.timeout)
            .await
            .ok_or_else(|| GroupsError::Unreachable(self.bootstrap.clone()))?;
        let addr = c.addr().to_string();
        self.conns.insert(addr.clone(), c);
        self.bootstrap_addr = Some(addr.clone());
        Ok(addr)
    }

    /// Metadata for `topics` (`None`: all topics; empty: brokers only).
    async fn metadata(
        &mut self,
        topics: Option<&[String]>,
    ) -> Result<MetadataResponse, GroupsError> {
        let addr = self.bootstrap().await?;
        let req = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        self.send(&addr, &req, 12).await
    }

    async fn brokers(&mut self) -> Result<BTreeMap<i32, String>, GroupsError> {
        let m = self.metadata(Some(&[])).await?;
        Ok(broker_addrs(&m))
    }

    /// The coordinator of each group (FindCoordinator v4, batched), retrying while the
    /// offsets topic is being created or its partitions loaded.
    async fn coordinators(
        &mut self,
        groups: &[String],
    ) -> Result<BTreeMap<String, Result<Node, GroupsError>>, GroupsError> {
        let deadline = self.deadline();
        let mut found = BTreeMap::new();
        let mut pending: Vec<String> = groups.to_vec();
        while !pending.is_empty() {
            let addr = self.bootstrap().await?;
            let req = FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(
                    pending
                        .iter()
                        .map(|g| StrBytes::from_string(g.clone()))
                        .collect(),
                );
            let resp = self.send(&addr, &req, 4).await?;
            let late = crate::clock::instant_now() >= deadline;
            let mut again = Vec::new();
            for c in resp.coordinators {
                let key = c.key.to_string();
                if c.error_code == 0 {
                    let addr = format!("{}:{}", c.host, c.port);
                    found.insert(
                        key,
                        Ok(Node {
                            id: c.node_id.0,
                            addr,
                        }),
                    );
                } else if coordinator_retriable(c.error_code) && !late {
                    again.push(key);
                } else {
                    let e = kafka_error(format!("FindCoordinator for group '{key}'"), c.error_code);
                    found.insert(key, Err(e));
                }
            }
            for g in &pending {
                if !found.contains_key(g) && !again.contains(g) {
                    let e = GroupsError::Usage(format!("FindCoordinator did not answer for '{g}'"));
                    found.insert(g.clone(), Err(e));
                }
            }
            pending = again;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(found)
    }

    /// DescribeGroups of each group on its coordinator.
    async fn describe(
        &mut self,
        groups: &[String],
    ) -> Result<BTreeMap<String, Result<(Node, DescribedGroup), GroupsError>>, GroupsError> {
        let deadline = self.deadline();
        let mut out = BTreeMap::new();
        let mut pending = groups.to_vec();
        while !pending.is_empty() {
            let coordinators = self.coordinators(&pending).await?;
            let late = crate::clock::instant_now() >= deadline;
            let mut by_node: BTreeMap<String, (Node, Vec<String>)> = BTreeMap::new();
            for (g, c) in coordinators {
                match c {
                    Ok(n) => by_node
                        .entry(n.addr.clone())
                        .or_insert_with(|| (n, Vec::new()))
                        .1
                        .push(g),
                    Err(e) => {
                        out.insert(g, Err(e));
                    }
                }
            }
            let mut again = Vec::new();
            for (addr, (node, gs)) in by_node {
                let req = DescribeGroupsRequest::default().with_groups(
                    gs.iter()
                        .map(|g| GroupId(StrBytes::from_string(g.clone())))
                        .collect(),
                );
                let resp = match self.send(&addr, &req, 5).await {
                    Ok(r) => r,
                    Err(e) if late => {
                        for g in gs {
                            out.insert(g, Err(GroupsError::Usage(e.to_string())));
                        }
                        continue;
                    }
                    Err(_) => {
                        again.extend(gs);
                        continue;
                    }
                };
                for d in resp.groups {
                    let g = d.group_id.0.to_string();
                    if d.error_code == 0 {
                        out.insert(g, Ok((node.clone(), d)));
                    } else if coordinator_retriable(d.error_code) && !late {
                        again.push(g);
                    } else {
                        let e = kafka_error(format!("DescribeGroups of '{g}'"), d.error_code);
                        out.insert(g, Err(e));
                    }
                }
            }
            pending = again;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(out)
    }

    /// The committed offsets of `group` (OffsetFetch v8 on its coordinator).
    async fn committed(&mut self, group: &str) -> Result<BTreeMap<Tp, i64>, GroupsError> {
        let deadline = self.deadline();
        loop {
            let node = self.coordinator(group).await?;
            let req = OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
                    .with_topics(None),
            ]);
            let resp = self.send(&node.addr, &req, 8).await?;
            let Some(g) = resp.groups.into_iter().next() else {
                return Err(GroupsError::Usage("empty OffsetFetch response".into()));
            };
            if coordinator_retriable(g.error_code) && crate::clock::instant_now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            if g.error_code != 0 {
                let what = format!("OffsetFetch of group '{group}'");
                return Err(kafka_error(what, g.error_code));
            }
            let mut out = BTreeMap::new();
            for t in g.topics {
                for p in t.partitions {
                    if p.error_code == 0 && p.committed_offset >= 0 {
                        out.insert(
                            (t.name.0.to_string(), p.partition_index),
                            p.committed_offset,
                        );
                    }
                }
            }
            return Ok(out);
        }
    }

    async fn coordinator(&mut self, group: &str) -> Result<Node, GroupsError> {
        self.coordinators(&[group.to_string()])
            .await?
            .remove(group)
            .unwrap_or_else(|| Err(GroupsError::Usage(format!("no coordinator for '{group}'"))))
    }

    /// The partitions of `topics` by Metadata; unknown topics are errors.
    async fn partitions(&mut self, topics: &[String]) -> Result<BTreeSet<Tp>, GroupsError> {
        let m = self.metadata(Some(topics)).await?;
        let mut out = BTreeSet::new();
        for t in &m.topics {
            let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            if t.error_code != 0 {
                return Err(kafka_error(format!("topic '{name}'"), t.error_code));
            }
            out.extend(
                t.partitions
                    .iter()
                    .map(|p| (name.clone(), p.partition_index)),
            );
        }
        Ok(out)
    }

    /// ListOffsets at `timestamp` (or LATEST / EARLIEST) of each partition on its leader.
    /// Partitions without a leader or with an error are missing from the answer.
    async fn offsets(
        &mut self,
        partitions: &BTreeSet<Tp>,
        timestamp: i64,
    ) -> Result<BTreeMap<Tp, i64>, GroupsError> {
        let mut out = BTreeMap::new();
        if partitions.is_empty() {
            return Ok(out);
        }
        let topics: Vec<String> = partitions
            .iter()
            .map(|(t, _)| t.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let m = self.metadata(Some(&topics)).await?;
        let brokers = broker_addrs(&m);
        let mut by_leader: BTreeMap<String, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for t in &m.topics {
            let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            for p in &t.partitions {
                if !partitions.contains(&(name.clone(), p.partition_index)) {
                    continue;
                }
                if let Some(addr) = brokers.get(&p.leader_id.0) {
                    by_leader
                        .entry(addr.clone())
                        .or_default()
                        .entry(name.clone())
                        .or_default()
                        .push(p.partition_index);
                }
            }
        }
        for (addr, topics) in by_leader {
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(0)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            ListOffsetsTopic::default()
                                .with_name(TopicName(StrBytes::from_string(t)))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|p| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(p)
                                                .with_current_leader_epoch(-1)
                                                .with_timestamp(timestamp)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let Ok(resp) = self.send(&addr, &req, 7).await else {
                continue;
            };
            for t in resp.topics {
                for p in t.partitions {
                    if p.error_code == 0 {
                        out.insert((t.name.0.to_string(), p.partition_index), p.offset);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every group known to any broker (ListGroups v5 to each), with its state, sorted.
    async fn list(&mut self, states: &[&str]) -> Result<BTreeMap<String, String>, GroupsError> {
        let mut out = BTreeMap::new();
        for (id, addr) in self.brokers().await? {
            let req = ListGroupsRequest::default().with_states_filter(
                states
                    .iter()
                    .map(|s| StrBytes::from_string(s.to_string()))
                    .collect(),
            );
            let resp = self.send(&addr, &req, 5).await?;
            if resp.error_code != 0 {
                return Err(kafka_error(
                    format!("ListGroups on broker {id}"),
                    resp.error_code,
                ));
            }
            for g in resp.groups {
                out.insert(g.group_id.0.to_string(), g.group_state.to_string());
            }
        }
        Ok(out)
    }
}

fn broker_addrs(m: &MetadataResponse) -> BTreeMap<i32, String> {
    m.brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
        .collect()
}

/// The groups the command is about: `--group`s, or every group with `--all-groups`.
async fn groups_of(
    admin: &mut Admin,
    args: &ConsumerGroupsArgs,
) -> Result<Vec<String>, GroupsError> {
    if args.all_groups {
        return Ok(admin.list(&[]).await?.into_keys().collect());
    }
    if args.group.is_empty() {
        return Err(GroupsError::Usage(
            "this action needs --group GROUP (or --all-groups)".into(),
        ));
    }
    // In the order given, each once.
    let mut seen = BTreeSet::new();
    Ok(args
        .group
        .iter()
        .filter(|g| seen.insert(g.as_str()))
        .cloned()
        .collect())
}

/// One member of a described group, its assignment decoded from the consumer protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub consumer_id: String,
    pub host: String,
    pub client_id: String,
    pub assignment: Vec<(String, Vec<i32>)>,
}

impl MemberView {
    fn of(d: &DescribedGroup) -> Vec<MemberView> {
        let mut members: Vec<MemberView> = d
            .members
            .iter()
            .map(|m| MemberView {
                consumer_id: m.member_id.to_string(),
                host: m.client_host.to_string(),
                client_id: m.client_id.to_string(),
                assignment: assignment_of(&m.member_assignment),
            })
            .collect();
        members.sort_by(|a, b| a.consumer_id.cmp(&b.consumer_id));
        members
    }

    fn partitions(&self) -> usize {
        self.assignment.iter().map(|(_, ps)| ps.len()).sum()
    }
}

fn assignment_of(bytes: &Bytes) -> Vec<(String, Vec<i32>)> {
    let mut a = consumer_protocol::assignment(bytes).unwrap_or_default();
    for (_, ps) in &mut a {
        ps.sort_unstable();
    }
    a.sort();
    a
}

/// One row of the offsets view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetRow {
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub committed: Option<i64>,
    pub log_end: Option<i64>,
    pub member: Option<MemberView>,
}

/// The offsets view's rows: every assigned partition (with its member), every partition with
/// a committed offset but no member, and a `-` row for each member without partitions; by
/// topic and partition.
pub fn offset_rows(
    members: &[MemberView],
    committed: &BTreeMap<Tp, i64>,
    log_end: &BTreeMap<Tp, i64>,
) -> Vec<OffsetRow> {
    let mut owner: BTreeMap<Tp, &MemberView> = BTreeMap::new();
    for m in members {
        for (t, ps) in &m.assignment {
            for p in ps {
                owner.insert((t.clone(), *p), m);
            }
        }
    }
    let all: BTreeSet<Tp> = owner.keys().chain(committed.keys()).cloned().collect();
    let mut rows: Vec<OffsetRow> = all
        .into_iter()
        .map(|tp| OffsetRow {
            committed: committed.get(&tp).copied(),
            log_end: log_end.get(&tp).copied(),
            member: owner.get(&tp).map(|m| (*m).clone()),
            topic: Some(tp.0),
            partition: Some(tp.1),
        })
        .collect();
    rows.extend(
        members
            .iter()
            .filter(|m| m.partitions() == 0)
            .map(|m| OffsetRow {
                topic: None,
                partition: None,
                committed: None,
                log_end: None,
                member: Some(m.clone()),
            }),
    );
    rows
}

pub fn format_offsets(group: &str, rows: &[OffsetRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let lag = r.committed.zip(r.log_end).map(|(c, e)| e - c);
            let m = r.member.as_ref();
            vec![
                group.to_string(),
                dash(r.topic.as_ref()),
                dash(r.partition),
                dash(r.committed),
                dash(r.log_end),
                dash(lag),
                dash(m.map(|m| &m.consumer_id)),
                dash(m.map(|m| &m.host)),
                dash(m.map(|m| &m.client_id)),
            ]
        })
        .collect();
    table(
        &[
            ("GROUP", 15),
            ("TOPIC", 15),
            ("PARTITION", 10),
            ("CURRENT-OFFSET", 15),
            ("LOG-END-OFFSET", 15),
            ("LAG", 15),
            ("CONSUMER-ID", 15),
            ("HOST", 15),
            ("CLIENT-ID", 0),
        ],
        &cells,
    )
}

fn format_assignment(a: &[(String, Vec<i32>)]) -> String {
    if a.is_empty() {
        return "-".into();
    }
    a.iter()
        .map(|(t, ps)| {
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{t}({})", ps.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn format_members(group: &str, members: &[MemberView], verbose: bool) -> String {
    let mut headers = vec![
        ("GROUP", 15),
        ("CONSUMER-ID", 15),
        ("HOST", 15),
        ("CLIENT-ID", 15),
        ("#PARTITIONS", 12),
    ];
    if verbose {
        headers.push(("ASSIGNMENT", 0));
    }
    let cells: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            let mut row = vec![
                group.to_string(),
                m.consumer_id.clone(),
                m.host.clone(),
                m.client_id.clone(),
                m.partitions().to_string(),
            ];
            if verbose {
                row.push(format_assignment(&m.assignment));
            }
            row
        })
        .collect();
    table(&headers, &cells)
}

pub fn format_state(
    group: &str,
    coordinator: &str,
    strategy: &str,
    state: &str,
    members: usize,
) -> String {
    table(
        &[
            ("GROUP", 15),
            ("COORDINATOR (ID)", 25),
            ("ASSIGNMENT-STRATEGY", 20),
            ("STATE", 20),
            ("#MEMBERS", 0),
        ],
        &[vec![
            group.to_string(),
            coordinator.to_string(),
            strategy.to_string(),
            state.to_string(),
            members.to_string(),
        ]],
    )
}

/// Runs the command.
pub async fn run(args: &ConsumerGroupsArgs) -> Result<Output, GroupsError> {
    let mut admin = Admin {
        bootstrap: args.bootstrap_server.clone(),
        timeout: Duration::from_millis(args.timeout_ms),
        conns: BTreeMap::new(),
        bootstrap_addr: None,
    };
    let mut out = Output::default();
    if args.list {
        list(&mut admin, args, &mut out).await?;
    } else if args.describe {
        describe(&mut admin, args, &mut out).await?;
    } else if args.delete {
        delete(&mut admin, args, &mut out).await?;
    } else if args.reset_offsets {
        reset(&mut admin, args, &mut out).await?;
    } else if args.delete_offsets {
        delete_offsets(&mut admin, args, &mut out).await?;
    } else {
        return Err(GroupsError::Usage(
            "one of --list, --describe, --delete, --reset-offsets, --delete-offsets is needed"
                .into(),
        ));
    }
    Ok(out)
}

/// `--list [--state [S,...]]`.
async fn list(
    admin: &mut Admin,
    args: &ConsumerGroupsArgs,
    out: &mut Output,
) -> Result<(), GroupsError> {
    let states = args
        .state
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|s| parse_state(s))
        .collect::<Result<Vec<_>, _>>()?;
    let groups = admin.list(&states).await?;
    if args.state.is_some() {
        let rows: Vec<Vec<String>> = groups.into_iter().map(|(g, s)| vec![g, s]).collect();
        out.stdout = table(&[("GROUP", 15), ("STATE", 0)], &rows);
    } else {
        out.stdout = groups.into_keys().map(|g| format!("{g}\n")).collect();
    }
    Ok(())
}

/// `--describe` in its three views.
async fn describe(
    admin: &mut Admin,
    args: &ConsumerGroupsArgs,
    out: &mut Output,
) -> Result<(), GroupsError> {
    if args.state.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(GroupsError::Usage(
            "--describe --state takes no value (state filters are for --list)".into(),
        ));
    }
    let groups = groups_of(admin, args).await?;
    let described = admin.describe(&groups).await?;
    for g in &groups {
        let Some(d) = described.get(g) else { continue };
        let (node, d) = match d {
            Ok(x) => x,
            Err(e) => {
                out.fail(format!("Error: {e}"));
                continue;
            }
        };
        let state = d.group_state.as_str();
        if state == "Dead" {
            out.fail(format!("Error: Consumer group '{g}' does not exist."));
            continue;
        }
        let members = MemberView::of(d);
        if args.state.is_some() {
            let coordinator = format!("{} ({})", node.addr, node.id);
            out.stdout.push('\n');
            out.stdout.push_str(&format_state(
                g,
                &coordinator,
                d.protocol_data.as_str(),
                state,
                members.len(),
            ));
            continue;
        }
        match state {
            "Empty" => out.note(format!("\nConsumer group '{g}' has no active members.")),
            "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
                out.note(format!("\nWarning: Consumer group '{g}' is rebalancing."))
            }
            _ => {}
        }
        if args.members {
            if !members.is_empty() {
                out.stdout.push('\n');
                out.stdout
                    .push_str(&format_members(g, &members, args.verbose));
            }
            continue;
        }
        let committed = match admin.committed(g).await {
            Ok(c) => c,
            Err(e) => {
                out.fail(format!("Error: {e}"));
                continue;
            }
        };
        let mut partitions: BTreeSet<Tp> = committed.keys().cloned().collect();
        for m in &members {
            for (t, ps) in &m.assignment {
                partitions.extend(ps.iter().map(|p| (t.clone(), *p)));
            }
        }
        let log_end = admin.offsets(&partitions, LATEST).await?;
        let rows = offset_rows(&members, &committed, &log_end);
        if rows.is_empty() {
            if state != "Empty" {
                out.note(format!("\nConsumer group '{g}' has no active members."));
            }
            continue;
        }
        out.stdout.push('\n');
        out.stdout.push_str(&format_offsets(g, &rows));
    }
    Ok(())
}

/// `--delete`.
async fn delete(
    admin: &mut Admin,
    args: &ConsumerGroupsArgs,
    out: &mut Output,
) -> Result<(), GroupsError> {
    let groups = groups_of(admin, args).await?;
    let mut deleted = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let deadline = admin.deadline();
    let mut pending = groups.clone();
    while !pending.is_empty() {
        let late = crate::clock::instant_now() >= deadline;
        let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, c) in admin.coordinators(&pending).await? {
            match c {
                Ok(n) => by_node.entry(n.addr).or_default().push(g),
                Err(e) => failed.push((g, e.to_string())),
            }
        }
        let mut again = Vec::new();
        for (addr, gs) in by_node {
            let req = DeleteGroupsRequest::default().with_groups_names(
                gs.iter()
                    .map(|g| GroupId(StrBytes::from_string(g.clone())))
                    .collect(),
            );
            let resp = admin.send(&addr, &req, 2).await?;
            for r in resp.results {
                let g = r.group_id.0.to_string();
                if r.error_code == 0 {
                    deleted.push(g);
                } else if coordinator_retriable(r.error_code) && !late {
                    again.push(g);
                } else {
                    let message = ResponseError::try_from_code(r.error_code)
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    failed.push((g, format!("{}: {message}", error_code::name(r.error_code))));
                }
            }
        }
        pending = again;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if !deleted.is_empty() {
        deleted.sort();
        out.stdout = format!(
            "Deletion of requested consumer groups ('{}') was successful.\n",
            deleted.join("', '")
        );
    }
    if !failed.is_empty() {
        failed.sort();
        out.note("Deletion of some consumer groups failed:");
        for (g, why) in failed {
            out.fail(format!("* Group '{g}' could not be deleted due to: {why}"));
        }
    }
    Ok(())
}

impl Reset {
    fn of(args: &ConsumerGroupsArgs) -> Result<Reset, GroupsError> {
        if args.to_earliest {
            Ok(Reset::Earliest)
        } else if args.to_latest {
            Ok(Reset::Latest)
        } else if let Some(n) = args.to_offset {
            Ok(Reset::Offset(n))
        } else if let Some(d) = &args.to_datetime {
            Ok(Reset::Datetime(parse_datetime(d)?))
        } else if let Some(n) = args.shift_by {
            Ok(Reset::ShiftBy(n))
        } else {
            Err(GroupsError::Usage(
                "--reset-offsets needs one of --to-earliest, --to-latest, --to-offset, \
                 --to-datetime, --shift-by"
                    .into(),
            ))
        }
    }
}

/// The partitions `--topic` names (all of a topic's without `:P,...`).
async fn topic_partitions(
    admin: &mut Admin,
    topics: &[String],
) -> Result<BTreeSet<Tp>, GroupsError> {
    let mut out = BTreeSet::new();
    let mut whole = Vec::new();
    for t in topics {
        match parse_topic(t)? {
            (name, Some(ps)) => out.extend(ps.into_iter().map(|p| (name.clone(), p))),
            (name, None) => whole.push(name),
        }
    }
    if !whole.is_empty() {
        out.extend(admin.partitions(&whole).await?);
    }
    Ok(out)
}

/// `--reset-offsets`: refuses while the group has members; prints the new offsets and, with
/// `--execute`, commits them.
async fn reset(
    admin: &mut Admin,
    args: &ConsumerGroupsArgs,
    out: &mut Output,
) -> Result<(), GroupsError> {
    let how = Reset::of(args)?;
    if args.topic.is_empty() && !args.all_topics {
        return Err(GroupsError::Usage(
            "--reset-offsets needs --topic TOPIC[:PARTITION,...] or --all-topics".into(),
        ));
    }
    if !args.dry_run && !args.execute {
        out.note(
            "WARN: No action will be performed as the --execute option is missing. \
             In a future major release, the default behavior of this command will be to \
             prompt the user before executing the reset rather than doing a dry run. You \
             should add the --dry-run option explicitly if you are scripting this command and \
             want to keep the current default behavior without prompting.",
        );
    }
    let groups = groups_of(admin, args).await?;
    let described = admin.describe(&groups).await?;
    for g in &groups {
        match described.get(g) {
            Some(Ok((_, d))) if ["Empty", "Dead"].contains(&d.group_state.as_str()) => {}
            Some(Ok((_, d))) => {
                out.fail(format!(
                    "Error: Assignments can only be reset if the group '{g}' is inactive, but \
                     the current state is {}.",
                    d.group_state
                ));
                continue;
            }
            Some(Err(e)) => {
                out.fail(format!("Error: {e}"));
                continue;
            }
            None => continue,
        }
        let committed = admin.committed(g).await?;
        let partitions = if args.all_topics {
            committed.keys().cloned().collect()
        } else {
            topic_partitions(admin, &args.topic).await?
        };
        let start = admin.offsets(&partitions, EARLIEST).await?;
        let end = admin.offsets(&partitions, LATEST).await?;
        let at_time = match how {
            Reset::Datetime(ts) => admin.offsets(&partitions, ts).await?,
            _ => BTreeMap::new(),
        };
        let failures_before = out.failures;
        let mut new = BTreeMap::new();
        for tp in &partitions {
            let (Some(s), Some(e)) = (start.get(tp), end.get(tp)) else {
                out.fail(format!(
                    "Error: cannot read the offsets of {}-{} (no leader?)",
                    tp.0, tp.1
                ));
                continue;
            };
            // -1: no record at or after the time (the log end is the answer); missing: the
            // leader did not answer.
            let at = at_time.get(tp).copied();
            if matches!(how, Reset::Datetime(_)) && at.is_none() {
                out.fail(format!(
                    "Error: cannot find the offset at --to-datetime of {}-{} (no leader?)",
                    tp.0, tp.1
                ));
                continue;
            }
            let at = at.filter(|o| *o >= 0);
            match new_offset(how, committed.get(tp).copied(), *s, *e, at) {
                Ok(o) => {
                    if let Reset::Offset(n) | Reset::ShiftBy(n) = how {
                        let wanted = match how {
                            Reset::ShiftBy(_) => committed.get(tp).map_or(n, |c| c + n),
                            _ => n,
                        };
                        if wanted != o {
                            out.note(format!(
                                "New offset ({wanted}) is outside [{s}, {e}] for topic \
                                 partition {}-{}: set to {o}.",
                                tp.0, tp.1
                            ));
                        }
                    }
                    new.insert(tp.clone(), o);
                }
                Err(why) => out.fail(format!(
                    "Error: cannot reset {}-{} of group '{g}': {why}",
                    tp.0, tp.1
                )),
            }
        }
        if out.failures > failures_before {
            // All or nothing: a partial reset is harder to reason about than none.
            out.note(format!(
                "Nothing was reset for group '{g}': some partitions failed (above)."
            ));
            continue;
        }
        if args.execute && !new.is_empty() && !commit(admin, g, &new, out).await? {
            continue;
        }
        let rows: Vec<Vec<String>> = new
            .iter()
            .map(|((t, p), o)| vec![g.clone(), t.clone(), p.to_string(), o.to_string()])
            .collect();
        out.stdout.push('\n');
        out.stdout.push_str(&table(
            &[
                ("GROUP", 15),
                ("TOPIC", 15),
                ("PARTITION", 10),
                ("NEW-OFFSET", 0),
            ],
            &rows,
        ));
    }
    Ok(())
}

/// Commits `offsets` for `group` as a simple consumer (generation -1, no member id), which
/// the coordinator accepts only while the group is empty. `false`: some partition failed.
async fn commit(
    admin: &mut Admin,
    group: &str,
    offsets: &BTreeMap<Tp, i64>,
    out: &mut Output,
) -> Result<bool, GroupsError> {
    let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for ((t, p), o) in offsets {
        by_topic.entry(t).or_default().push((*p, *o));
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_retention_time_ms(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, o)| {
                                    OffsetCommitRequestPartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(o)
                                        .with_committed_leader_epoch(-1)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let deadline = admin.deadline();
    loop {
        let node = admin.coordinator(group).await?;
        let resp = admin.send(&node.addr, &req, 8).await?;
        let errors: Vec<(String, i32, i16)> = resp
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter(|p| p.error_code != 0)
                    .map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
            })
            .collect();
        let retry = errors.iter().any(|(_, _, c)| coordinator_retriable(*c));
        if retry && crate::clock::instant_now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let ok = errors.is_empty();
        for (t, p, code) in errors {
            let e = kafka_error(format!("committing {t}-{p} for group '{group}'"), code);
            out.fail(format!("Error: {e}"));
        }
        return Ok(ok);
    }
}

/// `--delete-offsets --group G --topic T[:P,...]`.
async fn delete_offsets(
    admin: &mut Admin,
    args: &ConsumerGroupsArgs,
    out: &mut Output,
) -> Result<(), GroupsError> {
    let [group] = args.group.as_slice() else {
        return Err(GroupsError::Usage(
            "--delete-offsets needs exactly one --group".into(),
        ));
    };
    if args.topic.is_empty() {
        return Err(GroupsError::Usage(
            "--delete-offsets needs --topic TOPIC[:PARTITION,...]".into(),
        ));
    }
    let partitions = topic_partitions(admin, &args.topic).await?;
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in &partitions {
        by_topic.entry(t.clone()).or_default().push(*p);
    }
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.clone())))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t)))
                        .with_partitions(
                            ps.into_iter()
                                .map(|p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let deadline = admin.deadline();
    let resp = loop {
        let node = admin.coordinator(group).await?;
        let resp = admin.send(&node.addr, &req, 0).await?;
        if coordinator_retriable(resp.error_code) && crate::clock::instant_now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        break resp;
    };
    if resp.error_code != 0 {
        let e = kafka_error(
            format!("deleting offsets of group '{group}'"),
            resp.error_code,
        );
        out.fail(format!("Error: {e}"));
        return Ok(());
    }
    let mut rows = Vec::new();
    let mut any_failed = false;
    for t in &resp.topics {
        for p in &t.partitions {
            let status = if p.error_code == 0 {
                "Successful".to_string()
            } else {
                any_failed = true;
                out.failures += 1;
                format!("Error: {}", error_code::name(p.error_code))
            };
            rows.push(vec![
                t.name.0.to_string(),
                p.partition_index.to_string(),
                status,
            ]);
        }
    }
    rows.sort();
    out.stdout = format!(
        "Request {} for deleting offsets with topic {} group {group}\n\n{}",
        if any_failed { "failed" } else { "succeed" },
        args.topic.join(","),
        table(&[("TOPIC", 15), ("PARTITION", 10), ("STATUS", 0)], &rows)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_with_and_without_zones() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000Z").unwrap(), 0);
        assert_eq!(parse_datetime("1970-01-01T00:00:01.5Z").unwrap(), 1500);
        // Without a zone: the local time zone, at most 14 hours from UTC.
        let utc = parse_datetime("2024-06-01T12:00:00.250Z").unwrap();
        let local = parse_datetime("2024-06-01T12:00:00.250").unwrap();
        assert!((local - utc).abs() <= 14 * 3_600_000, "{local} vs {utc}");
        assert_eq!(local % 1000, 250);
        // 2024 is a leap year: 2024-03-01 is day 19783 since the epoch.
        assert_eq!(
            parse_datetime("2024-03-01T00:00:00.000Z").unwrap(),
            19_783 * 86_400_000
        );
        assert_eq!(
            parse_datetime("2024-03-01T02:00:00.000+02:00").unwrap(),
            19_783 * 86_400_000
        );
        assert_eq!(
            parse_datetime("2024-02-29T22:00:00-0200").unwrap(),
            19_783 * 86_400_000
        );
        for bad in [
            "2024-02-30T00:00:00",
            "2023-02-29T00:00:00Z",
            "2024-01-01",
            "2024-1-01T00:00:00",
            "2024-01-01T24:00:00",
            "2024-01-01T00:00:00.1234",
            "2024-01-01T00:00:00+2",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topics_states_and_resets_parse() {
        assert_eq!(parse_topic("t").unwrap(), ("t".into(), None));
        assert_eq!(
            parse_topic("t:0,2").unwrap(),
            ("t".into(), Some(vec![0, 2]))
        );
        assert!(parse_topic("t:x").is_err());
        assert!(parse_topic(":1").is_err());
        assert_eq!(parse_state("stable").unwrap(), "Stable");
        assert_eq!(
            parse_state("PREPARINGREBALANCE").unwrap(),
            "PreparingRebalance"
        );
        assert!(parse_state("running").is_err());
    }

    #[test]
    fn new_offsets_are_clamped_to_the_log() {
        assert_eq!(new_offset(Reset::Earliest, Some(5), 2, 9, None), Ok(2));
        assert_eq!(new_offset(Reset::Latest, None, 2, 9, None), Ok(9));
        assert_eq!(new_offset(Reset::Offset(100), None, 2, 9, None), Ok(9));
        assert_eq!(new_offset(Reset::Offset(0), None, 2, 9, None), Ok(2));
        assert_eq!(new_offset(Reset::ShiftBy(-2), Some(5), 2, 9, None), Ok(3));
        assert_eq!(new_offset(Reset::ShiftBy(-9), Some(5), 2, 9, None), Ok(2));
        assert!(new_offset(Reset::ShiftBy(1), None, 2, 9, None).is_err());
        assert_eq!(new_offset(Reset::Datetime(7), None, 2, 9, Some(4)), Ok(4));
        // No record at or after the time: the log end.
        assert_eq!(new_offset(Reset::Datetime(7), None, 2, 9, None), Ok(9));
    }

    fn member(id: &str, assignment: &[(&str, &[i32])]) -> MemberView {
        MemberView {
            consumer_id: id.into(),
            host: "/127.0.0.1".into(),
            client_id: format!("client-{id}"),
            assignment: assignment
                .iter()
                .map(|(t, ps)| (t.to_string(), ps.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn offsets_view_has_kafkas_columns_and_dashes() {
        let members = [member("m1", &[("orders", &[0, 1])]), member("m2", &[])];
        let committed =
            BTreeMap::from([(("orders".to_string(), 0), 40), (("old".to_string(), 0), 3)]);
        let log_end = BTreeMap::from([
            (("orders".to_string(), 0), 100),
            (("orders".to_string(), 1), 60),
            (("old".to_string(), 0), 3),
        ]);
        let rows = offset_rows(&members, &committed, &log_end);
        let text = format_offsets("g", &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID"
        );
        let fields: Vec<Vec<&str>> = lines[1..]
            .iter()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            fields,
            vec![
                vec!["g", "old", "0", "3", "3", "0", "-", "-", "-"],
                vec![
                    "g",
                    "orders",
                    "0",
                    "40",
                    "100",
                    "60",
                    "m1",
                    "/127.0.0.1",
                    "client-m1"
                ],
                vec![
                    "g",
                    "orders",
                    "1",
                    "-",
                    "60",
                    "-",
                    "m1",
                    "/127.0.0.1",
                    "client-m1"
                ],
                vec![
                    "g",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "m2",
                    "/127.0.0.1",
                    "client-m2"
                ],
            ]
        );
    }

    #[test]
    fn members_and_state_views_have_kafkas_columns() {
        let members = [member("m1", &[("b", &[1]), ("a", &[0, 2])])];
        let text = format_members("g", &members, true);
        assert_eq!(
            text.lines()
                .next()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            [
                "GROUP",
                "CONSUMER-ID",
                "HOST",
                "CLIENT-ID",
                "#PARTITIONS",
                "ASSIGNMENT"
            ]
        );
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .ends_with(" 3            b(1), a(0,2)")
        );
        let text = format_members("g", &members, false);
        assert!(!text.contains("ASSIGNMENT"));
        let text = format_state("g", "127.0.0.1:9092 (1)", "range", "Stable", 2);
        assert_eq!(
            text,
            "GROUP           COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS\n\
             g               127.0.0.1:9092 (1)        range                Stable               2\n"
        );
    }

    #[test]
    fn flags_are_checked_as_kafka_consumer_groups_checks_them() {
        use crate::cli::args::{Cli, Command};
        use clap::Parser;
        let parse = |extra: &[&str]| {
            let mut argv = vec!["kraftd", "consumer-groups", "--bootstrap-server", "b:9092"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv) {
                Ok(Cli {
                    command: Command::ConsumerGroups(a),
                }) => Some(a),
                _ => None,
            }
        };
        assert!(parse(&["--list"]).is_some());
        let a = parse(&["--list", "--state"]).unwrap();
        assert_eq!(a.state, Some(vec![]));
        let a = parse(&["--list", "--state", "Stable,Empty"]).unwrap();
        assert_eq!(a.state, Some(vec!["Stable".into(), "Empty".into()]));
        assert!(parse(&["--describe", "--group", "g", "--members", "--verbose"]).is_some());
        assert!(parse(&["--describe", "--group", "g", "--group", "h", "--state"]).is_some());
        assert!(parse(&["--describe", "--all-groups", "--offsets"]).is_some());
        let reset = ["--reset-offsets", "--group", "g", "--topic", "t"];
        assert!(parse(&[&reset[..], &["--shift-by", "-2", "--dry-run"]].concat()).is_some());
        assert!(parse(&[&reset[..], &["--to-earliest", "--execute"]].concat()).is_some());
        assert!(parse(&["--delete-offsets", "--group", "g", "--topic", "t:0"]).is_some());
        for bad in [
            &[][..],
            &["--list", "--describe"],
            &["--describe", "--group", "g", "--members", "--offsets"],
            &["--describe", "--group", "g", "--all-groups"],
            &["--list", "--members"],
            &["--list", "--verbose"],
            &["--list", "--group", "g"],
            &["--delete", "--group", "g", "--state"],
            &["--describe", "--group", "g", "--to-earliest"],
            &["--delete", "--group", "g", "--execute"],
            &[
                "--reset-offsets",
                "--group",
                "g",
                "--all-topics",
                "--topic",
                "t",
                "--to-latest",
            ],
            &[
                "--reset-offsets",
                "--group",
                "g",
                "--all-topics",
                "--to-latest",
                "--to-earliest",
            ],
            &[
                "--reset-offsets",
                "--group",
                "g",
                "--all-topics",
                "--to-latest",
                "--dry-run",
                "--execute",
            ],
        ] {
            assert!(parse(bad).is_none(), "{bad:?} parses");
        }
    }
}
