//! Validation of `virtualServers[].backends[].credential` and
//! `virtualServers[].transactionTokens`.
//!
//! Everything that can be checked without the network is checked here, once,
//! at load: URLs, key files (paths relative to the configuration file),
//! algorithms, and that the environment variables and files holding secrets
//! exist. Errors name the key path and the variable or file, never a value.

use std::path::Path;
use std::time::Duration;

use super::model::{BackendKind, Problems};
use super::policy::resolve_path;
use super::raw_token::{RawClientCredentials, RawCredential, RawTransactionTokens};
use super::token::{CredentialSettings, TransactionTokenSettings};

pub(super) fn validate_transaction_tokens(r: &RawTransactionTokens) -> TransactionTokenSettings {
    TransactionTokenSettings {
        audience: r.audience.clone(),
        lifetime: r.lifetime.as_ref().map_or(Duration::from_secs(60), |d| d.0),
    }
}

/// Validates one backend's `credential`. File paths in the result are
/// resolved against `base` (the configuration file's directory).
pub(super) fn validate_credential(
    r: &RawCredential,
    kind: &BackendKind,
    base: &Path,
    at: &str,
    p: &mut Problems,
) -> CredentialSettings {
    let backend_url = match kind {
        BackendKind::StreamableHttp { url, .. } => Some(url),
        _ => None,
    };
    if !matches!(r, RawCredential::PassthroughForbidden) && backend_url.is_none() {
        // stdio children, built-ins and the shared HTTP+SSE session carry no
        // per-call HTTP headers: a credential there would silently do nothing.
        p.push(at, "only Streamable HTTP (`url`) backends take a credential");
    }
    match r {
        RawCredential::PassthroughForbidden => CredentialSettings::None,
        RawCredential::Exchange(e) => {
            let audience = match (&e.audience, backend_url) {
                (Some(a), _) => a.clone(),
                (None, Some(u)) => u.as_str().to_string(),
                (None, None) => String::new(),
            };
            if let Some(s) = &e.scopes
                && s.iter().any(|s| s.is_empty() || s.contains(' '))
            {
                p.push(format!("{at}.exchange.scopes"), "scopes are single non-empty words");
            }
            CredentialSettings::Exchange {
                audience,
                scopes: e.scopes.clone(),
                lifetime: e.lifetime.map(|d| d.0),
                impersonate: e.impersonate,
            }
        }
        RawCredential::ExternalExchange(e) => {
            let at = format!("{at}.externalExchange");
            http_url(&e.token_endpoint, &format!("{at}.tokenEndpoint"), p);
            if let Some(i) = &e.issuer {
                http_url(i, &format!("{at}.issuer"), p);
            }
            let mut e = e.clone();
            e.client_auth = client_auth(&e.client_auth, base, &format!("{at}.clientAuth"), p);
            CredentialSettings::ExternalExchange(e)
        }
        RawCredential::IdJag(e) => {
            let at = format!("{at}.idJag");
            http_url(&e.token_endpoint, &format!("{at}.tokenEndpoint"), p);
            if e.authorization_server.trim().is_empty() {
                p.push(format!("{at}.authorizationServer"), "must not be empty");
            }
            let mut e = e.clone();
            e.client_auth = client_auth(&e.client_auth, base, &format!("{at}.clientAuth"), p);
            CredentialSettings::IdJag(e)
        }
        RawCredential::Secret(s) => {
            let at = format!("{at}.secret");
            if s.env.is_some() == s.file.is_some() {
                p.push(&at, "exactly one of `env` and `file`");
            }
            let places = [s.header.is_some(), s.query.is_some(), s.basic_username.is_some()];
            if places.iter().filter(|x| **x).count() != 1 {
                p.push(&at, "exactly one of `header`, `query`, `basicUsername`");
            }
            if let Some(h) = &s.header
                && http::HeaderName::from_bytes(h.as_bytes()).is_err()
            {
                p.push(format!("{at}.header"), format!("{h:?} is not a valid header name"));
            }
            if let Some(q) = &s.query
                && q.is_empty()
            {
                p.push(format!("{at}.query"), "must not be empty");
            }
            let mut s = s.clone();
            if let Some(v) = &s.env {
                env_present(v, &format!("{at}.env"), p);
            }
            if let Some(f) = &s.file {
                let path = resolve_path(base, f);
                if std::fs::metadata(&path).map_or(true, |m| !m.is_file()) {
                    p.push(format!("{at}.file"), format!("cannot read {}", path.display()));
                }
                s.file = Some(path.to_string_lossy().into_owned());
            }
            CredentialSettings::Secret(s)
        }
        RawCredential::OauthClient(o) => CredentialSettings::OAuthClient(o.clone()),
    }
}

fn http_url(u: &str, at: &str, p: &mut Problems) {
    if url::Url::parse(u).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        p.push(at, "must be an http(s) URL");
    }
}

fn env_present(var: &str, at: &str, p: &mut Problems) {
    if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
        p.push(at, format!("environment variable {var} is not set"));
    }
}

/// Checks Warden's client authentication at an external AS; resolves the key file.
fn client_auth(c: &RawClientCredentials, base: &Path, at: &str, p: &mut Problems) -> RawClientCredentials {
    match c {
        RawClientCredentials::PrivateKeyJwt { key_file, algorithm, kid } => {
            let path = resolve_path(base, key_file);
            if std::fs::metadata(&path).map_or(true, |m| !m.is_file()) {
                p.push(format!("{at}.privateKeyJwt.keyFile"), format!("cannot read {}", path.display()));
            }
            if algorithm.parse::<jsonwebtoken::Algorithm>().is_err() || algorithm.starts_with("HS") {
                p.push(format!("{at}.privateKeyJwt.algorithm"), format!("unsupported algorithm {algorithm:?}"));
            }
            RawClientCredentials::PrivateKeyJwt {
                key_file: path.to_string_lossy().into_owned(),
                algorithm: algorithm.clone(),
                kid: kid.clone(),
            }
        }
        RawClientCredentials::JwtSvid { workload_api } => {
            if workload_api.as_deref().is_none_or(|w| w == "env") {
                env_present("SPIFFE_ENDPOINT_SOCKET", &format!("{at}.jwtSvid.workloadApi"), p);
            }
            c.clone()
        }
        RawClientCredentials::SecretEnv(var) => {
            env_present(var, &format!("{at}.secretEnv"), p);
            c.clone()
        }
    }
}
