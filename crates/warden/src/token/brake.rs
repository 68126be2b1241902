//! A brute-force brake on the endpoints that check secrets (`POST
//! /oauth/token`, the login form of `/oauth/authorize`, `/oauth/register`):
//! token buckets per client IP address in this process, so guessing client
//! secrets, development passwords or flooding registration is slowed down
//! before any check runs. Reuses the rate limiter's GCRA buckets.

use std::net::IpAddr;
use std::time::Duration;

use crate::ratelimit::LocalBuckets;
use crate::ratelimit::bucket::Bucket;

/// Requests a client address may make at once.
pub const BURST: u32 = 100;
/// Then one request per this interval (10 per second).
pub const INTERVAL: Duration = Duration::from_millis(100);
/// Addresses remembered before the fullest buckets are evicted.
const CAPACITY: usize = 50_000;

/// Per-address buckets (kept across reloads with the token service's keys).
#[derive(Debug)]
pub struct Brake(LocalBuckets);

impl Default for Brake {
    fn default() -> Self {
        Brake(LocalBuckets::new(CAPACITY))
    }
}

impl Brake {
    /// Takes one token for `peer`; `Err(wait)` when it must slow down.
    pub fn check(&self, peer: Option<IpAddr>) -> Result<(), Duration> {
        self.0.check(&[bucket(peer)]).map_err(|r| r.wait)
    }

    #[cfg(test)]
    fn check_at(&self, peer: Option<IpAddr>, now_nanos: u64) -> Result<(), Duration> {
        self.0.check_at(&[bucket(peer)], now_nanos).map_err(|r| r.wait)
    }
}

fn bucket(peer: Option<IpAddr>) -> Bucket {
    let key = peer.map_or_else(|| "token-endpoints|unknown".to_string(), |ip| format!("token-endpoints|{ip}"));
    Bucket { rule: 0, key, interval: INTERVAL, burst: BURST }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_waits_and_others_are_unaffected() {
        let brake = Brake::default();
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        for _ in 0..BURST {
            assert!(brake.check_at(Some(a), 0).is_ok());
        }
        let wait = brake.check_at(Some(a), 0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= INTERVAL, "{wait:?}");
        assert!(brake.check_at(Some(b), 0).is_ok(), "another address has its own bucket");
        // One interval later, one more request.
        let later = u64::try_from(INTERVAL.as_nanos()).unwrap();
        assert!(brake.check_at(Some(a), later).is_ok());
        assert!(brake.check_at(Some(a), later).is_err());
    }
}
