//! Per-identity request rate limits of SCP2P-WIRE.md §4.5: fixed 60 s windows starting at
//! the first request, per class, with the v1 error texts (clients grep for "rate limit").
//! Memory is bounded: when too many identities are tracked, expired windows are dropped and
//! then the oldest. Peers with a bound trove session get [`ClassLimits::TROVE`], sized for
//! full-speed transfers; everyone else gets the v1 numbers.

use std::collections::HashMap;
use std::sync::Mutex;
use trove_proto::PubKey;
use trove_proto::wire::MsgType;

/// Window length.
pub const WINDOW_SECS: u64 = 60;
/// Identities tracked at most.
pub const MAX_TRACKED: usize = 50_000;

#[derive(Clone, Copy)]
struct Window {
    start: u64,
    total: u32,
    dht: u32,
    fetch: u32,
    chunk: u32,
    relay: u32,
}

/// Requests allowed per window, per class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassLimits {
    pub total: u32,
    pub dht: u32,
    pub fetch: u32,
    pub chunk: u32,
    pub relay: u32,
}

impl ClassLimits {
    /// The v1 limits (SCP2P-WIRE.md §4.5).
    pub const V1: ClassLimits = ClassLimits { total: 1200, dht: 600, fetch: 240, chunk: 600, relay: 180 };
    /// Limits for bound trove peers: 250,000 chunks a minute is about 1 GiB/s.
    pub const TROVE: ClassLimits =
        ClassLimits { total: 300_000, dht: 6_000, fetch: 12_000, chunk: 250_000, relay: 6_000 };
}

/// The limiter.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<PubKey, Window>>,
}

impl RateLimiter {
    /// Counts a request of type `t` from `peer` at `now`; returns the v1 error text when a
    /// limit is exceeded.
    pub fn check(&self, peer: &PubKey, t: MsgType, limits: &ClassLimits, now: u64) -> Result<(), &'static str> {
        let mut map = self.windows.lock().expect("rate lock");
        if map.len() >= MAX_TRACKED && !map.contains_key(peer) {
            map.retain(|_, w| w.start + WINDOW_SECS > now);
            if map.len() >= MAX_TRACKED
                && let Some(oldest) = map.iter().min_by_key(|(_, w)| w.start).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let w = map.entry(*peer).or_insert(Window { start: now, total: 0, dht: 0, fetch: 0, chunk: 0, relay: 0 });
        if now >= w.start + WINDOW_SECS {
            *w = Window { start: now, total: 0, dht: 0, fetch: 0, chunk: 0, relay: 0 };
        }
        w.total += 1;
        if w.total > limits.total {
            return Err("request rate limit exceeded");
        }
        let (count, limit, text) = match t {
            MsgType::FIND_NODE | MsgType::FIND_VALUE | MsgType::STORE => {
                (&mut w.dht, limits.dht, "dht request rate limit exceeded")
            }
            MsgType::GET_MANIFEST
            | MsgType::LIST_PUBLIC_SHARES
            | MsgType::GET_COMMUNITY_STATUS
            | MsgType::LIST_COMMUNITY_PUBLIC_SHARES
            | MsgType::GET_CHUNK_HASHES => (&mut w.fetch, limits.fetch, "fetch request rate limit exceeded"),
            MsgType::GET_CHUNK => (&mut w.chunk, limits.chunk, "chunk request rate limit exceeded"),
            MsgType::RELAY_REGISTER | MsgType::RELAY_CONNECT | MsgType::RELAY_STREAM => {
                (&mut w.relay, limits.relay, "relay request rate limit exceeded")
            }
            _ => return Ok(()),
        };
        *count += 1;
        if *count > limit { Err(text) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_limit_and_window_reset() {
        let r = RateLimiter::default();
        let k = PubKey([1; 32]);
        for _ in 0..600 {
            r.check(&k, MsgType::GET_CHUNK, &ClassLimits::V1, 100).unwrap();
        }
        assert_eq!(r.check(&k, MsgType::GET_CHUNK, &ClassLimits::V1, 159), Err("chunk request rate limit exceeded"));
        // Other classes still pass; a new window starts after 60 s.
        r.check(&k, MsgType::FIND_NODE, &ClassLimits::V1, 159).unwrap();
        r.check(&k, MsgType::GET_CHUNK, &ClassLimits::V1, 160).unwrap();
        // Another identity is independent.
        r.check(&PubKey([2; 32]), MsgType::GET_CHUNK, &ClassLimits::V1, 159).unwrap();
    }
}
