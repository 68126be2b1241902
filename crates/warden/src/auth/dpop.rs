//! DPoP proofs at the resource server (RFC 9449 §4.3 and §7.1), checked in
//! the order the RFC gives: one well-formed JWT, `typ=dpop+jwt`, an
//! asymmetric `alg` on the allow-list, a public `jwk` (no private part) that
//! verifies the signature, `htm`, `htu`, `iat` within the window, a fresh
//! `jti`, the server nonce when nonces are on, `ath`, and finally the token's
//! `cnf.jkt` equal to the key's RFC 7638 thumbprint.
//!
//! Signatures, hashes and HMAC come from jsonwebtoken / aws-lc-rs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{DecodingKey, Validation};
use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::config::auth::DpopSettings;

/// Why a proof was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DpopError {
    /// Not a JWT, bad header or claims.
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
    /// Wrong `typ`.
    #[error("typ is not dpop+jwt")]
    Type,
    /// `alg` not accepted.
    #[error("algorithm not accepted")]
    Algorithm,
    /// `jwk` missing, private, or unusable.
    #[error("bad jwk: {0}")]
    Key(&'static str),
    /// Signature did not verify.
    #[error("signature invalid")]
    Signature,
    /// `htm` differs from the request method.
    #[error("htm does not match")]
    Method,
    /// `htu` differs from the request URL.
    #[error("htu does not match")]
    Url,
    /// `iat` outside the window.
    #[error("iat outside the accepted window")]
    Stale,
    /// `jti` seen before.
    #[error("jti replayed")]
    Replay,
    /// A nonce is needed (or the one sent is not current).
    #[error("nonce required")]
    UseNonce,
    /// `ath` differs from the token hash.
    #[error("ath does not match the access token")]
    Ath,
    /// The token's `cnf.jkt` differs from the proof key.
    #[error("token is bound to another key")]
    Binding,
}

/// A verified proof.
#[derive(Debug)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof key.
    pub jkt: String,
}

/// The `jti`s of accepted proofs, kept for the process (shared by every
/// virtual server and kept across reloads, so a reload never reopens a
/// replay window).
///
/// Two generations of 128-bit digests of `jkt:jti`, swapped every
/// `period` (the longest `2 × maxAge + 1 s` asked for): an entry lives one
/// to two periods, lookups and inserts are O(1), and nothing is ever scanned.
/// One key may add at most [`MAX_PER_KEY`] proofs per generation, so a
/// single token holder cannot fill the cache and lock everyone else out;
/// past [`MAX_SEEN`] entries per generation new proofs are refused (replay
/// protection is never silently dropped).
#[derive(Default)]
pub struct ReplayCache {
    inner: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    started: Option<Instant>,
    period: Duration,
    current: std::collections::HashSet<u128>,
    previous: std::collections::HashSet<u128>,
    per_key: HashMap<u64, u32>,
}

/// Most proofs one key (`jkt`) may add per generation.
pub const MAX_PER_KEY: u32 = 100_000;

fn digest128(data: &[u8]) -> u128 {
    let d = digest::digest(&digest::SHA256, data);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    u128::from_be_bytes(b)
}

impl ReplayCache {
    fn remember(&self, jkt: &str, jti: &str, ttl: Duration) -> Result<(), DpopError> {
        let now = Instant::now();
        let entry = digest128(format!("{jkt}:{jti}").as_bytes());
        let key = (digest128(jkt.as_bytes()) >> 64) as u64;
        let mut g = self.inner.lock();
        g.period = g.period.max(ttl);
        match g.started {
            Some(t) if now.duration_since(t) < g.period => {}
            Some(t) if now.duration_since(t) < g.period * 2 => {
                g.previous = std::mem::take(&mut g.current);
                g.per_key.clear();
                g.started = Some(now);
            }
            _ => {
                g.previous.clear();
                g.current.clear();
                g.per_key.clear();
                g.started = Some(now);
            }
        }
        if g.current.contains(&entry) || g.previous.contains(&entry) {
            return Err(DpopError::Replay);
        }
        if g.current.len() >= MAX_SEEN {
            return Err(DpopError::Replay);
        }
        let n = g.per_key.entry(key).or_insert(0);
        if *n >= MAX_PER_KEY {
            return Err(DpopError::Replay);
        }
        *n += 1;
        g.current.insert(entry);
        Ok(())
    }
}

/// Verifies proofs and remembers their `jti`s.
pub struct DpopVerifier {
    settings: DpopSettings,
    replay: std::sync::Arc<ReplayCache>,
    nonce_key: hmac::Key,
}

/// Most `jti`s remembered per generation.
const MAX_SEEN: usize = 1_000_000;

impl DpopVerifier {
    /// A verifier; `nonce_secret` keys server nonces, `replay` remembers `jti`s.
    pub fn new(settings: DpopSettings, nonce_secret: &[u8], replay: std::sync::Arc<ReplayCache>) -> DpopVerifier {
        DpopVerifier { settings, replay, nonce_key: hmac::Key::new(hmac::HMAC_SHA256, nonce_secret) }
    }

    /// Accepted algorithms, for the `DPoP algs="…"` challenge.
    pub fn algorithms(&self) -> String {
        self.settings.algorithms.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(" ")
    }

    /// Whether nonces are on.
    pub fn nonces(&self) -> bool {
        self.settings.nonce
    }

    fn nonce_for(&self, window: u64) -> String {
        B64.encode(&hmac::sign(&self.nonce_key, &window.to_be_bytes()).as_ref()[..18])
    }

    fn window(&self, now: u64) -> u64 {
        now / self.settings.max_age.as_secs().max(1)
    }

    /// The nonce to hand out now.
    pub fn current_nonce(&self) -> String {
        self.nonce_for(self.window(jsonwebtoken::get_current_timestamp()))
    }

    /// Checks `proof` for a request `method` to `urls` (any one may match) with `access_token`.
    pub fn verify(&self, proof: &str, method: &str, urls: &[String], access_token: &str) -> Result<Proof, DpopError> {
        let mut parts = proof.split('.');
        let (Some(h), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(DpopError::Malformed("not a compact JWS"));
        };
        let raw_header: Map<String, Value> = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(DpopError::Malformed("header is not JSON"))?;
        if raw_header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
            return Err(DpopError::Type);
        }
        let header = jsonwebtoken::decode_header(proof).map_err(|_| DpopError::Algorithm)?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(DpopError::Algorithm);
        }
        let jwk_raw = raw_header.get("jwk").and_then(Value::as_object).ok_or(DpopError::Key("missing"))?;
        if ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|k| jwk_raw.contains_key(*k)) {
            return Err(DpopError::Key("contains a private part"));
        }
        let jwk: Jwk = header.jwk.clone().ok_or(DpopError::Key("missing"))?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| DpopError::Key("unusable"))?;
        if key.family() != header.alg.family() {
            return Err(DpopError::Key("does not fit alg"));
        }
        let mut v = Validation::new(header.alg);
        v.validate_exp = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let claims =
            jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &v).map_err(|_| DpopError::Signature)?.claims;
        let s = |k: &str| claims.get(k).and_then(Value::as_str);
        if s("htm") != Some(method) {
            return Err(DpopError::Method);
        }
        let htu = s("htu").ok_or(DpopError::Url)?;
        let htu = normalize_url(htu).ok_or(DpopError::Url)?;
        if !urls.iter().any(|u| normalize_url(u).as_deref() == Some(htu.as_str())) {
            return Err(DpopError::Url);
        }
        let now = jsonwebtoken::get_current_timestamp();
        let iat = claims.get("iat").and_then(Value::as_u64).ok_or(DpopError::Malformed("iat missing"))?;
        let window = self.settings.max_age.as_secs();
        if iat.abs_diff(now) > window {
            return Err(DpopError::Stale);
        }
        let jti = s("jti").filter(|j| !j.is_empty() && j.len() <= 256).ok_or(DpopError::Malformed("jti"))?;
        if self.settings.nonce {
            let w = self.window(now);
            let ok = s("nonce").is_some_and(|n| n == self.nonce_for(w) || n == self.nonce_for(w.saturating_sub(1)));
            if !ok {
                return Err(DpopError::UseNonce);
            }
        }
        let ath = B64.encode(digest::digest(&digest::SHA256, access_token.as_bytes()));
        if s("ath") != Some(ath.as_str()) {
            return Err(DpopError::Ath);
        }
        let jkt = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| DpopError::Key("no thumbprint"))?;
        // Replay check last, so a refused proof does not burn its jti.
        self.replay.remember(&jkt, jti, Duration::from_secs(window * 2 + 1))?;
        Ok(Proof { jkt })
    }
}

/// `htu` comparison form (RFC 9449 §4.3): no query or fragment, scheme and
/// host lowercase, default port removed (the `url` crate normalizes these).
pub fn normalize_url(u: &str) -> Option<String> {
    let mut url = url::Url::parse(u).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// `x5t#S256`/`ath`-style base64url SHA-256.
pub fn sha256_b64(data: &[u8]) -> String {
    B64.encode(digest::digest(&digest::SHA256, data))
}

/// Whether the token's `cnf` binds it to the DPoP key `jkt`.
pub fn cnf_jkt(cnf: Option<&Value>) -> Option<&str> {
    cnf.and_then(|c| c.get("jkt")).and_then(Value::as_str)
}

/// The token's `cnf["x5t#S256"]`, if it is certificate-bound.
pub fn cnf_x5t(cnf: Option<&Value>) -> Option<&str> {
    cnf.and_then(|c| c.get("x5t#S256")).and_then(Value::as_str)
}

/// Whether Warden can enforce a token's `cnf` (RFC 7800): a string `jkt`
/// (DPoP) and/or a string `x5t#S256` (mTLS), nothing else.
pub fn cnf_is_enforceable(cnf: &Value) -> bool {
    let Some(obj) = cnf.as_object() else { return false };
    !obj.is_empty()
        && obj
            .iter()
            .all(|(k, v)| matches!(k.as_str(), "jkt" | "x5t#S256") && v.as_str().is_some_and(|s| !s.is_empty()))
}
