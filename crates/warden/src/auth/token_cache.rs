//! Verified tokens, remembered by the SHA-256 of the token text so that a
//! client sending the same access token on every call pays for the
//! signature check once (as Envoy's `jwt_cache_config` does). An entry is
//! used only for the same resource URL, never past the token's `exp`, at
//! most [`MAX_AGE`] after verification, and only while the keys that
//! verified it are unchanged (the key store's or bundle's generation): a key
//! removed from an issuer's JWKS or a SPIFFE bundle ends its tokens at once.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use super::principal::Principal;

/// Longest an entry is trusted after its verification, seconds.
pub const MAX_AGE: u64 = 60;
/// Most entries kept; beyond it, expired entries are dropped, then all.
const MAX_ENTRIES: usize = 10_000;

/// A verified token.
pub struct Verified {
    /// The principal built from it.
    pub principal: Principal,
    /// Its `cnf` claim.
    pub cnf: Option<Value>,
    resource: String,
    valid_until: u64,
    /// Which key source verified it, and that source's generation then.
    pub source: KeySourceRef,
    generation: u64,
}

/// The key source that verified a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySourceRef {
    /// JWT provider by index.
    Provider(usize),
    /// The SPIFFE bundles.
    Svid,
}

/// The cache of one authenticator.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], Arc<Verified>>>,
}

fn key(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

impl TokenCache {
    /// The verified token, if `token` was verified for `resource`, is still
    /// valid, and `generation(source)` still equals the generation it was verified at.
    pub fn get(&self, token: &str, resource: &str, generation: impl Fn(KeySourceRef) -> u64) -> Option<Arc<Verified>> {
        let now = jsonwebtoken::get_current_timestamp();
        let k = key(token);
        let hit = self.entries.lock().get(&k).cloned()?;
        (hit.resource == resource && hit.valid_until > now && generation(hit.source) == hit.generation).then_some(hit)
    }

    /// Remembers a verification by `source` at `generation`.
    pub fn put(
        &self,
        token: &str,
        resource: &str,
        verified: (Principal, Option<Value>, KeySourceRef),
        generation: u64,
    ) -> Arc<Verified> {
        let (principal, cnf, source) = verified;
        let now = jsonwebtoken::get_current_timestamp();
        let valid_until = principal.expires_at.unwrap_or(now).min(now + MAX_AGE);
        let v = Arc::new(Verified { principal, cnf, resource: resource.to_string(), valid_until, source, generation });
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.valid_until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key(token), v.clone());
        v
    }
}
