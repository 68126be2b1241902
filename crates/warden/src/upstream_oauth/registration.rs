//! Warden's identity at the upstream authorization server, in order: a
//! configured `clientId` (+ secret), its Client ID Metadata Document (when the
//! server advertises `client_id_metadata_document_supported`), or an RFC 7591
//! dynamic registration, cached per issuer in the store.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::discovery::ServerMetadata;
use super::store::Store;
use super::{UpstreamOAuthError, fetch};

/// How Warden presents itself at the token endpoint.
#[derive(Debug, Clone)]
pub(super) struct ClientIdentity {
    pub client_id: String,
    pub secret: Option<SecretString>,
    /// `client_secret_basic` (true) or `client_secret_post` when a secret is
    /// used.
    pub basic: bool,
}

impl ClientIdentity {
    /// Adds client authentication to a token request.
    pub fn authenticate(
        &self,
        req: reqwest::RequestBuilder,
        form: &mut Vec<(String, String)>,
    ) -> reqwest::RequestBuilder {
        match &self.secret {
            Some(s) if self.basic => {
                // RFC 6749 §2.3.1: form-urlencode both parts first.
                let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                req.basic_auth(enc(&self.client_id), Some(enc(s.expose_secret())))
            }
            Some(s) => {
                form.push(("client_id".into(), self.client_id.clone()));
                form.push(("client_secret".into(), s.expose_secret().to_string()));
                req
            }
            None => {
                form.push(("client_id".into(), self.client_id.clone()));
                req
            }
        }
    }
}

/// The Client ID Metadata Document Warden serves at `client_id`.
pub fn client_metadata_document(client_id: &str, redirect_uri: &str) -> serde_json::Value {
    json!({
        "client_id": client_id,
        "client_name": "Warden",
        "client_uri": "https://github.com/warden",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

#[derive(Deserialize)]
struct Registered {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

/// Settles Warden's identity at `server`.
pub(super) async fn identity(
    http: &reqwest::Client,
    store: &Store,
    server: &ServerMetadata,
    configured: Option<(&str, Option<&SecretString>)>,
    cimd_url: &str,
    redirect_uri: &str,
    scopes: &[String],
) -> Result<ClientIdentity, UpstreamOAuthError> {
    let basic_ok = server
        .token_endpoint_auth_methods_supported
        .as_ref()
        .is_none_or(|m| m.iter().any(|m| m == "client_secret_basic"));
    if let Some((id, secret)) = configured {
        return Ok(ClientIdentity { client_id: id.to_string(), secret: secret.cloned(), basic: basic_ok });
    }
    if server.client_id_metadata_document_supported && cimd_url.starts_with("https://") {
        return Ok(ClientIdentity { client_id: cimd_url.to_string(), secret: None, basic: false });
    }
    if let Some(cached) = store.client(&server.issuer, redirect_uri).await?
        && let Ok(r) = serde_json::from_slice::<Registered>(&cached)
    {
        return Ok(from_registered(r));
    }
    let Some(endpoint) = &server.registration_endpoint else {
        return Err(UpstreamOAuthError::Registration(format!(
            "{} offers neither client ID metadata documents (over https) nor dynamic registration; configure clientId",
            server.issuer
        )));
    };
    let mut meta = json!({
        "client_name": "Warden",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    if !scopes.is_empty() {
        meta["scope"] = json!(scopes.join(" "));
    }
    let resp = http.post(endpoint).json(&meta).send().await?;
    let status = resp.status();
    let bytes = fetch::body(resp).await?;
    if !status.is_success() {
        let error = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| status.to_string());
        return Err(UpstreamOAuthError::Registration(format!("registration at {endpoint} refused: {error}")));
    }
    let registered: Registered = serde_json::from_slice(&bytes)
        .map_err(|_| UpstreamOAuthError::Registration("registration response without client_id".into()))?;
    store.put_client(&server.issuer, redirect_uri, bytes).await?;
    tracing::info!(issuer = %server.issuer, client_id = %registered.client_id, "registered with the upstream authorization server");
    Ok(from_registered(registered))
}

fn from_registered(r: Registered) -> ClientIdentity {
    let basic = r.token_endpoint_auth_method.as_deref() != Some("client_secret_post");
    ClientIdentity { client_id: r.client_id, secret: r.client_secret.map(SecretString::from), basic }
}
