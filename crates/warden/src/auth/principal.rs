//! The authenticated caller, as every later stage (policy, audit, token
//! exchange) sees it. Built once per request by the authenticator; nothing
//! downstream parses a token again.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

/// What kind of caller this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PrincipalKind {
    /// A person, from an IdP's access token.
    User,
    /// An agent or OAuth client acting for itself (client credentials).
    Agent,
    /// A workload with a SPIFFE identity (X.509-SVID or JWT-SVID).
    Workload,
    /// A client holding an API key.
    ApiKey,
    /// No credential (auth mode `optional`, or an exempt method).
    Anonymous,
}

/// How the principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum AuthMethod {
    /// A JWT access token from a configured provider.
    Jwt {
        /// Provider name.
        provider: String,
    },
    /// A JWT-SVID.
    JwtSvid,
    /// An X.509-SVID on the TLS connection.
    X509Svid,
    /// An API key.
    ApiKey {
        /// Key name (never the key).
        name: String,
    },
    /// Nothing.
    None,
}

/// What the credential is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Binding {
    /// A bearer credential.
    None,
    /// A DPoP key (RFC 9449), by its RFC 7638 thumbprint.
    Dpop {
        /// JWK thumbprint.
        jkt: String,
    },
    /// The client certificate (RFC 8705), by its SHA-256 thumbprint.
    Mtls {
        /// `x5t#S256`.
        x5t_s256: String,
    },
}

/// One link of a delegation chain (`act` claims, RFC 8693 §4.1), outermost
/// (the current actor) first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The actor's `sub`.
    pub subject: String,
    /// Its `iss`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Its `client_id`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The agent acting for a user, when one is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentIdentity {
    /// Agent id: a SPIFFE ID, an `agent_id` claim, or the OAuth client id.
    pub id: String,
    /// Where the id came from: `workload` (mTLS/JWT-SVID), `claim`, `act` or `client`.
    pub source: &'static str,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// Kind.
    pub kind: PrincipalKind,
    /// Subject: user id, client id, SPIFFE ID, or API key owner.
    pub subject: String,
    /// Token issuer (or SPIFFE trust domain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
    /// OAuth client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The agent acting for the subject, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentIdentity>,
    /// Delegation chain from `act`, current actor first.
    pub act: Vec<Actor>,
    /// SPIFFE ID of the workload on the connection (mTLS), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// How it authenticated.
    pub method: AuthMethod,
    /// What the credential is bound to.
    pub binding: Binding,
    /// Credential expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Extra attributes from the claim mapping.
    pub attributes: Arc<serde_json::Map<String, serde_json::Value>>,
}

impl Principal {
    /// The anonymous principal (with the connection's workload, if any).
    pub fn anonymous() -> Principal {
        Principal {
            kind: PrincipalKind::Anonymous,
            subject: "anonymous".into(),
            issuer: None,
            tenant: None,
            groups: Vec::new(),
            roles: Vec::new(),
            scopes: BTreeSet::new(),
            client_id: None,
            agent: None,
            act: Vec::new(),
            workload: None,
            method: AuthMethod::None,
            binding: Binding::None,
            expires_at: None,
            attributes: Arc::default(),
        }
    }

    /// A stable, opaque key for binding sessions and state handles to this
    /// principal: the same caller always gets the same key, another caller a
    /// different one. Not a secret (it is sealed inside session ids).
    pub fn binding_key(&self) -> String {
        // Every anonymous principal has the same key: computed once, since a
        // virtual server without authentication asks for it on every call.
        static ANONYMOUS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| Principal::anonymous().hash_key());
        if self.kind == PrincipalKind::Anonymous && self.issuer.is_none() && self.tenant.is_none() {
            return ANONYMOUS.clone();
        }
        self.hash_key()
    }

    fn hash_key(&self) -> String {
        use aws_lc_rs::digest;
        let mut ctx = digest::Context::new(&digest::SHA256);
        for part in [
            format!("{:?}", self.kind).as_str(),
            self.issuer.as_deref().unwrap_or(""),
            self.subject.as_str(),
            self.tenant.as_deref().unwrap_or(""),
        ] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let d = ctx.finish();
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
    }

    /// Whether every scope in `needed` was granted; returns the missing ones.
    pub fn missing_scopes<'a>(&self, needed: &'a [String]) -> Vec<&'a str> {
        needed.iter().filter(|s| !self.scopes.contains(s.as_str())).map(String::as_str).collect()
    }

    /// A short description for logs: kind and subject (never a credential).
    pub fn log_label(&self) -> String {
        match &self.agent {
            Some(a) => format!("{:?}:{} via {}", self.kind, self.subject, a.id),
            None => format!("{:?}:{}", self.kind, self.subject),
        }
    }
}
