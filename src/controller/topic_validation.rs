//! Validation of CreateTopics and CreatePartitions requests, with Kafka's error codes and
//! messages: topic names, partition counts, replication factors and manual assignments.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;

use crate::metadata::topic_name;

/// One topic of a CreateTopics request.
#[derive(Debug, Clone)]
pub struct CreateTopicRequest<'a> {
    pub name: &'a str,
    /// -1: `num.partitions`.
    pub num_partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    /// Manual assignment: (partition index, brokers).
    pub assignments: Vec<(i32, Vec<i32>)>,
}

/// The broker defaults a request may defer to.
#[derive(Debug, Clone, Copy)]
pub struct TopicDefaults {
    pub num_partitions: i32,
    pub replication_factor: i16,
}

/// A valid request: concrete counts, and the manual assignment in partition order if given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedTopic {
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub assignments: Option<Vec<Vec<i32>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicValidationError {
    #[error("{0}")]
    InvalidName(String),
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error(
        "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."
    )]
    AssignmentsAndCounts,
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidAssignment(String),
}

impl TopicValidationError {
    /// The Kafka error code of the answer.
    pub fn error(&self) -> ResponseError {
        match self {
            Self::InvalidName(_) => ResponseError::InvalidTopicException,
            Self::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
            Self::AssignmentsAndCounts => ResponseError::InvalidRequest,
            Self::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            Self::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            Self::InvalidAssignment(_) => ResponseError::InvalidReplicaAssignment,
        }
    }
}

/// Kafka's topic name rules (`metadata::topic_name`), as a validation error.
pub fn validate_name(name: &str) -> Result<(), TopicValidationError> {
    topic_name::validate(name).map_err(TopicValidationError::InvalidName)
}

/// Names that differ only in '.' versus '_' collide in metric names.
fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

fn check_assignment(
    replicas: &[i32],
    partition: i32,
    registered: &[i32],
) -> Result<(), TopicValidationError> {
    if replicas.is_empty() {
        return Err(TopicValidationError::InvalidAssignment(format!(
            "The manual partition assignment includes an empty replica list for partition {partition}."
        )));
    }
    let set: BTreeSet<_> = replicas.iter().collect();
    if set.len() != replicas.len() {
        return Err(TopicValidationError::InvalidAssignment(format!(
            "The manual partition assignment includes the broker {} more than once for partition {partition}.",
            replicas
                .iter()
                .find(|r| replicas.iter().filter(|x| x == r).count() > 1)
                .expect("a duplicate exists")
        )));
    }
    if let Some(b) = replicas.iter().find(|b| !registered.contains(b)) {
        return Err(TopicValidationError::InvalidAssignment(format!(
            "The manual partition assignment includes broker {b}, but no such broker is registered."
        )));
    }
    Ok(())
}

pub fn validate_create_topic(
    r: &CreateTopicRequest<'_>,
    defaults: &TopicDefaults,
    existing: &[&str],
    registered: &[i32],
) -> Result<ValidatedTopic, TopicValidationError> {
    validate_name(r.name)?;
    if existing.contains(&r.name) {
        return Err(TopicValidationError::AlreadyExists(r.name.to_string()));
    }
    let key = collision_key(r.name);
    if let Some(other) = existing.iter().find(|e| collision_key(e) == key) {
        return Err(TopicValidationError::InvalidName(format!(
            "Topic '{}' collides with existing topic: {other}",
            r.name
        )));
    }
    if !r.assignments.is_empty() {
        if r.num_partitions != -1 || r.replication_factor != -1 {
            return Err(TopicValidationError::AssignmentsAndCounts);
        }
        let mut sorted = r.assignments.clone();
        sorted.sort_by_key(|(p, _)| *p);
        for (i, (p, _)) in sorted.iter().enumerate() {
            if *p != i as i32 {
                return Err(TopicValidationError::InvalidAssignment(
                    "Partitions should be consecutive, starting at 0".into(),
                ));
            }
        }
        let rf = sorted[0].1.len();
        for (p, replicas) in &sorted {
            check_assignment(replicas, *p, registered)?;
            if replicas.len() != rf {
                return Err(TopicValidationError::InvalidAssignment(
                    "All partitions should have the same number of replicas".into(),
                ));
            }
        }
        return Ok(ValidatedTopic {
            num_partitions: sorted.len() as i32,
            replication_factor: rf as i16,
            assignments: Some(sorted.into_iter().map(|(_, r)| r).collect()),
        });
    }
    let num_partitions = match r.num_partitions {
        -1 => defaults.num_partitions,
        n if n <= 0 => {
            return Err(TopicValidationError::InvalidPartitions(
                "Number of partitions was set to an invalid non-positive value.".into(),
            ));
        }
        n => n,
    };
    let replication_factor = match r.replication_factor {
        -1 => defaults.replication_factor,
        n if n <= 0 => {
            return Err(TopicValidationError::InvalidReplicationFactor(
                "Replication factor must be larger than 0, or -1 to use the default value.".into(),
            ));
        }
        n => n,
    };
    if replication_factor as usize > registered.len() {
        return Err(TopicValidationError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
            registered.len()
        )));
    }
    Ok(ValidatedTopic {
        num_partitions,
        replication_factor,
        assignments: None,
    })
}

/// CreatePartitions: the new count must grow; a manual assignment covers exactly the new
/// partitions with the topic's replication factor.
pub fn validate_create_partitions(
    current: i32,
    new_count: i32,
    rf: i16,
    assignments: Option<&[Vec<i32>]>,
    registered: &[i32],
) -> Result<(), TopicValidationError> {
    if new_count < current {
        return Err(TopicValidationError::InvalidPartitions(format!(
            "The topic currently has {current} partition(s); {new_count} would not be an increase."
        )));
    }
    if new_count == current {
        return Err(TopicValidationError::InvalidPartitions(format!(
            "Topic already has {current} partition(s)."
        )));
    }
    if let Some(a) = assignments {
        let added = (new_count - current) as usize;
        if a.len() != added {
            return Err(TopicValidationError::InvalidAssignment(format!(
                "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                a.len()
            )));
        }
        for (i, replicas) in a.iter().enumerate() {
            check_assignment(replicas, current + i as i32, registered)?;
            if replicas.len() != rf as usize {
                return Err(TopicValidationError::InvalidAssignment(format!(
                    "The manual partition assignment for partition {} has {} replica(s), but the topic has replication factor {rf}.",
                    current + i as i32,
                    replicas.len()
                )));
            }
        }
    } else if rf as usize > registered.len() {
        return Err(TopicValidationError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
            registered.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: TopicDefaults = TopicDefaults {
        num_partitions: 3,
        replication_factor: 2,
    };

    fn req(name: &str, p: i32, rf: i16) -> CreateTopicRequest<'_> {
        CreateTopicRequest {
            name,
            num_partitions: p,
            replication_factor: rf,
            assignments: Vec::new(),
        }
    }

    #[test]
    fn names() {
        let long = "a".repeat(250);
        let cases: &[(&str, bool)] = &[
            ("orders", true),
            ("a.b_c-D9", true),
            ("", false),
            (".", false),
            ("..", false),
            (&long, false),
            (&long[..249], true),
            ("with space", false),
            ("ümlaut", false),
            ("a/b", false),
        ];
        for (name, ok) in cases {
            assert_eq!(validate_name(name).is_ok(), *ok, "{name:?}");
        }
    }

    #[test]
    fn create_topic_errors_carry_kafka_codes() {
        let brokers = [1, 2, 3];
        let existing = ["orders", "a_b"];
        let assigned = |a: Vec<(i32, Vec<i32>)>| CreateTopicRequest {
            name: "m",
            num_partitions: -1,
            replication_factor: -1,
            assignments: a,
        };
        let cases: Vec<(CreateTopicRequest<'_>, ResponseError)> = vec![
            (req("orders", 1, 1), ResponseError::TopicAlreadyExists),
            (req("a.b", 1, 1), ResponseError::InvalidTopicException),
            (req("bad name", 1, 1), ResponseError::InvalidTopicException),
            (req("t", 0, 1), ResponseError::InvalidPartitions),
            (req("t", -2, 1), ResponseError::InvalidPartitions),
            (req("t", 1, 0), ResponseError::InvalidReplicationFactor),
            (req("t", 1, 4), ResponseError::InvalidReplicationFactor),
            (
                CreateTopicRequest {
                    num_partitions: 2,
                    ..assigned(vec![(0, vec![1])])
                },
                ResponseError::InvalidRequest,
            ),
            (
                assigned(vec![(1, vec![1])]),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                assigned(vec![(0, vec![1, 1])]),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                assigned(vec![(0, vec![9])]),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                assigned(vec![(0, vec![])]),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                assigned(vec![(0, vec![1, 2]), (1, vec![3])]),
                ResponseError::InvalidReplicaAssignment,
            ),
        ];
        for (r, want) in cases {
            let got = validate_create_topic(&r, &D, &existing, &brokers);
            assert_eq!(
                got.as_ref().map_err(|e| e.error()),
                Err(want),
                "{r:?}: {got:?}"
            );
        }
        assert_eq!(
            validate_create_topic(&req("t", -1, -1), &D, &existing, &brokers),
            Ok(ValidatedTopic {
                num_partitions: 3,
                replication_factor: 2,
                assignments: None
            })
        );
        assert_eq!(
            validate_create_topic(
                &assigned(vec![(1, vec![2, 3]), (0, vec![1, 2])]),
                &D,
                &existing,
                &brokers
            )
            .unwrap()
            .assignments,
            Some(vec![vec![1, 2], vec![2, 3]])
        );
        let msg = validate_create_topic(&req("t", 1, 4), &D, &existing, &brokers)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("only 3 broker(s) are registered"), "{msg}");
    }

    #[test]
    fn create_partitions() {
        let b = [1, 2, 3];
        assert_eq!(validate_create_partitions(3, 6, 2, None, &b), Ok(()));
        assert_eq!(
            validate_create_partitions(3, 3, 2, None, &b)
                .unwrap_err()
                .error(),
            ResponseError::InvalidPartitions
        );
        assert_eq!(
            validate_create_partitions(3, 2, 2, None, &b)
                .unwrap_err()
                .error(),
            ResponseError::InvalidPartitions
        );
        assert_eq!(
            validate_create_partitions(1, 3, 2, Some(&[vec![1, 2]]), &b)
                .unwrap_err()
                .error(),
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            validate_create_partitions(1, 2, 2, Some(&[vec![1]]), &b)
                .unwrap_err()
                .error(),
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            validate_create_partitions(1, 2, 2, Some(&[vec![3, 1]]), &b),
            Ok(())
        );
        assert_eq!(
            validate_create_partitions(1, 2, 4, None, &b)
                .unwrap_err()
                .error(),
            ResponseError::InvalidReplicationFactor
        );
    }
}
