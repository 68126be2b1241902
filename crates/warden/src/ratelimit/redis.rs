//! The same GCRA buckets kept in Redis, so every replica enforces one limit.
//!
//! All buckets of one request are checked and updated by one Lua script
//! (atomic; EVALSHA, falling back to EVAL on `NOSCRIPT`). Time is Redis's own
//! (`TIME`), so replicas with skewed clocks still agree. Keys expire once
//! their bucket is full again. Multi-key scripts need every key on one node:
//! Redis Cluster is not supported.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use super::bucket::Bucket;
use super::local::Refusal;

/// GCRA over several keys. KEYS: buckets. ARGV: interval and tolerance
/// (interval × burst) per key, in microseconds. Returns `{0, 0}` when allowed
/// (and every TAT moved), else `{i, wait_us}` for the 1-based key that must
/// wait longest (and nothing written).
const GCRA_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new = {}
local worst, worst_i = 0, 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local nt = tat + interval
  local ahead = nt - now
  if ahead > tolerance then
    if ahead - tolerance > worst then
      worst = ahead - tolerance
      worst_i = i
    end
  end
  new[i] = nt
end
if worst_i > 0 then
  return {worst_i, worst}
end
for i, key in ipairs(KEYS) do
  local ttl = math.ceil((new[i] - now) / 1000) + 1
  redis.call('SET', key, string.format('%.0f', new[i]), 'PX', ttl)
end
return {0, 0}
";

/// Why Redis could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The connection or the script failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer within the configured timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The script answered something unexpected.
    #[error("unexpected reply from the rate-limit script")]
    Reply,
}

/// Buckets in Redis.
pub struct RedisBuckets {
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the URL, which may hold a password.
        f.debug_struct("RedisBuckets").field("prefix", &self.prefix).field("timeout", &self.timeout).finish()
    }
}

impl RedisBuckets {
    /// A store for `url`; connects on first use (so Warden starts while Redis
    /// is down, on the fallback).
    pub fn new(url: &SecretString, prefix: String, timeout: Duration) -> Result<RedisBuckets, StoreError> {
        let client = redis::Client::open(url.expose_secret())?;
        Ok(RedisBuckets { client, manager: OnceCell::new(), script: redis::Script::new(GCRA_LUA), prefix, timeout })
    }

    /// Check (and on success take one token from) every bucket, all or none,
    /// within the timeout.
    pub(crate) async fn check(&self, buckets: &[Bucket]) -> Result<Result<(), Refusal>, StoreError> {
        if buckets.is_empty() {
            return Ok(Ok(()));
        }
        match tokio::time::timeout(self.timeout, self.run(buckets)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    async fn run(&self, buckets: &[Bucket]) -> Result<Result<(), Refusal>, StoreError> {
        let mut con = self.connection().await?.clone();
        let mut inv = self.script.prepare_invoke();
        for b in buckets {
            let interval = micros(b.interval).max(1);
            inv.key(format!("{}{}", self.prefix, b.key)).arg(interval).arg(interval.saturating_mul(u64::from(b.burst)));
        }
        let reply: Vec<i64> = inv.invoke_async(&mut con).await?;
        match reply.as_slice() {
            [0, _] => Ok(Ok(())),
            [i, wait] if *i >= 1 && *wait > 0 => {
                let bucket = usize::try_from(*i - 1).map_err(|_| StoreError::Reply)?;
                if bucket >= buckets.len() {
                    return Err(StoreError::Reply);
                }
                let wait = Duration::from_micros(u64::try_from(*wait).map_err(|_| StoreError::Reply)?);
                Ok(Err(Refusal { bucket, wait }))
            }
            _ => Err(StoreError::Reply),
        }
    }

    async fn connection(&self) -> Result<&ConnectionManager, StoreError> {
        self.manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                Ok(ConnectionManager::new_lazy_with_config(self.client.clone(), config)?)
            })
            .await
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
