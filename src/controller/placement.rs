//! Replica placement for new partitions: leaders round-robin over the usable brokers from a
//! random start, followers striped after the leader with a random shift, spread over racks
//! first. Usable means registered and unfenced; randomness is an input so placement replays.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;

/// A broker as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableBroker {
    pub id: i32,
    pub rack: Option<String>,
    /// Fenced or shutting down: never given new replicas.
    pub fenced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("Replication factor must be larger than 0.")]
    InvalidReplicationFactor,
    #[error("Number of partitions must be larger than 0.")]
    InvalidPartitions,
    #[error("All brokers are currently fenced.")]
    AllFenced,
    #[error(
        "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {available} broker(s) are registered."
    )]
    NotEnoughBrokers { rf: i16, available: usize },
}

/// Brokers ordered rack by rack in turn (r1b1, r2b1, r3b1, r1b2, …), ids ascending per rack,
/// so that consecutive positions are on different racks.
fn rack_alternated(brokers: &[&UsableBroker]) -> Vec<UsableBroker> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<&UsableBroker>> = BTreeMap::new();
    for b in brokers {
        by_rack.entry(b.rack.as_deref()).or_default().push(b);
    }
    for list in by_rack.values_mut() {
        list.sort_by_key(|b| b.id);
    }
    let mut out = Vec::with_capacity(brokers.len());
    let mut round = 0;
    while out.len() < brokers.len() {
        for list in by_rack.values() {
            if let Some(b) = list.get(round) {
                out.push((*b).clone());
            }
        }
        round += 1;
    }
    out
}

/// Places `partitions` partitions of `rf` replicas each.
pub fn place(
    brokers: &[UsableBroker],
    partitions: i32,
    rf: i16,
    rng: &mut impl Rng,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    if rf <= 0 {
        return Err(PlacementError::InvalidReplicationFactor);
    }
    if partitions <= 0 {
        return Err(PlacementError::InvalidPartitions);
    }
    let usable: Vec<&UsableBroker> = brokers.iter().filter(|b| !b.fenced).collect();
    if usable.is_empty() && !brokers.is_empty() {
        return Err(PlacementError::AllFenced);
    }
    if usable.len() < rf as usize {
        return Err(PlacementError::NotEnoughBrokers {
            rf,
            available: usable.len(),
        });
    }
    let list = rack_alternated(&usable);
    let n = list.len();
    let racks: BTreeSet<Option<&str>> = list.iter().map(|b| b.rack.as_deref()).collect();
    let start = rng.random_range(0..n);
    let mut shift = rng.random_range(0..n);
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions as usize {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (start + p) % n;
        let mut replicas = vec![list[first].id];
        let mut used_racks: BTreeSet<Option<&str>> = BTreeSet::from([list[first].rack.as_deref()]);
        // Every other broker, in an order that depends on the shift.
        let others: Vec<&UsableBroker> = (0..n.saturating_sub(1))
            .map(|j| &list[(first + 1 + (shift + j) % (n - 1)) % n])
            .collect();
        // First pass: new racks only; second pass: anyone not chosen yet.
        for b in &others {
            if replicas.len() == rf as usize || used_racks.len() == racks.len() {
                break;
            }
            if !used_racks.contains(&b.rack.as_deref()) {
                used_racks.insert(b.rack.as_deref());
                replicas.push(b.id);
            }
        }
        for b in &others {
            if replicas.len() == rf as usize {
                break;
            }
            if !replicas.contains(&b.id) {
                replicas.push(b.id);
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn brokers(n: i32, racks: usize) -> Vec<UsableBroker> {
        (1..=n)
            .map(|id| UsableBroker {
                id,
                rack: (racks > 0).then(|| format!("r{}", id as usize % racks)),
                fenced: false,
            })
            .collect()
    }

    #[test]
    fn errors_name_the_problem() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(
            place(&brokers(2, 0), 3, 3, &mut rng),
            Err(PlacementError::NotEnoughBrokers {
                rf: 3,
                available: 2
            })
        );
        let mut fenced = brokers(3, 0);
        for b in &mut fenced {
            b.fenced = true;
        }
        assert_eq!(
            place(&fenced, 1, 1, &mut rng),
            Err(PlacementError::AllFenced)
        );
        assert_eq!(
            place(&brokers(3, 0), 1, 0, &mut rng),
            Err(PlacementError::InvalidReplicationFactor)
        );
        assert_eq!(
            place(&brokers(3, 0), 0, 1, &mut rng),
            Err(PlacementError::InvalidPartitions)
        );
        assert_eq!(
            place(&[], 1, 1, &mut rng),
            Err(PlacementError::NotEnoughBrokers {
                rf: 1,
                available: 0
            })
        );
    }

    #[test]
    fn fenced_brokers_get_no_replicas() {
        let mut b = brokers(4, 0);
        b[1].fenced = true;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let a = place(&b, 12, 3, &mut rng).unwrap();
        assert!(a.iter().flatten().all(|id| *id != 2));
    }

    #[test]
    fn the_same_seed_gives_the_same_placement() {
        let a = place(&brokers(5, 2), 10, 3, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        let b = place(&brokers(5, 2), 10, 3, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        assert_eq!(a, b);
    }

    proptest! {
        #[test]
        fn replicas_are_distinct_spread_over_racks_and_leaders_balanced(
            n in 1i32..9, racks in 0usize..4, rf in 1i16..4, rounds in 1i32..4, seed in any::<u64>()
        ) {
            prop_assume!(rf as i32 <= n);
            let b = brokers(n, racks);
            let partitions = n * rounds;
            let a = place(&b, partitions, rf, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
            prop_assert_eq!(a.len(), partitions as usize);
            let rack_of = |id: i32| b.iter().find(|x| x.id == id).unwrap().rack.clone();
            let distinct_racks = b.iter().map(|x| x.rack.clone()).collect::<BTreeSet<_>>().len();
            let mut leaders = BTreeMap::new();
            for replicas in &a {
                prop_assert_eq!(replicas.len(), rf as usize);
                let set: BTreeSet<_> = replicas.iter().collect();
                prop_assert_eq!(set.len(), replicas.len(), "distinct brokers");
                let used: BTreeSet<_> = replicas.iter().map(|r| rack_of(*r)).collect();
                prop_assert_eq!(used.len(), (rf as usize).min(distinct_racks), "spread over racks");
                *leaders.entry(replicas[0]).or_insert(0) += 1;
            }
            prop_assert_eq!(leaders.len(), n as usize);
            prop_assert!(leaders.values().all(|c| *c == rounds), "{leaders:?}");
        }
    }
}
