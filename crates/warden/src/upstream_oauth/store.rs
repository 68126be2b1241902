//! Users' upstream tokens and Warden's registrations, in an embedded SQLite
//! database. Secrets are sealed with ChaCha20-Poly1305 (random 96-bit nonce
//! per record, the row key as associated data, so a record moved to another
//! row does not open). SQLite calls run on the blocking pool.

use std::path::PathBuf;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use secrecy::{ExposeSecret, SecretBox, SecretString};

use super::UpstreamOAuthError;

/// Key of one user's tokens: credentials are keyed by issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TokenKey {
    /// Authorization server issuer.
    pub issuer: String,
    /// The backend (RFC 8707 resource).
    pub resource: String,
    /// The Warden principal ([`crate::auth::Principal::binding_key`]).
    pub principal: String,
}

impl TokenKey {
    fn associated_data(&self) -> Vec<u8> {
        let mut ad = b"warden-upstream-token".to_vec();
        for p in [&self.issuer, &self.resource, &self.principal] {
            ad.extend_from_slice(&(p.len() as u64).to_be_bytes());
            ad.extend_from_slice(p.as_bytes());
        }
        ad
    }
}

/// One user's upstream tokens.
#[derive(Debug, Clone)]
pub(super) struct StoredTokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// Seconds since the epoch; absent: no `expires_in` was given.
    pub expires_at: Option<u64>,
    pub token_type: String,
}

/// The database and the key sealing its secrets.
pub(super) struct Store {
    conn: Arc<Mutex<Connection>>,
    key: Arc<SecretBox<[u8; 32]>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

fn db(e: rusqlite::Error) -> UpstreamOAuthError {
    UpstreamOAuthError::Store(e.to_string())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS upstream_tokens (
  issuer TEXT NOT NULL, resource TEXT NOT NULL, principal TEXT NOT NULL,
  token_type TEXT NOT NULL, expires_at INTEGER, sealed BLOB NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (issuer, resource, principal));
CREATE TABLE IF NOT EXISTS upstream_clients (
  issuer TEXT NOT NULL, redirect_uri TEXT NOT NULL, sealed BLOB NOT NULL,
  PRIMARY KEY (issuer, redirect_uri));
";

impl Store {
    /// Opens (creating) the database at `path`, or an in-memory one.
    pub fn open(path: Option<PathBuf>, key: [u8; 32]) -> Result<Store, UpstreamOAuthError> {
        let conn = match &path {
            Some(p) => Connection::open(p).map_err(db)?,
            None => Connection::open_in_memory().map_err(db)?,
        };
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        #[cfg(unix)]
        if let Some(p) = &path {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600));
        }
        Ok(Store { conn: Arc::new(Mutex::new(conn)), key: Arc::new(SecretBox::new(Box::new(key))) })
    }

    fn seal(key: &SecretBox<[u8; 32]>, plain: &[u8], ad: &[u8]) -> Result<Vec<u8>, UpstreamOAuthError> {
        let cipher = ChaCha20Poly1305::new(key.expose_secret().into());
        let mut nonce = [0u8; 12];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| UpstreamOAuthError::Store("no randomness".into()))?;
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: ad })
            .map_err(|_| UpstreamOAuthError::Store("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open_sealed(key: &SecretBox<[u8; 32]>, sealed: &[u8], ad: &[u8]) -> Result<Vec<u8>, UpstreamOAuthError> {
        if sealed.len() < 12 {
            return Err(UpstreamOAuthError::Store("sealed record too short".into()));
        }
        let (nonce, ct) = sealed.split_at(12);
        let cipher = ChaCha20Poly1305::new(key.expose_secret().into());
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: ad })
            .map_err(|_| UpstreamOAuthError::Store("a record does not open with the store key".into()))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &SecretBox<[u8; 32]>) -> Result<T, UpstreamOAuthError> + Send + 'static,
    ) -> Result<T, UpstreamOAuthError> {
        let conn = self.conn.clone();
        let key = self.key.clone();
        tokio::task::spawn_blocking(move || f(&conn.lock(), &key))
            .await
            .map_err(|_| UpstreamOAuthError::Store("store task failed".into()))?
    }

    /// The tokens kept for `k`.
    pub async fn tokens(&self, k: &TokenKey) -> Result<Option<StoredTokens>, UpstreamOAuthError> {
        let k = k.clone();
        self.blocking(move |c, key| {
            let row: Option<(String, Option<i64>, Vec<u8>)> = c
                .query_row(
                    "SELECT token_type, expires_at, sealed FROM upstream_tokens
                     WHERE issuer = ?1 AND resource = ?2 AND principal = ?3",
                    params![k.issuer, k.resource, k.principal],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((token_type, expires_at, sealed)) = row else { return Ok(None) };
            let plain = Self::open_sealed(key, &sealed, &k.associated_data())?;
            let secrets: Sealed =
                serde_json::from_slice(&plain).map_err(|_| UpstreamOAuthError::Store("bad record".into()))?;
            Ok(Some(StoredTokens {
                access_token: SecretString::from(secrets.access_token),
                refresh_token: secrets.refresh_token.map(SecretString::from),
                expires_at: expires_at.and_then(|e| u64::try_from(e).ok()),
                token_type,
            }))
        })
        .await
    }

    /// Keeps `t` for `k`, replacing what was there.
    pub async fn put_tokens(&self, k: &TokenKey, t: &StoredTokens) -> Result<(), UpstreamOAuthError> {
        let k = k.clone();
        let secrets = Sealed {
            access_token: t.access_token.expose_secret().to_string(),
            refresh_token: t.refresh_token.as_ref().map(|r| r.expose_secret().to_string()),
        };
        let token_type = t.token_type.clone();
        let expires_at = t.expires_at.and_then(|e| i64::try_from(e).ok());
        self.blocking(move |c, key| {
            let plain = serde_json::to_vec(&secrets).map_err(|_| UpstreamOAuthError::Store("encode".into()))?;
            let sealed = Self::seal(key, &plain, &k.associated_data())?;
            c.execute(
                "INSERT OR REPLACE INTO upstream_tokens
                 (issuer, resource, principal, token_type, expires_at, sealed, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![k.issuer, k.resource, k.principal, token_type, expires_at, sealed, now_secs() as i64],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    /// Forgets the tokens of `k` (refresh refused: consent again).
    pub async fn delete_tokens(&self, k: &TokenKey) -> Result<(), UpstreamOAuthError> {
        let k = k.clone();
        self.blocking(move |c, _| {
            c.execute(
                "DELETE FROM upstream_tokens WHERE issuer = ?1 AND resource = ?2 AND principal = ?3",
                params![k.issuer, k.resource, k.principal],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    /// A registration (RFC 7591 response) cached for `issuer`.
    pub async fn client(&self, issuer: &str, redirect_uri: &str) -> Result<Option<Vec<u8>>, UpstreamOAuthError> {
        let (issuer, redirect_uri) = (issuer.to_string(), redirect_uri.to_string());
        self.blocking(move |c, key| {
            let sealed: Option<Vec<u8>> = c
                .query_row(
                    "SELECT sealed FROM upstream_clients WHERE issuer = ?1 AND redirect_uri = ?2",
                    params![issuer, redirect_uri],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            sealed.map(|s| Self::open_sealed(key, &s, &client_ad(&issuer, &redirect_uri))).transpose()
        })
        .await
    }

    /// Caches a registration for `issuer`.
    pub async fn put_client(&self, issuer: &str, redirect_uri: &str, doc: Vec<u8>) -> Result<(), UpstreamOAuthError> {
        let (issuer, redirect_uri) = (issuer.to_string(), redirect_uri.to_string());
        self.blocking(move |c, key| {
            let sealed = Self::seal(key, &doc, &client_ad(&issuer, &redirect_uri))?;
            c.execute(
                "INSERT OR REPLACE INTO upstream_clients (issuer, redirect_uri, sealed) VALUES (?1, ?2, ?3)",
                params![issuer, redirect_uri, sealed],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }
}

fn client_ad(issuer: &str, redirect_uri: &str) -> Vec<u8> {
    let mut ad = b"warden-upstream-client".to_vec();
    for p in [issuer, redirect_uri] {
        ad.extend_from_slice(&(p.len() as u64).to_be_bytes());
        ad.extend_from_slice(p.as_bytes());
    }
    ad
}

/// The sealed part of a token row.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Seconds since the epoch.
pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
