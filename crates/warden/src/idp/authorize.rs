//! The authorization endpoint: `GET /oauth/authorize` checks the request
//! (authorization code, PKCE S256, exact redirect URI, `resource`, `scope`)
//! and shows the login page; `POST /oauth/authorize` checks the user and
//! redirects with `code`, `state` and `iss` (RFC 9207).
//!
//! Errors that cannot be sent to a verified redirect URI (unknown client,
//! redirect URI not registered) render an error page; the others go to the
//! redirect URI. The form carries a per-request CSRF token bound to a
//! browser cookie.

use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode};
use url::Url;

use super::clients::{self, ClientKind};
use super::page::{self, LoginView};
use super::{CODE_LIFETIME, Ctx, LOGIN_LIFETIME, hash, pick_resource, pkce, random_token, resources, same_secret};
use crate::config::raw_token::RawDevUser;
use crate::error::{Body, status_only};
use crate::token::http::{Form, OAuthRequest};

/// Cookie binding a login form to the browser that asked for it.
const BROWSER_COOKIE: &str = "warden_idp_browser";
/// Failed sign-ins allowed per login page.
const MAX_ATTEMPTS: u8 = 5;

/// A checked authorization request waiting for the user.
#[derive(Debug, Clone)]
pub(crate) struct PendingLogin {
    client: Arc<clients::Client>,
    redirect_uri: String,
    state: Option<String>,
    challenge: String,
    resource: String,
    scopes: Vec<String>,
    /// Hash of the browser cookie the form is bound to.
    browser: String,
    attempts: u8,
}

/// Why an authorization request is refused (the OAuth error code goes to
/// the client; the text is for logs).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthorizeError {
    /// A parameter is missing, repeated or malformed.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// `response_type` is not `code`.
    #[error("unsupported_response_type")]
    UnsupportedResponseType,
    /// The `resource` is not one Warden serves.
    #[error("invalid_target")]
    InvalidTarget,
    /// The user refused.
    #[error("access_denied")]
    AccessDenied,
}

impl AuthorizeError {
    fn code(&self) -> &'static str {
        match self {
            AuthorizeError::InvalidRequest(_) => "invalid_request",
            AuthorizeError::UnsupportedResponseType => "unsupported_response_type",
            AuthorizeError::InvalidTarget => "invalid_target",
            AuthorizeError::AccessDenied => "access_denied",
        }
    }

    fn description(&self) -> &'static str {
        match self {
            AuthorizeError::InvalidRequest(d) => d,
            AuthorizeError::UnsupportedResponseType => "only response_type=code",
            AuthorizeError::InvalidTarget => "resource is not a protected resource of this server",
            AuthorizeError::AccessDenied => "the user denied the request",
        }
    }
}

/// A 303 to `redirect_uri` with `params` and `iss` added to its query.
fn redirect(redirect_uri: &str, params: &[(&str, &str)], iss: &str) -> Response<Body> {
    let Ok(mut u) = Url::parse(redirect_uri) else {
        return page::error(StatusCode::BAD_REQUEST, "invalid redirect URI");
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        q.append_pair("iss", iss);
    }
    let mut r = status_only(StatusCode::SEE_OTHER);
    if let Ok(v) = HeaderValue::from_str(u.as_str()) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error_redirect(ctx: &Ctx<'_>, redirect_uri: &str, state: Option<&str>, e: &AuthorizeError) -> Response<Body> {
    tracing::info!(error = %e, "development IdP: authorization request refused");
    let mut params = vec![("error", e.code()), ("error_description", e.description())];
    if let Some(s) = state {
        params.push(("state", s));
    }
    redirect(redirect_uri, &params, ctx.ts.issuer())
}

/// `GET /oauth/authorize`.
pub(crate) async fn start(ctx: &Ctx<'_>, req: &OAuthRequest<'_>) -> Response<Body> {
    let q = Form::parse(req.query.as_deref().unwrap_or("").as_bytes());
    let one = |k: &str| q.one(k).map(|v| v.map(str::to_string));
    // Until the client and its redirect URI are verified, errors stay here.
    let (Ok(client_id), Ok(redirect_uri), Ok(state)) = (one("client_id"), one("redirect_uri"), one("state")) else {
        return page::error(StatusCode::BAD_REQUEST, "A parameter is repeated.");
    };
    let Some(client_id) = client_id else { return page::error(StatusCode::BAD_REQUEST, "client_id is missing.") };
    let client = match clients::resolve(ctx, &client_id).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(error = %e, "development IdP: authorization request from an unknown client");
            return page::error(StatusCode::BAD_REQUEST, "Unknown client, or its metadata could not be used.");
        }
    };
    let redirect_uri = match redirect_uri {
        Some(r) if client.redirect_uris.contains(&r) => r,
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        _ => return page::error(StatusCode::BAD_REQUEST, "The redirect URI is not registered for this client."),
    };
    let checked = check_request(ctx, req, &q);
    let (challenge, resource, scopes) = match checked {
        Ok(x) => x,
        Err(e) => return error_redirect(ctx, &redirect_uri, state.as_deref(), &e),
    };
    let (browser, set_cookie) = browser_binding(req);
    let pending =
        PendingLogin { client, redirect_uri, state, challenge, resource, scopes, browser: hash(&browser), attempts: 0 };
    let mut r = login_page(ctx, pending, None, "");
    if let Some(cookie) = set_cookie {
        let secure = if ctx.ts.issuer().starts_with("https:") { "; Secure" } else { "" };
        if let Ok(v) =
            HeaderValue::from_str(&format!("{BROWSER_COOKIE}={cookie}; Path=/oauth; HttpOnly; SameSite=Lax{secure}"))
        {
            r.headers_mut().insert(http::header::SET_COOKIE, v);
        }
    }
    r
}

/// Checks the rest of the request: `(code_challenge, resource, scopes)`.
fn check_request(
    ctx: &Ctx<'_>,
    req: &OAuthRequest<'_>,
    q: &Form,
) -> Result<(String, String, Vec<String>), AuthorizeError> {
    let one = |k: &str| q.one(k).map_err(|_| AuthorizeError::InvalidRequest("a parameter is repeated"));
    match one("response_type")? {
        Some("code") => {}
        Some(_) => return Err(AuthorizeError::UnsupportedResponseType),
        None => return Err(AuthorizeError::InvalidRequest("response_type is missing")),
    }
    let challenge = one("code_challenge")?.ok_or(AuthorizeError::InvalidRequest("PKCE code_challenge is required"))?;
    if one("code_challenge_method")? != Some("S256") {
        return Err(AuthorizeError::InvalidRequest("code_challenge_method must be S256"));
    }
    if !pkce::challenge_well_formed(challenge) {
        return Err(AuthorizeError::InvalidRequest("malformed code_challenge"));
    }
    let all = resources(ctx.rt, req.listener);
    let resource = pick_resource(&all, &q.all("resource")).ok_or(AuthorizeError::InvalidTarget)?;
    let asked: Vec<String> = one("scope")?.unwrap_or("").split_whitespace().map(str::to_string).collect();
    Ok((challenge.to_string(), resource.url, granted_scopes(&asked, &resource.scopes)))
}

/// The scopes granted for a request: those asked for that the resource
/// supports (plus the OpenID basics), or every supported one when none is
/// asked for. The user's own limit applies at sign-in.
fn granted_scopes(asked: &[String], supported: &[String]) -> Vec<String> {
    const BASIC: [&str; 4] = ["openid", "profile", "email", "offline_access"];
    if asked.is_empty() {
        return supported.to_vec();
    }
    let mut out: Vec<String> = Vec::new();
    for s in asked {
        if (supported.contains(s) || BASIC.contains(&s.as_str())) && !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// The browser cookie's value, and the value to set when there was none.
fn browser_binding(req: &OAuthRequest<'_>) -> (String, Option<String>) {
    match cookie(req, BROWSER_COOKIE) {
        Some(v) if v.len() == 43 => (v, None),
        _ => {
            let v = random_token();
            (v.clone(), Some(v))
        }
    }
}

fn cookie(req: &OAuthRequest<'_>, name: &str) -> Option<String> {
    req.headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|h| {
        h.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    })
}

/// Stores `pending` under a fresh CSRF token and renders the form.
fn login_page(ctx: &Ctx<'_>, pending: PendingLogin, error: Option<&str>, username: &str) -> Response<Body> {
    let csrf = random_token();
    let kind = match pending.client.kind {
        ClientKind::Configured => "pre-registered client (devIdentityProvider.clients)",
        ClientKind::Dynamic => "dynamically registered client (unverified)",
        ClientKind::MetadataDocument => "client metadata document at its client_id URL",
    };
    let body = page::login(&LoginView {
        csrf: &csrf,
        client_id: &pending.client.id,
        client_name: pending.client.name.as_deref(),
        client_kind: kind,
        redirect_uri: &pending.redirect_uri,
        resource: &pending.resource,
        scopes: &pending.scopes,
        error,
        username,
    });
    ctx.state.logins.insert(hash(&csrf), LOGIN_LIFETIME, pending);
    page::html(StatusCode::OK, "Sign in", &body)
}

/// `POST /oauth/authorize`: the login form.
pub(crate) async fn login(ctx: &Ctx<'_>, req: &OAuthRequest<'_>) -> Response<Body> {
    let form = Form::parse(&req.body);
    let field = |k: &str| form.one(k).ok().flatten().unwrap_or("");
    let csrf = field("csrf");
    let pending = if csrf.is_empty() { None } else { ctx.state.logins.take(&hash(csrf)) };
    let Some(mut pending) = pending else {
        return page::error(StatusCode::BAD_REQUEST, "This sign-in page has expired or was already used.");
    };
    let browser = cookie(req, BROWSER_COOKIE).unwrap_or_default();
    if !same_secret(&hash(&browser), &pending.browser) {
        tracing::warn!("development IdP: login form posted without the browser cookie it was issued to");
        return page::error(StatusCode::FORBIDDEN, "This sign-in form was not issued to this browser.");
    }
    if field("deny") == "1" {
        return error_redirect(ctx, &pending.redirect_uri, pending.state.as_deref(), &AuthorizeError::AccessDenied);
    }
    let username = field("login");
    let Some(user) = check_user(&ctx.settings.raw.users, username, field("password")) else {
        tracing::info!(user = %username, "development IdP: wrong username or password");
        pending.attempts += 1;
        if pending.attempts >= MAX_ATTEMPTS {
            return error_redirect(ctx, &pending.redirect_uri, pending.state.as_deref(), &AuthorizeError::AccessDenied);
        }
        return login_page(ctx, pending, Some("Wrong username or password."), username);
    };
    let scopes = match &user.scopes {
        Some(allowed) => pending.scopes.iter().filter(|s| allowed.contains(s)).cloned().collect(),
        None => pending.scopes.clone(),
    };
    let code = random_token();
    let grant = super::grants::CodeGrant {
        client_id: pending.client.id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        challenge: pending.challenge.clone(),
        resource: pending.resource.clone(),
        scopes,
        username: user.username.clone(),
    };
    ctx.state.codes.insert(hash(&code), CODE_LIFETIME, grant);
    tracing::info!(user = %user.username, client_id = %pending.client.id, "development IdP: user signed in");
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &pending.state {
        params.push(("state", s));
    }
    redirect(&pending.redirect_uri, &params, ctx.ts.issuer())
}

/// The user with this name and password (compared in constant time).
fn check_user<'a>(users: &'a [RawDevUser], username: &str, password: &str) -> Option<&'a RawDevUser> {
    let user = users.iter().find(|u| u.username == username);
    // Compare even for unknown users, so timing does not tell which exist.
    let ok = same_secret(user.map_or("\u{0}", |u| u.password.as_str()), password);
    user.filter(|_| ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_granted() {
        let sup = vec!["mcp:tools".to_string()];
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(granted_scopes(&[], &sup), sup);
        assert_eq!(granted_scopes(&s(&["mcp:tools", "admin", "openid"]), &sup), s(&["mcp:tools", "openid"]));
    }
}
