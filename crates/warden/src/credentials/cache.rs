//! A bounded cache of obtained credentials, per principal, kept until
//! shortly before they expire (30 s, or a tenth of the lifetime when that is
//! shorter). A hit is one lock, one hash lookup and an `Arc` clone.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::Injected;
use crate::auth::Principal;
use crate::token::now_secs;

/// Default number of principals remembered per backend.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Longest margin before expiry at which a cached credential is replaced.
const MARGIN_SECS: u64 = 30;

/// Cached credentials of one backend.
#[derive(Debug)]
pub struct TokenCache {
    map: Mutex<HashMap<String, Entry>>,
    capacity: usize,
}

#[derive(Debug)]
struct Entry {
    value: Arc<Injected>,
    /// Replace from this time on (seconds since the epoch).
    refresh_at: u64,
    /// When the cached credential expires.
    expires_at: u64,
}

/// The cache key of a principal: who (the binding key) and everything that
/// changes what a minted token says — the scopes held, the client, the
/// agent and the delegation chain.
pub fn principal_key(p: &Principal) -> String {
    let mut k = p.binding_key();
    for s in &p.scopes {
        k.push(' ');
        k.push_str(s);
    }
    k.push('\n');
    k.push_str(p.client_id.as_deref().unwrap_or(""));
    k.push('\n');
    k.push_str(p.agent.as_ref().map_or("", |a| a.id.as_str()));
    k.push('\n');
    k.push_str(p.workload.as_deref().unwrap_or(""));
    for a in &p.act {
        k.push('\n');
        k.push_str(&a.subject);
        k.push(' ');
        k.push_str(a.issuer.as_deref().unwrap_or(""));
        k.push(' ');
        k.push_str(a.client_id.as_deref().unwrap_or(""));
    }
    k
}

impl TokenCache {
    /// An empty cache of at most `capacity` entries.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache { map: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    /// A cached credential still good for a while and not outliving
    /// `subject_expires_at` (the caller's own credential: a token minted
    /// for a longer-lived credential of the same caller is not reused).
    pub fn get(&self, key: &str, subject_expires_at: Option<u64>) -> Option<Arc<Injected>> {
        let now = now_secs();
        self.map
            .lock()
            .get(key)
            .filter(|e| e.refresh_at > now && subject_expires_at.is_none_or(|s| e.expires_at <= s))
            .map(|e| e.value.clone())
    }

    /// Remembers `value` until shortly before `expires_at`.
    pub fn put(&self, key: String, value: Arc<Injected>, expires_at: u64) {
        let now = now_secs();
        let lifetime = expires_at.saturating_sub(now);
        let refresh_at = expires_at.saturating_sub(MARGIN_SECS.min(lifetime / 10));
        if refresh_at <= now {
            return;
        }
        let mut map = self.map.lock();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, e| e.refresh_at > now);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(key, Entry { value, refresh_at, expires_at });
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_early_and_the_cache_stays_bounded() {
        let c = TokenCache::new(2);
        let v = Arc::new(Injected::default());
        let now = now_secs();
        c.put("a".into(), v.clone(), now + 300);
        assert!(c.get("a", None).is_some());
        c.put("short".into(), v.clone(), now + 5);
        assert!(c.get("short", None).is_some(), "10% margin on a 5 s token rounds to 0");
        c.put("c".into(), v.clone(), now + 300);
        assert!(c.len() <= 2);
        c.put("gone".into(), v, now);
        assert!(c.get("gone", None).is_none());
    }

    #[test]
    fn an_entry_outliving_the_subject_is_not_reused() {
        let c = TokenCache::new(4);
        let exp = now_secs() + 300;
        c.put("k".into(), Arc::new(Injected::default()), exp);
        assert!(c.get("k", Some(exp + 10)).is_some(), "subject lives longer: reuse");
        assert!(c.get("k", Some(exp - 100)).is_none(), "the subject expires first: mint anew");
    }
}
