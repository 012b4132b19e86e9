//! IncrementalAlterConfigs and AlterConfigs: validated against the topic config table (topics)
//! or the server key table (brokers), written as ConfigRecords.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, alter_configs_response, incremental_alter_configs_response,
};
use kafka_protocol::protocol::StrBytes;

use crate::controller::context::{Context, ControllerResult};
use crate::metadata::configs_image::{ConfigResource, resource_type};
use crate::metadata::records::{ApiMessageAndVersion, ConfigRecord, MetadataRecord};
use crate::metadata::topic_config;

/// `AlterConfigOp.OpType` ids.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

type Failure = (ResponseError, String);

/// Checks that a resource can hold configs.
fn check_resource(ctx: &Context<'_>, resource: &ConfigResource) -> Result<(), Failure> {
    match resource.resource_type {
        resource_type::TOPIC => {
            if ctx.image.topics.get_by_name(&resource.name).is_none() {
                return Err((
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic {} does not exist.", resource.name),
                ));
            }
        }
        resource_type::BROKER => {
            if !resource.name.is_empty() && resource.name.parse::<i32>().is_err() {
                return Err((
                    ResponseError::InvalidRequest,
                    format!("Invalid broker name {}", resource.name),
                ));
            }
        }
        other => {
            return Err((
                ResponseError::InvalidRequest,
                format!("Unsupported resource type {other}"),
            ));
        }
    }
    Ok(())
}

fn check_value(resource: &ConfigResource, name: &str, value: &str) -> Result<(), Failure> {
    match resource.resource_type {
        resource_type::TOPIC => topic_config::validate(name, value)
            .map_err(|e| (ResponseError::InvalidConfig, e.to_string())),
        _ => match crate::config::keys::spec(name) {
            // Broker configs that are defaults of topic configs can change at runtime; the
            // rest are read at startup only.
            Some(_) => match topic_config::TOPIC_CONFIGS
                .iter()
                .find(|k| k.broker_key == Some(name))
            {
                Some(topic_key) => topic_config::validate(topic_key.name, value)
                    .map_err(|e| (ResponseError::InvalidConfig, e.to_string())),
                None => Err((
                    ResponseError::InvalidRequest,
                    format!("Cannot update these configs dynamically: {name}"),
                )),
            },
            None => Err((
                ResponseError::InvalidConfig,
                format!("Unknown broker config name: {name}"),
            )),
        },
    }
}

fn config_record(
    resource: &ConfigResource,
    name: &str,
    value: Option<String>,
) -> ApiMessageAndVersion {
    ApiMessageAndVersion::latest(MetadataRecord::Config(ConfigRecord {
        resource_type: resource.resource_type,
        resource_name: resource.name.clone(),
        name: name.to_string(),
        value,
        ..Default::default()
    }))
}

/// Applies one resource's incremental operations; returns its records.
fn incremental(
    ctx: &Context<'_>,
    resource: &ConfigResource,
    ops: &[(String, i8, Option<String>)],
) -> Result<Vec<ApiMessageAndVersion>, Failure> {
    check_resource(ctx, resource)?;
    let current = ctx.image.configs.get(resource).cloned().unwrap_or_default();
    let mut next: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (name, op, value) in ops {
        if next.contains_key(name) {
            return Err((
                ResponseError::InvalidRequest,
                format!("Duplicate alter config operation for {name}"),
            ));
        }
        let existing = current.get(name).cloned();
        let new = match *op {
            SET => {
                let v = value.clone().ok_or_else(|| {
                    (
                        ResponseError::InvalidRequest,
                        format!("Null value not supported for {name}"),
                    )
                })?;
                check_value(resource, name, &v)?;
                Some(v)
            }
            DELETE => None,
            APPEND | SUBTRACT => Some(append_or_subtract(
                resource,
                name,
                *op == APPEND,
                existing.as_deref(),
                value.as_deref(),
            )?),
            other => {
                return Err((
                    ResponseError::InvalidRequest,
                    format!("Unknown alter config operation {other}"),
                ));
            }
        };
        next.insert(name.clone(), new);
    }
    Ok(next
        .into_iter()
        .filter(|(name, value)| current.get(name) != value.as_ref())
        .map(|(name, value)| config_record(resource, &name, value))
        .collect())
}

/// APPEND or SUBTRACT on a list config: the `existing` items with those of `value` added
/// (each once) or removed.
fn append_or_subtract(
    resource: &ConfigResource,
    name: &str,
    append: bool,
    existing: Option<&str>,
    value: Option<&str>,
) -> Result<String, Failure> {
    let is_list = resource.resource_type != resource_type::TOPIC
        || topic_config::topic_config(name)
            .is_some_and(|k| k.kind == topic_config::ConfigType::List);
    if !is_list {
        return Err((
            ResponseError::InvalidConfig,
            format!("Config value append/subtract is not allowed for config key {name}"),
        ));
    }
    let mut items = list_items(existing);
    let given = list_items(value);
    if append {
        for g in given {
            if !items.contains(&g) {
                items.push(g);
            }
        }
    } else {
        items.retain(|i| !given.contains(i));
    }
    let joined = items.join(",");
    check_value(resource, name, &joined)?;
    Ok(joined)
}

/// The non-empty items of a comma-separated list value.
fn list_items(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn incremental_alter_configs(
    ctx: &Context<'_>,
    r: &IncrementalAlterConfigsRequest,
) -> ControllerResult<IncrementalAlterConfigsResponse> {
    let mut records = Vec::new();
    let mut responses = Vec::new();
    for res in &r.resources {
        let resource = ConfigResource {
            resource_type: res.resource_type,
            name: res.resource_name.to_string(),
        };
        let ops: Vec<(String, i8, Option<String>)> = res
            .configs
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.config_operation,
                    c.value.as_ref().map(|v| v.to_string()),
                )
            })
            .collect();
        let (code, message) = match incremental(ctx, &resource, &ops) {
            Ok(recs) => {
                if !r.validate_only {
                    records.extend(recs);
                }
                (0, None)
            }
            Err((e, m)) => (e.code(), Some(StrBytes::from_string(m))),
        };
        responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone()),
        );
    }
    ControllerResult::new(
        records,
        IncrementalAlterConfigsResponse::default().with_responses(responses),
    )
}

/// The legacy API: the given configs replace all of the resource's configs.
pub fn alter_configs(
    ctx: &Context<'_>,
    r: &AlterConfigsRequest,
) -> ControllerResult<AlterConfigsResponse> {
    let mut records = Vec::new();
    let mut responses = Vec::new();
    for res in &r.resources {
        let resource = ConfigResource {
            resource_type: res.resource_type,
            name: res.resource_name.to_string(),
        };
        let given: BTreeMap<String, Option<String>> = res
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let current = ctx
            .image
            .configs
            .get(&resource)
            .cloned()
            .unwrap_or_default();
        let mut ops: Vec<(String, i8, Option<String>)> = given
            .iter()
            .map(|(k, v)| (k.clone(), if v.is_some() { SET } else { DELETE }, v.clone()))
            .collect();
        for k in current.keys() {
            if !given.contains_key(k) {
                ops.push((k.clone(), DELETE, None));
            }
        }
        let (code, message) = match incremental(ctx, &resource, &ops) {
            Ok(recs) => {
                if !r.validate_only {
                    records.extend(recs);
                }
                (0, None)
            }
            Err((e, m)) => (e.code(), Some(StrBytes::from_string(m))),
        };
        responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone()),
        );
    }
    ControllerResult::new(
        records,
        AlterConfigsResponse::default().with_responses(responses),
    )
}
