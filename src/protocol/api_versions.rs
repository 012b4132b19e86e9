//! The one table of API versions each listener serves. ApiVersions advertises exactly this
//! table, and requests outside it close the connection: nothing is advertised that is not
//! served.

use kafka_protocol::messages::ApiKey;

/// A served API and its version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

/// The APIs a listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTable {
    apis: Vec<ApiRange>,
}

impl ApiTable {
    pub fn new(apis: Vec<ApiRange>) -> ApiTable {
        ApiTable { apis }
    }

    pub fn apis(&self) -> &[ApiRange] {
        &self.apis
    }

    pub fn get(&self, key: ApiKey) -> Option<ApiRange> {
        self.apis.iter().copied().find(|a| a.key == key)
    }

    pub fn supports(&self, key: ApiKey, version: i16) -> bool {
        self.get(key)
            .is_some_and(|r| version >= r.min && version <= r.max)
    }
}

/// ApiVersions: v0–v4 (v3+ flexible; the response header is always v0).
pub const API_VERSIONS: ApiRange = ApiRange {
    key: ApiKey::ApiVersions,
    min: 0,
    max: 4,
};

/// What the broker (client) listeners serve today.
pub fn broker_apis() -> ApiTable {
    ApiTable::new(vec![API_VERSIONS])
}

/// What the controller listeners serve today.
pub fn controller_apis() -> ApiTable {
    ApiTable::new(vec![API_VERSIONS])
}

/// Builds the ApiVersions response advertising `table`.
pub fn response(table: &ApiTable) -> kafka_protocol::messages::ApiVersionsResponse {
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    let api_keys = table
        .apis()
        .iter()
        .map(|a| {
            ApiVersion::default()
                .with_api_key(a.key as i16)
                .with_min_version(a.min)
                .with_max_version(a.max)
        })
        .collect();
    kafka_protocol::messages::ApiVersionsResponse::default()
        .with_error_code(super::error_code::NONE)
        .with_api_keys(api_keys)
}

/// The KIP-511 answer to an ApiVersions request of an unknown (newer) version:
/// UNSUPPORTED_VERSION with our ApiVersions range, encoded in the v0 layout.
pub fn unsupported_version_response(
    table: &ApiTable,
) -> kafka_protocol::messages::ApiVersionsResponse {
    let own = table.get(ApiKey::ApiVersions).unwrap_or(API_VERSIONS);
    let only_ours = ApiTable::new(vec![own]);
    response(&only_ours).with_error_code(super::error_code::UNSUPPORTED_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_within_the_codec() {
        for table in [broker_apis(), controller_apis()] {
            for api in table.apis() {
                let codec = api.key.valid_versions();
                assert!(
                    api.min >= codec.min && api.max <= codec.max && api.min <= api.max,
                    "{:?} {}..={} outside the codec's {}..={}",
                    api.key,
                    api.min,
                    api.max,
                    codec.min,
                    codec.max
                );
            }
        }
    }
}
