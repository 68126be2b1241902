//! Client authentication at the token endpoint. The client must be listed
//! in `tokenService.clients`; it proves it with exactly one of:
//!
//! - `client_secret_basic` / `client_secret_post` (RFC 6749 §2.3.1): the
//!   SHA-256 of the secret equals `secretHash` (constant-time compare);
//! - `private_key_jwt` (RFC 7523 §3): `iss` = `sub` = the client id, `aud`
//!   = the issuer or the token endpoint URL, `exp` required, `jti` required
//!   and never seen before, signature by a key of the client's JWKS;
//! - `jwt-spiffe` (draft-ietf-oauth-spiffe-client-auth): a JWT-SVID for the
//!   issuer, verified against `tokenService.spiffe`, whose `sub` is the
//!   client's `spiffeId`;
//! - `tls_client_auth` (RFC 8705 §2): with `client_id`, the connection's
//!   client certificate has the client's `certificateThumbprint`, or is an
//!   X.509-SVID of its `spiffeId`.

use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::super::http::{Form, OAuthRequest};
use super::super::{TokenService, now_secs, paths};
use super::error::ExchangeError;
use super::replay::{Replay, record};
use super::state::ExchangeState;
use crate::config::raw_token::RawTokenClient;

/// `client_assertion_type` of RFC 7523.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// `client_assertion_type` of SPIFFE client authentication.
pub const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/// Longest accepted assertion lifetime (`exp` − now).
const MAX_ASSERTION_LIFETIME: u64 = 3600 + 60;

/// An authenticated client and how it proved itself.
#[derive(Debug, Clone)]
pub struct Authenticated<'a> {
    /// The client's configuration.
    pub client: &'a RawTokenClient,
    /// `client_secret_basic`, `private_key_jwt`, ….
    pub method: &'static str,
}

fn fail(detail: impl Into<String>) -> ExchangeError {
    ExchangeError::Client(detail.into())
}

fn param<'a>(form: &'a Form, name: &str) -> Result<Option<&'a str>, ExchangeError> {
    form.one(name).map_err(|_| ExchangeError::request("a parameter was given more than once"))
}

fn find<'a>(ts: &'a TokenService, id: &str) -> Result<&'a RawTokenClient, ExchangeError> {
    ts.settings.clients.iter().find(|c| c.id == id).ok_or_else(|| fail("unknown client"))
}

/// Decodes one `application/x-www-form-urlencoded` component (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// `Authorization: Basic` credentials, if that header is present.
fn basic(req: &OAuthRequest<'_>) -> Result<Option<(String, String)>, ExchangeError> {
    let mut all = req.headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(v) = all.next() else { return Ok(None) };
    if all.next().is_some() {
        return Err(ExchangeError::request("more than one Authorization header"));
    }
    let v = v.to_str().map_err(|_| fail("Authorization header is not text"))?;
    let (scheme, rest) = v.split_once(' ').ok_or_else(|| fail("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(fail("Authorization scheme is not Basic"));
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).map_err(|_| fail("Basic: bad base64"))?;
    let text = String::from_utf8(raw).map_err(|_| fail("Basic: not UTF-8"))?;
    let (id, secret) = text.split_once(':').ok_or_else(|| fail("Basic: no colon"))?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

fn check_secret(client: &RawTokenClient, secret: &str) -> Result<(), ExchangeError> {
    let hash = client.secret_hash.as_deref().ok_or_else(|| fail("client has no secret"))?;
    let want = hash.strip_prefix("sha256:").and_then(hex32).ok_or_else(|| fail("client secretHash unusable"))?;
    let got = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    aws_lc_rs::constant_time::verify_slices_are_equal(got.as_ref(), &want).map_err(|_| fail("wrong secret"))
}

/// 64 hex digits → 32 bytes.
pub fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Authenticates the client of `req`.
pub async fn authenticate<'a>(
    ts: &'a TokenService,
    state: &ExchangeState,
    req: &OAuthRequest<'_>,
    form: &Form,
) -> Result<Authenticated<'a>, ExchangeError> {
    let basic = basic(req)?;
    let assertion_type = param(form, "client_assertion_type")?;
    let assertion = param(form, "client_assertion")?;
    let secret_post = param(form, "client_secret")?;
    let form_id = param(form, "client_id")?;
    let methods = [basic.is_some(), assertion.is_some() || assertion_type.is_some(), secret_post.is_some()];
    if methods.iter().filter(|m| **m).count() > 1 {
        return Err(ExchangeError::ClientMethods);
    }
    let auth = if let Some((id, secret)) = basic {
        let client = find(ts, &id)?;
        check_secret(client, &secret)?;
        Authenticated { client, method: "client_secret_basic" }
    } else if let Some(secret) = secret_post {
        let client = find(ts, form_id.ok_or_else(|| fail("client_secret without client_id"))?)?;
        check_secret(client, secret)?;
        Authenticated { client, method: "client_secret_post" }
    } else if assertion.is_some() || assertion_type.is_some() {
        let assertion = assertion.ok_or_else(|| fail("client_assertion missing"))?;
        match assertion_type {
            Some(JWT_BEARER) => private_key_jwt(ts, state, assertion, form_id).await?,
            Some(JWT_SPIFFE) => jwt_spiffe(ts, state, assertion, form_id)?,
            _ => return Err(fail("unsupported client_assertion_type")),
        }
    } else if let Some(id) = form_id
        && let Some(cert) = req.conn.as_ref().and_then(|c| c.client_cert.as_ref())
    {
        let client = find(ts, id)?;
        let by_thumbprint = client.certificate_thumbprint.as_deref().is_some_and(|t| t == cert.x5t_s256);
        let by_svid =
            client.spiffe_id.as_deref().is_some_and(|want| matches!(&cert.spiffe, Some(Ok(id)) if id == want));
        if !(by_thumbprint || by_svid) {
            return Err(fail("client certificate does not match the client"));
        }
        Authenticated { client, method: "tls_client_auth" }
    } else {
        return Err(fail("no client authentication"));
    };
    if form_id.is_some_and(|id| id != auth.client.id) {
        return Err(fail("client_id differs from the authenticated client"));
    }
    Ok(auth)
}

async fn private_key_jwt<'a>(
    ts: &'a TokenService,
    state: &ExchangeState,
    assertion: &str,
    form_id: Option<&str>,
) -> Result<Authenticated<'a>, ExchangeError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| fail(format!("assertion header: {e}")))?;
    if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(fail("symmetric assertion algorithm"));
    }
    let unverified: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|e| fail(format!("assertion claims: {e}")))?;
    let iss = unverified.get("iss").and_then(Value::as_str).ok_or_else(|| fail("assertion without iss"))?;
    let client = find(ts, form_id.unwrap_or(iss))?;
    let keys = state.client_keys.get(&client.id).ok_or_else(|| fail("client has no keys (jwks)"))?;
    let key = keys.key(header.kid.as_deref()).await.map_err(|e| match e {
        crate::auth::jwks::KeyError::Unavailable => ExchangeError::Unavailable(format!("client {} keys", client.id)),
        e => fail(format!("assertion key: {e}")),
    })?;
    if key.alg.is_some_and(|a| a != header.alg) {
        return Err(fail("assertion algorithm differs from the key's"));
    }
    let mut v = Validation::new(header.alg);
    v.leeway = 30;
    v.validate_nbf = true;
    v.set_issuer(&[client.id.as_str()]);
    v.sub = Some(client.id.clone());
    let endpoint = format!("{}{}", ts.issuer(), paths::TOKEN);
    v.set_audience(&[ts.issuer(), endpoint.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(assertion, &key.decoding, &v)
        .map_err(|e| fail(format!("assertion: {e}")))?
        .claims;
    let now = now_secs();
    let exp = claims.get("exp").and_then(Value::as_u64).ok_or_else(|| fail("assertion exp"))?;
    if exp > now + MAX_ASSERTION_LIFETIME {
        return Err(fail("assertion lives too long"));
    }
    let jti = claims.get("jti").and_then(Value::as_str).filter(|j| !j.is_empty() && j.len() <= 256);
    let jti = jti.ok_or_else(|| fail("assertion without jti"))?;
    match record(&client.id, jti, exp + 30, now) {
        Replay::Fresh => Ok(Authenticated { client, method: "private_key_jwt" }),
        Replay::Replayed => Err(fail("assertion jti replayed")),
        Replay::Full => Err(ExchangeError::Unavailable("assertion replay cache full".into())),
    }
}

fn jwt_spiffe<'a>(
    ts: &'a TokenService,
    state: &ExchangeState,
    assertion: &str,
    form_id: Option<&str>,
) -> Result<Authenticated<'a>, ExchangeError> {
    let trust = state.svid.as_ref().ok_or_else(|| fail("jwt-spiffe without tokenService.spiffe"))?;
    let endpoint = format!("{}{}", ts.issuer(), paths::TOKEN);
    let svid =
        trust.verify(assertion, &[ts.issuer().to_string(), endpoint]).map_err(|e| fail(format!("JWT-SVID: {e}")))?;
    let client = match form_id {
        Some(id) => find(ts, id)?,
        None => ts
            .settings
            .clients
            .iter()
            .find(|c| c.spiffe_id.as_deref() == Some(svid.subject.as_str()))
            .ok_or_else(|| fail("no client with this SPIFFE ID"))?,
    };
    if client.spiffe_id.as_deref() != Some(svid.subject.as_str()) {
        return Err(fail("JWT-SVID of another SPIFFE ID"));
    }
    Ok(Authenticated { client, method: "jwt-spiffe" })
}
