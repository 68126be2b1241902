//! The token-exchange test fixture: an in-process Warden with a token
//! service (subject issuer JWKS served by a local HTTP server, a SPIFFE
//! bundle file, a TLS listener for mTLS clients), clients of every
//! authentication method, and helpers that build subject tokens and client
//! assertions, post forms and check answers.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use test_support::start_in_process;
use warden::server::RunningGateway;

use super::support::{Ca, EcKey, HttpServer, Leaf, http_server, json_resp, jws, now, random_id, token};

pub const ISSUER: &str = "https://warden.test";
pub const IDP: &str = "https://idp.test";
pub const HR: &str = "https://hr.example";
pub const MAIL: &str = "https://mail.example";
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const TXN: &str = "urn:ietf:params:oauth:token-type:txn_token";
pub const BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const SPIFFE_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";
pub const WORKLOAD: &str = "spiffe://example.org/agent";
pub const SECRET: &str = "s3cret value+/";

pub const POLICY: &str = r#"
@id("hr")
permit(principal, action == Warden::Action::"token/exchange", resource == Warden::Audience::"https://hr.example")
  when { ["hr.read", "hr.write"].containsAll(context.scopes) };
@id("mail-via-bot")
permit(principal, action == Warden::Action::"token/exchange", resource == Warden::Audience::"https://mail.example")
  when { context has actor && context.actor == "hr-bot" };
@id("alice-never-impersonated")
forbid(principal == Warden::User::"alice", action == Warden::Action::"token/exchange", resource)
  when { context.impersonation };
@id("no-carol")
forbid(principal == Warden::User::"carol", action, resource);
"#;

pub fn sha256_hex(s: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Env {
    pub gw: RunningGateway,
    pub idp: EcKey,
    pub client_key: EcKey,
    pub svid_key: EcKey,
    pub plain_leaf: Leaf,
    pub svid_leaf: Leaf,
    pub stranger_leaf: Leaf,
    pub server_root: reqwest::Certificate,
    pub http: reqwest::Client,
    _jwks: HttpServer,
    _dir: tempfile::TempDir,
}

impl Env {
    pub async fn start(policy: bool) -> Env {
        let idp = EcKey::generate();
        let client_key = EcKey::generate();
        let svid_key = EcKey::generate();
        let published = json!({"keys": [idp.public_jwk("i1")]});
        let jwks = http_server(move |_req| {
            let body = published.clone();
            async move { json_resp(200, &body) }
        })
        .await;
        let ca = Ca::new("example.org");
        let plain_leaf = ca.leaf(&[]);
        let svid_leaf = ca.leaf(&[WORKLOAD]);
        let stranger_leaf = ca.leaf(&["spiffe://example.org/stranger"]);
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n).display().to_string();
        let mut svid_jwk = svid_key.public_jwk("s1");
        svid_jwk["use"] = json!("jwt-svid");
        std::fs::write(path("bundle.json"), json!({"keys": [svid_jwk], "spiffe_sequence": 1}).to_string()).unwrap();
        std::fs::write(path("ca.pem"), ca.pem()).unwrap();
        std::fs::write(path("client-jwks.json"), json!({"keys": [client_key.public_jwk("c1")]}).to_string()).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().self_signed(&server_key).unwrap();
        std::fs::write(path("server.crt"), server_cert.pem()).unwrap();
        std::fs::write(path("server.key"), server_key.serialize_pem()).unwrap();
        let policy = if policy { format!("  policy: {{inline: [{}]}}\n", json!(POLICY)) } else { String::new() };
        let all = "[hr.read, hr.write, mail.send]";
        let yaml = format!(
            r#"
listeners:
  - {{name: main, address: "127.0.0.1:0"}}
  - name: tls
    address: "127.0.0.1:0"
    tls:
      certFile: "{crt}"
      keyFile: "{key}"
      clientAuth:
        mode: optional
        caFiles: ["{ca}"]
        trustDomains: [{{name: example.org, bundleFile: "{ca}"}}]
admin: {{address: "127.0.0.1:0"}}
accessLog: off
virtualServers:
  - {{name: main, path: /mcp, backends: [{{name: clock, builtin: clock}}]}}
tokenService:
  issuer: {ISSUER}
  tokenLifetime: 5m
  subjectIssuers: [{{issuer: "{IDP}", jwksUrl: "http://{jwks}/jwks"}}]
  spiffe: {{trustDomains: [{{name: example.org, bundleFile: "{bundle}"}}]}}
  clients:
    - {{id: secret-agent, secretHash: "sha256:{h}", audiences: [{HR}, {MAIL}], scopes: {all}}}
    - {{id: pk-agent, jwksFile: "{cj}", audiences: [{HR}, {MAIL}], scopes: {all}}}
    - {{id: workload, spiffeId: "{WORKLOAD}", audiences: [{HR}], scopes: {all}}}
    - {{id: mtls-agent, certificateThumbprint: "{x5t}", audiences: [{HR}], scopes: {all}}}
    - {{id: impersonator, secretHash: "sha256:{h}", mayImpersonate: true, audiences: [{HR}], scopes: {all}}}
    - {{id: lonely, secretHash: "sha256:{h}"}}
{policy}"#,
            crt = path("server.crt"),
            key = path("server.key"),
            ca = path("ca.pem"),
            jwks = jwks.addr,
            bundle = path("bundle.json"),
            h = sha256_hex(SECRET),
            cj = path("client-jwks.json"),
            x5t = plain_leaf.x5t(),
        );
        let gw = start_in_process(&yaml, &[]).await;
        let server_root = reqwest::Certificate::from_pem(server_cert.pem().as_bytes()).unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Env {
            gw,
            idp,
            client_key,
            svid_key,
            plain_leaf,
            svid_leaf,
            stranger_leaf,
            server_root,
            http,
            _jwks: jwks,
            _dir: dir,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("{}/oauth/token", self.gw.base_url())
    }

    /// An access token of the subject issuer for the token service.
    pub fn subject(&self, sub: &str, scope: &str, edit: impl FnOnce(&mut Value)) -> String {
        let t = now();
        let mut c = json!({
            "iss": IDP, "sub": sub, "aud": ISSUER, "iat": t, "exp": t + 3600, "scope": scope,
            "client_id": "web-app", "jti": random_id(),
        });
        edit(&mut c);
        token(&self.idp, "i1", &c)
    }

    pub fn alice(&self) -> String {
        self.subject("alice", "hr.read hr.write mail.send other", |_| {})
    }

    /// A `private_key_jwt` assertion of `pk-agent`, adjusted by `edit`.
    pub fn assertion(&self, edit: impl FnOnce(&mut Value)) -> String {
        let t = now();
        let mut c =
            json!({"iss": "pk-agent", "sub": "pk-agent", "aud": ISSUER, "iat": t, "exp": t + 60, "jti": random_id()});
        edit(&mut c);
        jws(&json!({"alg": "ES256", "kid": "c1", "typ": "JWT"}), &c, &self.client_key.enc, Algorithm::ES256)
    }

    /// A JWT-SVID of `sub` for `aud`.
    pub fn svid(&self, sub: &str, aud: &str) -> String {
        let t = now();
        let c = json!({"sub": sub, "aud": [aud], "iat": t, "exp": t + 300});
        jws(&json!({"alg": "ES256", "kid": "s1", "typ": "JWT"}), &c, &self.svid_key.enc, Algorithm::ES256)
    }

    /// POSTs a form to the token endpoint with `client`'s authentication.
    pub async fn post_with(&self, http: &reqwest::Client, url: &str, auth: Auth<'_>, form: &[(&str, &str)]) -> Resp {
        let mut form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut rb = http.post(url);
        match auth {
            Auth::Basic(id) => rb = rb.basic_auth(urlencode(id), Some(urlencode(SECRET))),
            Auth::Post(id) => {
                form.push(("client_id".into(), id.into()));
                form.push(("client_secret".into(), SECRET.into()));
            }
            Auth::Assertion(ty, a) => {
                form.push(("client_assertion_type".into(), ty.into()));
                form.push(("client_assertion".into(), a.to_string()));
            }
            Auth::ClientId(id) => form.push(("client_id".into(), id.into())),
            Auth::None => {}
        }
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let r = rb.header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        Resp { status, headers, body }
    }

    pub async fn post(&self, auth: Auth<'_>, form: &[(&str, &str)]) -> Resp {
        self.post_with(&self.http, &self.endpoint(), auth, form).await
    }

    /// Exchanges `subject` for `aud` (and `extra` parameters) as `secret-agent`.
    pub async fn exchange(&self, auth: Auth<'_>, subject: &str, extra: &[(&str, &str)]) -> Resp {
        let mut form = vec![("grant_type", GRANT), ("subject_token", subject), ("subject_token_type", AT)];
        form.extend_from_slice(extra);
        self.post(auth, &form).await
    }

    /// The TLS listener's token endpoint and a client presenting `leaf`.
    pub fn tls(&self, leaf: Option<&Leaf>) -> (reqwest::Client, String) {
        let mut b = reqwest::Client::builder().no_proxy().add_root_certificate(self.server_root.clone());
        if let Some(l) = leaf {
            b = b.identity(l.identity());
        }
        let (_, addr) = self.gw.listeners.iter().find(|(n, _)| n == "tls").unwrap();
        (b.build().unwrap(), format!("https://{addr}/oauth/token"))
    }

    /// Verifies an issued token with the keys Warden publishes; its claims.
    pub async fn verify(&self, token: &str, aud: &str) -> Value {
        let jwks: jsonwebtoken::jwk::JwkSet =
            self.http.get(format!("{}/oauth/jwks", self.gw.base_url())).send().await.unwrap().json().await.unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("kid published");
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[aud]);
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v).unwrap().claims
    }
}

/// One form parameter.
pub type Pair<'a> = (&'a str, &'a str);
/// A form.
pub type Form<'a> = Vec<Pair<'a>>;

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Basic(&'a str),
    Post(&'a str),
    Assertion(&'a str, &'a str),
    ClientId(&'a str),
    None,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// Asserts success; the issued token.
    pub fn ok(&self, case: &str) -> String {
        assert_eq!(self.status, 200, "{case}: {self:?}");
        assert_eq!(self.headers.get("cache-control").unwrap(), "no-store", "{case}");
        self.body["access_token"].as_str().unwrap().to_string()
    }

    /// Asserts an OAuth error with `code` and a fixed description.
    pub fn refused(&self, case: &str, status: u16, code: &str) {
        assert_eq!((self.status, self.body["error"].as_str()), (status, Some(code)), "{case}: {self:?}");
        assert_eq!(self.headers.get("cache-control").unwrap(), "no-store", "{case}");
        let d = self.body["error_description"].as_str().unwrap_or("");
        for leak in ["eyJ", "kid", "signature", "Invalid", "alice", "jwks", "hr-bot", "sha256"] {
            assert!(!d.contains(leak), "{case}: description leaks {leak:?}: {d}");
        }
        if status == 401 {
            assert!(self.headers.get("www-authenticate").unwrap().to_str().unwrap().starts_with("Basic"), "{case}");
        }
    }
}
