//! Validation of `devIdentityProvider`: users and pre-registered clients.

use std::collections::BTreeSet;
use std::time::Duration;

use super::model::Problems;
use super::raw_token::RawDevIdp;
use super::token::DevIdpSettings;

/// Default lifetime of the development IdP's access tokens.
const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Default lifetime of its refresh tokens.
const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

pub(super) fn validate_dev_idp(r: &RawDevIdp, p: &mut Problems) -> DevIdpSettings {
    let at = "devIdentityProvider";
    let mut names = BTreeSet::new();
    for (i, u) in r.users.iter().enumerate() {
        if u.username.trim().is_empty() || !names.insert(u.username.clone()) {
            p.push(format!("{at}.users[{i}].username"), "empty or duplicate user name");
        }
        if u.password.is_empty() {
            p.push(format!("{at}.users[{i}].password"), "must not be empty");
        }
    }
    let mut ids = BTreeSet::new();
    for (i, c) in r.clients.iter().enumerate() {
        if c.id.trim().is_empty() || !ids.insert(c.id.clone()) {
            p.push(format!("{at}.clients[{i}].id"), "empty or duplicate client id");
        }
        if c.id.starts_with("http://") || c.id.starts_with("https://") || c.id.starts_with("dcr-") {
            p.push(
                format!("{at}.clients[{i}].id"),
                "URLs name client metadata documents and `dcr-` registered clients; choose another id",
            );
        }
        for (j, u) in c.redirect_uris.iter().enumerate() {
            if !crate::idp::redirect_uri_allowed(u) {
                p.push(
                    format!("{at}.clients[{i}].redirectUris[{j}]"),
                    "must be https, loopback http or a reverse-domain private scheme, without fragment",
                );
            }
        }
        if c.secret.is_none() && !c.scopes.is_empty() {
            p.push(format!("{at}.clients[{i}].scopes"), "client credentials need a `secret`");
        }
        if c.secret.is_none() && c.redirect_uris.is_empty() {
            p.push(format!("{at}.clients[{i}]"), "a public client needs `redirectUris`");
        }
    }
    let access_token_lifetime = r.access_token_lifetime.map_or(ACCESS_TOKEN_LIFETIME, |d| d.0);
    let refresh_token_lifetime = r.refresh_token_lifetime.map_or(REFRESH_TOKEN_LIFETIME, |d| d.0);
    if access_token_lifetime.is_zero() {
        p.push(format!("{at}.accessTokenLifetime"), "must be positive");
    }
    if refresh_token_lifetime.is_zero() {
        p.push(format!("{at}.refreshTokenLifetime"), "must be positive");
    }
    DevIdpSettings { raw: r.clone(), access_token_lifetime, refresh_token_lifetime }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use crate::config::{ConfigError, DEFAULT_CONFIG_YAML, load_str};

    fn problems(idp: &str) -> Vec<String> {
        let yaml = format!(
            "listeners: [{{address: '127.0.0.1:1'}}]\nvirtualServers: [{{name: a, path: /mcp, backends: [{{name: b, builtin: clock}}]}}]\ndevIdentityProvider:\n{idp}"
        );
        match load_str(&yaml, "t", &|_| None) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid { problems, .. }) => problems,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn users_and_clients_are_checked_with_their_key_paths() {
        let p = problems(
            "  users: [{username: a, password: ''}, {username: a, password: x}]\n  clients:\n    - {id: https://x.example/c, redirectUris: ['http://app.example/cb']}\n    - {id: agent, scopes: [s]}\n",
        );
        for want in [
            "devIdentityProvider.users[0].password: must not be empty",
            "devIdentityProvider.users[1].username: empty or duplicate user name",
            "devIdentityProvider.clients[0].id: URLs name",
            "devIdentityProvider.clients[0].redirectUris[0]: must be https",
            "devIdentityProvider.clients[1].scopes: client credentials need a `secret`",
        ] {
            assert!(p.iter().any(|l| l.starts_with(want)), "missing {want:?} in {p:?}");
        }
        assert!(problems("  users: [{username: a, password: a}]\n").is_empty());
    }

    #[test]
    fn the_embedded_default_runs_the_development_idp_behind_auth() {
        let c = load_str(DEFAULT_CONFIG_YAML, "default", &|_| None).unwrap_or_else(|e| panic!("{e}"));
        let idp = c.dev_idp.as_ref().unwrap_or_else(|| panic!("no dev IdP"));
        assert!(idp.raw.users.iter().any(|u| u.username == "alice" && u.password == "alice"));
        let ts = c.token_service.as_ref().unwrap_or_else(|| panic!("no token service"));
        assert_eq!(ts.issuer, "http://127.0.0.1:8080");
        let auth = c.virtual_servers[0].auth.as_ref().unwrap_or_else(|| panic!("/mcp is not protected"));
        assert_eq!(auth.jwt[0].issuer, ts.issuer, "/mcp trusts Warden's own issuer");
        assert!(c.listeners[0].address.ip().is_loopback());
    }
}
