//! Seen `jti`s of client assertions (RFC 7523 §3 item 7), kept until the
//! assertion expires. Bounded: when full of unexpired entries, new
//! assertions are refused (fail closed) rather than old entries forgotten.

use std::collections::HashMap;
use std::sync::LazyLock;

use parking_lot::Mutex;

/// Most assertions remembered at once.
const CAPACITY: usize = 100_000;

/// The process-wide cache (it survives reloads, so a reload does not reopen
/// a replay window).
static SEEN: LazyLock<Mutex<HashMap<String, u64>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Outcome of recording a `jti`.
#[derive(Debug, PartialEq, Eq)]
pub enum Replay {
    /// First use.
    Fresh,
    /// Seen before (and not yet expired).
    Replayed,
    /// The cache is full of unexpired entries.
    Full,
}

/// Records `jti` of `client`'s assertion, valid until `exp` (seconds).
pub fn record(client: &str, jti: &str, exp: u64, now: u64) -> Replay {
    let key = format!("{}:{client}:{jti}", client.len());
    let mut seen = SEEN.lock();
    if seen.get(&key).is_some_and(|e| *e >= now) {
        return Replay::Replayed;
    }
    if seen.len() >= CAPACITY {
        seen.retain(|_, e| *e >= now);
        if seen.len() >= CAPACITY {
            return Replay::Full;
        }
    }
    seen.insert(key, exp);
    Replay::Fresh
}
