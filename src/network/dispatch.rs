//! Routing of decoded requests to handlers, per listener kind.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BeginQuorumEpochRequest, DeleteRecordsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, DescribeLogDirsRequest, DescribeQuorumRequest,
    DescribeTopicPartitionsRequest, EndQuorumEpochRequest, FetchRequest, FetchSnapshotRequest,
    InitProducerIdRequest, ListOffsetsRequest, MetadataRequest, OffsetForLeaderEpochRequest,
    ProduceRequest, ResponseHeader, VoteRequest,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion};

use std::sync::Arc;

use crate::broker::api::{self as broker_api, BrokerContext};
use crate::broker::controller_channel::ControllerChannel;
use crate::broker::forwarding::{self, FORWARDED_APIS};
use crate::controller::endpoint::{self as controller_endpoint, CONTROLLER_APIS};
use crate::controller::quorum_controller::ControllerHandle;
use crate::protocol::api_versions::{self, ApiTable};
use crate::protocol::request::{self, RequestError, RequestHead};
use crate::raft_io::endpoint::{EndpointError, RaftEndpoint};

/// Which kind of listener a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    Broker,
    Controller,
}

/// A response ready to write: the frame body (header + message) and its error code, if the
/// message has a top-level one (for metrics).
#[derive(Debug)]
pub struct EncodedResponse {
    pub frame: Bytes,
    pub error_code: i16,
}

/// Dispatches requests for one listener.
#[derive(Clone)]
pub struct Dispatcher {
    kind: ListenerKind,
    apis: ApiTable,
    raft: Option<RaftEndpoint>,
    controller: Option<ControllerHandle>,
    forward: Option<Arc<ControllerChannel>>,
    broker: Option<BrokerContext>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("kind", &self.kind)
            .field("apis", &self.apis)
            .field("raft", &self.raft.is_some())
            .finish()
    }
}

impl Dispatcher {
    pub fn new(kind: ListenerKind, apis: ApiTable) -> Dispatcher {
        Dispatcher {
            kind,
            apis,
            raft: None,
            controller: None,
            forward: None,
            broker: None,
        }
    }

    /// Serves the broker's own client APIs from `ctx`.
    pub fn with_broker(mut self, ctx: BrokerContext) -> Dispatcher {
        self.broker = Some(ctx);
        self
    }

    /// Serves the quorum controller's APIs through `controller`.
    pub fn with_controller(mut self, controller: ControllerHandle) -> Dispatcher {
        self.controller = Some(controller);
        self
    }

    /// Forwards admin APIs (and DescribeQuorum) to the active controller through `channel`.
    pub fn with_forwarding(mut self, channel: Arc<ControllerChannel>) -> Dispatcher {
        self.forward = Some(channel);
        self
    }

    /// A controller listener that serves the KRaft APIs through `raft`.
    pub fn controller(apis: ApiTable, raft: RaftEndpoint) -> Dispatcher {
        Dispatcher {
            kind: ListenerKind::Controller,
            apis,
            raft: Some(raft),
            controller: None,
            forward: None,
            broker: None,
        }
    }

    pub fn kind(&self) -> ListenerKind {
        self.kind
    }

    pub fn apis(&self) -> &ApiTable {
        &self.apis
    }

    /// Handles one request whose header has been parsed and checked against the table.
    pub async fn handle(&self, head: &RequestHead) -> Result<EncodedResponse, RequestError> {
        // A broker answers clients only from an image that has caught up with the metadata
        // log (as Kafka enables request processing only after its initial catch-up): an empty
        // image would tell them that their topics do not exist.
        if let Some(ctx) = &self.broker
            && head.api_key != ApiKey::ApiVersions
        {
            ctx.cache
                .wait_ready(std::time::Duration::from_secs(30))
                .await;
        }
        match head.api_key {
            ApiKey::ApiVersions => {
                // Decoding checks the body is well-formed even though no field changes the answer.
                let _request: ApiVersionsRequest = request::decode_body(head)?;
                let response = api_versions::response(&self.apis);
                encode(
                    head.header.correlation_id,
                    ApiKey::ApiVersions,
                    head.api_version,
                    &response,
                    0,
                )
            }
            ApiKey::Metadata if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let mut r: MetadataRequest = request::decode_body(head)?;
                if head.api_version == 0 && r.topics.as_ref().is_some_and(|t| t.is_empty()) {
                    r.topics = None; // v0: an empty list means every topic
                }
                let resp = broker_api::metadata::handle(ctx, &r, head.api_version).await;
                encode(
                    head.header.correlation_id,
                    ApiKey::Metadata,
                    head.api_version,
                    &resp,
                    0,
                )
            }
            ApiKey::Produce if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: ProduceRequest = request::decode_body(head)?;
                match broker_api::produce::handle(ctx, &r, head.api_version).await {
                    Some(resp) => {
                        let code = resp
                            .responses
                            .iter()
                            .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
                            .find(|c| *c != 0)
                            .unwrap_or(0);
                        encode(
                            head.header.correlation_id,
                            ApiKey::Produce,
                            head.api_version,
                            &resp,
                            code,
                        )
                    }
                    // acks=0: the client expects no response.
                    None => Ok(EncodedResponse {
                        frame: Bytes::new(),
                        error_code: 0,
                    }),
                }
            }
            ApiKey::Fetch if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: FetchRequest = request::decode_body(head)?;
                let resp = broker_api::fetch::handle(ctx, &r, head.api_version).await;
                let code = resp
                    .responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                    .find(|c| *c != 0)
                    .unwrap_or(resp.error_code);
                encode(
                    head.header.correlation_id,
                    ApiKey::Fetch,
                    head.api_version,
                    &resp,
                    code,
                )
            }
            ApiKey::OffsetForLeaderEpoch if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: OffsetForLeaderEpochRequest = request::decode_body(head)?;
                let resp = broker_api::offset_for_leader_epoch::handle(ctx, &r);
                let code = first_error(
                    resp.topics
                        .iter()
                        .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                );
                encode(
                    head.header.correlation_id,
                    ApiKey::OffsetForLeaderEpoch,
                    head.api_version,
                    &resp,
                    code,
                )
            }
            ApiKey::DeleteRecords if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: DeleteRecordsRequest = request::decode_body(head)?;
                let resp = broker_api::delete_records::handle(ctx, &r);
                let code = first_error(
                    resp.topics
                        .iter()
                        .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                );
                encode(
                    head.header.correlation_id,
                    ApiKey::DeleteRecords,
                    head.api_version,
                    &resp,
                    code,
                )
            }
            ApiKey::DescribeLogDirs if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: DescribeLogDirsRequest = request::decode_body(head)?;
                let resp = broker_api::describe_log_dirs::handle(ctx, &r, head.api_version);
                let code = first_error(resp.results.iter().map(|d| d.error_code));
                encode(
                    head.header.correlation_id,
                    ApiKey::DescribeLogDirs,
                    head.api_version,
                    &resp,
                    code,
                )
            }
            ApiKey::DescribeTopicPartitions if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: DescribeTopicPartitionsRequest = request::decode_body(head)?;
                let resp = broker_api::describe_topic_partitions::handle(ctx, &r);
                let code = first_error(resp.topics.iter().map(|t| t.error_code));
                encode(
                    head.header.correlation_id,
                    ApiKey::DescribeTopicPartitions,
                    head.api_version,
                    &resp,
                    code,
                )
            }
            ApiKey::InitProducerId if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: InitProducerIdRequest = request::decode_body(head)?;
                let resp = broker_api::init_producer_id::handle(ctx, &r).await;
                encode(
                    head.header.correlation_id,
                    ApiKey::InitProducerId,
                    head.api_version,
                    &resp,
                    resp.error_code,
                )
            }
            ApiKey::ListOffsets if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: ListOffsetsRequest = request::decode_body(head)?;
                let resp = broker_api::list_offsets::handle(ctx, &r, head.api_version);
                let code = resp
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                    .find(|c| *c != 0)
                    .unwrap_or(0);
                encode(
                    head.header.correlation_id,
                    ApiKey::ListOffsets,
                    head.api_version,
                    &resp,
                    code,
                )
            }
            ApiKey::DescribeConfigs if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: DescribeConfigsRequest = request::decode_body(head)?;
                let resp = broker_api::describe_configs::handle(
                    ctx,
                    &ctx.static_values,
                    &r,
                    head.api_version,
                );
                let code = resp
                    .results
                    .iter()
                    .map(|r| r.error_code)
                    .find(|c| *c != 0)
                    .unwrap_or(0);
                encode(
                    head.header.correlation_id,
                    ApiKey::DescribeConfigs,
                    head.api_version,
                    &resp,
                    code,
                )
            }
            ApiKey::DescribeCluster if self.broker.is_some() => {
                let ctx = self.broker.as_ref().expect("checked");
                let r: DescribeClusterRequest = request::decode_body(head)?;
                let resp = broker_api::describe_cluster::handle(ctx, &r);
                encode(
                    head.header.correlation_id,
                    ApiKey::DescribeCluster,
                    head.api_version,
                    &resp,
                    resp.error_code,
                )
            }
            key if CONTROLLER_APIS.contains(&key) && self.controller.is_some() => {
                let c = self.controller.as_ref().expect("checked");
                controller_endpoint::handle(c, head, key).await
            }
            key if FORWARDED_APIS.contains(&key) && self.forward.is_some() => {
                let f = self.forward.as_ref().expect("checked");
                forwarding::forward(f, head, key).await
            }
            key => match &self.raft {
                Some(raft) => self.handle_raft(raft, head, key).await,
                None => Err(RequestError::UnsupportedApi { api: key }),
            },
        }
    }

    async fn handle_raft(
        &self,
        raft: &RaftEndpoint,
        head: &RequestHead,
        key: ApiKey,
    ) -> Result<EncodedResponse, RequestError> {
        let corr = head.header.correlation_id;
        let v = head.api_version;
        let failed = |e: EndpointError| RequestError::Malformed {
            api: key,
            version: v,
            reason: e.to_string(),
        };
        match key {
            ApiKey::Vote => {
                let resp = raft.vote(&request::decode_body::<VoteRequest>(head)?).await;
                let resp = resp.map_err(failed)?;
                encode(corr, key, v, &resp, resp.error_code_of())
            }
            ApiKey::BeginQuorumEpoch => {
                let r = request::decode_body::<BeginQuorumEpochRequest>(head)?;
                let resp = raft.begin_quorum_epoch(&r).await.map_err(failed)?;
                encode(corr, key, v, &resp, resp.error_code_of())
            }
            ApiKey::EndQuorumEpoch => {
                let r = request::decode_body::<EndQuorumEpochRequest>(head)?;
                let resp = raft.end_quorum_epoch(&r).await.map_err(failed)?;
                encode(corr, key, v, &resp, resp.error_code_of())
            }
            ApiKey::Fetch => {
                let r = request::decode_body::<FetchRequest>(head)?;
                let wall = crate::clock::Clock::new().wall_ms();
                let resp = raft.fetch(&r, wall).await.map_err(failed)?;
                encode(corr, key, v, &resp, resp.error_code_of())
            }
            ApiKey::FetchSnapshot => {
                let r = request::decode_body::<FetchSnapshotRequest>(head)?;
                let resp = raft.fetch_snapshot(&r).await.map_err(failed)?;
                encode(corr, key, v, &resp, resp.error_code_of())
            }
            ApiKey::DescribeQuorum => {
                let r = request::decode_body::<DescribeQuorumRequest>(head)?;
                let resp = raft.describe_quorum(&r, v).await.map_err(failed)?;
                encode(corr, key, v, &resp, resp.error_code_of())
            }
            ApiKey::DescribeCluster => {
                let r: DescribeClusterRequest = request::decode_body(head)?;
                let resp = raft.describe_cluster(&r).await;
                encode(corr, key, v, &resp, resp.error_code)
            }
            other => Err(RequestError::UnsupportedApi { api: other }),
        }
    }

    /// The KIP-511 answer for an ApiVersions request newer than we know.
    pub fn api_versions_too_new(
        &self,
        correlation_id: i32,
    ) -> Result<EncodedResponse, RequestError> {
        let response = api_versions::unsupported_version_response(&self.apis);
        encode(
            correlation_id,
            ApiKey::ApiVersions,
            0,
            &response,
            crate::protocol::error_code::UNSUPPORTED_VERSION,
        )
    }
}

/// The error code a response reports for metrics: the top-level one, else the first
/// partition's (KRaft responses carry the single `__cluster_metadata-0` partition).
trait ErrorCodeOf {
    fn error_code_of(&self) -> i16;
}

macro_rules! error_code_of {
    ($($ty:ty => $topics:ident),* $(,)?) => {$(
        impl ErrorCodeOf for $ty {
            fn error_code_of(&self) -> i16 {
                let partition = self.$topics.first().and_then(|t| t.partitions.first());
                match (self.error_code, partition) {
                    (0, Some(p)) => p.error_code,
                    (top, _) => top,
                }
            }
        }
    )*};
}

error_code_of! {
    kafka_protocol::messages::VoteResponse => topics,
    kafka_protocol::messages::BeginQuorumEpochResponse => topics,
    kafka_protocol::messages::EndQuorumEpochResponse => topics,
    kafka_protocol::messages::FetchResponse => responses,
    kafka_protocol::messages::FetchSnapshotResponse => topics,
    kafka_protocol::messages::DescribeQuorumResponse => topics,
}

/// Encodes a response header (of the version the API prescribes) followed by the body.
pub(crate) fn encode<M: Encodable + HeaderVersion>(
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    message: &M,
    error_code: i16,
) -> Result<EncodedResponse, RequestError> {
    let failed = |e: anyhow::Error| RequestError::Malformed {
        api,
        version,
        reason: format!("cannot encode the response: {e}"),
    };
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api.response_header_version(version))
        .map_err(failed)?;
    message.encode(&mut buf, version).map_err(failed)?;
    let mut frame = BytesMut::with_capacity(buf.len() + 4);
    frame.put_i32(buf.len() as i32);
    frame.extend_from_slice(&buf);
    Ok(EncodedResponse {
        frame: frame.freeze(),
        error_code,
    })
}

/// The first non-zero error code (for metrics).
fn first_error(mut codes: impl Iterator<Item = i16>) -> i16 {
    codes.find(|c| *c != 0).unwrap_or(0)
}
