//! The parameters of one RFC 8693 request (§2.1), parsed and checked for
//! shape only: required ones present, single-valued ones given once,
//! token types known, `resource` an absolute URI without fragment.

use std::collections::BTreeSet;

use super::super::http::Form;
use super::error::ExchangeError;

/// Token type URIs (RFC 8693 §3).
pub mod types {
    /// An OAuth access token.
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    /// An OpenID Connect ID token.
    pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
    /// Any JWT.
    pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
    /// A transaction token (draft-ietf-oauth-transaction-tokens).
    pub const TXN_TOKEN: &str = "urn:ietf:params:oauth:token-type:txn_token";
}

/// What a subject or actor token claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    /// `access_token`: a JWT access token (or a JWT-SVID, or Warden's own).
    AccessToken,
    /// `id_token`: an ID token of a configured issuer.
    IdToken,
    /// `jwt`: any of the above.
    Jwt,
}

/// What the client asks to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputType {
    /// An access token (`token_type=Bearer`).
    AccessToken,
    /// A JWT (`token_type=N_A`).
    Jwt,
    /// A transaction token (`token_type=N_A`).
    TxnToken,
}

impl OutputType {
    /// The `issued_token_type` URI.
    pub fn uri(self) -> &'static str {
        match self {
            OutputType::AccessToken => types::ACCESS_TOKEN,
            OutputType::Jwt => types::JWT,
            OutputType::TxnToken => types::TXN_TOKEN,
        }
    }
}

/// A parsed exchange request.
#[derive(Debug)]
pub struct ExchangeRequest {
    /// `subject_token`.
    pub subject_token: String,
    /// `subject_token_type`.
    pub subject_type: InputType,
    /// `actor_token` and `actor_token_type`.
    pub actor: Option<(String, InputType)>,
    /// The distinct values of `audience` and `resource`, in order.
    pub targets: Vec<String>,
    /// `scope`, when given.
    pub scope: Option<BTreeSet<String>>,
    /// `requested_token_type` (default: access token).
    pub output: OutputType,
}

/// Most scopes one request may name.
const MAX_SCOPES: usize = 64;

fn one<'a>(form: &'a Form, name: &str) -> Result<Option<&'a str>, ExchangeError> {
    form.one(name).map_err(|_| ExchangeError::request("a parameter was given more than once"))
}

fn input_type(v: &str, public: &'static str) -> Result<InputType, ExchangeError> {
    match v {
        types::ACCESS_TOKEN => Ok(InputType::AccessToken),
        types::ID_TOKEN => Ok(InputType::IdToken),
        types::JWT => Ok(InputType::Jwt),
        _ => Err(ExchangeError::request(public)),
    }
}

impl ExchangeRequest {
    /// Parses `form` (the grant type already checked).
    pub fn parse(form: &Form) -> Result<ExchangeRequest, ExchangeError> {
        let subject_token = one(form, "subject_token")?.ok_or(ExchangeError::request("subject_token is required"))?;
        let subject_type = one(form, "subject_token_type")?
            .ok_or(ExchangeError::request("subject_token_type is required"))
            .and_then(|t| input_type(t, "unsupported subject_token_type"))?;
        let actor = match (one(form, "actor_token")?, one(form, "actor_token_type")?) {
            (Some(t), Some(ty)) => Some((t.to_string(), input_type(ty, "unsupported actor_token_type")?)),
            (Some(_), None) => return Err(ExchangeError::request("actor_token_type is required with actor_token")),
            (None, Some(_)) => return Err(ExchangeError::request("actor_token_type without actor_token")),
            (None, None) => None,
        };
        let output = match one(form, "requested_token_type")? {
            None | Some(types::ACCESS_TOKEN) => OutputType::AccessToken,
            Some(types::JWT) => OutputType::Jwt,
            Some(types::TXN_TOKEN) => OutputType::TxnToken,
            Some(_) => return Err(ExchangeError::request("unsupported requested_token_type")),
        };
        let mut targets: Vec<String> = Vec::new();
        for r in form.all("resource") {
            let ok = url::Url::parse(r).is_ok_and(|u| u.fragment().is_none() && !u.cannot_be_a_base());
            if !ok {
                return Err(ExchangeError::Target {
                    public: "resource must be an absolute URI without fragment",
                    detail: format!("resource {:?}", r.chars().take(200).collect::<String>()),
                });
            }
        }
        for t in form.all("audience").into_iter().chain(form.all("resource")) {
            if !targets.iter().any(|x| x == t) {
                targets.push(t.to_string());
            }
        }
        let scope = match one(form, "scope")? {
            None => None,
            Some(s) => {
                let set: BTreeSet<String> = s.split(' ').filter(|x| !x.is_empty()).map(str::to_string).collect();
                let valid = |x: &String| {
                    x.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
                };
                if set.len() > MAX_SCOPES || !set.iter().all(valid) {
                    return Err(ExchangeError::Scope("malformed or too many scopes".into()));
                }
                Some(set)
            }
        };
        Ok(ExchangeRequest { subject_token: subject_token.to_string(), subject_type, actor, targets, scope, output })
    }

    /// The one audience: every `audience`/`resource` value must name it.
    pub fn audience(&self) -> Result<&str, ExchangeError> {
        match self.targets.as_slice() {
            [one] => Ok(one),
            [] => Err(ExchangeError::request("audience or resource is required")),
            _ => Err(ExchangeError::Target {
                public: "exactly one audience or resource is supported",
                detail: format!("{} distinct targets", self.targets.len()),
            }),
        }
    }
}
