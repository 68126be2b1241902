//! The development IdP's token-endpoint grants: `authorization_code` (PKCE,
//! single use, 60 s), `refresh_token` (rotating, bound to the client) and
//! `client_credentials` (pre-registered confidential clients, scopes within
//! the client's). Access tokens are `at+jwt` signed by the token service.

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::clients::{self, Client, ClientError};
use super::{Ctx, hash, pick_resource, pkce, random_token, resources};
use crate::config::raw_token::RawDevUser;
use crate::error::Body;
use crate::token::http::{Form, OAuthRequest, oauth_error, token_response};
use crate::token::now_secs;

/// An issued authorization code, stored under its hash.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: String,
    pub(crate) resource: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) username: String,
}

/// An issued refresh token, stored under its hash.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    client_id: String,
    resource: String,
    scopes: Vec<String>,
    username: String,
}

/// Why a grant is refused: the OAuth error code and a fixed description.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GrantError {
    /// `invalid_request`.
    #[error("invalid_request: {0}")]
    Request(&'static str),
    /// `invalid_client` (401).
    #[error("invalid_client: {0}")]
    Client(#[from] ClientError),
    /// `invalid_grant`.
    #[error("invalid_grant: {0}")]
    Grant(&'static str),
    /// `unauthorized_client`.
    #[error("unauthorized_client: {0}")]
    Unauthorized(&'static str),
    /// `invalid_scope`.
    #[error("invalid_scope")]
    Scope,
    /// `invalid_target`.
    #[error("invalid_target")]
    Target,
    /// Signing failed.
    #[error("server_error: {0}")]
    Server(String),
}

impl GrantError {
    fn response(&self) -> Response<Body> {
        tracing::info!(error = %self, "development IdP: token request refused");
        match self {
            GrantError::Request(d) => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some(d)),
            GrantError::Client(_) => {
                oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", Some("client authentication failed"))
            }
            GrantError::Grant(d) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", Some(d)),
            GrantError::Unauthorized(d) => oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", Some(d)),
            GrantError::Scope => oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", Some("scope not allowed")),
            GrantError::Target => oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_target",
                Some("resource is not a protected resource of this server"),
            ),
            GrantError::Server(_) => oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", None),
        }
    }
}

fn respond(r: Result<Value, GrantError>) -> Response<Body> {
    match r {
        Ok(body) => token_response(&body),
        Err(e) => e.response(),
    }
}

fn param<'f>(form: &'f Form, name: &'static str) -> Result<Option<&'f str>, GrantError> {
    form.one(name).map_err(|_| GrantError::Request("a parameter is repeated"))
}

fn scopes_of(form: &Form) -> Result<Option<Vec<String>>, GrantError> {
    Ok(param(form, "scope")?.map(|s| s.split_whitespace().map(str::to_string).collect()))
}

/// `authorization_code`.
pub(crate) async fn authorization_code(ctx: &Ctx<'_>, req: &OAuthRequest<'_>, form: &Form) -> Response<Body> {
    respond(code_grant(ctx, req, form).await)
}

async fn code_grant(ctx: &Ctx<'_>, req: &OAuthRequest<'_>, form: &Form) -> Result<Value, GrantError> {
    let client = clients::authenticate(ctx, &req.headers, form).await?;
    let code = param(form, "code")?.ok_or(GrantError::Request("code is required"))?;
    let verifier = param(form, "code_verifier")?.ok_or(GrantError::Request("code_verifier is required"))?;
    let redirect_uri = param(form, "redirect_uri")?;
    // Taken at once: a code is used at most once, even when the request fails.
    let grant = ctx.state.codes.take(&hash(code)).ok_or(GrantError::Grant("unknown, expired or used code"))?;
    if grant.client_id != client.id {
        return Err(GrantError::Grant("the code was issued to another client"));
    }
    if redirect_uri != Some(grant.redirect_uri.as_str()) {
        return Err(GrantError::Grant("redirect_uri differs from the authorization request"));
    }
    if !pkce::verify(verifier, &grant.challenge) {
        return Err(GrantError::Grant("PKCE verification failed"));
    }
    match form.all("resource").as_slice() {
        [] => {}
        [r] if *r == grant.resource => {}
        _ => return Err(GrantError::Target),
    }
    let user = find_user(ctx, &grant.username)?;
    let body = issue(ctx, &client, Some(user), &grant.resource, &grant.scopes)?;
    Ok(with_refresh(
        ctx,
        body,
        RefreshGrant {
            client_id: client.id.clone(),
            resource: grant.resource,
            scopes: grant.scopes,
            username: grant.username,
        },
    ))
}

/// `refresh_token`: rotating; the old token is gone once used.
pub(crate) async fn refresh_token(ctx: &Ctx<'_>, req: &OAuthRequest<'_>, form: &Form) -> Response<Body> {
    respond(refresh_grant(ctx, req, form).await)
}

async fn refresh_grant(ctx: &Ctx<'_>, req: &OAuthRequest<'_>, form: &Form) -> Result<Value, GrantError> {
    let client = clients::authenticate(ctx, &req.headers, form).await?;
    let token = param(form, "refresh_token")?.ok_or(GrantError::Request("refresh_token is required"))?;
    let grant =
        ctx.state.refresh.take(&hash(token)).ok_or(GrantError::Grant("unknown, expired or used refresh token"))?;
    if grant.client_id != client.id {
        return Err(GrantError::Grant("the refresh token was issued to another client"));
    }
    let scopes = match scopes_of(form)? {
        Some(asked) if asked.iter().all(|s| grant.scopes.contains(s)) => asked,
        Some(_) => return Err(GrantError::Scope),
        None => grant.scopes.clone(),
    };
    match form.all("resource").as_slice() {
        [] => {}
        [r] if *r == grant.resource => {}
        _ => return Err(GrantError::Target),
    }
    let user = find_user(ctx, &grant.username)?;
    let body = issue(ctx, &client, Some(user), &grant.resource, &scopes)?;
    Ok(with_refresh(ctx, body, RefreshGrant { scopes, ..grant }))
}

/// `client_credentials`: a pre-registered client with a secret, for itself.
pub(crate) async fn client_credentials(ctx: &Ctx<'_>, req: &OAuthRequest<'_>, form: &Form) -> Response<Body> {
    respond(credentials_grant(ctx, req, form).await)
}

async fn credentials_grant(ctx: &Ctx<'_>, req: &OAuthRequest<'_>, form: &Form) -> Result<Value, GrantError> {
    let client = clients::authenticate(ctx, &req.headers, form).await?;
    if client.secret.is_none() {
        return Err(GrantError::Unauthorized("client credentials need a confidential client"));
    }
    let scopes = match scopes_of(form)? {
        Some(asked) if asked.iter().all(|s| client.scopes.contains(s)) => asked,
        Some(_) => return Err(GrantError::Scope),
        None => client.scopes.clone(),
    };
    let resource = pick_resource(&resources(ctx.rt, req.listener), &form.all("resource")).ok_or(GrantError::Target)?;
    issue(ctx, &client, None, &resource.url, &scopes)
}

fn find_user<'a>(ctx: &Ctx<'a>, username: &str) -> Result<&'a RawDevUser, GrantError> {
    // A user removed from the configuration gets no more tokens.
    ctx.settings.raw.users.iter().find(|u| u.username == username).ok_or(GrantError::Grant("the user no longer exists"))
}

/// Claims a user's `claims` may not override.
const RESERVED: [&str; 12] =
    ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id", "cnf", "act", "may_act"];

/// Signs an access token and builds the token response (without refresh token).
fn issue(
    ctx: &Ctx<'_>,
    client: &Client,
    user: Option<&RawDevUser>,
    resource: &str,
    scopes: &[String],
) -> Result<Value, GrantError> {
    let now = now_secs();
    let lifetime = ctx.settings.access_token_lifetime.as_secs();
    let mut claims = Map::new();
    if let Some(u) = user {
        for (k, v) in &u.claims {
            if !RESERVED.contains(&k.as_str()) {
                claims.insert(k.clone(), v.clone());
            }
        }
        if let Some(n) = &u.name {
            claims.insert("name".into(), json!(n));
        }
        if let Some(e) = &u.email {
            claims.insert("email".into(), json!(e));
        }
        if !u.groups.is_empty() {
            claims.insert("groups".into(), json!(u.groups));
        }
        if !u.roles.is_empty() {
            claims.insert("roles".into(), json!(u.roles));
        }
    }
    let scope = scopes.join(" ");
    let sub = user.map_or(client.id.as_str(), |u| u.username.as_str());
    for (k, v) in [
        ("iss", json!(ctx.ts.issuer())),
        ("sub", json!(sub)),
        ("aud", json!(resource)),
        ("iat", json!(now)),
        ("exp", json!(now + lifetime)),
        ("jti", json!(random_token())),
        ("scope", json!(scope)),
        ("client_id", json!(client.id)),
    ] {
        claims.insert(k.into(), v);
    }
    let token = ctx.ts.sign("at+jwt", &Value::Object(claims)).map_err(|e| GrantError::Server(e.to_string()))?;
    tracing::info!(sub = %sub, client_id = %client.id, aud = %resource, "development IdP: access token issued");
    Ok(json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": scope}))
}

fn with_refresh(ctx: &Ctx<'_>, mut body: Value, grant: RefreshGrant) -> Value {
    let token = random_token();
    ctx.state.refresh.insert(hash(&token), ctx.settings.refresh_token_lifetime, grant);
    body["refresh_token"] = json!(token);
    body
}
