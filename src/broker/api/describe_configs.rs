//! DescribeConfigs (API 32): topic and broker configs with their effective values, sources and
//! (on request) synonyms and documentation, from the metadata image and this broker's static
//! configuration.

use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::{first_error, respond};
use kafka_protocol::messages::ApiKey;
use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::config::keys::{self, KeyType};
use crate::metadata::config_resolution::{Synonym, broker_synonyms, topic_synonyms};
use crate::metadata::configs_image::resource_type;
use crate::metadata::image::MetadataImage;
use crate::metadata::topic_config::{ConfigType, TOPIC_CONFIGS};

fn key_type_id(t: KeyType) -> i8 {
    match t {
        KeyType::Boolean => ConfigType::Boolean.wire_id(),
        KeyType::String => ConfigType::String.wire_id(),
        KeyType::Int => ConfigType::Int.wire_id(),
        KeyType::Short => 4,
        KeyType::Long => ConfigType::Long.wire_id(),
        KeyType::List => ConfigType::List.wire_id(),
    }
}

fn entry(
    name: &str,
    synonyms: Vec<Synonym>,
    read_only: bool,
    config_type: i8,
    doc: &str,
    r: &DescribeConfigsRequest,
) -> DescribeConfigsResourceResult {
    let first = synonyms.first().cloned();
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(
            first
                .as_ref()
                .map(|s| StrBytes::from_string(s.value.clone())),
        )
        .with_read_only(read_only)
        .with_config_source(first.map_or(5, |s| s.source as i8))
        .with_is_sensitive(false)
        .with_synonyms(if r.include_synonyms {
            synonyms
                .into_iter()
                .map(|s| {
                    DescribeConfigsSynonym::default()
                        .with_name(StrBytes::from_string(s.name))
                        .with_value(Some(StrBytes::from_string(s.value)))
                        .with_source(s.source as i8)
                })
                .collect()
        } else {
            Vec::new()
        })
        .with_config_type(config_type)
        .with_documentation(
            r.include_documentation
                .then(|| StrBytes::from_string(doc.to_string())),
        )
}

fn wanted(keys: &Option<Vec<StrBytes>>, name: &str) -> bool {
    keys.as_ref()
        .is_none_or(|k| k.is_empty() || k.iter().any(|x| x.as_str() == name))
}

/// DescribeConfigs v1–v4.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::DescribeConfigs, 1, 4, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: DescribeConfigsRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &ctx.static_values, &r, head.api_version);
        let code = first_error(resp.results.iter().map(|r| r.error_code));
        respond(&head, &resp, code)
    })
}

pub fn handle(
    ctx: &BrokerContext,
    static_values: &BTreeMap<String, String>,
    r: &DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let image = ctx.cache.image();
    let results: Vec<DescribeConfigsResult> = r
        .resources
        .iter()
        .map(|res| {
            let name = res.resource_name.to_string();
            let base = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let configs = match res.resource_type {
                resource_type::TOPIC => topic_configs(ctx, &image, static_values, r, res, &name),
                resource_type::BROKER => broker_configs(ctx, &image, static_values, r, res, &name),
                other => Err((
                    ResponseError::InvalidRequest,
                    format!("Unsupported resource type {other}"),
                )),
            };
            match configs {
                Ok(configs) => base.with_configs(configs),
                Err((e, msg)) => base
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(msg))),
            }
        })
        .collect();
    let mut resp: DescribeConfigsResponse =
        DescribeConfigsResponse::default().with_results(results);
    if version < 3 {
        // Types and documentation exist from v3.
        for r in &mut resp.results {
            for c in &mut r.configs {
                c.config_type = 0;
                c.documentation = None;
            }
        }
    }
    resp
}

/// The configs of topic `name` that `res` asks for.
fn topic_configs(
    ctx: &BrokerContext,
    image: &MetadataImage,
    static_values: &BTreeMap<String, String>,
    r: &DescribeConfigsRequest,
    res: &DescribeConfigsResource,
    name: &str,
) -> Result<Vec<DescribeConfigsResourceResult>, (ResponseError, String)> {
    if image.topics.get_by_name(name).is_none() {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("Topic {name} does not exist."),
        ));
    }
    Ok(TOPIC_CONFIGS
        .iter()
        .filter(|k| wanted(&res.configuration_keys, k.name))
        .map(|k| {
            let syn = topic_synonyms(&image.configs, static_values, ctx.node_id, name, k);
            entry(k.name, syn, false, k.kind.wire_id(), "", r)
        })
        .collect())
}

/// The configs of this broker (`name` is its id, or empty) that `res` asks for.
fn broker_configs(
    ctx: &BrokerContext,
    image: &MetadataImage,
    static_values: &BTreeMap<String, String>,
    r: &DescribeConfigsRequest,
    res: &DescribeConfigsResource,
    name: &str,
) -> Result<Vec<DescribeConfigsResourceResult>, (ResponseError, String)> {
    let id = if name.is_empty() {
        None
    } else {
        match name.parse::<i32>() {
            Ok(id) => Some(id),
            Err(_) => {
                return Err((
                    ResponseError::InvalidRequest,
                    format!("Invalid broker id {name}"),
                ));
            }
        }
    };
    if id.is_some_and(|id| id != ctx.node_id) {
        return Err((
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                ctx.node_id
            ),
        ));
    }
    Ok(keys::KEYS
        .iter()
        .filter(|k| wanted(&res.configuration_keys, k.name))
        .map(|k| {
            let syn = broker_synonyms(
                &image.configs,
                static_values,
                ctx.node_id,
                k.name,
                k.default,
            );
            let dynamic = TOPIC_CONFIGS.iter().any(|t| t.broker_key == Some(k.name));
            entry(k.name, syn, !dynamic, key_type_id(k.ty), k.doc, r)
        })
        .collect())
}
