//! `secret`: a static credential read once, from an environment variable or
//! a file, sent as a header, a query parameter or HTTP Basic.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::{CredentialError, Injected, sensitive};
use crate::config::raw_token::RawSecretCredential;

/// Reads the secret (paths were resolved at load) and builds what every call sends.
pub fn load(s: &RawSecretCredential) -> Result<Injected, CredentialError> {
    let value: SecretString = match (&s.env, &s.file) {
        (Some(var), _) => std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
            .ok_or_else(|| CredentialError::Secret(format!("environment variable {var}")))?,
        (None, Some(file)) => std::fs::read_to_string(file)
            .map(|t| SecretString::from(t.trim_end_matches(['\r', '\n']).to_string()))
            .map_err(|_| CredentialError::Secret(format!("file {file}")))?,
        (None, None) => return Err(CredentialError::Secret("no source".into())),
    };
    let secret = value.expose_secret();
    if let Some(h) = &s.header {
        let name =
            http::HeaderName::from_bytes(h.as_bytes()).map_err(|_| CredentialError::Secret(format!("header {h}")))?;
        let v = format!("{}{secret}", s.prefix.as_deref().unwrap_or(""));
        return Ok(Injected { headers: vec![(name, sensitive(&v)?)], query: vec![] });
    }
    if let Some(q) = &s.query {
        return Ok(Injected { headers: vec![], query: vec![(q.clone(), value.clone())] });
    }
    if let Some(user) = &s.basic_username {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        return Ok(Injected {
            headers: vec![(http::header::AUTHORIZATION, sensitive(&format!("Basic {b}"))?)],
            query: vec![],
        });
    }
    Err(CredentialError::Secret("no place to send it".into()))
}
