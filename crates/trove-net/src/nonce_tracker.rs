//! Replay protection for client nonces (SCP2P-WIRE.md §2.4): a nonce seen within the window
//! is refused. Bounded: when full, the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How long a client nonce is remembered.
pub const NONCE_WINDOW_SECS: u64 = 600;
/// Most nonces remembered.
pub const MAX_TRACKED_NONCES: usize = 200_000;

/// Remembers recent client nonces.
#[derive(Default)]
pub struct NonceTracker {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    seen: HashMap<[u8; 32], u64>,
    order: VecDeque<([u8; 32], u64)>,
}

impl NonceTracker {
    /// Records `nonce` at `now`; returns false if it was already seen within the window.
    pub fn check_and_insert(&self, nonce: [u8; 32], now: u64) -> bool {
        let mut g = self.inner.lock().expect("nonce lock");
        while let Some(&(n, t)) = g.order.front() {
            if t + NONCE_WINDOW_SECS > now && g.order.len() < MAX_TRACKED_NONCES {
                break;
            }
            g.order.pop_front();
            if g.seen.get(&n) == Some(&t) {
                g.seen.remove(&n);
            }
        }
        if let Some(&t) = g.seen.get(&nonce)
            && t + NONCE_WINDOW_SECS > now
        {
            return false;
        }
        g.seen.insert(nonce, now);
        g.order.push_back((nonce, now));
        true
    }

    /// Number of nonces currently remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("nonce lock").seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_within_window_is_refused_and_old_entries_expire() {
        let t = NonceTracker::default();
        assert!(t.check_and_insert([1; 32], 1000));
        assert!(!t.check_and_insert([1; 32], 1000 + NONCE_WINDOW_SECS - 1));
        assert!(t.check_and_insert([2; 32], 1000 + NONCE_WINDOW_SECS));
        assert_eq!(t.len(), 1, "the first nonce expired");
        assert!(t.check_and_insert([1; 32], 1000 + NONCE_WINDOW_SECS));
    }
}
