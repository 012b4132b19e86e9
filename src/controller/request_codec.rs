//! Controller requests and answers on the wire: decoding a request of any controller API and
//! encoding an answer with the error code it reports to the request metrics.

use kafka_protocol::messages::ApiKey;

use super::request::{ControllerRequest, ControllerResponse};
use crate::protocol::request::{self, RequestError, RequestHead};
use crate::protocol::response::{EncodedResponse, first_error, respond};

impl ControllerRequest {
    /// Decodes a controller API request (any other API is unsupported here).
    pub fn decode(head: &RequestHead) -> Result<ControllerRequest, RequestError> {
        let v = head.api_version;
        use ControllerRequest as Q;
        Ok(match head.api_key {
            ApiKey::CreateTopics => Q::CreateTopics(request::decode_body(head)?, v),
            ApiKey::DeleteTopics => Q::DeleteTopics(request::decode_body(head)?, v),
            ApiKey::AlterConfigs => Q::AlterConfigs(request::decode_body(head)?),
            ApiKey::CreatePartitions => Q::CreatePartitions(request::decode_body(head)?),
            ApiKey::ElectLeaders => Q::ElectLeaders(request::decode_body(head)?, v),
            ApiKey::IncrementalAlterConfigs => {
                Q::IncrementalAlterConfigs(request::decode_body(head)?)
            }
            ApiKey::AlterPartition => Q::AlterPartition(request::decode_body(head)?, v),
            ApiKey::BrokerRegistration => Q::BrokerRegistration(request::decode_body(head)?),
            ApiKey::BrokerHeartbeat => Q::BrokerHeartbeat(request::decode_body(head)?),
            ApiKey::UnregisterBroker => Q::UnregisterBroker(request::decode_body(head)?),
            ApiKey::AllocateProducerIds => Q::AllocateProducerIds(request::decode_body(head)?),
            ApiKey::ControllerRegistration => {
                Q::ControllerRegistration(request::decode_body(head)?)
            }
            ApiKey::UpdateFeatures => Q::UpdateFeatures(request::decode_body(head)?, v),
            other => return Err(RequestError::UnsupportedApi { api: other }),
        })
    }
}

impl ControllerResponse {
    /// Encodes the answer to `head`, with its first error code for the metrics.
    pub fn encode(&self, head: &RequestHead) -> Result<EncodedResponse, RequestError> {
        use ControllerResponse as A;
        match self {
            A::None => Err(RequestError::UnsupportedApi { api: head.api_key }),
            A::BrokerRegistration(m) => respond(head, m, m.error_code),
            A::BrokerHeartbeat(m) => respond(head, m, m.error_code),
            A::UnregisterBroker(m) => respond(head, m, m.error_code),
            A::ControllerRegistration(m) => respond(head, m, m.error_code),
            A::AllocateProducerIds(m) => respond(head, m, m.error_code),
            A::AlterPartition(m) => {
                let partitions = m
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code));
                respond(
                    head,
                    m,
                    first_error(std::iter::once(m.error_code).chain(partitions)),
                )
            }
            A::ElectLeaders(m) => {
                let partitions = m
                    .replica_election_results
                    .iter()
                    .flat_map(|t| t.partition_result.iter().map(|p| p.error_code));
                respond(
                    head,
                    m,
                    first_error(std::iter::once(m.error_code).chain(partitions)),
                )
            }
            A::CreateTopics(m) => {
                respond(head, m, first_error(m.topics.iter().map(|t| t.error_code)))
            }
            A::DeleteTopics(m) => respond(
                head,
                m,
                first_error(m.responses.iter().map(|t| t.error_code)),
            ),
            A::CreatePartitions(m) => {
                respond(head, m, first_error(m.results.iter().map(|t| t.error_code)))
            }
            A::IncrementalAlterConfigs(m) => respond(
                head,
                m,
                first_error(m.responses.iter().map(|t| t.error_code)),
            ),
            A::UpdateFeatures(m) => respond(
                head,
                m,
                first_error(
                    std::iter::once(m.error_code).chain(m.results.iter().map(|r| r.error_code)),
                ),
            ),
            A::AlterConfigs(m) => respond(
                head,
                m,
                first_error(m.responses.iter().map(|t| t.error_code)),
            ),
        }
    }
}
