//! Rate limits: token buckets per principal, tool, backend and virtual
//! server, in this process or shared across replicas through Redis.
//!
//! The stage sits after authentication: the integrator builds a
//! [`LimitContext`] per request and maps [`Decision::Limited`] to HTTP 429
//! (or a JSON-RPC error) with `Retry-After` ([`Decision::retry_after_secs`]).
//!
//! - [`config`]: the `rateLimits` block (raw serde structs) and [`validate`].
//! - `bucket`: the request's buckets and the GCRA step.
//! - [`local`]: in-memory buckets. [`redis`]: the same in Redis (Lua).
//! - `limiter`: [`RateLimiter`], the facade with the Redis fallback.

pub(crate) mod bucket;
pub mod config;
mod limiter;
pub mod local;
pub mod redis;

#[cfg(test)]
mod tests;

pub use self::redis::{RedisBuckets, StoreError};
pub use bucket::{Decision, LimitContext};
pub use config::{Fallback, KeyPart, Rate, RateLimits, RawRateLimits, RedisStore, Rule, Store, validate};
pub use limiter::{DENY_RETRY_AFTER, FALLBACK_WARN_EVERY, RateLimitError, RateLimiter};
pub use local::{DEFAULT_LOCAL_CAPACITY, LocalBuckets};
