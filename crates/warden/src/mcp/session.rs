//! Legacy-era sessions, sealed into the `Mcp-Session-Id` itself.
//!
//! Warden stores no session table: the id it hands a client is the session's
//! state (virtual server, negotiated version, each backend's own session id),
//! encrypted and authenticated with XChaCha20-Poly1305 under the configured
//! key. Any replica with the same key can serve the next request, a client
//! cannot read or forge backend session ids, and a tampered id is just
//! "unknown session" (404). The AEAD comes from RustCrypto's
//! `chacha20poly1305`; nothing here implements cryptography.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};

/// Format version prefix of sealed ids.
const PREFIX: &str = "w1.";

/// A backend's side of a client session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendSession {
    /// Backend name.
    #[serde(rename = "n")]
    pub backend: String,
    /// The backend's `Mcp-Session-Id`, if it issued one.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Protocol version negotiated with the backend.
    #[serde(rename = "v")]
    pub protocol_version: String,
}

/// The state sealed into a client's session id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// Random id, unique per session (for logs and local bookkeeping).
    #[serde(rename = "id")]
    pub id: String,
    /// Virtual server name.
    #[serde(rename = "vs")]
    pub virtual_server: String,
    /// Protocol version negotiated with the client.
    #[serde(rename = "pv")]
    pub protocol_version: String,
    /// Issued at, seconds since the epoch.
    #[serde(rename = "iat")]
    pub issued_at: u64,
    /// Backend sessions that were opened at `initialize`.
    #[serde(rename = "b")]
    pub backends: Vec<BackendSession>,
    /// Capabilities the client declared, passed on to backend sessions
    /// opened later.
    #[serde(rename = "cc", default)]
    pub client_capabilities: serde_json::Value,
    /// The principal that opened the session ([`crate::auth::Principal::binding_key`]).
    #[serde(rename = "p", default)]
    pub principal: String,
}

impl SessionState {
    /// The backend session for `backend`, if one was opened.
    pub fn backend(&self, backend: &str) -> Option<&BackendSession> {
        self.backends.iter().find(|b| b.backend == backend)
    }
}

/// Why a session id was refused. All variants mean "unknown session" to clients.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    /// Not produced by this format.
    #[error("malformed session id")]
    Malformed,
    /// Authentication failed: forged, tampered or another key.
    #[error("session id does not authenticate")]
    Forged,
    /// Older than the configured lifetime.
    #[error("session expired")]
    Expired,
    /// Ended by the client (DELETE).
    #[error("session ended")]
    Ended,
}

/// Seals and opens session ids with one key.
pub struct SessionSealer {
    cipher: XChaCha20Poly1305,
    max_lifetime_secs: u64,
    /// Sessions ended with DELETE in this process: session id → issued at.
    /// Kept until the session would have expired anyway. Other replicas do
    /// not see this list (see docs/sessions.md).
    ended: parking_lot::Mutex<std::collections::HashMap<String, u64>>,
    /// Ids opened recently, so that a session's every request does not pay
    /// for decryption and parsing again. Bounded; cleared when full.
    opened: parking_lot::Mutex<std::collections::HashMap<String, std::sync::Arc<SessionState>>>,
}

/// Most opened session ids kept.
const MAX_OPENED: usize = 50_000;

/// Most ended sessions remembered; beyond, the oldest half is forgotten.
const MAX_ENDED: usize = 100_000;

impl std::fmt::Debug for SessionSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSealer").finish_non_exhaustive()
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A fresh random session id component (128 bits, base64url).
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

impl SessionSealer {
    /// A sealer with `key`, or a random key when `None`.
    pub fn new(key: Option<&SecretBox<[u8; 32]>>, max_lifetime: std::time::Duration) -> SessionSealer {
        let cipher = match key {
            Some(k) => XChaCha20Poly1305::new(k.expose_secret().into()),
            None => {
                let mut k = [0u8; 32];
                rand::rng().fill_bytes(&mut k);
                let c = XChaCha20Poly1305::new((&k).into());
                k.fill(0);
                c
            }
        };
        SessionSealer {
            cipher,
            max_lifetime_secs: max_lifetime.as_secs().max(1),
            ended: Default::default(),
            opened: Default::default(),
        }
    }

    /// Seals `state` into a session id of visible ASCII characters.
    pub fn seal(&self, state: &SessionState) -> String {
        let plain = serde_json::to_vec(state).unwrap_or_default();
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory data.
        let sealed = self.cipher.encrypt(XNonce::from_slice(&nonce), plain.as_slice()).unwrap_or_default();
        let mut out = Vec::with_capacity(24 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a session id, checking authenticity, lifetime and whether it ended.
    pub fn open(&self, id: &str) -> Result<std::sync::Arc<SessionState>, SessionError> {
        let cached = self.opened.lock().get(id).cloned();
        let state = match cached {
            Some(s) => s,
            None => {
                let s = std::sync::Arc::new(self.decrypt(id)?);
                let mut opened = self.opened.lock();
                if opened.len() >= MAX_OPENED {
                    opened.clear();
                }
                opened.insert(id.to_string(), s.clone());
                s
            }
        };
        if now_secs().saturating_sub(state.issued_at) > self.max_lifetime_secs {
            return Err(SessionError::Expired);
        }
        if self.ended.lock().contains_key(&state.id) {
            return Err(SessionError::Ended);
        }
        Ok(state)
    }

    fn decrypt(&self, id: &str) -> Result<SessionState, SessionError> {
        let body = id.strip_prefix(PREFIX).ok_or(SessionError::Malformed)?;
        if body.len() > 8192 {
            return Err(SessionError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| SessionError::Malformed)?;
        if raw.len() < 24 + 16 {
            return Err(SessionError::Malformed);
        }
        let (nonce, sealed) = raw.split_at(24);
        let plain = self.cipher.decrypt(XNonce::from_slice(nonce), sealed).map_err(|_| SessionError::Forged)?;
        serde_json::from_slice(&plain).map_err(|_| SessionError::Malformed)
    }

    /// Marks a session as ended (DELETE): its id opens no more here.
    pub fn end(&self, state: &SessionState) {
        let now = now_secs();
        let mut ended = self.ended.lock();
        ended.retain(|_, issued| now.saturating_sub(*issued) <= self.max_lifetime_secs);
        if ended.len() >= MAX_ENDED {
            let mut by_age: Vec<u64> = ended.values().copied().collect();
            by_age.sort_unstable();
            let cutoff = by_age.get(by_age.len() / 2).copied().unwrap_or(0);
            ended.retain(|_, issued| *issued > cutoff);
        }
        ended.insert(state.id.clone(), state.issued_at);
    }
}
