//! A bounded map whose entries expire: the development IdP's only storage.
//! Full maps drop expired entries first, then the entry closest to expiry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Entries by key, each with its expiry.
#[derive(Debug)]
pub(crate) struct Store<V> {
    cap: usize,
    map: parking_lot::Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> Store<V> {
    /// A store holding at most `cap` entries.
    pub(crate) fn new(cap: usize) -> Store<V> {
        Store { cap, map: parking_lot::Mutex::new(HashMap::new()) }
    }

    /// Keeps `value` under `key` for `ttl`.
    pub(crate) fn insert(&self, key: String, ttl: Duration, value: V) {
        let now = Instant::now();
        let mut map = self.map.lock();
        if map.len() >= self.cap && !map.contains_key(&key) {
            map.retain(|_, (exp, _)| *exp > now);
            if map.len() >= self.cap
                && let Some(oldest) = map.iter().min_by_key(|(_, (exp, _))| *exp).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(key, (now + ttl, value));
    }

    /// Removes and returns the entry under `key` if it has not expired.
    pub(crate) fn take(&self, key: &str) -> Option<V> {
        let (exp, v) = self.map.lock().remove(key)?;
        (exp > Instant::now()).then_some(v)
    }

    /// The entry under `key` if it has not expired.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        let mut map = self.map.lock();
        match map.get(key) {
            Some((exp, v)) if *exp > Instant::now() => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Number of entries (expired ones included until they are dropped).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let s = Store::new(2);
        s.insert("a".into(), Duration::from_secs(10), 1);
        s.insert("b".into(), Duration::from_secs(20), 2);
        s.insert("c".into(), Duration::from_secs(30), 3);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get("a"), None, "the entry closest to expiry is dropped when full");
        assert_eq!(s.take("b"), Some(2));
        assert_eq!(s.take("b"), None, "taken once");
        s.insert("d".into(), Duration::ZERO, 4);
        assert_eq!(s.get("d"), None, "expired");
    }
}
