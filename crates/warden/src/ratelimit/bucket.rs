//! What a check is about ([`LimitContext`]), what it answers ([`Decision`]),
//! which buckets a request touches, and the GCRA step both stores share.
//!
//! A bucket is kept as its *theoretical arrival time* (TAT): the instant at
//! which it will be full again. With emission interval `T` (period / count)
//! and burst `B`, a request at `now` is allowed when
//! `max(TAT, now) + T - now <= T * B`, and then TAT moves there; otherwise it
//! must wait the excess. This is the classic token bucket, stored as one number.

use std::fmt::Write as _;
use std::time::Duration;

use super::config::{KeyPart, Rule};

/// The request being checked, as the rate-limit stage sees it.
#[derive(Debug, Clone, Copy)]
pub struct LimitContext<'a> {
    /// A stable key for the caller (e.g. issuer + subject); never a token.
    pub principal_key: &'a str,
    /// The virtual server's name.
    pub virtual_server: &'a str,
    /// The backend the request is routed to, when known.
    pub backend: Option<&'a str>,
    /// The JSON-RPC method.
    pub method: &'a str,
    /// The tool called (`tools/call`), when there is one.
    pub tool: Option<&'a str>,
}

/// The answer to a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Allow,
    /// Refuse with 429 (or a JSON-RPC error) and `Retry-After`.
    Limited {
        /// How long until the request would be allowed.
        retry_after: Duration,
        /// The rule that refused it (the most restrictive one).
        rule: String,
    },
}

impl Decision {
    /// `true` for [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// The `Retry-After` header value: whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Decision::Allow => None,
            Decision::Limited { retry_after, .. } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Some(secs.max(1))
            }
        }
    }
}

/// One bucket a request touches: which rule, and the key within the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Index into the limiter's rules.
    pub rule: usize,
    /// Store key (without the Redis prefix).
    pub key: String,
    /// Time for one token to come back.
    pub interval: Duration,
    /// Bucket size.
    pub burst: u32,
}

/// Whether `rule` limits this request.
pub(crate) fn applies(rule: &Rule, ctx: &LimitContext<'_>) -> bool {
    if !rule.methods.is_empty() && !rule.methods.iter().any(|m| m == ctx.method) {
        return false;
    }
    if let Some(tools) = &rule.tools {
        match ctx.tool {
            Some(t) if tools.is_match(t) => {}
            _ => return false,
        }
    }
    rule.key.iter().all(|k| match k {
        KeyPart::Tool => ctx.tool.is_some(),
        KeyPart::Backend => ctx.backend.is_some(),
        KeyPart::Principal | KeyPart::VirtualServer => true,
    })
}

/// The buckets this request touches, one per applicable rule.
pub(crate) fn buckets_for(rules: &[Rule], ctx: &LimitContext<'_>) -> Vec<Bucket> {
    rules
        .iter()
        .enumerate()
        .filter(|(_, r)| applies(r, ctx))
        .map(|(i, r)| Bucket { rule: i, key: bucket_key(r, ctx), interval: r.emission_interval(), burst: r.burst })
        .collect()
}

/// An unambiguous key: every component is length-prefixed, so no value can
/// forge another's bucket. Always scoped to rule and virtual server.
pub(crate) fn bucket_key(rule: &Rule, ctx: &LimitContext<'_>) -> String {
    let mut key = String::with_capacity(64);
    let mut push = |tag: char, value: &str| {
        let _ = write!(key, "{tag}{}:{value}", value.len());
    };
    push('r', &rule.name);
    push('v', ctx.virtual_server);
    for part in &rule.key {
        match part {
            KeyPart::Principal => push('p', ctx.principal_key),
            KeyPart::Backend => push('b', ctx.backend.unwrap_or_default()),
            KeyPart::Tool => push('t', ctx.tool.unwrap_or_default()),
            KeyPart::VirtualServer => {}
        }
    }
    key
}

/// One GCRA step in integer time units (nanoseconds locally).
/// `Ok(new_tat)` when allowed, `Err(wait)` when limited (`wait > 0`).
pub(crate) fn gcra_step(tat: u64, now: u64, interval: u64, burst: u32) -> Result<u64, u64> {
    let tolerance = interval.saturating_mul(u64::from(burst));
    let new_tat = tat.max(now).saturating_add(interval);
    let ahead = new_tat - now;
    if ahead > tolerance { Err(ahead - tolerance) } else { Ok(new_tat) }
}

/// A duration in whole nanoseconds, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
