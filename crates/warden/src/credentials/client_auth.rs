//! How Warden authenticates itself to an external authorization server:
//! `private_key_jwt` (RFC 7523 assertion signed with a configured key), a
//! JWT-SVID from the SPIFFE Workload API (`jwt-spiffe`), or
//! `client_secret_basic` with a secret from the environment.

use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::CredentialError;
use crate::config::raw_token::RawClientCredentials;
use crate::token::now_secs;

const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_SPIFFE_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/// Lifetime of a client assertion.
const ASSERTION_LIFETIME: u64 = 60;

/// Warden's credential at one external authorization server.
pub enum ClientAuth {
    /// RFC 7523 `private_key_jwt`.
    PrivateKeyJwt {
        /// Signing key.
        key: Box<EncodingKey>,
        /// Algorithm.
        alg: Algorithm,
        /// `kid`.
        kid: Option<String>,
    },
    /// A JWT-SVID for the server's issuer, fetched per request.
    JwtSvid {
        /// Workload API endpoint (`None`: `SPIFFE_ENDPOINT_SOCKET`).
        endpoint: Option<String>,
    },
    /// `client_secret_basic`.
    Secret(SecretString),
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuth::PrivateKeyJwt { .. } => "PrivateKeyJwt",
            ClientAuth::JwtSvid { .. } => "JwtSvid",
            ClientAuth::Secret(_) => "Secret",
        })
    }
}

impl ClientAuth {
    /// Loads the key or secret (once, at build).
    pub fn load(c: &RawClientCredentials) -> Result<ClientAuth, CredentialError> {
        let bad = |m: String| CredentialError::ClientAuth(m);
        match c {
            RawClientCredentials::PrivateKeyJwt { key_file, algorithm, kid } => {
                let alg: Algorithm = algorithm.parse().map_err(|_| bad(format!("algorithm {algorithm}")))?;
                let pem = std::fs::read(key_file).map_err(|_| bad(format!("cannot read {key_file}")))?;
                let key = match alg {
                    Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
                    Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
                    Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512 => EncodingKey::from_rsa_pem(&pem),
                    _ => return Err(bad(format!("algorithm {algorithm}"))),
                }
                .map_err(|_| bad(format!("{key_file} is not a {algorithm} PEM key")))?;
                Ok(ClientAuth::PrivateKeyJwt { key: Box::new(key), alg, kid: kid.clone() })
            }
            RawClientCredentials::JwtSvid { workload_api } => {
                Ok(ClientAuth::JwtSvid { endpoint: workload_api.clone().filter(|w| w != "env") })
            }
            RawClientCredentials::SecretEnv(var) => std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| ClientAuth::Secret(SecretString::from(v)))
                .ok_or_else(|| bad(format!("environment variable {var} is not set"))),
        }
    }

    /// Adds client authentication to a token request for `audience` (the
    /// server's issuer).
    pub async fn apply(
        &self,
        req: reqwest::RequestBuilder,
        form: &mut Vec<(&'static str, String)>,
        client_id: &str,
        audience: &str,
    ) -> Result<reqwest::RequestBuilder, CredentialError> {
        match self {
            ClientAuth::PrivateKeyJwt { key, alg, kid } => {
                let now = now_secs();
                let jti: [u8; 16] = rand::random();
                let claims = json!({
                    "iss": client_id, "sub": client_id, "aud": audience,
                    "iat": now, "exp": now + ASSERTION_LIFETIME,
                    "jti": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(jti),
                });
                let mut header = Header::new(*alg);
                header.kid = kid.clone();
                let jwt = jsonwebtoken::encode(&header, &claims, key)
                    .map_err(|e| CredentialError::ClientAuth(format!("signing the assertion: {e}")))?;
                form.push(("client_id", client_id.to_string()));
                form.push(("client_assertion_type", JWT_BEARER_ASSERTION.to_string()));
                form.push(("client_assertion", jwt));
                Ok(req)
            }
            ClientAuth::JwtSvid { endpoint } => {
                let svid = fetch_jwt_svid(endpoint.as_deref(), audience).await?;
                form.push(("client_id", client_id.to_string()));
                form.push(("client_assertion_type", JWT_SPIFFE_ASSERTION.to_string()));
                form.push(("client_assertion", svid.expose_secret().to_string()));
                Ok(req)
            }
            ClientAuth::Secret(s) => {
                // RFC 6749 §2.3.1: form-urlencode both parts first.
                let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                Ok(req.basic_auth(enc(client_id), Some(enc(s.expose_secret()))))
            }
        }
    }
}

async fn fetch_jwt_svid(endpoint: Option<&str>, audience: &str) -> Result<SecretString, CredentialError> {
    use crate::auth::spiffe::workload::WorkloadEndpoint;
    let err = |e: &dyn std::fmt::Display| CredentialError::ClientAuth(format!("JWT-SVID: {e}"));
    let ep = match endpoint {
        Some(e) => WorkloadEndpoint::parse(e),
        None => WorkloadEndpoint::from_env(),
    }
    .map_err(|e| err(&e))?;
    let within = Duration::from_secs(5);
    let client = tokio::time::timeout(within, spiffe::WorkloadApiClient::connect_to(ep.as_str()))
        .await
        .map_err(|_| err(&"workload API timed out"))?
        .map_err(|e| err(&e))?;
    let svid = tokio::time::timeout(within, client.fetch_jwt_svid([audience], None))
        .await
        .map_err(|_| err(&"workload API timed out"))?
        .map_err(|e| err(&e))?;
    Ok(SecretString::from(svid.token().to_string()))
}
