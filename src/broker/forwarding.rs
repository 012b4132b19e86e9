//! Admin requests a broker does not handle itself go to the active controller unchanged (the
//! same request at the same version), following leader changes until the request's timeout.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeQuorumRequest, DescribeQuorumResponse, ElectLeadersRequest,
    IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, Request};

use crate::broker::controller_channel::ControllerChannel;
use crate::controller::request::{ControllerRequest, ControllerResponse};
use crate::network::dispatch::{EncodedResponse, encode};
use crate::protocol::api_versions::ApiRange;
use crate::protocol::request::{self, RequestError, RequestHead};

/// The APIs a broker forwards, with the versions it accepts (those the controller serves).
pub const FORWARDED_API_RANGES: &[ApiRange] = &[
    ApiRange {
        key: ApiKey::CreateTopics,
        min: 2,
        max: 7,
    },
    ApiRange {
        key: ApiKey::DeleteTopics,
        min: 1,
        max: 6,
    },
    ApiRange {
        key: ApiKey::AlterConfigs,
        min: 0,
        max: 2,
    },
    ApiRange {
        key: ApiKey::CreatePartitions,
        min: 0,
        max: 3,
    },
    ApiRange {
        key: ApiKey::ElectLeaders,
        min: 0,
        max: 2,
    },
    ApiRange {
        key: ApiKey::IncrementalAlterConfigs,
        min: 0,
        max: 1,
    },
    ApiRange {
        key: ApiKey::DescribeQuorum,
        min: 0,
        max: 2,
    },
];

pub const FORWARDED_APIS: &[ApiKey] = &[
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::AlterConfigs,
    ApiKey::CreatePartitions,
    ApiKey::ElectLeaders,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DescribeQuorum,
];

/// How long a forwarded request may wait for an active controller when it names no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const NOT_CONTROLLER: i16 = 41;

/// Whether a response says the target was not the active controller (any error code equal
/// to NOT_CONTROLLER, which Kafka's controllers return before leadership settles).
trait NotController {
    fn not_controller(&self) -> bool;
}

impl NotController for kafka_protocol::messages::CreateTopicsResponse {
    fn not_controller(&self) -> bool {
        self.topics.iter().any(|t| t.error_code == NOT_CONTROLLER)
    }
}
impl NotController for kafka_protocol::messages::DeleteTopicsResponse {
    fn not_controller(&self) -> bool {
        self.responses
            .iter()
            .any(|t| t.error_code == NOT_CONTROLLER)
    }
}
impl NotController for kafka_protocol::messages::CreatePartitionsResponse {
    fn not_controller(&self) -> bool {
        self.results.iter().any(|t| t.error_code == NOT_CONTROLLER)
    }
}
impl NotController for kafka_protocol::messages::AlterConfigsResponse {
    fn not_controller(&self) -> bool {
        self.responses
            .iter()
            .any(|t| t.error_code == NOT_CONTROLLER)
    }
}
impl NotController for kafka_protocol::messages::IncrementalAlterConfigsResponse {
    fn not_controller(&self) -> bool {
        self.responses
            .iter()
            .any(|t| t.error_code == NOT_CONTROLLER)
    }
}
impl NotController for kafka_protocol::messages::ElectLeadersResponse {
    fn not_controller(&self) -> bool {
        self.error_code == NOT_CONTROLLER
    }
}
impl NotController for DescribeQuorumResponse {
    fn not_controller(&self) -> bool {
        // NOT_LEADER_OR_FOLLOWER in the partition: the quorum moved under us.
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .any(|p| p.error_code == 6)
    }
}

/// Sends until an active controller answers or `timeout` passes.
async fn send_with_retry<R>(
    channel: &ControllerChannel,
    request: &R,
    version: i16,
    timeout: Duration,
) -> Option<R::Response>
where
    R: Request + Encodable,
    R::Response: NotController,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match channel.send(request, version).await {
            Ok(r) if !r.not_controller() => return Some(r),
            Ok(_) => tracing::debug!("forwarded request reached a standby controller; retrying"),
            Err(e) => tracing::debug!(error = %e, "forwarding failed; retrying"),
        }
        if tokio::time::Instant::now() + Duration::from_millis(50) >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn timeout_of(ms: i32) -> Duration {
    if ms > 0 {
        Duration::from_millis(ms as u64)
    } else {
        DEFAULT_TIMEOUT
    }
}

/// The error code for metrics: the first non-zero one.
fn first_error(codes: impl IntoIterator<Item = i16>) -> i16 {
    codes.into_iter().find(|c| *c != 0).unwrap_or(0)
}

async fn forward_one<R>(
    channel: &ControllerChannel,
    head: &RequestHead,
    key: ApiKey,
    request: R,
    timeout: Duration,
    on_timeout: impl FnOnce(&R) -> R::Response,
    code_of: impl Fn(&R::Response) -> i16,
) -> Result<EncodedResponse, RequestError>
where
    R: Request + Encodable,
    R::Response: NotController + Encodable + HeaderVersion,
{
    let v = head.api_version;
    let response = match send_with_retry(channel, &request, v, timeout).await {
        Some(r) => r,
        None => on_timeout(&request),
    };
    encode(
        head.header.correlation_id,
        key,
        v,
        &response,
        code_of(&response),
    )
}

/// A request-timed-out answer in the request's shape.
fn timed_out(request: ControllerRequest) -> ControllerResponse {
    request.error_response(ResponseError::RequestTimedOut)
}

pub async fn forward(
    channel: &ControllerChannel,
    head: &RequestHead,
    key: ApiKey,
) -> Result<EncodedResponse, RequestError> {
    let v = head.api_version;
    macro_rules! fwd {
        ($ty:ty, $variant:ident, $wrap:expr, $timeout:expr, $codes:expr) => {{
            let r: $ty = request::decode_body(head)?;
            let t = timeout_of($timeout(&r));
            forward_one(
                channel,
                head,
                key,
                r,
                t,
                |r: &$ty| match timed_out($wrap(r.clone())) {
                    ControllerResponse::$variant(m) => m,
                    _ => unreachable!("error_response keeps the request's kind"),
                },
                $codes,
            )
            .await
        }};
    }
    match key {
        ApiKey::CreateTopics => fwd!(
            CreateTopicsRequest,
            CreateTopics,
            |r| ControllerRequest::CreateTopics(r, v),
            |r: &CreateTopicsRequest| r.timeout_ms,
            |m: &kafka_protocol::messages::CreateTopicsResponse| first_error(
                m.topics.iter().map(|t| t.error_code)
            )
        ),
        ApiKey::DeleteTopics => fwd!(
            DeleteTopicsRequest,
            DeleteTopics,
            |r| ControllerRequest::DeleteTopics(r, v),
            |r: &DeleteTopicsRequest| r.timeout_ms,
            |m: &kafka_protocol::messages::DeleteTopicsResponse| first_error(
                m.responses.iter().map(|t| t.error_code)
            )
        ),
        ApiKey::CreatePartitions => fwd!(
            CreatePartitionsRequest,
            CreatePartitions,
            ControllerRequest::CreatePartitions,
            |r: &CreatePartitionsRequest| r.timeout_ms,
            |m: &kafka_protocol::messages::CreatePartitionsResponse| first_error(
                m.results.iter().map(|t| t.error_code)
            )
        ),
        ApiKey::AlterConfigs => fwd!(
            AlterConfigsRequest,
            AlterConfigs,
            ControllerRequest::AlterConfigs,
            |_: &AlterConfigsRequest| 0,
            |m: &kafka_protocol::messages::AlterConfigsResponse| first_error(
                m.responses.iter().map(|t| t.error_code)
            )
        ),
        ApiKey::IncrementalAlterConfigs => fwd!(
            IncrementalAlterConfigsRequest,
            IncrementalAlterConfigs,
            ControllerRequest::IncrementalAlterConfigs,
            |_: &IncrementalAlterConfigsRequest| 0,
            |m: &kafka_protocol::messages::IncrementalAlterConfigsResponse| first_error(
                m.responses.iter().map(|t| t.error_code)
            )
        ),
        ApiKey::ElectLeaders => fwd!(
            ElectLeadersRequest,
            ElectLeaders,
            |r| ControllerRequest::ElectLeaders(r, v),
            |r: &ElectLeadersRequest| r.timeout_ms,
            |m: &kafka_protocol::messages::ElectLeadersResponse| m.error_code
        ),
        ApiKey::DescribeQuorum => {
            let r: DescribeQuorumRequest = request::decode_body(head)?;
            forward_one(
                channel,
                head,
                key,
                r,
                Duration::from_secs(5),
                |_| {
                    DescribeQuorumResponse::default()
                        .with_error_code(ResponseError::RequestTimedOut.code())
                },
                |m: &DescribeQuorumResponse| {
                    first_error(
                        std::iter::once(m.error_code).chain(
                            m.topics
                                .iter()
                                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                        ),
                    )
                },
            )
            .await
        }
        other => Err(RequestError::UnsupportedApi { api: other }),
    }
}
