#![allow(clippy::unwrap_used, clippy::expect_used)]

use secrecy::{ExposeSecret, SecretString};

use super::discovery::{auth_param, metadata_urls};
use super::flow::s256;
use super::store::{Store, StoredTokens, TokenKey};

#[test]
fn metadata_discovery_order() {
    let u = url::Url::parse("https://as.example/tenant1").unwrap();
    assert_eq!(
        metadata_urls(&u),
        [
            "https://as.example/.well-known/oauth-authorization-server/tenant1",
            "https://as.example/.well-known/openid-configuration/tenant1",
            "https://as.example/tenant1/.well-known/openid-configuration",
        ]
    );
    let root = url::Url::parse("https://as.example").unwrap();
    assert_eq!(
        metadata_urls(&root),
        [
            "https://as.example/.well-known/oauth-authorization-server",
            "https://as.example/.well-known/openid-configuration"
        ]
    );
}

#[test]
fn challenge_parameters() {
    let h = r#"Bearer error="invalid_token", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#;
    assert_eq!(
        auth_param(h, "resource_metadata").unwrap(),
        "https://mcp.example/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(auth_param(h, "scope").unwrap(), "files:read files:write");
    assert_eq!(auth_param("Bearer realm=x", "scope"), None);
    // `xscope=` is not `scope=`.
    assert_eq!(auth_param("Bearer xscope=a", "scope"), None);
}

#[test]
fn pkce_s256_matches_rfc7636_appendix_b() {
    assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

#[tokio::test]
async fn tokens_are_sealed_on_disk_and_bound_to_their_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upstream.db");
    let store = Store::open(Some(path.clone()), [7u8; 32]).unwrap();
    let k = TokenKey { issuer: "https://as".into(), resource: "https://mcp".into(), principal: "p1".into() };
    let t = StoredTokens {
        access_token: SecretString::from("ACCESS-TOKEN-PLAINTEXT-1234"),
        refresh_token: Some(SecretString::from("REFRESH-TOKEN-PLAINTEXT-5678")),
        expires_at: Some(42),
        token_type: "Bearer".into(),
    };
    store.put_tokens(&k, &t).await.unwrap();
    let back = store.tokens(&k).await.unwrap().unwrap();
    assert_eq!(back.access_token.expose_secret(), "ACCESS-TOKEN-PLAINTEXT-1234");
    assert_eq!(back.refresh_token.unwrap().expose_secret(), "REFRESH-TOKEN-PLAINTEXT-5678");
    assert_eq!(back.expires_at, Some(42));
    drop(store);
    let raw = std::fs::read(&path).unwrap();
    let hay = String::from_utf8_lossy(&raw);
    assert!(hay.contains("https://mcp"), "the row key is in clear text");
    assert!(!hay.contains("PLAINTEXT"), "a token is in clear text in the database");

    // A sealed record moved to another principal's row does not open.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE upstream_tokens SET principal = 'p2'", []).unwrap();
    drop(conn);
    let store = Store::open(Some(path.clone()), [7u8; 32]).unwrap();
    let k2 = TokenKey { principal: "p2".into(), ..k.clone() };
    assert!(store.tokens(&k2).await.is_err());
    // And another key opens nothing.
    let other = Store::open(Some(path), [8u8; 32]).unwrap();
    assert!(other.tokens(&k2).await.is_err());
}

#[test]
fn elicitation_error_shape() {
    let e = super::url_elicitation_error("el-1", "https://as/authorize?x", "github");
    assert_eq!(e["code"], -32042);
    assert_eq!(e["data"]["elicitations"][0]["mode"], "url");
    assert_eq!(e["data"]["elicitations"][0]["elicitationId"], "el-1");
    assert_eq!(e["data"]["elicitations"][0]["url"], "https://as/authorize?x");
}

#[test]
fn pending_consents_are_single_use_and_bounded_per_principal() {
    use super::flow::{Pending, PendingStates};
    let pending = PendingStates::default();
    let mk = |who: &str| Pending {
        principal: who.into(),
        verifier: SecretString::from("v"),
        created: std::time::Instant::now(),
    };
    for i in 0..20 {
        pending.insert(format!("a{i}"), mk("alice")).unwrap();
    }
    pending.insert("b0".into(), mk("bob")).unwrap();
    // Alice's oldest requests were dropped, her newest kept; Bob's untouched.
    assert!(pending.take("a0").is_none());
    assert_eq!(pending.take("a19").unwrap().principal, "alice");
    assert!(pending.take("a19").is_none(), "single use");
    assert_eq!(pending.take("b0").unwrap().principal, "bob");
}

#[test]
fn config_names_every_field_in_camel_case() {
    use crate::config::RawOAuthClientCredential;
    let yaml = r#"
store: /tmp/upstream.db
storeKey: STORE_KEY
clientId: warden
clientSecretEnv: FILES_SECRET
scopes: [files:read]
redirectBase: https://warden.example
clientMetadataUrl: https://warden.example/cimd.json
authorizationServer: https://as.example
"#;
    let raw: RawOAuthClientCredential = serde_norway::from_str(yaml).unwrap();
    let expected = RawOAuthClientCredential {
        scopes: vec!["files:read".into()],
        client_id: Some("warden".into()),
        client_secret_env: Some("FILES_SECRET".into()),
        store: Some("/tmp/upstream.db".into()),
        store_key: Some("STORE_KEY".into()),
        redirect_base: Some("https://warden.example".into()),
        client_metadata_url: Some("https://warden.example/cimd.json".into()),
        authorization_server: Some("https://as.example".into()),
    };
    assert_eq!(raw, expected);
    let unknown = yaml.replace("clientId: warden", "clientID: warden");
    assert!(serde_norway::from_str::<RawOAuthClientCredential>(&unknown).is_err());
}

#[test]
fn a_store_on_disk_needs_a_key_and_a_sane_base() {
    use super::{OAuthClientCredential, UpstreamOAuthError};
    use crate::config::RawOAuthClientCredential;
    let url = url::Url::parse("http://127.0.0.1:9/mcp").unwrap();
    let http = reqwest::Client::new();
    let on_disk = RawOAuthClientCredential { store: Some("/tmp/x.db".into()), ..Default::default() };
    let e = OAuthClientCredential::new(&on_disk, &url, "b", "http://127.0.0.1:1", http.clone()).unwrap_err();
    assert!(matches!(e, UpstreamOAuthError::Config(m) if m.contains("storeKey")));
    let missing_env =
        RawOAuthClientCredential { store_key: Some("WARDEN_TEST_SURELY_UNSET_KEY_VAR".into()), ..Default::default() };
    let e = OAuthClientCredential::new(&missing_env, &url, "b", "http://127.0.0.1:1", http.clone()).unwrap_err();
    assert!(matches!(e, UpstreamOAuthError::Config(m) if m.contains("WARDEN_TEST_SURELY_UNSET_KEY_VAR")));
    let e = OAuthClientCredential::new(&RawOAuthClientCredential::default(), &url, "b", "not a url", http.clone())
        .unwrap_err();
    assert!(matches!(e, UpstreamOAuthError::Config(_)));
    // In memory with a random key: fine, and registered under a stable id.
    let ok = OAuthClientCredential::new(&RawOAuthClientCredential::default(), &url, "b", "http://127.0.0.1:1/", http)
        .unwrap();
    assert_eq!(ok.redirect_uri(), "http://127.0.0.1:1/oauth/upstream/callback");
    assert!(super::registry().get(ok.id()).is_some());
}
