//! The broker's fetch sessions (KIP-227), bounded by `max.incremental.fetch.session.cache.slots`,
//! with Kafka's eviction rules. Time and randomness are inputs: callers pass `now`, and
//! session ids come from a generator seeded at construction.
//!
//! When the cache is full, a new session may take the place of one that is
//! 1. stale: unused for longer than the eviction age (the least recently used goes first);
//! 2. otherwise, the least valuable evictable one, if the new session is worth more:
//!    a follower's session (privileged) outranks a consumer's, and within the same kind
//!    more partitions outrank fewer (a tie never evicts). Sessions younger than the eviction
//!    age can be evicted only by followers, and followers' sessions only once they are older
//!    than the eviction age.
//!
//! Otherwise the fetch is answered without a session (session id 0) and stays a full fetch.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use indexmap::IndexMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fetch_session::{CachedPartition, FetchSession, INVALID_SESSION_ID, PartitionKey};
use crate::types::MonoTime;

/// How long a session is protected after it was created and how long one must be unused to be
/// stale (Kafka's `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`).
pub const EVICTION_AGE: Duration = Duration::from_secs(120);

/// The order in which sessions are evicted: consumers' before followers', then the smallest,
/// then by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EvictableKey {
    privileged: bool,
    size: usize,
    id: i32,
}

/// What [`FetchSessionCache::create`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// The new session's id, or [`INVALID_SESSION_ID`] when there was no room.
    pub session_id: i32,
    /// The session evicted to make room.
    pub evicted: Option<i32>,
}

/// The sessions of one broker.
#[derive(Debug)]
pub struct FetchSessionCache {
    max_sessions: usize,
    eviction_age: Duration,
    ids: ChaCha8Rng,
    sessions: HashMap<i32, Entry>,
    /// (last used, id), least recently used first.
    last_used: BTreeSet<(MonoTime, i32)>,
    /// Sessions any new session may evict: those older than the eviction age.
    evictable_by_all: BTreeSet<EvictableKey>,
    /// Sessions a follower's new session may evict: consumers' ones, and followers' ones older
    /// than the eviction age.
    evictable_by_privileged: BTreeSet<EvictableKey>,
    /// Partitions over all sessions, as of their last touch.
    partitions: usize,
}

#[derive(Debug)]
struct Entry {
    session: FetchSession,
    /// The session's size as of its last touch (the evictable keys and partition count use
    /// it).
    size: usize,
}

impl Entry {
    fn evictable_key(&self) -> EvictableKey {
        EvictableKey {
            privileged: self.session.privileged,
            size: self.size,
            id: self.session.id,
        }
    }
}

impl FetchSessionCache {
    /// A cache of at most `max_sessions` sessions; `seed` drives the session ids.
    pub fn new(max_sessions: usize, eviction_age: Duration, seed: u64) -> FetchSessionCache {
        FetchSessionCache {
            max_sessions,
            eviction_age,
            ids: ChaCha8Rng::seed_from_u64(seed),
            sessions: HashMap::new(),
            last_used: BTreeSet::new(),
            evictable_by_all: BTreeSet::new(),
            evictable_by_privileged: BTreeSet::new(),
            partitions: 0,
        }
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Partitions cached over all sessions.
    pub fn total_partitions(&self) -> usize {
        self.partitions
    }

    pub fn get(&self, id: i32) -> Option<&FetchSession> {
        self.sessions.get(&id).map(|e| &e.session)
    }

    /// The session, to update its partitions or epoch; [`touch`](Self::touch) it afterwards
    /// so that its size and last use count.
    pub fn get_mut(&mut self, id: i32) -> Option<&mut FetchSession> {
        self.sessions.get_mut(&id).map(|e| &mut e.session)
    }

    /// Opens a session of `partitions` at epoch 1 if there is room or a session can be
    /// evicted for it.
    pub fn create(
        &mut self,
        now: MonoTime,
        privileged: bool,
        uses_topic_ids: bool,
        partitions: IndexMap<PartitionKey, CachedPartition>,
    ) -> Created {
        let evicted = if self.sessions.len() < self.max_sessions {
            None
        } else {
            match self.try_evict(privileged, partitions.len(), now) {
                Some(id) => Some(id),
                None => {
                    return Created {
                        session_id: INVALID_SESSION_ID,
                        evicted: None,
                    };
                }
            }
        };
        let id = self.new_session_id();
        let session = FetchSession {
            id,
            privileged,
            uses_topic_ids,
            partitions,
            created: now,
            last_used: now,
            epoch: super::fetch_session::next_epoch(super::fetch_session::INITIAL_EPOCH),
        };
        self.sessions.insert(id, Entry { session, size: 0 });
        self.last_used.insert((now, id));
        self.touch(id, now);
        Created {
            session_id: id,
            evicted,
        }
    }

    /// A random positive id that no session has.
    fn new_session_id(&mut self) -> i32 {
        loop {
            let id = self.ids.random_range(1..i32::MAX);
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// Evicts a session to make room for a new one of `size` partitions; returns its id.
    fn try_evict(&mut self, privileged: bool, size: usize, now: MonoTime) -> Option<i32> {
        let &(last_used, oldest) = self.last_used.first()?;
        if now.since(last_used) > self.eviction_age {
            self.remove(oldest);
            return Some(oldest);
        }
        let candidates = if privileged {
            &self.evictable_by_privileged
        } else {
            &self.evictable_by_all
        };
        let least = *candidates.first()?;
        if (privileged, size) > (least.privileged, least.size) {
            self.remove(least.id);
            Some(least.id)
        } else {
            None
        }
    }

    /// Closes a session.
    pub fn remove(&mut self, id: i32) -> Option<FetchSession> {
        let entry = self.sessions.remove(&id)?;
        self.last_used.remove(&(entry.session.last_used, id));
        let key = entry.evictable_key();
        self.evictable_by_all.remove(&key);
        self.evictable_by_privileged.remove(&key);
        self.partitions -= entry.size;
        Some(entry.session)
    }

    /// Records that a session was used at `now` and takes in its current size.
    pub fn touch(&mut self, id: i32, now: MonoTime) {
        let Some(entry) = self.sessions.get_mut(&id) else {
            return;
        };
        self.last_used.remove(&(entry.session.last_used, id));
        entry.session.last_used = now;
        self.last_used.insert((now, id));
        let old = entry.evictable_key();
        self.evictable_by_all.remove(&old);
        self.evictable_by_privileged.remove(&old);
        self.partitions -= entry.size;
        entry.size = entry.session.len();
        self.partitions += entry.size;
        let key = entry.evictable_key();
        let aged = now.since(entry.session.created) > self.eviction_age;
        if !entry.session.privileged || aged {
            self.evictable_by_privileged.insert(key);
        }
        if aged {
            self.evictable_by_all.insert(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::data_plane::fetch_session::{FetchParams, SessionTopic};

    const AGE: Duration = Duration::from_secs(100);

    fn partitions(n: usize) -> IndexMap<PartitionKey, CachedPartition> {
        (0..n)
            .map(|i| {
                (
                    PartitionKey::new(SessionTopic::Name("t".into()), i as i32),
                    CachedPartition::new(FetchParams {
                        fetch_offset: 0,
                        partition_max_bytes: 1,
                        current_leader_epoch: -1,
                        last_fetched_epoch: -1,
                        log_start_offset: -1,
                    }),
                )
            })
            .collect()
    }

    fn ms(t: u64) -> MonoTime {
        MonoTime(t)
    }

    #[test]
    fn sessions_get_random_distinct_positive_ids_and_epoch_one() {
        let mut c = FetchSessionCache::new(100, AGE, 1);
        let mut ids = BTreeSet::new();
        for _ in 0..100 {
            let created = c.create(ms(0), false, false, partitions(1));
            assert!(created.session_id > 0);
            assert!(ids.insert(created.session_id));
            assert_eq!(c.get(created.session_id).unwrap().epoch, 1);
        }
        // The ids follow the seed: the same seed replays them.
        let mut again = FetchSessionCache::new(100, AGE, 1);
        let replayed: BTreeSet<i32> = (0..100)
            .map(|_| again.create(ms(0), false, false, partitions(1)).session_id)
            .collect();
        assert_eq!(replayed, ids);
    }

    #[test]
    fn counts_follow_creates_touches_and_removes() {
        let mut c = FetchSessionCache::new(10, AGE, 1);
        let a = c.create(ms(0), false, false, partitions(3)).session_id;
        let b = c.create(ms(0), true, true, partitions(5)).session_id;
        assert_eq!((c.len(), c.total_partitions()), (2, 8));
        c.get_mut(a).unwrap().partitions.truncate(1);
        assert_eq!(c.total_partitions(), 8, "sizes count as of the last touch");
        c.touch(a, ms(1));
        assert_eq!(c.total_partitions(), 6);
        assert!(c.remove(b).is_some());
        assert!(c.remove(b).is_none());
        assert_eq!((c.len(), c.total_partitions()), (1, 1));
    }

    #[test]
    fn a_cache_of_zero_slots_creates_nothing() {
        let mut c = FetchSessionCache::new(0, AGE, 1);
        let created = c.create(ms(0), true, false, partitions(10));
        assert_eq!(
            created,
            Created {
                session_id: INVALID_SESSION_ID,
                evicted: None
            }
        );
        assert!(c.is_empty());
    }

    /// One existing session in a full cache of one slot, and a new one asking for room.
    struct Case {
        what: &'static str,
        old_privileged: bool,
        old_size: usize,
        /// When the old session was created and last used.
        old_created: u64,
        old_used: u64,
        new_privileged: bool,
        new_size: usize,
        now: u64,
        evicts: bool,
    }

    #[test]
    fn eviction_follows_kafkas_rules() {
        let cases = [
            Case {
                what: "a stale session goes, whatever its kind or size",
                old_privileged: true,
                old_size: 50,
                old_created: 0,
                old_used: 0,
                new_privileged: false,
                new_size: 1,
                now: 101_000,
                evicts: true,
            },
            Case {
                what: "a follower evicts a young consumer session",
                old_privileged: false,
                old_size: 50,
                old_created: 0,
                old_used: 10_000,
                new_privileged: true,
                new_size: 1,
                now: 20_000,
                evicts: true,
            },
            Case {
                what: "a consumer never evicts a young session",
                old_privileged: false,
                old_size: 1,
                old_created: 0,
                old_used: 10_000,
                new_privileged: false,
                new_size: 50,
                now: 20_000,
                evicts: false,
            },
            Case {
                what: "a follower does not evict a young follower session",
                old_privileged: true,
                old_size: 1,
                old_created: 0,
                old_used: 10_000,
                new_privileged: true,
                new_size: 50,
                now: 20_000,
                evicts: false,
            },
            Case {
                what: "a consumer evicts an aged, smaller consumer session",
                old_privileged: false,
                old_size: 5,
                old_created: 0,
                old_used: 150_000,
                new_privileged: false,
                new_size: 6,
                now: 160_000,
                evicts: true,
            },
            Case {
                what: "an equal size never evicts",
                old_privileged: false,
                old_size: 5,
                old_created: 0,
                old_used: 150_000,
                new_privileged: false,
                new_size: 5,
                now: 160_000,
                evicts: false,
            },
            Case {
                what: "a consumer does not evict an aged follower session, even a smaller one",
                old_privileged: true,
                old_size: 1,
                old_created: 0,
                old_used: 150_000,
                new_privileged: false,
                new_size: 50,
                now: 160_000,
                evicts: false,
            },
            Case {
                what: "a follower evicts an aged, smaller follower session",
                old_privileged: true,
                old_size: 1,
                old_created: 0,
                old_used: 150_000,
                new_privileged: true,
                new_size: 2,
                now: 160_000,
                evicts: true,
            },
            Case {
                what: "a follower evicts an aged consumer session larger than itself",
                old_privileged: false,
                old_size: 80,
                old_created: 0,
                old_used: 150_000,
                new_privileged: true,
                new_size: 2,
                now: 160_000,
                evicts: true,
            },
        ];
        for c in cases {
            let mut cache = FetchSessionCache::new(1, AGE, 9);
            let old = cache
                .create(
                    ms(c.old_created),
                    c.old_privileged,
                    false,
                    partitions(c.old_size),
                )
                .session_id;
            cache.touch(old, ms(c.old_used));
            let created = cache.create(ms(c.now), c.new_privileged, false, partitions(c.new_size));
            if c.evicts {
                assert_eq!(created.evicted, Some(old), "{}", c.what);
                assert!(created.session_id > 0, "{}", c.what);
                assert!(cache.get(old).is_none(), "{}", c.what);
                assert_eq!(cache.total_partitions(), c.new_size, "{}", c.what);
            } else {
                assert_eq!(created.session_id, INVALID_SESSION_ID, "{}", c.what);
                assert!(cache.get(old).is_some(), "{}", c.what);
            }
            assert_eq!(cache.len(), 1, "{}", c.what);
        }
    }

    #[test]
    fn the_least_recently_used_stale_session_goes_first() {
        let mut c = FetchSessionCache::new(3, AGE, 3);
        let a = c.create(ms(0), false, false, partitions(1)).session_id;
        let b = c.create(ms(0), false, false, partitions(1)).session_id;
        let d = c.create(ms(0), false, false, partitions(1)).session_id;
        c.touch(a, ms(50_000));
        c.touch(d, ms(40_000));
        // b was last used at 0: stale at 100.001 s.
        let created = c.create(ms(100_001), false, false, partitions(1));
        assert_eq!(created.evicted, Some(b));
        // Now d (40 s) is the least recently used; at 140.001 s it is stale.
        let created = c.create(ms(140_001), false, false, partitions(1));
        assert_eq!(created.evicted, Some(d));
        assert!(c.get(a).is_some());
    }

    #[test]
    fn among_evictable_sessions_the_smallest_consumer_goes_first() {
        let mut c = FetchSessionCache::new(3, AGE, 4);
        let big = c.create(ms(0), false, false, partitions(30)).session_id;
        let small = c.create(ms(0), false, false, partitions(10)).session_id;
        let follower = c.create(ms(0), true, false, partitions(1)).session_id;
        for id in [big, small, follower] {
            c.touch(id, ms(150_000));
        }
        let created = c.create(ms(160_000), true, false, partitions(5));
        assert_eq!(
            created.evicted,
            Some(small),
            "consumers before followers, then size"
        );
        let created = c.create(ms(160_000), true, false, partitions(5));
        assert_eq!(created.evicted, Some(big));
        let created = c.create(ms(160_000), true, false, partitions(5));
        assert_eq!(
            created.evicted,
            Some(follower),
            "then the smaller follower session"
        );
    }
}
