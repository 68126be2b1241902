//! Discovery documents Warden serves without authentication: OAuth 2.0
//! Protected Resource Metadata (RFC 9728) per virtual server, and — for
//! issuers that publish only OpenID discovery — RFC 8414 authorization
//! server metadata on their behalf.

use serde_json::{Value, json};
use url::Url;

use super::Authenticator;
use crate::config::Listener;
use crate::config::auth::DpopMode;

/// Well-known prefix of Protected Resource Metadata.
pub const PRM_PREFIX: &str = "/.well-known/oauth-protected-resource";
/// Well-known prefix of authorization server metadata.
pub const ASM_PREFIX: &str = "/.well-known/oauth-authorization-server";
/// Path segment of authorization servers Warden describes on an issuer's behalf.
pub const AS_SEGMENT: &str = "/authorization-server/";

/// The PRM URL of `resource`: the well-known path inserted before its path.
pub fn prm_url(resource: &str) -> String {
    match Url::parse(resource) {
        Ok(u) => {
            let path = u.path().trim_end_matches('/');
            let mut out = u.clone();
            out.set_path(&format!("{PRM_PREFIX}{path}"));
            out.set_query(None);
            out.set_fragment(None);
            out.to_string()
        }
        Err(_) => format!("{}{PRM_PREFIX}", resource.trim_end_matches('/')),
    }
}

/// Identifiers of the authorization servers Warden describes for `auth` on
/// `listener` (one per JWT provider), when it does so.
pub fn proxied_issuers(auth: &Authenticator, listener: &Listener) -> Vec<String> {
    let resource = auth.resource_url(listener);
    (0..auth.providers().len()).map(|i| format!("{}{AS_SEGMENT}{i}", resource.trim_end_matches('/'))).collect()
}

/// The Protected Resource Metadata document.
pub fn protected_resource(auth: &Authenticator, listener: &Listener) -> Value {
    let s = &auth.settings;
    let servers = match &s.authorization_servers {
        Some(a) => a.clone(),
        None if s.serve_as_metadata => proxied_issuers(auth, listener),
        None => auth.providers().iter().map(|p| p.settings.issuer.clone()).collect(),
    };
    let mut doc = json!({
        "resource": auth.resource_url(listener),
        "authorization_servers": servers,
        "scopes_supported": s.scopes.supported,
        "bearer_methods_supported": ["header"],
        "resource_name": format!("Warden MCP endpoint {}", auth.path),
    });
    if let Some(algs) = auth.dpop_algs() {
        doc["dpop_signing_alg_values_supported"] = json!(algs);
    }
    if s.dpop.mode == DpopMode::Required || (s.require_bound_tokens && s.dpop.mode != DpopMode::Off) {
        doc["dpop_bound_access_tokens_required"] = json!(true);
    }
    if s.spiffe.as_ref().is_some_and(|x| x.x509) && listener.tls.as_ref().is_some_and(|t| t.client_auth.is_some()) {
        doc["tls_client_certificate_bound_access_tokens"] = json!(true);
    }
    doc
}

/// RFC 8414 metadata for provider `index`, built from the issuer's OpenID
/// discovery document: same endpoints, `issuer` = Warden's identifier for it,
/// and `code_challenge_methods_supported` filled in when the issuer omits it.
pub fn authorization_server(auth: &Authenticator, listener: &Listener, index: usize) -> Option<Value> {
    let provider = auth.providers().get(index)?;
    let mut doc = provider.keys.metadata()?;
    let obj = doc.as_object_mut()?;
    let id = proxied_issuers(auth, listener).into_iter().nth(index)?;
    obj.insert("issuer".into(), json!(id));
    obj.entry("code_challenge_methods_supported").or_insert_with(|| json!(["S256"]));
    // Authorization responses carry the real issuer's `iss` (RFC 9207), which
    // would not match this identifier; do not promise it.
    obj.remove("authorization_response_iss_parameter_supported");
    Some(doc)
}
