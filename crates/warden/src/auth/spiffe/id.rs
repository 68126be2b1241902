//! SPIFFE IDs and trust domain names, parsed by exactly the rules of the
//! SPIFFE-ID specification (standards §6):
//!
//! - scheme `spiffe://`, lowercase;
//! - trust domain: non-empty, lowercase `[a-z0-9._-]`, at most 255 bytes, no
//!   port and no userinfo;
//! - path: empty, or `/`-separated segments of `[a-zA-Z0-9._-]`, none empty,
//!   `.` or `..`, no trailing slash, no percent-encoding;
//! - no query and no fragment;
//! - at most 2048 bytes in total.
//!
//! Nothing is normalised: an ID that is not already in canonical form is
//! refused rather than rewritten, so two equal IDs are always equal strings.

use std::fmt;
use std::str::FromStr;

use super::SpiffeError;

/// The URI scheme and separator every SPIFFE ID starts with.
pub const SCHEME_PREFIX: &str = "spiffe://";
/// Longest SPIFFE ID accepted, in bytes (SPIFFE-ID §2.3).
pub const MAX_ID_BYTES: usize = 2048;
/// Longest trust domain name accepted, in bytes (the URI host limit).
pub const MAX_TRUST_DOMAIN_BYTES: usize = 255;

/// Which rule a SPIFFE ID or trust domain name broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The input is empty.
    #[error("SPIFFE ID is empty")]
    Empty,
    /// The whole ID is longer than [`MAX_ID_BYTES`].
    #[error("SPIFFE ID is {0} bytes long; at most 2048 are allowed")]
    TooLong(usize),
    /// The ID does not start with the lowercase `spiffe://`.
    #[error("SPIFFE ID must start with the scheme `spiffe://` (lowercase)")]
    WrongScheme,
    /// The ID has a `?query` part.
    #[error("SPIFFE ID must not have a query")]
    Query,
    /// The ID has a `#fragment` part.
    #[error("SPIFFE ID must not have a fragment")]
    Fragment,
    /// The trust domain name is empty.
    #[error("trust domain name is empty")]
    EmptyTrustDomain,
    /// The trust domain name is longer than [`MAX_TRUST_DOMAIN_BYTES`].
    #[error("trust domain name is {0} bytes long; at most 255 are allowed")]
    TrustDomainTooLong(usize),
    /// The authority carries `user@`.
    #[error("trust domain must not carry userinfo (`@`)")]
    UserInfo,
    /// The authority carries `:port`.
    #[error("trust domain must not carry a port (`:`)")]
    Port,
    /// The trust domain name has a character outside lowercase `[a-z0-9._-]`.
    #[error("trust domain name has the character {0:?}; only lowercase a-z, 0-9, '.', '_' and '-' are allowed")]
    TrustDomainChar(char),
    /// The path has `%`; percent-encoding is not allowed.
    #[error("SPIFFE ID path must not be percent-encoded")]
    PercentEncoded,
    /// The path has a character outside `[a-zA-Z0-9._-]`.
    #[error("SPIFFE ID path has the character {0:?}; only a-z, A-Z, 0-9, '.', '_' and '-' are allowed")]
    PathChar(char),
    /// The path has `//`.
    #[error("SPIFFE ID path has an empty segment")]
    EmptySegment,
    /// The path has a `.` or `..` segment.
    #[error("SPIFFE ID path has a '.' or '..' segment")]
    DotSegment,
    /// The path ends with `/`.
    #[error("SPIFFE ID path must not end with '/'")]
    TrailingSlash,
    /// A path given on its own does not start with `/`.
    #[error("SPIFFE ID path must be empty or start with '/'")]
    RelativePath,
    /// A trust domain was expected but the ID has a path.
    #[error("a trust domain ID must not have a path")]
    UnexpectedPath,
}

/// A trust domain name, such as `example.org`: the authority of a SPIFFE ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Parses a bare trust domain name (`example.org`, not `spiffe://example.org`).
    pub fn parse(name: &str) -> Result<Self, SpiffeError> {
        check_trust_domain(name)?;
        Ok(Self(name.to_owned()))
    }

    /// Parses either a bare name or a trust domain ID (`spiffe://example.org`,
    /// with no path), the form the Workload API uses as bundle map keys.
    pub fn parse_name_or_id(input: &str) -> Result<Self, SpiffeError> {
        if input.starts_with(SCHEME_PREFIX) {
            let id = SpiffeId::parse(input)?;
            if !id.path.is_empty() {
                return Err(IdError::UnexpectedPath.into());
            }
            Ok(id.trust_domain)
        } else {
            Self::parse(input)
        }
    }

    /// The name, e.g. `example.org`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trust domain's own SPIFFE ID, e.g. `spiffe://example.org`.
    pub fn id_string(&self) -> String {
        format!("{SCHEME_PREFIX}{}", self.0)
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TrustDomain {
    type Err = SpiffeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A SPIFFE ID: `spiffe://<trust domain><path>`, where the path is empty or
/// `/seg/seg…`. Displaying it gives back exactly the parsed string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    trust_domain: TrustDomain,
    path: String,
}

impl SpiffeId {
    /// Parses a SPIFFE ID by the rules in this module's documentation.
    pub fn parse(input: &str) -> Result<Self, SpiffeError> {
        Ok(parse_id(input)?)
    }

    /// Builds an ID from a trust domain and a path (`""` or `/a/b`), checking
    /// the path rules and the total length.
    pub fn new(trust_domain: TrustDomain, path: &str) -> Result<Self, SpiffeError> {
        if !path.is_empty() && !path.starts_with('/') {
            return Err(IdError::RelativePath.into());
        }
        check_path(path)?;
        let len = SCHEME_PREFIX.len() + trust_domain.0.len() + path.len();
        if len > MAX_ID_BYTES {
            return Err(IdError::TooLong(len).into());
        }
        Ok(Self { trust_domain, path: path.to_owned() })
    }

    /// The trust domain the ID belongs to.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The path: empty for a trust domain's own ID, else `/seg/seg…`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the ID belongs to `trust_domain`.
    pub fn is_member_of(&self, trust_domain: &TrustDomain) -> bool {
        &self.trust_domain == trust_domain
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME_PREFIX}{}{}", self.trust_domain.0, self.path)
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for SpiffeId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SpiffeId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

pub(super) fn parse_id(input: &str) -> Result<SpiffeId, IdError> {
    if input.is_empty() {
        return Err(IdError::Empty);
    }
    if input.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong(input.len()));
    }
    let rest = input.strip_prefix(SCHEME_PREFIX).ok_or(IdError::WrongScheme)?;
    // A query or fragment anywhere is refused before the parts are looked at,
    // so `spiffe://td?x` reports the query rather than a bad character.
    if rest.contains('?') {
        return Err(IdError::Query);
    }
    if rest.contains('#') {
        return Err(IdError::Fragment);
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(IdError::UserInfo);
    }
    if authority.contains(':') {
        return Err(IdError::Port);
    }
    check_trust_domain(authority)?;
    check_path(path)?;
    Ok(SpiffeId { trust_domain: TrustDomain(authority.to_owned()), path: path.to_owned() })
}

fn check_trust_domain(name: &str) -> Result<(), IdError> {
    if name.is_empty() {
        return Err(IdError::EmptyTrustDomain);
    }
    if name.len() > MAX_TRUST_DOMAIN_BYTES {
        return Err(IdError::TrustDomainTooLong(name.len()));
    }
    match name.chars().find(|c| !is_trust_domain_char(*c)) {
        Some('@') => Err(IdError::UserInfo),
        Some(':') => Err(IdError::Port),
        Some(c) => Err(IdError::TrustDomainChar(c)),
        None => Ok(()),
    }
}

/// Checks a path that is empty or starts with `/`.
fn check_path(path: &str) -> Result<(), IdError> {
    let Some(segments) = path.strip_prefix('/') else {
        return Ok(()); // empty: the caller guarantees it is "" or starts with '/'
    };
    let mut segments = segments.split('/').peekable();
    while let Some(segment) = segments.next() {
        if segment.is_empty() {
            return Err(if segments.peek().is_none() { IdError::TrailingSlash } else { IdError::EmptySegment });
        }
        if segment == "." || segment == ".." {
            return Err(IdError::DotSegment);
        }
        match segment.chars().find(|c| !is_path_char(*c)) {
            Some('%') => return Err(IdError::PercentEncoded),
            Some(c) => return Err(IdError::PathChar(c)),
            None => {}
        }
    }
    Ok(())
}

fn is_trust_domain_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

#[cfg(test)]
mod tests;
