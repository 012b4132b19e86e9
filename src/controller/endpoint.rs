//! The controller listener's quorum-controller APIs: decode, hand to the controller task,
//! encode its answer (NOT_CONTROLLER in the request's shape on a standby controller).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;

use crate::controller::quorum_controller::ControllerHandle;
use crate::controller::request::{ControllerRequest, ControllerResponse};
use crate::network::dispatch::{EncodedResponse, encode};
use crate::protocol::api_versions::ApiRange;
use crate::protocol::request::{self, RequestError, RequestHead};

/// The APIs the quorum controller serves, with the versions implemented.
pub const CONTROLLER_API_RANGES: &[ApiRange] = &[
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
        key: ApiKey::AlterPartition,
        min: 2,
        max: 3,
    },
    ApiRange {
        key: ApiKey::BrokerRegistration,
        min: 0,
        max: 4,
    },
    ApiRange {
        key: ApiKey::BrokerHeartbeat,
        min: 0,
        max: 1,
    },
    ApiRange {
        key: ApiKey::UnregisterBroker,
        min: 0,
        max: 0,
    },
    ApiRange {
        key: ApiKey::AllocateProducerIds,
        min: 0,
        max: 0,
    },
    ApiRange {
        key: ApiKey::ControllerRegistration,
        min: 0,
        max: 0,
    },
];

/// The keys of [`CONTROLLER_API_RANGES`].
pub const CONTROLLER_APIS: &[ApiKey] = &[
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::AlterConfigs,
    ApiKey::CreatePartitions,
    ApiKey::ElectLeaders,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::AlterPartition,
    ApiKey::BrokerRegistration,
    ApiKey::BrokerHeartbeat,
    ApiKey::UnregisterBroker,
    ApiKey::AllocateProducerIds,
    ApiKey::ControllerRegistration,
];

fn decode(head: &RequestHead, key: ApiKey) -> Result<ControllerRequest, RequestError> {
    let v = head.api_version;
    use ControllerRequest as Q;
    Ok(match key {
        ApiKey::CreateTopics => Q::CreateTopics(request::decode_body(head)?, v),
        ApiKey::DeleteTopics => Q::DeleteTopics(request::decode_body(head)?, v),
        ApiKey::AlterConfigs => Q::AlterConfigs(request::decode_body(head)?),
        ApiKey::CreatePartitions => Q::CreatePartitions(request::decode_body(head)?),
        ApiKey::ElectLeaders => Q::ElectLeaders(request::decode_body(head)?, v),
        ApiKey::IncrementalAlterConfigs => Q::IncrementalAlterConfigs(request::decode_body(head)?),
        ApiKey::AlterPartition => Q::AlterPartition(request::decode_body(head)?, v),
        ApiKey::BrokerRegistration => Q::BrokerRegistration(request::decode_body(head)?),
        ApiKey::BrokerHeartbeat => Q::BrokerHeartbeat(request::decode_body(head)?),
        ApiKey::UnregisterBroker => Q::UnregisterBroker(request::decode_body(head)?),
        ApiKey::AllocateProducerIds => Q::AllocateProducerIds(request::decode_body(head)?),
        ApiKey::ControllerRegistration => Q::ControllerRegistration(request::decode_body(head)?),
        other => return Err(RequestError::UnsupportedApi { api: other }),
    })
}

/// The first non-zero error code (for metrics).
fn first_error(mut codes: impl Iterator<Item = i16>) -> i16 {
    codes.find(|c| *c != 0).unwrap_or(0)
}

/// Serves one controller API request.
pub async fn handle(
    controller: &ControllerHandle,
    head: &RequestHead,
    key: ApiKey,
) -> Result<EncodedResponse, RequestError> {
    let request = decode(head, key)?;
    let response = match controller.call(request.clone()).await {
        Ok(r) => r,
        Err(_) => request.error_response(ResponseError::NotController),
    };
    let corr = head.header.correlation_id;
    let v = head.api_version;
    use ControllerResponse as A;
    match response {
        A::None => Err(RequestError::UnsupportedApi { api: key }),
        A::BrokerRegistration(m) => encode(corr, key, v, &m, m.error_code),
        A::BrokerHeartbeat(m) => encode(corr, key, v, &m, m.error_code),
        A::UnregisterBroker(m) => encode(corr, key, v, &m, m.error_code),
        A::ControllerRegistration(m) => encode(corr, key, v, &m, m.error_code),
        A::AllocateProducerIds(m) => encode(corr, key, v, &m, m.error_code),
        A::AlterPartition(m) => {
            let code = if m.error_code != 0 {
                m.error_code
            } else {
                first_error(
                    m.topics
                        .iter()
                        .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                )
            };
            encode(corr, key, v, &m, code)
        }
        A::ElectLeaders(m) => {
            let code = if m.error_code != 0 {
                m.error_code
            } else {
                first_error(
                    m.replica_election_results
                        .iter()
                        .flat_map(|t| t.partition_result.iter().map(|p| p.error_code)),
                )
            };
            encode(corr, key, v, &m, code)
        }
        A::CreateTopics(m) => {
            let code = first_error(m.topics.iter().map(|t| t.error_code));
            encode(corr, key, v, &m, code)
        }
        A::DeleteTopics(m) => {
            let code = first_error(m.responses.iter().map(|t| t.error_code));
            encode(corr, key, v, &m, code)
        }
        A::CreatePartitions(m) => {
            let code = first_error(m.results.iter().map(|t| t.error_code));
            encode(corr, key, v, &m, code)
        }
        A::IncrementalAlterConfigs(m) => {
            let code = first_error(m.responses.iter().map(|t| t.error_code));
            encode(corr, key, v, &m, code)
        }
        A::AlterConfigs(m) => {
            let code = first_error(m.responses.iter().map(|t| t.error_code));
            encode(corr, key, v, &m, code)
        }
    }
}
