//! The Kademlia routing table: 160 k-buckets over XOR distance from the local [`NodeId`]
//! (SCP2P-WIRE.md §8.1).
//!
//! Entries are ordered least-recently-seen first. Admission allows at most
//! [`RoutingConfig::max_per_prefix`] entries per IPv4 /24 or IPv6 /48 in a bucket. A full
//! bucket never evicts blindly: [`RoutingTable::insert`] answers
//! [`InsertOutcome::PingRequired`] with the least-recently-seen entry and keeps the
//! candidate pending until the driver calls [`RoutingTable::report_ping`]. Failures counted
//! by [`RoutingTable::mark_failed`] evict an entry after [`RoutingConfig::max_failures`].
//! Insert only peers whose key was authenticated (a session handshake with them), never
//! addresses merely heard about from other peers.

use crate::distance::{self, BUCKETS, Distance};
use crate::id_cache::IdCache;
use crate::prefix::IpPrefix;
use trove_proto::NodeId;
use trove_proto::wire::PeerAddr;

/// Routing table settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Entries per bucket (K). Default 20.
    pub k: usize,
    /// Most entries per IPv4 /24 or IPv6 /48 in one bucket. Default 2.
    pub max_per_prefix: usize,
    /// Lift the prefix limit for loopback addresses (local test networks). Default false.
    pub exempt_loopback: bool,
    /// Consecutive failures after which an entry is evicted. Default 3.
    pub max_failures: u32,
    /// A bucket with no lookup inside its range for this long needs a refresh. Default 3600 s.
    pub refresh_interval_secs: u64,
    /// A pending candidate whose ping was never reported may be replaced by a new candidate
    /// after this long. Default 60 s.
    pub pending_timeout_secs: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            k: 20,
            max_per_prefix: 2,
            exempt_loopback: false,
            max_failures: 3,
            refresh_interval_secs: 3600,
            pending_timeout_secs: 60,
        }
    }
}

/// One known node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: NodeId,
    /// How to reach it; `pubkey_hint` is the node's key.
    pub addr: PeerAddr,
    /// Last time it answered or contacted us (unix seconds).
    pub last_seen: u64,
    /// Failures since it last answered.
    pub failures: u32,
}

/// What [`RoutingTable::insert`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Added to a bucket with room.
    Inserted,
    /// Already known: marked seen now (and the address updated when admissible).
    Updated,
    /// The bucket is full: ping `ping` (its least-recently-seen entry) and report the result
    /// with [`RoutingTable::report_ping`]; the candidate waits until then.
    PingRequired { bucket: usize, ping: Entry },
    /// Already waiting for the ping of `ping`; the candidate's address was refreshed.
    StillPending { ping: NodeId },
    /// Not added.
    Rejected(Rejection),
}

/// Why a candidate was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The address has no `pubkey_hint`, so the node id is unknown.
    NoKey,
    /// It is the local node.
    OwnId,
    /// The bucket already holds the maximum for this /24 or /48.
    PrefixFull,
    /// The bucket is full and another candidate is already waiting on a ping.
    BucketFull,
}

/// What [`RoutingTable::mark_failed`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOutcome {
    /// Not in the table.
    Unknown,
    /// Counted; the entry has failed this many times in a row.
    Counted(u32),
    /// Evicted (a pending candidate, if any, took its place).
    Evicted,
}

#[derive(Clone, Debug)]
struct Pending {
    candidate: Entry,
    ping: NodeId,
    since: u64,
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    /// Least-recently-seen first.
    entries: Vec<Entry>,
    pending: Option<Pending>,
    last_refreshed: u64,
}

/// 160 k-buckets around the local id.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    config: RoutingConfig,
    buckets: Vec<Bucket>,
    ids: IdCache,
}

impl RoutingTable {
    /// An empty table around `own`.
    pub fn new(own: NodeId, config: RoutingConfig) -> Self {
        RoutingTable { own, config, buckets: vec![Bucket::default(); BUCKETS], ids: IdCache::default() }
    }

    /// The local id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// The settings.
    pub fn config(&self) -> &RoutingConfig {
        &self.config
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.entries.is_empty())
    }

    /// All entries, bucket by bucket.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.entries.iter())
    }

    /// The entries of bucket `index` (least-recently-seen first).
    pub fn bucket(&self, index: usize) -> &[Entry] {
        self.buckets.get(index).map(|b| &b.entries[..]).unwrap_or(&[])
    }

    /// The candidate waiting for a ping in bucket `index`.
    pub fn pending(&self, index: usize) -> Option<&Entry> {
        self.buckets.get(index).and_then(|b| b.pending.as_ref()).map(|p| &p.candidate)
    }

    /// The entry for `id`.
    pub fn get(&self, id: &NodeId) -> Option<&Entry> {
        let b = distance::bucket_index(&self.own, id)?;
        self.buckets[b].entries.iter().find(|e| e.id == *id)
    }

    fn prefix(&self, addr: &PeerAddr) -> Option<IpPrefix> {
        IpPrefix::limited(&addr.ip, self.config.exempt_loopback)
    }

    /// Whether `addr` may join bucket `b` without exceeding the prefix limit, not counting
    /// the entry `except`.
    fn prefix_admits(&self, b: usize, addr: &PeerAddr, except: Option<&NodeId>) -> bool {
        let Some(p) = self.prefix(addr) else { return true };
        let same =
            self.buckets[b].entries.iter().filter(|e| Some(&e.id) != except && self.prefix(&e.addr) == Some(p)).count();
        same < self.config.max_per_prefix
    }

    /// Records that the node at `addr` (whose `pubkey_hint` is its authenticated key) was
    /// seen at `now`: updates it when known, adds it when its bucket has room, or asks for a
    /// ping of the bucket's least-recently-seen entry when the bucket is full.
    pub fn insert(&mut self, addr: &PeerAddr, now: u64) -> InsertOutcome {
        let Some(key) = addr.pubkey_hint else { return InsertOutcome::Rejected(Rejection::NoKey) };
        let id = self.ids.node_id(&key);
        let Some(b) = distance::bucket_index(&self.own, &id) else {
            return InsertOutcome::Rejected(Rejection::OwnId);
        };
        if let Some(pos) = self.buckets[b].entries.iter().position(|e| e.id == id) {
            let move_ok = self.buckets[b].entries[pos].addr == *addr || self.prefix_admits(b, addr, Some(&id));
            let bucket = &mut self.buckets[b];
            let mut e = bucket.entries.remove(pos);
            e.last_seen = now;
            e.failures = 0;
            if move_ok {
                e.addr = addr.clone();
            }
            bucket.entries.push(e);
            return InsertOutcome::Updated;
        }
        if let Some(p) = &mut self.buckets[b].pending
            && p.candidate.id == id
        {
            p.candidate.addr = addr.clone();
            p.candidate.last_seen = now;
            return InsertOutcome::StillPending { ping: p.ping };
        }
        if !self.prefix_admits(b, addr, None) {
            return InsertOutcome::Rejected(Rejection::PrefixFull);
        }
        let candidate = Entry { id, addr: addr.clone(), last_seen: now, failures: 0 };
        let k = self.config.k;
        let pending_timeout = self.config.pending_timeout_secs;
        let bucket = &mut self.buckets[b];
        if bucket.entries.len() < k {
            bucket.entries.push(candidate);
            return InsertOutcome::Inserted;
        }
        if let Some(p) = &bucket.pending
            && now < p.since.saturating_add(pending_timeout)
        {
            return InsertOutcome::Rejected(Rejection::BucketFull);
        }
        let Some(lrs) = bucket.entries.first().cloned() else {
            // k == 0: nothing can ever be stored.
            return InsertOutcome::Rejected(Rejection::BucketFull);
        };
        bucket.pending = Some(Pending { candidate, ping: lrs.id, since: now });
        InsertOutcome::PingRequired { bucket: b, ping: lrs }
    }

    /// Reports the result of the ping asked for by [`InsertOutcome::PingRequired`]: alive keeps
    /// the old entry (marked seen) and discards the candidate; dead replaces the old entry
    /// with the candidate. Returns false when no such ping was pending.
    pub fn report_ping(&mut self, pinged: &NodeId, alive: bool, now: u64) -> bool {
        let Some(b) = distance::bucket_index(&self.own, pinged) else { return false };
        let bucket = &mut self.buckets[b];
        match &bucket.pending {
            Some(p) if p.ping == *pinged => {}
            _ => return false,
        }
        let Some(pending) = bucket.pending.take() else { return false };
        if alive {
            if let Some(pos) = bucket.entries.iter().position(|e| e.id == *pinged) {
                let mut e = bucket.entries.remove(pos);
                e.last_seen = now;
                e.failures = 0;
                bucket.entries.push(e);
            }
        } else {
            bucket.entries.retain(|e| e.id != *pinged);
            self.admit_candidate(b, pending.candidate);
        }
        true
    }

    /// Adds a former pending candidate if the bucket has room and its prefix still fits.
    fn admit_candidate(&mut self, b: usize, candidate: Entry) {
        if self.buckets[b].entries.len() < self.config.k && self.prefix_admits(b, &candidate.addr, None) {
            self.buckets[b].entries.push(candidate);
        }
    }

    /// Marks `id` as answered or reachable at `now` without changing its address.
    pub fn mark_seen(&mut self, id: &NodeId, now: u64) -> bool {
        let Some(b) = distance::bucket_index(&self.own, id) else { return false };
        let bucket = &mut self.buckets[b];
        let Some(pos) = bucket.entries.iter().position(|e| e.id == *id) else { return false };
        let mut e = bucket.entries.remove(pos);
        e.last_seen = now;
        e.failures = 0;
        bucket.entries.push(e);
        true
    }

    /// Counts a failed request to `id`; after [`RoutingConfig::max_failures`] in a row the
    /// entry is evicted and a pending candidate of that bucket takes its place.
    pub fn mark_failed(&mut self, id: &NodeId) -> FailOutcome {
        let Some(b) = distance::bucket_index(&self.own, id) else { return FailOutcome::Unknown };
        let max = self.config.max_failures.max(1);
        let bucket = &mut self.buckets[b];
        let Some(pos) = bucket.entries.iter().position(|e| e.id == *id) else { return FailOutcome::Unknown };
        let e = &mut bucket.entries[pos];
        e.failures = e.failures.saturating_add(1);
        if e.failures < max {
            return FailOutcome::Counted(e.failures);
        }
        bucket.entries.remove(pos);
        if let Some(p) = bucket.pending.take() {
            self.admit_candidate(b, p.candidate);
        }
        FailOutcome::Evicted
    }

    /// Removes `id` (e.g. a peer that misbehaved). Returns whether it was present.
    pub fn remove(&mut self, id: &NodeId) -> bool {
        let Some(b) = distance::bucket_index(&self.own, id) else { return false };
        let bucket = &mut self.buckets[b];
        let before = bucket.entries.len();
        bucket.entries.retain(|e| e.id != *id);
        if bucket.pending.as_ref().is_some_and(|p| p.candidate.id == *id) {
            bucket.pending = None;
        }
        before != bucket.entries.len()
    }

    /// The `n` entries closest to `target` by XOR distance, closest first.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<&Entry> {
        self.closest_where(target, n, |_| true)
    }

    /// The `n` entries closest to `target` among those `keep` accepts, closest first.
    pub fn closest_where(&self, target: &NodeId, n: usize, keep: impl Fn(&Entry) -> bool) -> Vec<&Entry> {
        let mut all: Vec<(Distance, &Entry)> = Vec::new();
        for b in &self.buckets {
            for e in &b.entries {
                if keep(e) {
                    all.push((Distance::between(&e.id, target), e));
                }
            }
        }
        if all.len() > n && n > 0 {
            all.select_nth_unstable_by(n - 1, |a, b| a.0.cmp(&b.0));
            all.truncate(n);
        }
        all.truncate(n);
        all.sort_unstable_by_key(|a| a.0);
        all.into_iter().map(|(_, e)| e).collect()
    }

    /// Notes that a lookup for `target` ran at `now`, which refreshes the bucket `target`
    /// falls in.
    pub fn note_lookup(&mut self, target: &NodeId, now: u64) {
        let b = distance::bucket_index(&self.own, target).unwrap_or(BUCKETS - 1);
        self.buckets[b].last_refreshed = now;
    }

    /// Buckets that need a refresh lookup at `now`: every bucket from 0 up to one past the
    /// deepest non-empty bucket that has had no lookup in its range for
    /// [`RoutingConfig::refresh_interval_secs`]. Deeper buckets stay empty in any network of
    /// realistic size, so refreshing them would only cost lookups. Empty when the table is.
    pub fn buckets_needing_refresh(&self, now: u64) -> Vec<usize> {
        let Some(deepest) = self.buckets.iter().rposition(|b| !b.entries.is_empty()) else { return Vec::new() };
        let last = (deepest + 1).min(BUCKETS - 1);
        (0..=last)
            .filter(|&i| now.saturating_sub(self.buckets[i].last_refreshed) >= self.config.refresh_interval_secs)
            .collect()
    }

    /// A random id inside bucket `index`, from caller-supplied random bytes: the target of a
    /// refresh lookup for that bucket.
    pub fn random_id_in_bucket(&self, index: usize, random: [u8; 20]) -> NodeId {
        distance::random_id_in_bucket(&self.own, index, random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::PubKey;
    use trove_proto::wire::Transport;

    /// A key whose node id lands in bucket `b` of `own` (searching small seeds).
    fn key_in_bucket(own: &NodeId, b: usize, skip: &mut u32) -> PubKey {
        loop {
            *skip += 1;
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&skip.to_be_bytes());
            let pk = PubKey(k);
            if distance::bucket_index(own, &pk.node_id()) == Some(b) {
                return pk;
            }
        }
    }

    fn addr(ip: &str, key: PubKey) -> PeerAddr {
        PeerAddr::new(format!("{ip}:7001").parse().unwrap(), Transport::Tcp).with_hint(key)
    }

    fn own() -> NodeId {
        NodeId([0x33; 20])
    }

    #[test]
    fn insert_update_and_rejections() {
        let mut t = RoutingTable::new(own(), RoutingConfig::default());
        let mut s = 0;
        let k = key_in_bucket(&own(), 0, &mut s);
        assert_eq!(t.insert(&addr("10.0.0.1", k), 5), InsertOutcome::Inserted);
        assert_eq!(t.insert(&addr("10.0.0.1", k), 9), InsertOutcome::Updated);
        assert_eq!(t.get(&k.node_id()).unwrap().last_seen, 9);
        assert_eq!(t.len(), 1);
        let no_hint = PeerAddr::new("10.0.0.2:1".parse().unwrap(), Transport::Tcp);
        assert_eq!(t.insert(&no_hint, 1), InsertOutcome::Rejected(Rejection::NoKey));
        // Own id: find a key whose node id we then use as the table's own id.
        let me = PubKey([9; 32]);
        let mut t2 = RoutingTable::new(me.node_id(), RoutingConfig::default());
        assert_eq!(t2.insert(&addr("10.0.0.1", me), 1), InsertOutcome::Rejected(Rejection::OwnId));
    }

    #[test]
    fn at_most_two_per_slash_24_per_bucket_unless_loopback_is_exempt() {
        let mut t = RoutingTable::new(own(), RoutingConfig::default());
        let mut s = 0;
        let keys: Vec<PubKey> = (0..4).map(|_| key_in_bucket(&own(), 0, &mut s)).collect();
        assert_eq!(t.insert(&addr("10.9.9.1", keys[0]), 1), InsertOutcome::Inserted);
        assert_eq!(t.insert(&addr("10.9.9.2", keys[1]), 1), InsertOutcome::Inserted);
        assert_eq!(t.insert(&addr("10.9.9.3", keys[2]), 1), InsertOutcome::Rejected(Rejection::PrefixFull));
        assert_eq!(t.insert(&addr("10.9.8.3", keys[2]), 1), InsertOutcome::Inserted);
        // Moving a known node into the crowded /24 keeps its old address.
        assert_eq!(t.insert(&addr("10.9.9.4", keys[2]), 2), InsertOutcome::Updated);
        assert_eq!(t.get(&keys[2].node_id()).unwrap().addr.ip.to_string(), "10.9.8.3");
        // Another bucket has its own allowance.
        let other = key_in_bucket(&own(), 1, &mut s);
        assert_eq!(t.insert(&addr("10.9.9.5", other), 1), InsertOutcome::Inserted);

        for exempt in [false, true] {
            let cfg = RoutingConfig { exempt_loopback: exempt, ..Default::default() };
            let mut t = RoutingTable::new(own(), cfg);
            let n = keys.iter().filter(|k| t.insert(&addr("127.0.0.1", **k), 1) == InsertOutcome::Inserted).count();
            assert_eq!(n, if exempt { 4 } else { 2 });
        }
    }

    #[test]
    fn full_bucket_pings_before_evicting() {
        let cfg = RoutingConfig { k: 3, ..Default::default() };
        let mut t = RoutingTable::new(own(), cfg);
        let mut s = 0;
        let keys: Vec<PubKey> = (0..6).map(|_| key_in_bucket(&own(), 0, &mut s)).collect();
        for (i, k) in keys[..3].iter().enumerate() {
            assert_eq!(t.insert(&addr(&format!("10.0.{i}.1"), *k), 10 + i as u64), InsertOutcome::Inserted);
        }
        // keys[0] is least recently seen.
        let out = t.insert(&addr("10.1.0.1", keys[3]), 20);
        let InsertOutcome::PingRequired { bucket: 0, ping } = out else { panic!("{out:?}") };
        assert_eq!(ping.id, keys[0].node_id());
        assert_eq!(t.pending(0).unwrap().id, keys[3].node_id());
        // A second candidate does not displace the first while the ping is outstanding.
        assert_eq!(t.insert(&addr("10.2.0.1", keys[4]), 21), InsertOutcome::Rejected(Rejection::BucketFull));
        assert_eq!(t.insert(&addr("10.1.0.1", keys[3]), 22), InsertOutcome::StillPending { ping: keys[0].node_id() });
        // Alive: the old entry stays (now most recently seen) and the candidate is dropped.
        assert!(t.report_ping(&keys[0].node_id(), true, 23));
        assert!(t.get(&keys[3].node_id()).is_none() && t.pending(0).is_none());
        assert_eq!(t.bucket(0).last().unwrap().id, keys[0].node_id());
        assert!(!t.report_ping(&keys[0].node_id(), true, 23), "nothing pending any more");
        // Dead: the least recently seen (now keys[1]) is replaced.
        let InsertOutcome::PingRequired { ping, .. } = t.insert(&addr("10.2.0.1", keys[4]), 30) else { panic!() };
        assert_eq!(ping.id, keys[1].node_id());
        assert!(t.report_ping(&keys[1].node_id(), false, 31));
        assert!(t.get(&keys[1].node_id()).is_none());
        assert!(t.get(&keys[4].node_id()).is_some());
        assert_eq!(t.bucket(0).len(), 3);
        // An unreported ping stops blocking the bucket after the pending timeout.
        let InsertOutcome::PingRequired { .. } = t.insert(&addr("10.3.0.1", keys[5]), 40) else { panic!() };
        assert_eq!(t.insert(&addr("10.1.0.1", keys[3]), 41), InsertOutcome::Rejected(Rejection::BucketFull));
        assert!(matches!(t.insert(&addr("10.1.0.1", keys[3]), 100), InsertOutcome::PingRequired { .. }));
        assert_eq!(t.pending(0).unwrap().id, keys[3].node_id());
    }

    #[test]
    fn failures_evict_and_promote_the_pending_candidate() {
        let cfg = RoutingConfig { k: 2, max_failures: 3, ..Default::default() };
        let mut t = RoutingTable::new(own(), cfg);
        let mut s = 0;
        let keys: Vec<PubKey> = (0..3).map(|_| key_in_bucket(&own(), 0, &mut s)).collect();
        t.insert(&addr("10.0.1.1", keys[0]), 1);
        t.insert(&addr("10.0.2.1", keys[1]), 2);
        let id = keys[1].node_id();
        assert_eq!(t.mark_failed(&id), FailOutcome::Counted(1));
        assert_eq!(t.mark_failed(&id), FailOutcome::Counted(2));
        // A success in between resets the count.
        assert!(t.mark_seen(&id, 3));
        assert_eq!(t.mark_failed(&id), FailOutcome::Counted(1));
        assert!(matches!(t.insert(&addr("10.0.3.1", keys[2]), 4), InsertOutcome::PingRequired { .. }));
        assert_eq!(t.mark_failed(&id), FailOutcome::Counted(2));
        assert_eq!(t.mark_failed(&id), FailOutcome::Evicted);
        assert!(t.get(&id).is_none());
        assert!(t.get(&keys[2].node_id()).is_some(), "pending candidate promoted");
        assert_eq!(t.mark_failed(&id), FailOutcome::Unknown);
    }

    #[test]
    fn closest_matches_brute_force() {
        let mut t = RoutingTable::new(own(), RoutingConfig::default());
        let mut keys = Vec::new();
        for i in 0..400u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            let pk = PubKey(k);
            let ip = format!("10.{}.{}.1", i / 250, i % 250);
            if t.insert(&addr(&ip, pk), 1) == InsertOutcome::Inserted {
                keys.push(pk.node_id());
            }
        }
        assert_eq!(t.len(), keys.len());
        for target in [NodeId([0; 20]), NodeId([0x33; 20]), NodeId([0xc4; 20])] {
            let got: Vec<NodeId> = t.closest(&target, 20).iter().map(|e| e.id).collect();
            keys.sort_by_key(|k| Distance::between(k, &target));
            assert_eq!(got, keys[..20.min(keys.len())].to_vec());
        }
        assert!(t.closest(&own(), 0).is_empty());
    }

    #[test]
    fn refresh_covers_buckets_up_to_the_deepest_and_ids_fall_inside() {
        let mut t = RoutingTable::new(own(), RoutingConfig::default());
        assert!(t.buckets_needing_refresh(10_000).is_empty());
        let mut s = 0;
        t.insert(&addr("10.0.0.1", key_in_bucket(&own(), 4, &mut s)), 1);
        assert_eq!(t.buckets_needing_refresh(10_000), vec![0, 1, 2, 3, 4, 5]);
        let target = t.random_id_in_bucket(2, [0xab; 20]);
        assert_eq!(distance::bucket_index(&own(), &target), Some(2));
        t.note_lookup(&target, 10_000);
        assert_eq!(t.buckets_needing_refresh(10_000), vec![0, 1, 3, 4, 5]);
        assert_eq!(t.buckets_needing_refresh(13_600), vec![0, 1, 2, 3, 4, 5]);
    }
}
