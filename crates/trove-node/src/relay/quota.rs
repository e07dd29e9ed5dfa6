//! Byte quotas of a relay, measured on the data path (TEST-MATRIX RL-3): every byte the
//! relay passes on is charged, before it is written, to each identity at either end (the
//! dialer and the firewalled node), per kind (control, content) and per hour. A transfer
//! that would exceed a quota is cut at the quota, so the bytes relayed per identity per hour
//! never exceed it.

use std::collections::HashMap;
use trove_proto::PubKey;
use trove_proto::wire::RelayKind;

/// Identities tracked in one hour at most; past it, new identities get nothing relayed.
pub const MAX_TRACKED: usize = 65_536;

/// Length of a quota window.
pub const WINDOW_SECS: u64 = 3600;

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Used {
    control: u64,
    content: u64,
}

/// The quota book.
pub struct Quotas {
    control_limit: u64,
    content_limit: u64,
    window: u64,
    used: HashMap<PubKey, Used>,
}

impl Quotas {
    /// Limits in bytes per identity per hour.
    pub fn new(control_limit: u64, content_limit: u64) -> Self {
        Quotas { control_limit, content_limit, window: 0, used: HashMap::new() }
    }

    fn roll(&mut self, now: u64) {
        let w = now / WINDOW_SECS;
        if w != self.window {
            self.window = w;
            self.used.clear();
        }
    }

    fn left(&self, id: &PubKey, kind: RelayKind) -> u64 {
        let u = self.used.get(id).copied().unwrap_or_default();
        match kind {
            RelayKind::Control => self.control_limit.saturating_sub(u.control),
            RelayKind::Content => self.content_limit.saturating_sub(u.content),
        }
    }

    /// Bytes of `kind` each of `ids` may still have relayed this hour (the smallest).
    pub fn remaining(&mut self, ids: &[PubKey], kind: RelayKind, now: u64) -> u64 {
        self.roll(now);
        ids.iter().map(|id| self.left(id, kind)).min().unwrap_or(0)
    }

    /// Charges up to `n` bytes of `kind` to every identity in `ids`; returns how many may
    /// pass (less than `n` once a quota runs out).
    pub fn take(&mut self, ids: &[PubKey], kind: RelayKind, n: u64, now: u64) -> u64 {
        self.roll(now);
        let fresh = ids.iter().filter(|id| !self.used.contains_key(id)).count();
        if self.used.len() + fresh > MAX_TRACKED {
            return 0;
        }
        let allowed = ids.iter().map(|id| self.left(id, kind)).min().unwrap_or(0).min(n);
        if allowed == 0 {
            return 0;
        }
        for id in ids {
            let u = self.used.entry(*id).or_default();
            match kind {
                RelayKind::Control => u.control += allowed,
                RelayKind::Content => u.content += allowed,
            }
        }
        allowed
    }

    /// Bytes charged to `id` this hour: (control, content).
    pub fn used(&mut self, id: &PubKey, now: u64) -> (u64, u64) {
        self.roll(now);
        let u = self.used.get(id).copied().unwrap_or_default();
        (u.control, u.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_at_the_quota_and_reset_each_hour() {
        let (a, b, c) = (PubKey([1; 32]), PubKey([2; 32]), PubKey([3; 32]));
        let mut q = Quotas::new(1000, 10);
        assert_eq!(q.take(&[a, b], RelayKind::Control, 600, 7200), 600);
        assert_eq!(q.take(&[a, c], RelayKind::Control, 600, 7201), 400, "a has 400 left");
        assert_eq!(q.take(&[a, c], RelayKind::Control, 1, 7202), 0);
        assert_eq!(q.used(&a, 7203), (1000, 0));
        assert_eq!(q.take(&[b], RelayKind::Content, 100, 7204), 10, "content has its own budget");
        assert_eq!(q.remaining(&[b], RelayKind::Control, 7204), 400);
        // The next hour starts afresh.
        assert_eq!(q.take(&[a], RelayKind::Control, 600, 10_800), 600);
    }
}
