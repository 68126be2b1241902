//! What the exchange endpoint keeps between requests, per token-service
//! configuration: the subject issuers' key stores, the SPIFFE bundles and
//! each `private_key_jwt` client's keys. Built on the first exchange after
//! a (re)load and dropped with the configuration it was built for.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

use crate::auth::jwks::KeyStore;
use crate::auth::jwt::JwtProvider;
use crate::auth::svid_trust::SvidTrust;
use crate::config::TokenServiceSettings;
use crate::config::auth::KeySource;

/// Verifiers of one token-service configuration.
pub struct ExchangeState {
    /// `tokenService.subjectIssuers`.
    pub providers: Vec<JwtProvider>,
    /// `tokenService.spiffe` trust domains (JWT-SVIDs).
    pub svid: Option<Arc<SvidTrust>>,
    /// Keys of `private_key_jwt` clients, by client id.
    pub client_keys: HashMap<String, Arc<KeyStore>>,
}

static HTTP: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
});

/// The state of `ts` (built on first use, dropped with the service, which a
/// reload replaces).
pub fn state_for(ts: &crate::token::TokenService) -> Arc<ExchangeState> {
    ts.exchange_state.get_or_init(|| Arc::new(build(&ts.settings))).clone()
}

fn build(settings: &TokenServiceSettings) -> ExchangeState {
    let http = HTTP.clone();
    let providers = settings
        .subject_issuers
        .iter()
        .map(|p| {
            let ks = KeyStore::new(&p.issuer, p.keys.clone(), http.clone(), p.refresh_interval, p.min_refetch_interval);
            ks.start();
            JwtProvider::new(p.clone(), ks)
        })
        .collect();
    let svid = settings
        .spiffe
        .as_ref()
        .filter(|s| !s.trust_domains.is_empty())
        .map(|s| SvidTrust::start(&s.trust_domains, &http));
    let mut client_keys = HashMap::new();
    for c in &settings.clients {
        let source = if let Some(u) = c.jwks_url.as_deref().and_then(|u| url::Url::parse(u).ok()) {
            KeySource::Url(u)
        } else if let Some(set) = c.jwks.clone().and_then(|j| serde_json::from_value::<JwkSet>(j).ok()) {
            KeySource::Static(set)
        } else {
            continue;
        };
        let ks = KeyStore::new(&c.id, source, http.clone(), Duration::from_secs(300), Duration::from_secs(10));
        ks.start();
        client_keys.insert(c.id.clone(), ks);
    }
    ExchangeState { providers, svid, client_keys }
}

impl std::fmt::Debug for ExchangeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeState")
            .field("providers", &self.providers.len())
            .field("client_keys", &self.client_keys.len())
            .finish_non_exhaustive()
    }
}
