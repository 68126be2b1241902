//! The token service's signing keys: generated (ES256 or Ed25519 through
//! aws-lc-rs) and persisted, or loaded from PEM files; rotated on a schedule
//! with overlap; published as a JWKS.
//!
//! Rotation with a key directory: every key file is named
//! `<not-before unix seconds>-<kid>.pem`. The newest key whose not-before has
//! passed signs. When the signing key is `rotateEvery − overlap` old, the
//! next key is generated with a not-before `rotateEvery` after the current
//! one, so it is published `overlap` before it signs; a replaced key stays
//! published for `overlap` after its successor starts, then its file is
//! removed. Replicas sharing the directory re-read it on every tick and so
//! converge on the same keys. No cryptography is done here: key generation,
//! signing and verification are aws-lc-rs and jsonwebtoken.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Value, json};

use crate::config::SigningKeySettings;
use crate::config::raw_token::SigningAlgorithm;

/// Why keys could not be loaded, generated or stored. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// A key file holds no usable PKCS#8 ES256 or Ed25519 key.
    #[error("{0}: not a PKCS#8 P-256 or Ed25519 private key")]
    Unusable(String),
    /// Key generation failed.
    #[error("key generation failed")]
    Generate,
    /// No key at all.
    #[error("no signing key")]
    Empty,
}

/// One key pair. The private part is only in `encoding`, which never prints.
pub struct SigningKey {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub alg: Algorithm,
    /// Not before (seconds since the epoch; 0 for key files).
    pub not_before: u64,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public JWK, with `kid`, `alg` and `use`.
    pub public_jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from PKCS#8 DER (P-256 or Ed25519).
    pub fn from_pkcs8(der: &[u8], not_before: u64, origin: &str) -> Result<SigningKey, KeyError> {
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err(KeyError::Unusable(origin.to_string()));
            }
            let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
            let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
            // RFC 7638 §3.2: required members, lexicographic order, no spaces.
            let kid = thumbprint(&format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#));
            let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|_| KeyError::Unusable(origin.into()))?;
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
            return Ok(SigningKey {
                kid,
                alg: Algorithm::ES256,
                not_before,
                encoding: EncodingKey::from_ec_der(der),
                decoding,
                public_jwk: jwk,
            });
        }
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
            let decoding = DecodingKey::from_ed_components(&x).map_err(|_| KeyError::Unusable(origin.into()))?;
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"});
            return Ok(SigningKey {
                kid,
                alg: Algorithm::EdDSA,
                not_before,
                encoding: EncodingKey::from_ed_der(der),
                decoding,
                public_jwk: jwk,
            });
        }
        Err(KeyError::Unusable(origin.to_string()))
    }

    /// A fresh key.
    pub fn generate(alg: SigningAlgorithm, not_before: u64) -> Result<(SigningKey, Vec<u8>), KeyError> {
        let rng = SystemRandom::new();
        let der = match alg {
            SigningAlgorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::EdDSA => {
                Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate)?.as_ref().to_vec()
            }
        };
        Ok((SigningKey::from_pkcs8(&der, not_before, "generated")?, der))
    }

    /// The signing half (for [`jsonwebtoken::encode`]).
    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The verification half.
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// RFC 7638 thumbprint of a canonical JWK text.
fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn pem_encode(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn pem_decode(text: &[u8], origin: &str) -> Result<Vec<u8>, KeyError> {
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject;
    PrivatePkcs8KeyDer::from_pem_slice(text)
        .map(|k| k.secret_pkcs8_der().to_vec())
        .map_err(|_| KeyError::Unusable(origin.to_string()))
}

/// Reads one PKCS#8 PEM key file.
pub fn load_key_file(path: &Path, not_before: u64) -> Result<SigningKey, KeyError> {
    let origin = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| KeyError::Io(origin.clone(), e))?;
    SigningKey::from_pkcs8(&pem_decode(&text, &origin)?, not_before, &origin)
}

/// The keys in use at one moment.
#[derive(Debug)]
struct Snapshot {
    /// The key that signs.
    active: Arc<SigningKey>,
    /// Every published key (pending, active, retiring).
    published: Vec<Arc<SigningKey>>,
    /// `{"keys": [...]}`.
    jwks: Arc<Value>,
}

/// The token service's key ring.
#[derive(Debug)]
pub struct KeyRing {
    settings: SigningKeySettings,
    /// Generated keys held in memory when there is no directory.
    memory: parking_lot::Mutex<Vec<Arc<SigningKey>>>,
    current: ArcSwap<Snapshot>,
}

impl KeyRing {
    /// Loads or generates the keys.
    pub fn open(settings: &SigningKeySettings) -> Result<Arc<KeyRing>, KeyError> {
        let snapshot = if settings.files.is_empty() {
            let memory = parking_lot::Mutex::new(Vec::new());
            let s = compute(settings, &memory, now_secs())?;
            return Ok(Arc::new(KeyRing { settings: settings.clone(), memory, current: ArcSwap::from_pointee(s) }));
        } else {
            let keys: Vec<Arc<SigningKey>> =
                settings.files.iter().map(|f| load_key_file(f, 0).map(Arc::new)).collect::<Result<_, _>>()?;
            let active = keys.last().cloned().ok_or(KeyError::Empty)?;
            snapshot(active, keys)
        };
        Ok(Arc::new(KeyRing {
            settings: settings.clone(),
            memory: parking_lot::Mutex::new(Vec::new()),
            current: ArcSwap::from_pointee(snapshot),
        }))
    }

    /// The key that signs now.
    pub fn active(&self) -> Arc<SigningKey> {
        self.current.load().active.clone()
    }

    /// A published key by `kid`.
    pub fn by_kid(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.current.load().published.iter().find(|k| k.kid == kid).cloned()
    }

    /// The published keys as a JWKS.
    pub fn jwks(&self) -> Arc<Value> {
        self.current.load().jwks.clone()
    }

    /// Recomputes the key set at `now` (generating, activating and retiring
    /// keys as due). Returns whether the signing key changed.
    pub fn tick(&self, now: u64) -> Result<bool, KeyError> {
        if !self.settings.files.is_empty() {
            return Ok(false);
        }
        let before = self.active().kid.clone();
        let s = compute(&self.settings, &self.memory, now)?;
        let changed = s.active.kid != before;
        self.current.store(Arc::new(s));
        Ok(changed)
    }

    /// Ticks in the background until the ring is dropped.
    pub fn start(self: &Arc<Self>) {
        if !self.settings.files.is_empty() {
            return;
        }
        let period = (self.settings.overlap / 4).clamp(Duration::from_secs(1), Duration::from_secs(300));
        let weak: Weak<KeyRing> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(ring) = weak.upgrade() else { return };
                match ring.tick(now_secs()) {
                    Ok(true) => tracing::info!(kid = %ring.active().kid, "token service signing key rotated"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "token service key rotation failed; the old key keeps signing")
                    }
                }
            }
        });
    }
}

fn snapshot(active: Arc<SigningKey>, published: Vec<Arc<SigningKey>>) -> Snapshot {
    let jwks = json!({"keys": published.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>()});
    Snapshot { active, published, jwks: Arc::new(jwks) }
}

/// The key set at `now`, generating the first or the next key when due.
fn compute(
    s: &SigningKeySettings,
    memory: &parking_lot::Mutex<Vec<Arc<SigningKey>>>,
    now: u64,
) -> Result<Snapshot, KeyError> {
    let rotate = s.rotate_every.as_secs().max(1);
    let overlap = s.overlap.as_secs();
    let mut keys = match &s.dir {
        Some(dir) => read_dir(dir)?,
        None => memory.lock().clone(),
    };
    keys.sort_by(|a, b| (a.not_before, &a.kid).cmp(&(b.not_before, &b.kid)));
    let store = |k: SigningKey, der: &[u8], keys: &mut Vec<Arc<SigningKey>>| -> Result<(), KeyError> {
        if let Some(dir) = &s.dir {
            write_key(dir, &k, der)?;
        }
        let k = Arc::new(k);
        memory.lock().push(k.clone());
        keys.push(k);
        Ok(())
    };
    if !keys.iter().any(|k| k.not_before <= now) {
        let (k, der) = SigningKey::generate(s.algorithm, now)?;
        store(k, &der, &mut keys)?;
    }
    let active_index = keys.iter().rposition(|k| k.not_before <= now).ok_or(KeyError::Empty)?;
    let active = keys[active_index].clone();
    let has_next = keys.iter().any(|k| k.not_before > now);
    if !has_next && now.saturating_sub(active.not_before) + overlap >= rotate {
        // Pre-publish the successor; it signs from active + rotate (or now,
        // when the schedule was missed while Warden was down).
        let (k, der) = SigningKey::generate(s.algorithm, (active.not_before + rotate).max(now + 1))?;
        store(k, &der, &mut keys)?;
    }
    // Keep: pending keys, the active key, and keys replaced less than
    // `overlap` ago (a key is replaced when its successor's not-before passed).
    let mut published = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let replaced_at = keys.get(i + 1).map(|n| n.not_before).filter(|t| *t <= now);
        let keep = match replaced_at {
            None => true,
            Some(t) => i >= active_index || now < t + overlap,
        };
        if keep {
            published.push(k.clone());
        } else if let Some(dir) = &s.dir {
            let _ = std::fs::remove_file(dir.join(file_name(k)));
        }
    }
    memory.lock().retain(|k| published.iter().any(|p| p.kid == k.kid));
    Ok(snapshot(active, published))
}

fn file_name(k: &SigningKey) -> String {
    format!("{}-{}.pem", k.not_before, k.kid)
}

fn read_dir(dir: &PathBuf) -> Result<Vec<Arc<SigningKey>>, KeyError> {
    let origin = dir.display().to_string();
    if !dir.exists() {
        create_private_dir(dir).map_err(|e| KeyError::Io(origin.clone(), e))?;
    }
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| KeyError::Io(origin.clone(), e))? {
        let entry = entry.map_err(|e| KeyError::Io(origin.clone(), e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".pem") else { continue };
        let Some(not_before) = stem.split_once('-').and_then(|(t, _)| t.parse::<u64>().ok()) else { continue };
        keys.push(Arc::new(load_key_file(&entry.path(), not_before)?));
    }
    Ok(keys)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Writes a key file atomically (temporary file, mode 0600, rename).
fn write_key(dir: &Path, k: &SigningKey, der: &[u8]) -> Result<(), KeyError> {
    let path = dir.join(file_name(k));
    let tmp = dir.join(format!(".{}.tmp", file_name(k)));
    let origin = path.display().to_string();
    let io = |e| KeyError::Io(origin.clone(), e);
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(io)?;
        f.write_all(pem_encode(der).as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: Option<PathBuf>, alg: SigningAlgorithm) -> SigningKeySettings {
        SigningKeySettings {
            dir,
            files: Vec::new(),
            algorithm: alg,
            rotate_every: Duration::from_secs(1000),
            overlap: Duration::from_secs(100),
        }
    }

    #[test]
    fn generated_keys_have_thumbprint_kids_and_public_jwks() {
        for alg in [SigningAlgorithm::ES256, SigningAlgorithm::EdDSA] {
            let ring = KeyRing::open(&settings(None, alg)).unwrap();
            let jwks = ring.jwks();
            let keys = jwks["keys"].as_array().unwrap();
            assert_eq!(keys.len(), 1);
            assert_eq!(keys[0]["kid"], ring.active().kid.as_str());
            assert!(keys[0].get("d").is_none(), "private part published");
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
            assert_eq!(jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap(), ring.active().kid);
        }
    }

    #[test]
    fn rotation_prepublishes_then_switches_then_retires() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(Some(dir.path().to_path_buf()), SigningAlgorithm::ES256);
        let t0 = 1_000_000;
        let memory = parking_lot::Mutex::new(Vec::new());
        let first = compute(&s, &memory, t0).unwrap();
        assert_eq!(first.published.len(), 1);
        // Before rotateEvery − overlap: nothing new.
        let snap = compute(&s, &memory, t0 + 899).unwrap();
        assert_eq!(snap.published.len(), 1);
        // At rotateEvery − overlap: the successor is published, not yet signing.
        let snap = compute(&s, &memory, t0 + 900).unwrap();
        assert_eq!(snap.published.len(), 2);
        assert_eq!(snap.active.kid, first.active.kid);
        // At rotateEvery: the successor signs, the old key stays published.
        let snap = compute(&s, &memory, t0 + 1000).unwrap();
        assert_ne!(snap.active.kid, first.active.kid);
        assert!(snap.published.iter().any(|k| k.kid == first.active.kid));
        // After the overlap the old key is gone, also from disk.
        let snap = compute(&s, &memory, t0 + 1100).unwrap();
        assert!(!snap.published.iter().any(|k| k.kid == first.active.kid));
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), snap.published.len());
    }

    #[test]
    fn persisted_keys_survive_a_restart_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(Some(dir.path().join("keys")), SigningAlgorithm::EdDSA);
        let kid = KeyRing::open(&s).unwrap().active().kid.clone();
        assert_eq!(KeyRing::open(&s).unwrap().active().kid, kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in std::fs::read_dir(dir.path().join("keys")).unwrap() {
                let mode = f.unwrap().metadata().unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "key file readable by others");
            }
        }
    }

    #[test]
    fn key_files_load_and_garbage_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (k, der) = SigningKey::generate(SigningAlgorithm::ES256, 0).unwrap();
        let good = dir.path().join("k.pem");
        std::fs::write(&good, pem_encode(&der)).unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a key").unwrap();
        let mut s = settings(None, SigningAlgorithm::ES256);
        s.files = vec![good];
        assert_eq!(KeyRing::open(&s).unwrap().active().kid, k.kid);
        s.files = vec![bad];
        let e = KeyRing::open(&s).unwrap_err().to_string();
        assert!(e.contains("bad.pem"), "{e}");
    }
}
