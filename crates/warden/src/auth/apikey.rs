//! API keys: looked up by their SHA-256 hash, so the configuration holds no
//! key. Keys are random 256-bit values (`warden apikey`), so a fast hash is
//! enough: nobody can search a 2^256 space, unlike passwords.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use aws_lc_rs::digest;
use base64::Engine;

use super::principal::{AuthMethod, Binding, Principal, PrincipalKind};
use crate::config::auth::ApiKeySettings;

/// Why a key was refused (logged by key name, never by key).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiKeyError {
    /// No such key.
    #[error("unknown API key")]
    Unknown,
    /// Revoked.
    #[error("API key {0:?} is revoked")]
    Revoked(String),
    /// Expired.
    #[error("API key {0:?} has expired")]
    Expired(String),
}

/// The configured keys of one virtual server.
#[derive(Default)]
pub struct ApiKeyStore {
    by_hash: HashMap<[u8; 32], Arc<ApiKeySettings>>,
}

impl ApiKeyStore {
    /// A store over `keys`.
    pub fn new(keys: &[ApiKeySettings]) -> ApiKeyStore {
        ApiKeyStore { by_hash: keys.iter().map(|k| (k.hash, Arc::new(k.clone()))).collect() }
    }

    /// Whether any key is configured.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The principal for `key`.
    pub fn authenticate(&self, key: &str) -> Result<Principal, ApiKeyError> {
        let hash = hash_key(key);
        let entry = self.by_hash.get(&hash).ok_or(ApiKeyError::Unknown)?;
        if entry.revoked {
            return Err(ApiKeyError::Revoked(entry.name.clone()));
        }
        if entry.expires_at.is_some_and(|t| t <= SystemTime::now()) {
            return Err(ApiKeyError::Expired(entry.name.clone()));
        }
        let mut p = Principal::anonymous();
        p.kind = PrincipalKind::ApiKey;
        p.subject = entry.owner.clone();
        p.tenant = entry.tenant.clone();
        p.scopes = entry.scopes.iter().cloned().collect::<BTreeSet<_>>();
        p.method = AuthMethod::ApiKey { name: entry.name.clone() };
        p.binding = Binding::None;
        p.expires_at =
            entry.expires_at.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map(|d| d.as_secs());
        Ok(p)
    }
}

/// SHA-256 of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, key.trim().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A new random key (`wk_` + 43 base64url characters) and its config hash.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let key = format!("wk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_key(&key).iter().map(|b| format!("{b:02x}")).collect::<String>();
    (key, format!("sha256:{hash}"))
}
