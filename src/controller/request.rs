//! The requests the quorum controller serves and its answers (Kafka protocol messages; the
//! version is carried where the answer's shape depends on it).

use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterConfigsRequest,
    AlterConfigsResponse, AlterPartitionRequest, AlterPartitionResponse, BrokerHeartbeatRequest,
    BrokerHeartbeatResponse, BrokerRegistrationRequest, BrokerRegistrationResponse,
    ControllerRegistrationRequest, ControllerRegistrationResponse, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, ElectLeadersRequest, ElectLeadersResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, UnregisterBrokerRequest,
    UnregisterBrokerResponse, UpdateFeaturesRequest, UpdateFeaturesResponse,
};

#[derive(Debug, Clone)]
pub enum ControllerRequest {
    BrokerRegistration(BrokerRegistrationRequest),
    BrokerHeartbeat(BrokerHeartbeatRequest),
    UnregisterBroker(UnregisterBrokerRequest),
    ControllerRegistration(ControllerRegistrationRequest),
    CreateTopics(CreateTopicsRequest, i16),
    DeleteTopics(DeleteTopicsRequest, i16),
    CreatePartitions(CreatePartitionsRequest),
    AlterPartition(AlterPartitionRequest, i16),
    ElectLeaders(ElectLeadersRequest, i16),
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
    AlterConfigs(AlterConfigsRequest),
    AllocateProducerIds(AllocateProducerIdsRequest),
    UpdateFeatures(UpdateFeaturesRequest, i16),
    /// Not a Kafka API: the controller listener saw the connection that carried the
    /// heartbeats of this broker registration close.
    HeartbeatConnectionClosed {
        broker_id: i32,
        broker_epoch: i64,
    },
}

#[derive(Debug, Clone)]
pub enum ControllerResponse {
    /// Internal writes (activation, fencing, NoOp) answer nobody.
    None,
    BrokerRegistration(BrokerRegistrationResponse),
    BrokerHeartbeat(BrokerHeartbeatResponse),
    UnregisterBroker(UnregisterBrokerResponse),
    ControllerRegistration(ControllerRegistrationResponse),
    CreateTopics(CreateTopicsResponse),
    DeleteTopics(DeleteTopicsResponse),
    CreatePartitions(CreatePartitionsResponse),
    AlterPartition(AlterPartitionResponse),
    ElectLeaders(ElectLeadersResponse),
    IncrementalAlterConfigs(IncrementalAlterConfigsResponse),
    AlterConfigs(AlterConfigsResponse),
    AllocateProducerIds(AllocateProducerIdsResponse),
    UpdateFeatures(UpdateFeaturesResponse),
}

impl ControllerRequest {
    /// The answer carrying `error` everywhere the request's shape allows (used when this node
    /// is not the active controller).
    pub fn error_response(&self, error: kafka_protocol::ResponseError) -> ControllerResponse {
        // Stays long: one arm per controller API, each shaped by its response.
        use kafka_protocol::messages::*;
        let code = error.code();
        match self {
            ControllerRequest::BrokerRegistration(_) => ControllerResponse::BrokerRegistration(
                BrokerRegistrationResponse::default().with_error_code(code),
            ),
            ControllerRequest::BrokerHeartbeat(_) => ControllerResponse::BrokerHeartbeat(
                BrokerHeartbeatResponse::default()
                    .with_error_code(code)
                    .with_is_fenced(true),
            ),
            ControllerRequest::UnregisterBroker(_) => ControllerResponse::UnregisterBroker(
                UnregisterBrokerResponse::default().with_error_code(code),
            ),
            ControllerRequest::ControllerRegistration(_) => {
                ControllerResponse::ControllerRegistration(
                    ControllerRegistrationResponse::default().with_error_code(code),
                )
            }
            ControllerRequest::CreateTopics(r, _) => ControllerResponse::CreateTopics(
                CreateTopicsResponse::default().with_topics(
                    r.topics
                        .iter()
                        .map(|t| {
                            create_topics_response::CreatableTopicResult::default()
                                .with_name(t.name.clone())
                                .with_error_code(code)
                                .with_num_partitions(-1)
                                .with_replication_factor(-1)
                        })
                        .collect(),
                ),
            ),
            ControllerRequest::DeleteTopics(r, _) => {
                let mut responses: Vec<_> = r
                    .topics
                    .iter()
                    .map(|t| {
                        delete_topics_response::DeletableTopicResult::default()
                            .with_name(t.name.clone())
                            .with_topic_id(t.topic_id)
                            .with_error_code(code)
                    })
                    .collect();
                responses.extend(r.topic_names.iter().map(|n| {
                    delete_topics_response::DeletableTopicResult::default()
                        .with_name(Some(n.clone()))
                        .with_error_code(code)
                }));
                ControllerResponse::DeleteTopics(
                    DeleteTopicsResponse::default().with_responses(responses),
                )
            }
            ControllerRequest::CreatePartitions(r) => ControllerResponse::CreatePartitions(
                CreatePartitionsResponse::default().with_results(
                    r.topics
                        .iter()
                        .map(|t| {
                            create_partitions_response::CreatePartitionsTopicResult::default()
                                .with_name(t.name.clone())
                                .with_error_code(code)
                        })
                        .collect(),
                ),
            ),
            ControllerRequest::AlterPartition(_, _) => ControllerResponse::AlterPartition(
                AlterPartitionResponse::default().with_error_code(code),
            ),
            ControllerRequest::ElectLeaders(_, _) => ControllerResponse::ElectLeaders(
                ElectLeadersResponse::default().with_error_code(code),
            ),
            ControllerRequest::IncrementalAlterConfigs(r) => {
                ControllerResponse::IncrementalAlterConfigs(
                    IncrementalAlterConfigsResponse::default().with_responses(
                        r.resources
                            .iter()
                            .map(|res| {
                                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                                    .with_error_code(code)
                                    .with_resource_type(res.resource_type)
                                    .with_resource_name(res.resource_name.clone())
                            })
                            .collect(),
                    ),
                )
            }
            ControllerRequest::AlterConfigs(r) => ControllerResponse::AlterConfigs(
                AlterConfigsResponse::default().with_responses(
                    r.resources
                        .iter()
                        .map(|res| {
                            alter_configs_response::AlterConfigsResourceResponse::default()
                                .with_error_code(code)
                                .with_resource_type(res.resource_type)
                                .with_resource_name(res.resource_name.clone())
                        })
                        .collect(),
                ),
            ),
            ControllerRequest::AllocateProducerIds(_) => ControllerResponse::AllocateProducerIds(
                AllocateProducerIdsResponse::default().with_error_code(code),
            ),
            ControllerRequest::UpdateFeatures(r, _) => ControllerResponse::UpdateFeatures(
                UpdateFeaturesResponse::default().with_error_code(code).with_results(
                    r.feature_updates
                        .iter()
                        .map(|u| {
                            update_features_response::UpdatableFeatureResult::default()
                                .with_feature(u.feature.clone())
                                .with_error_code(code)
                        })
                        .collect(),
                ),
            ),
            ControllerRequest::HeartbeatConnectionClosed { .. } => ControllerResponse::None,
        }
    }
}
