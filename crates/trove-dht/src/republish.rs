//! Republish and replication schedules.
//!
//! *Owned* records are the ones this node publishes (its shares' heads and manifests, its
//! provider and member entries, its relay announcements): it re-stores them to the K closest
//! nodes every [`RepublishConfig::owned_interval_secs`] so they outlive their TTL and reach
//! nodes that joined since. *Replicated* records are the ones other nodes stored here: each
//! is pushed on to the K closest every [`RepublishConfig::replicate_interval_secs`], unless a
//! STORE for the same key arrived in the meantime (then someone else just did it). The
//! schedules are ordered sets, so finding what is due never scans all records.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use trove_proto::DhtKey;
use trove_proto::limits::DHT_DEFAULT_TTL_SECS;
use trove_proto::wire::Store;

/// Schedule settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepublishConfig {
    /// Seconds between re-stores of owned records. Default 600 (v1 apps use 60 or 300).
    pub owned_interval_secs: u64,
    /// Seconds between replications of records stored here by others. Default 3600.
    pub replicate_interval_secs: u64,
    /// TTL requested when storing owned records. Default 86,400.
    pub ttl_secs: u64,
}

impl Default for RepublishConfig {
    fn default() -> Self {
        RepublishConfig { owned_interval_secs: 600, replicate_interval_secs: 3600, ttl_secs: DHT_DEFAULT_TTL_SECS }
    }
}

/// Which records are due for re-storing, and when.
#[derive(Clone, Debug, Default)]
pub struct Republisher {
    config: RepublishConfig,
    owned: BTreeMap<DhtKey, (Vec<u8>, u64)>,
    owned_due: BTreeSet<(u64, DhtKey)>,
    replicate_at: HashMap<DhtKey, u64>,
    replicate_due: BTreeSet<(u64, DhtKey)>,
}

impl Republisher {
    /// An empty schedule.
    pub fn new(config: RepublishConfig) -> Self {
        Republisher { config, ..Default::default() }
    }

    /// The settings.
    pub fn config(&self) -> &RepublishConfig {
        &self.config
    }

    /// Starts (or updates) publishing `value` at `key`; it is due at once.
    pub fn own(&mut self, key: DhtKey, value: Vec<u8>, now: u64) {
        if let Some((_, due)) = self.owned.remove(&key) {
            self.owned_due.remove(&(due, key));
        }
        self.owned.insert(key, (value, now));
        self.owned_due.insert((now, key));
    }

    /// Stops publishing `key`. Returns whether it was owned.
    pub fn disown(&mut self, key: &DhtKey) -> bool {
        match self.owned.remove(key) {
            Some((_, due)) => {
                self.owned_due.remove(&(due, *key));
                true
            }
            None => false,
        }
    }

    /// Whether `key` is owned.
    pub fn owns(&self, key: &DhtKey) -> bool {
        self.owned.contains_key(key)
    }

    /// Number of owned records.
    pub fn owned_len(&self) -> usize {
        self.owned.len()
    }

    /// The owned records due at `now`, as STOREs to send to the K closest of each key; each
    /// is scheduled again one interval later.
    pub fn due_owned(&mut self, now: u64) -> Vec<Store> {
        let mut out = Vec::new();
        while let Some(&(due, key)) = self.owned_due.first() {
            if due > now {
                break;
            }
            self.owned_due.remove(&(due, key));
            if let Some((value, at)) = self.owned.get_mut(&key) {
                *at = now.saturating_add(self.config.owned_interval_secs);
                self.owned_due.insert((*at, key));
                out.push(Store { key, value: value.clone(), ttl_secs: self.config.ttl_secs });
            }
        }
        out
    }

    /// Notes that a STORE for `key` was accepted at `now`: its replication is due one
    /// interval later (a fresh STORE postpones it).
    pub fn note_stored(&mut self, key: DhtKey, now: u64) {
        let at = now.saturating_add(self.config.replicate_interval_secs);
        if let Some(old) = self.replicate_at.insert(key, at) {
            self.replicate_due.remove(&(old, key));
        }
        self.replicate_due.insert((at, key));
    }

    /// Forgets the replication of `key` (the record is gone).
    pub fn forget(&mut self, key: &DhtKey) {
        if let Some(at) = self.replicate_at.remove(key) {
            self.replicate_due.remove(&(at, *key));
        }
    }

    /// Up to `limit` keys whose replication is due at `now`, soonest first; each is
    /// scheduled again one interval later. The caller reads them from the store (skipping
    /// keys no longer there) and stores them to the K closest.
    pub fn due_replication(&mut self, now: u64, limit: usize) -> Vec<DhtKey> {
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(&(at, key)) = self.replicate_due.first() else { break };
            if at > now {
                break;
            }
            self.replicate_due.remove(&(at, key));
            let next = now.saturating_add(self.config.replicate_interval_secs);
            self.replicate_at.insert(key, next);
            self.replicate_due.insert((next, key));
            out.push(key);
        }
        out
    }

    /// When the next owned or replication work is due.
    pub fn next_due(&self) -> Option<u64> {
        let a = self.owned_due.first().map(|(t, _)| *t);
        let b = self.replicate_due.first().map(|(t, _)| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_records_come_due_every_interval() {
        let mut r = Republisher::new(RepublishConfig { owned_interval_secs: 100, ..Default::default() });
        let (a, b) = (DhtKey([1; 32]), DhtKey([2; 32]));
        r.own(a, vec![1], 10);
        r.own(b, vec![2], 50);
        assert_eq!(r.next_due(), Some(10));
        let due = r.due_owned(10);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].key, due[0].ttl_secs), (a, 86_400));
        assert!(r.due_owned(49).is_empty());
        assert_eq!(r.due_owned(60).iter().map(|s| s.key).collect::<Vec<_>>(), vec![b]);
        assert_eq!(r.next_due(), Some(110));
        // Updating a value makes it due at once with the new bytes.
        r.own(a, vec![9], 70);
        assert_eq!(r.due_owned(70)[0].value, vec![9]);
        assert!(r.disown(&b));
        assert!(!r.disown(&b));
        assert!(r.due_owned(10_000).iter().all(|s| s.key == a));
    }

    #[test]
    fn replication_is_postponed_by_fresh_stores_and_bounded_per_call() {
        let mut r = Republisher::new(RepublishConfig { replicate_interval_secs: 100, ..Default::default() });
        let keys: Vec<DhtKey> = (0..5u8).map(|i| DhtKey([i; 32])).collect();
        for k in &keys {
            r.note_stored(*k, 0);
        }
        r.note_stored(keys[0], 50);
        let due = r.due_replication(100, 3);
        assert_eq!(due, vec![keys[1], keys[2], keys[3]]);
        assert_eq!(r.due_replication(100, 10), vec![keys[4]]);
        assert_eq!(r.due_replication(150, 10), vec![keys[0]]);
        r.forget(&keys[1]);
        assert_eq!(r.due_replication(200, 10), vec![keys[2], keys[3], keys[4]]);
        assert!(r.due_replication(249, 10).is_empty());
    }
}
