//! Token buckets in this process: a sharded map from bucket key to TAT
//! (nanoseconds since the store was made), refilled lazily, bounded in size.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use super::bucket::{Bucket, gcra_step, nanos};

/// Number of shards; a power of two.
const SHARDS: usize = 16;

/// Default number of buckets kept in memory before the fullest are evicted.
pub const DEFAULT_LOCAL_CAPACITY: usize = 100_000;

/// Why a check was refused: the bucket (index into the checked list) that
/// must wait longest, and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Index into the buckets passed to the check.
    pub bucket: usize,
    /// How long until it would be allowed.
    pub wait: Duration,
}

/// In-memory buckets.
#[derive(Debug)]
pub struct LocalBuckets {
    origin: Instant,
    shards: Box<[Mutex<HashMap<String, u64>>]>,
    per_shard: usize,
    hasher: RandomState,
}

impl LocalBuckets {
    /// Buckets for at most about `capacity` keys. A bucket that is full again
    /// is dropped first; past that, the one closest to full is evicted
    /// (which forgives that caller's debt: the bound wins over precision).
    pub fn new(capacity: usize) -> LocalBuckets {
        LocalBuckets {
            origin: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
        }
    }

    /// Number of buckets held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// `true` when no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Check (and on success take one token from) every bucket, all or none.
    pub(crate) fn check(&self, buckets: &[Bucket]) -> Result<(), Refusal> {
        self.check_at(buckets, nanos(self.origin.elapsed()))
    }

    /// [`Self::check`] at `now` nanoseconds after the store was made; tests
    /// drive time through this.
    pub(crate) fn check_at(&self, buckets: &[Bucket], now: u64) -> Result<(), Refusal> {
        if buckets.is_empty() {
            return Ok(());
        }
        let shard_of: Vec<usize> = buckets.iter().map(|b| self.shard(&b.key)).collect();
        // Lock every shard involved, in index order (no deadlock), once each.
        let mut order = shard_of.clone();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, HashMap<String, u64>>)> = Vec::with_capacity(order.len());
        for i in order {
            if let Some(shard) = self.shards.get(i) {
                guards.push((i, shard.lock()));
            }
        }
        let find = |guards: &[(usize, MutexGuard<'_, HashMap<String, u64>>)], shard: usize| {
            guards.iter().position(|(i, _)| *i == shard)
        };

        let mut new_tats = Vec::with_capacity(buckets.len());
        let mut worst: Option<Refusal> = None;
        for (n, (b, &shard)) in buckets.iter().zip(&shard_of).enumerate() {
            let tat = find(&guards, shard)
                .and_then(|g| guards.get(g))
                .and_then(|(_, map)| map.get(&b.key).copied())
                .unwrap_or(now);
            match gcra_step(tat, now, nanos(b.interval), b.burst) {
                Ok(t) => new_tats.push(t),
                Err(wait) => {
                    let wait = Duration::from_nanos(wait);
                    if worst.is_none_or(|w| wait > w.wait) {
                        worst = Some(Refusal { bucket: n, wait });
                    }
                }
            }
        }
        if let Some(refusal) = worst {
            return Err(refusal);
        }
        for ((b, &shard), tat) in buckets.iter().zip(&shard_of).zip(new_tats) {
            if let Some((_, map)) = find(&guards, shard).and_then(|g| guards.get_mut(g)) {
                if !map.contains_key(&b.key) && map.len() >= self.per_shard {
                    evict(map, now, self.per_shard);
                }
                map.insert(b.key.clone(), tat);
            }
        }
        Ok(())
    }

    fn shard(&self, key: &str) -> usize {
        usize::try_from(self.hasher.hash_one(key)).unwrap_or_default() & (SHARDS - 1)
    }
}

/// Make room in a full shard: drop buckets that are full again (same as
/// absent); if none, drop the one closest to full.
fn evict(map: &mut HashMap<String, u64>, now: u64, cap: usize) {
    map.retain(|_, tat| *tat > now);
    if map.len() >= cap
        && let Some(key) = map.iter().min_by_key(|(_, tat)| **tat).map(|(k, _)| k.clone())
    {
        map.remove(&key);
    }
}
