//! The record store: what this node keeps for the DHT, under v1's rules and trove's
//! stricter ones (SCP2P-WIRE.md §8, DESIGN.md §3).
//!
//! * Every STORE passes [`validate_value`]. The TTL applied is
//!   clamp(max(requested, 86 400), 1, 604 800); FIND_VALUE reports the remaining seconds
//!   (at least 1). Nobody can make a record live longer than that from the moment of their
//!   own STORE, and provider or member entries of one source are never refreshed by another.
//! * Share heads are verified when the share key is known (the head's `share_pubkey`
//!   extension, or a key learned from a stored manifest or [`RecordStore::learn_share_pubkey`]).
//!   A forged head is refused; a verified head replaces an unverified one; an unverified head
//!   never replaces a verified one; a verified head's seq never goes backwards (equal seq:
//!   later `updated_at` wins). Manifests must verify (their key is inside them).
//! * Provider and community member lists are sets merged from many sources: each source
//!   contributes at most [`StoreConfig::entries_per_source`] entries (with
//!   [`EntryPolicy::SelfOnly`], only addresses of itself) and each STORE replaces its own
//!   previous contribution (an empty list withdraws it). A list is capped; when full, a newcomer may only displace the
//!   oldest contribution of a network (/24, /48) holding more than
//!   [`StoreConfig::max_per_prefix_when_full`] entries, so incumbents from diverse networks
//!   stay. Served lists put the most recently refreshed entries first.
//! * Budgets: at most [`StoreConfig::max_values`] records and [`StoreConfig::max_bytes`]
//!   (value bytes plus a fixed overhead per record and entry). Over budget, the
//!   contribution expiring soonest goes first (ties by key, then source), which is fully
//!   deterministic. No single source may hold more than
//!   [`StoreConfig::source_share_percent`] of either budget: past it, its own
//!   soonest-expiring contribution goes. The local node's own records are exempt.
//! * Every operation costs O(log n) in the number of records, or O(entries) of the one
//!   record it touches; nothing scans the store (DH-4).

use crate::error::DhtError;
use crate::prefix::IpPrefix;
use crate::source::Source;
use crate::validate::{Authenticity, Record, authenticate, validate_value};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use trove_proto::limits::{DHT_DEFAULT_TTL_SECS, DHT_MAX_TTL_SECS, MAX_DHT_VALUE_BYTES};
use trove_proto::wire::{CommunityMembers, Payload, PeerAddr, Providers, ShareHead, Store};
use trove_proto::{ContentId, DhtKey, NodeId, PubKey, ShareId, dht_key};

/// Bytes charged per record besides its value.
pub const RECORD_OVERHEAD: usize = 160;
/// Bytes charged per provider or member entry besides its encoding.
pub const ENTRY_OVERHEAD: usize = 96;

/// Which provider or member entries a source may store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryPolicy {
    /// Only addresses of the source itself: the entry's IP is the IP the STORE came from, or
    /// the entry is reached through a relay and names no other node's key. Nobody can list a
    /// victim's address.
    SelfOnly,
    /// Any address (v1 behaviour).
    Any,
}

/// Store settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Most records. Default 100,000 (the v1 limit).
    pub max_values: usize,
    /// Most bytes (approximate accounting). Default 256 MiB.
    pub max_bytes: usize,
    /// Most of either budget one source may hold, in percent. Default 10.
    pub source_share_percent: usize,
    /// Most entries in one provider list. Default 64.
    pub max_providers: usize,
    /// Most entries in one community member list. Default 256.
    pub max_members: usize,
    /// Most entries one source contributes to one list. Default 4.
    pub entries_per_source: usize,
    /// In a full list, most entries from one /24 or /48 that are safe from displacement.
    /// Default 2.
    pub max_per_prefix_when_full: usize,
    /// Which entries a source may store. Default [`EntryPolicy::SelfOnly`].
    pub entry_policy: EntryPolicy,
    /// Lift prefix limits for loopback sources (local test networks). Default false.
    pub exempt_loopback: bool,
    /// Verify heads and manifests (trove); off = v1 behaviour. Default true.
    pub verify_signatures: bool,
    /// Refuse share heads that cannot be verified (no known share key and no extension
    /// key): strict mode, which refuses v1 publishers' heads. Default false.
    pub require_verified_heads: bool,
    /// Most share keys remembered for head verification. Default 100,000.
    pub max_known_share_keys: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_values: 100_000,
            max_bytes: 256 * 1024 * 1024,
            source_share_percent: 10,
            max_providers: 64,
            max_members: 256,
            entries_per_source: 4,
            max_per_prefix_when_full: 2,
            entry_policy: EntryPolicy::SelfOnly,
            exempt_loopback: false,
            verify_signatures: true,
            require_verified_heads: false,
            max_known_share_keys: 100_000,
        }
    }
}

/// The TTL a STORE gets: clamp(max(requested, 86 400), 1, 604 800).
pub fn applied_ttl(requested: u64) -> u64 {
    requested.max(DHT_DEFAULT_TTL_SECS).clamp(1, DHT_MAX_TTL_SECS)
}

/// What a successful [`RecordStore::put`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PutOutcome {
    /// The key was not stored before.
    pub new_key: bool,
    /// Expiry applied to the stored contribution.
    pub expires_at: u64,
    /// Contributions evicted to stay within budgets and quotas.
    pub evicted: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HeadMeta {
    seq: u64,
    updated_at: u64,
    verified: bool,
    has_ext: bool,
}

#[derive(Clone, Debug)]
struct Single {
    value: Vec<u8>,
    owner: NodeId,
    expires_at: u64,
    /// Not served after this time (a manifest's own expiry).
    serve_until: Option<u64>,
    head: Option<HeadMeta>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetKind {
    Providers,
    Members,
}

impl SetKind {
    fn name(self) -> &'static str {
        match self {
            SetKind::Providers => "provider list",
            SetKind::Members => "community member list",
        }
    }
}

#[derive(Clone, Debug)]
struct Contribution {
    entries: Vec<PeerAddr>,
    prefix: Option<IpPrefix>,
    refreshed_at: u64,
    expires_at: u64,
    updated_at: u64,
    bytes: usize,
}

#[derive(Clone, Debug)]
struct SetRecord {
    kind: SetKind,
    id: [u8; 32],
    by_source: BTreeMap<NodeId, Contribution>,
    encoded: Vec<u8>,
}

#[derive(Clone, Debug)]
enum Body {
    Single(Single),
    Set(SetRecord),
}

#[derive(Clone, Debug, Default)]
struct Usage {
    values: usize,
    bytes: usize,
    expiry: BTreeSet<(u64, DhtKey)>,
}

/// The DHT records this node keeps.
#[derive(Clone, Debug)]
pub struct RecordStore {
    config: StoreConfig,
    local: NodeId,
    records: HashMap<DhtKey, Body>,
    /// One entry per contribution of other nodes: (expires_at, key, source), the eviction
    /// order.
    expiry: BTreeSet<(u64, DhtKey, NodeId)>,
    /// The same for the local node's own contributions (swept, never evicted).
    local_expiry: BTreeSet<(u64, DhtKey)>,
    usage: HashMap<NodeId, Usage>,
    bytes: usize,
    known_keys: HashMap<ShareId, PubKey>,
    known_order: VecDeque<ShareId>,
}

impl RecordStore {
    /// An empty store for the node `local` (whose own records are exempt from quotas and
    /// eviction).
    pub fn new(local: NodeId, config: StoreConfig) -> Self {
        RecordStore {
            config,
            local,
            records: HashMap::new(),
            expiry: BTreeSet::new(),
            local_expiry: BTreeSet::new(),
            usage: HashMap::new(),
            bytes: 0,
            known_keys: HashMap::new(),
            known_order: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes charged against the byte budget.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `key` holds a record (possibly expired but not yet swept).
    pub fn contains(&self, key: &DhtKey) -> bool {
        self.records.contains_key(key)
    }

    /// Records and bytes charged to `source`.
    pub fn usage_of(&self, source: &NodeId) -> (usize, usize) {
        self.usage.get(source).map(|u| (u.values, u.bytes)).unwrap_or((0, 0))
    }

    /// The share key learned for `share`, if any.
    pub fn known_share_pubkey(&self, share: &ShareId) -> Option<PubKey> {
        self.known_keys.get(share).copied()
    }

    fn quota(&self, of: usize) -> usize {
        (of.saturating_mul(self.config.source_share_percent) / 100).max(1)
    }

    fn add_contrib(&mut self, key: DhtKey, source: NodeId, expires_at: u64, bytes: usize) {
        if source == self.local {
            self.local_expiry.insert((expires_at, key));
        } else {
            self.expiry.insert((expires_at, key, source));
        }
        let u = self.usage.entry(source).or_default();
        u.values += 1;
        u.bytes += bytes;
        u.expiry.insert((expires_at, key));
        self.bytes += bytes;
    }

    fn drop_contrib(&mut self, key: DhtKey, source: NodeId, expires_at: u64, bytes: usize) {
        if source == self.local {
            self.local_expiry.remove(&(expires_at, key));
        } else {
            self.expiry.remove(&(expires_at, key, source));
        }
        if let Some(u) = self.usage.get_mut(&source) {
            u.values = u.values.saturating_sub(1);
            u.bytes = u.bytes.saturating_sub(bytes);
            u.expiry.remove(&(expires_at, key));
            if u.values == 0 {
                self.usage.remove(&source);
            }
        }
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    /// Removes a whole record and its contributions.
    fn remove_record(&mut self, key: &DhtKey) {
        match self.records.remove(key) {
            Some(Body::Single(s)) => self.drop_contrib(*key, s.owner, s.expires_at, single_bytes(&s.value)),
            Some(Body::Set(set)) => {
                for (src, c) in set.by_source {
                    self.drop_contrib(*key, src, c.expires_at, c.bytes);
                }
            }
            None => {}
        }
    }

    /// Removes one contribution (a single record owned by `source`, or `source`'s entries of
    /// a list). Returns whether something was removed.
    fn evict_contribution(&mut self, key: &DhtKey, source: &NodeId) -> bool {
        let (drop, now_empty) = match self.records.get_mut(key) {
            Some(Body::Single(s)) if s.owner == *source => (Some((s.expires_at, single_bytes(&s.value))), true),
            Some(Body::Set(set)) => match set.by_source.remove(source) {
                Some(c) => {
                    let empty = set.by_source.is_empty();
                    if !empty {
                        set.encode(self.config.cap(set.kind));
                    }
                    (Some((c.expires_at, c.bytes)), empty)
                }
                None => (None, false),
            },
            _ => (None, false),
        };
        let Some((expires_at, bytes)) = drop else { return false };
        self.drop_contrib(*key, *source, expires_at, bytes);
        if now_empty {
            self.records.remove(key);
        }
        true
    }

    /// Drops everything that expired at or before `now`. Returns the number of
    /// contributions removed.
    pub fn expire(&mut self, now: u64) -> usize {
        let mut n = 0;
        while let Some(&(exp, key, src)) = self.expiry.first() {
            if exp > now {
                break;
            }
            if !self.evict_contribution(&key, &src) {
                // Index entry without a record: drop it so the sweep always progresses.
                self.expiry.remove(&(exp, key, src));
            }
            n += 1;
        }
        let local = self.local;
        while let Some(&(exp, key)) = self.local_expiry.first() {
            if exp > now {
                break;
            }
            if !self.evict_contribution(&key, &local) {
                self.local_expiry.remove(&(exp, key));
            }
            n += 1;
        }
        n
    }

    /// Remembers the public key of a share, so its heads can be verified. A stored head of
    /// that share that was unverified is verified now, and dropped if it is forged.
    pub fn learn_share_pubkey(&mut self, pubkey: PubKey) {
        let share = pubkey.share_id();
        if self.known_keys.contains_key(&share) {
            return;
        }
        self.known_keys.insert(share, pubkey);
        self.known_order.push_back(share);
        while self.known_order.len() > self.config.max_known_share_keys.max(1) {
            if let Some(old) = self.known_order.pop_front() {
                self.known_keys.remove(&old);
            }
        }
        let key = dht_key::share_head(&share);
        let Some(Body::Single(s)) = self.records.get_mut(&key) else { return };
        let Some(meta) = &mut s.head else { return };
        if meta.verified || !self.config.verify_signatures {
            return;
        }
        let ok = ShareHead::from_payload(&s.value).is_ok_and(|h| h.verify(&pubkey).is_ok());
        if ok {
            meta.verified = true;
        } else {
            self.remove_record(&key);
        }
    }

    /// Handles a STORE from `source` at `now`. See the module documentation for the rules.
    pub fn put(&mut self, store: &Store, source: &Source, now: u64) -> Result<PutOutcome, DhtError> {
        let key = store.key;
        let record = validate_value(&key, &store.value)?;
        let expires_at = now.saturating_add(applied_ttl(store.ttl_secs));
        let new_key = !self.records.contains_key(&key);
        match record {
            Record::ShareHead(h) => self.put_head(key, h, &store.value, source, expires_at, now)?,
            Record::Manifest(m) => {
                let serve_until = m.expires_at;
                if self.config.verify_signatures
                    && let Authenticity::Verified(pk) = authenticate(&key, &Record::Manifest(m), None, now)?
                {
                    self.learn_share_pubkey(pk);
                }
                self.put_single(key, store.value.clone(), source.node_id, expires_at, serve_until, None);
            }
            Record::RelayAnnouncement(_) => {
                self.put_single(key, store.value.clone(), source.node_id, expires_at, None, None)
            }
            Record::Providers(p) => self.put_set(
                key,
                SetKind::Providers,
                p.content_id.0,
                p.providers,
                p.updated_at,
                source,
                expires_at,
                now,
            )?,
            Record::CommunityMembers(c) => self.put_set(
                key,
                SetKind::Members,
                c.community_share_id.0,
                c.members,
                c.updated_at,
                source,
                expires_at,
                now,
            )?,
        }
        let evicted = self.enforce_budgets(&key, &source.node_id, expires_at)?;
        Ok(PutOutcome { new_key, expires_at, evicted })
    }

    fn put_single(
        &mut self,
        key: DhtKey,
        value: Vec<u8>,
        owner: NodeId,
        expires_at: u64,
        serve_until: Option<u64>,
        head: Option<HeadMeta>,
    ) {
        self.remove_record(&key);
        let bytes = single_bytes(&value);
        self.records.insert(key, Body::Single(Single { value, owner, expires_at, serve_until, head }));
        self.add_contrib(key, owner, expires_at, bytes);
    }

    fn put_head(
        &mut self,
        key: DhtKey,
        head: ShareHead,
        value: &[u8],
        source: &Source,
        expires_at: u64,
        now: u64,
    ) -> Result<(), DhtError> {
        let mut verified = false;
        if self.config.verify_signatures {
            let known = self.known_keys.get(&head.share_id).copied();
            let rec = Record::ShareHead(head.clone());
            if let Authenticity::Verified(pk) = authenticate(&key, &rec, known.as_ref(), now)? {
                verified = true;
                // Learning first verifies (or drops) a stored unverified head of this share.
                self.learn_share_pubkey(pk);
            }
        }
        if !verified && self.config.require_verified_heads {
            return Err(DhtError::Unverifiable { share: head.share_id, seq: head.latest_seq });
        }
        let meta = HeadMeta {
            seq: head.latest_seq,
            updated_at: head.updated_at,
            verified,
            has_ext: head.share_pubkey.is_some(),
        };
        let old = match self.records.get(&key) {
            Some(Body::Single(s)) => s.head,
            _ => None,
        };
        let mut keep_old_bytes = false;
        if let Some(old) = old
            && old.verified
        {
            if !verified {
                return Err(DhtError::UnverifiedHead {
                    share: head.share_id,
                    seq: head.latest_seq,
                    stored_seq: old.seq,
                });
            }
            match (meta.seq, meta.updated_at).cmp(&(old.seq, old.updated_at)) {
                std::cmp::Ordering::Less => {
                    return Err(DhtError::StaleHead {
                        share: head.share_id,
                        seq: meta.seq,
                        updated_at: meta.updated_at,
                        stored_seq: old.seq,
                        stored_updated_at: old.updated_at,
                    });
                }
                // The same head again without the extension key: keep the richer bytes.
                std::cmp::Ordering::Equal => keep_old_bytes = old.has_ext && !meta.has_ext,
                std::cmp::Ordering::Greater => {}
            }
        }
        let (new_value, meta) = match self.records.get(&key) {
            Some(Body::Single(s)) if keep_old_bytes => (s.value.clone(), HeadMeta { has_ext: true, ..meta }),
            _ => (value.to_vec(), meta),
        };
        self.put_single(key, new_value, source.node_id, expires_at, None, Some(meta));
        Ok(())
    }

    /// The entries of `offered` that `source` may contribute, its own first, at most
    /// `entries_per_source`.
    fn admissible(&self, offered: Vec<PeerAddr>, source: &Source) -> Vec<PeerAddr> {
        let is_self_key = |p: &PeerAddr| p.pubkey_hint.is_some_and(|k| k.node_id() == source.node_id);
        let mut ok: Vec<(u8, PeerAddr)> = Vec::new();
        for p in offered {
            let same_ip = p.ip.to_canonical() == source.ip;
            let relayed_self = p.relay_via.is_some() && p.pubkey_hint.is_none_or(|k| k.node_id() == source.node_id);
            let allowed = match self.config.entry_policy {
                _ if source.node_id == self.local => true,
                EntryPolicy::Any => true,
                EntryPolicy::SelfOnly => same_ip || relayed_self,
            };
            if !allowed || ok.iter().any(|(_, q)| *q == p) {
                continue;
            }
            let rank = if is_self_key(&p) {
                0
            } else if same_ip {
                1
            } else {
                2
            };
            ok.push((rank, p));
        }
        ok.sort_by_key(|(r, _)| *r);
        ok.into_iter().take(self.config.entries_per_source).map(|(_, p)| p).collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn put_set(
        &mut self,
        key: DhtKey,
        kind: SetKind,
        id: [u8; 32],
        offered: Vec<PeerAddr>,
        updated_at: u64,
        source: &Source,
        expires_at: u64,
        now: u64,
    ) -> Result<(), DhtError> {
        let offered_n = offered.len();
        if offered_n == 0 {
            // An empty list withdraws the source's contribution (a member leaving, a
            // provider that stopped serving); v1 stores merge it as a no-op.
            if self.evict_contribution_keep_record(&key, &source.node_id)
                && let Some(Body::Set(s)) = self.records.get_mut(&key)
            {
                if s.by_source.is_empty() {
                    self.records.remove(&key);
                } else {
                    s.encode(self.config.cap(kind));
                }
            }
            return Ok(());
        }
        let mut chosen = self.admissible(offered, source);
        if chosen.is_empty() {
            return Err(DhtError::NoAcceptableEntries {
                what: kind.name(),
                key,
                reason: if offered_n == 0 {
                    "the list is empty".into()
                } else {
                    format!("none of its {offered_n} addresses is an address of the storing node {}", source.ip)
                },
            });
        }
        if !matches!(self.records.get(&key), Some(Body::Set(s)) if s.kind == kind) {
            self.remove_record(&key);
            self.records
                .insert(key, Body::Set(SetRecord { kind, id, by_source: BTreeMap::new(), encoded: Vec::new() }));
        }
        // The source's previous contribution is replaced.
        let mut changed = self.evict_contribution_keep_record(&key, &source.node_id);
        let cap = self.config.cap(kind);
        let limit = self.config.max_per_prefix_when_full;
        let src_prefix = IpPrefix::limited(&source.ip, self.config.exempt_loopback);
        while let Some(Body::Set(set)) = self.records.get(&key) {
            let count = set.entry_count();
            if count + chosen.len() <= cap {
                break;
            }
            if let Some(p) = src_prefix {
                let own = set.prefix_count(p);
                if own + chosen.len() > limit {
                    if let Some(victim) = set.oldest_in_prefix(p) {
                        changed |= self.evict_contribution_keep_record(&key, &victim);
                    } else {
                        chosen.truncate(limit);
                        if chosen.is_empty() {
                            break;
                        }
                    }
                    continue;
                }
            }
            if let Some(victim) = set.most_crowded(limit).and_then(|p| set.oldest_in_prefix(p)) {
                changed |= self.evict_contribution_keep_record(&key, &victim);
                continue;
            }
            chosen.truncate(cap.saturating_sub(count));
            break;
        }
        if chosen.is_empty() {
            match self.records.get_mut(&key) {
                Some(Body::Set(s)) if s.by_source.is_empty() => {
                    self.records.remove(&key);
                }
                Some(Body::Set(s)) if changed => s.encode(cap),
                _ => {}
            }
            return Err(DhtError::NoAcceptableEntries {
                what: kind.name(),
                key,
                reason: format!("the list is full ({cap} entries from networks that may not be displaced)"),
            });
        }
        let bytes = contribution_bytes(&chosen);
        let c = Contribution {
            entries: chosen,
            prefix: src_prefix,
            refreshed_at: now,
            expires_at,
            updated_at: updated_at.min(now),
            bytes,
        };
        if let Some(Body::Set(set)) = self.records.get_mut(&key) {
            set.by_source.insert(source.node_id, c);
            set.encode(cap);
        }
        self.add_contrib(key, source.node_id, expires_at, bytes);
        Ok(())
    }

    /// Like [`Self::evict_contribution`] but leaves an emptied list in place (it is about to
    /// receive a new contribution).
    fn evict_contribution_keep_record(&mut self, key: &DhtKey, source: &NodeId) -> bool {
        let Some(Body::Set(set)) = self.records.get_mut(key) else { return false };
        let Some(c) = set.by_source.remove(source) else { return false };
        self.drop_contrib(*key, *source, c.expires_at, c.bytes);
        true
    }

    /// Evicts until quotas and budgets hold; fails when the contribution just stored is
    /// the one that has to go.
    fn enforce_budgets(&mut self, key: &DhtKey, source: &NodeId, expires_at: u64) -> Result<usize, DhtError> {
        let mut evicted = 0;
        let mut lost_new = None;
        if *source != self.local {
            let (max_values, max_bytes) = (self.quota(self.config.max_values), self.quota(self.config.max_bytes));
            while let Some(u) = self.usage.get(source) {
                if u.values <= max_values && u.bytes <= max_bytes {
                    break;
                }
                let Some(&(exp, k)) = u.expiry.first() else { break };
                if !self.evict_contribution(&k, source) {
                    if let Some(u) = self.usage.get_mut(source) {
                        u.expiry.remove(&(exp, k));
                    }
                    continue;
                }
                evicted += 1;
                if k == *key && exp == expires_at {
                    lost_new.get_or_insert(DhtError::QuotaExceeded { key: *key, source_id: source.to_hex() });
                }
            }
        }
        while self.records.len() > self.config.max_values || self.bytes > self.config.max_bytes {
            // The soonest-expiring contribution (the local node's own are not in this index).
            let Some(&(exp, k, s)) = self.expiry.first() else { break };
            if !self.evict_contribution(&k, &s) {
                self.expiry.remove(&(exp, k, s));
                continue;
            }
            evicted += 1;
            if k == *key && s == *source && exp == expires_at {
                let bytes = self.bytes;
                lost_new.get_or_insert(DhtError::StoreFull { key: *key, bytes });
            }
        }
        match lost_new {
            Some(e) => Err(e),
            None => Ok(evicted),
        }
    }

    /// The record at `key` for a FIND_VALUE answer at `now`: the stored bytes (lists are
    /// re-encoded from their live entries, most recently refreshed first) with the remaining
    /// TTL, at least 1. `None` when absent, expired or no longer servable. The value was
    /// validated when stored and is immutable since, so serving only re-checks what depends
    /// on time.
    pub fn get(&mut self, key: &DhtKey, now: u64) -> Option<Store> {
        let expired: Vec<NodeId> = match self.records.get(key)? {
            Body::Single(s) => {
                if s.expires_at <= now || s.serve_until.is_some_and(|u| u < now) {
                    return None;
                }
                return Some(Store { key: *key, value: s.value.clone(), ttl_secs: (s.expires_at - now).max(1) });
            }
            Body::Set(set) => set.by_source.iter().filter(|(_, c)| c.expires_at <= now).map(|(s, _)| *s).collect(),
        };
        for s in expired {
            self.evict_contribution(key, &s);
        }
        let Some(Body::Set(set)) = self.records.get(key) else { return None };
        let expires_at = set.by_source.values().map(|c| c.expires_at).max()?;
        Some(Store { key: *key, value: set.encoded.clone(), ttl_secs: expires_at.saturating_sub(now).max(1) })
    }
}

impl StoreConfig {
    fn cap(&self, kind: SetKind) -> usize {
        match kind {
            SetKind::Providers => self.max_providers,
            SetKind::Members => self.max_members,
        }
    }
}

fn single_bytes(value: &[u8]) -> usize {
    value.len() + RECORD_OVERHEAD
}

fn contribution_bytes(entries: &[PeerAddr]) -> usize {
    // The entries, plus their share of the encoded list kept for serving.
    entries.iter().map(|p| 2 * trove_proto::cbor::to_vec(p).len() + ENTRY_OVERHEAD).sum()
}

impl SetRecord {
    fn entry_count(&self) -> usize {
        self.by_source.values().map(|c| c.entries.len()).sum()
    }

    fn prefix_count(&self, p: IpPrefix) -> usize {
        self.by_source.values().filter(|c| c.prefix == Some(p)).map(|c| c.entries.len()).sum()
    }

    /// The network holding the most entries, if that is more than `limit` (ties: the
    /// smallest prefix).
    fn most_crowded(&self, limit: usize) -> Option<IpPrefix> {
        let mut counts: BTreeMap<IpPrefix, usize> = BTreeMap::new();
        for c in self.by_source.values() {
            if let Some(p) = c.prefix {
                *counts.entry(p).or_insert(0) += c.entries.len();
            }
        }
        let max = counts.values().copied().max()?;
        if max <= limit {
            return None;
        }
        counts.into_iter().find(|(_, n)| *n == max).map(|(p, _)| p)
    }

    /// The least recently refreshed contribution of network `p` (ties: smallest node id).
    fn oldest_in_prefix(&self, p: IpPrefix) -> Option<NodeId> {
        self.by_source
            .iter()
            .filter(|(_, c)| c.prefix == Some(p))
            .min_by_key(|(s, c)| (c.refreshed_at, **s))
            .map(|(s, _)| *s)
    }

    /// Re-encodes the served value: entries most recently refreshed first, duplicates
    /// removed, at most `cap`, within the 64 KiB value limit.
    fn encode(&mut self, cap: usize) {
        let mut contribs: Vec<(&NodeId, &Contribution)> = self.by_source.iter().collect();
        contribs.sort_by(|a, b| b.1.refreshed_at.cmp(&a.1.refreshed_at).then(a.0.cmp(b.0)));
        let updated_at = contribs.iter().map(|(_, c)| c.updated_at).max().unwrap_or(0);
        let mut list: Vec<PeerAddr> = Vec::new();
        for (_, c) in &contribs {
            for e in &c.entries {
                if list.len() < cap && !list.contains(e) {
                    list.push(e.clone());
                }
            }
        }
        loop {
            let bytes = match self.kind {
                SetKind::Providers => {
                    Providers { content_id: ContentId(self.id), providers: list.clone(), updated_at }.to_payload()
                }
                SetKind::Members => {
                    let mut m =
                        CommunityMembers { community_share_id: ShareId(self.id), members: vec![], updated_at: 0 };
                    m.merge(&CommunityMembers {
                        community_share_id: ShareId(self.id),
                        members: list.clone(),
                        updated_at,
                    });
                    m.to_payload()
                }
            };
            if bytes.len() <= MAX_DHT_VALUE_BYTES || list.is_empty() {
                self.encoded = bytes;
                return;
            }
            list.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::IpAddr;
    use trove_proto::Keypair;
    use trove_proto::ManifestId;
    use trove_proto::wire::{Item, Manifest, Transport, Visibility};

    const T0: u64 = 1_700_000_000;

    fn src(i: u32, ip: &str) -> Source {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        Source::new(PubKey(k).node_id(), ip.parse().unwrap())
    }

    fn addr(ip: &str, port: u16) -> PeerAddr {
        PeerAddr::new(std::net::SocketAddr::new(ip.parse().unwrap(), port), Transport::Tcp)
    }

    fn store() -> RecordStore {
        RecordStore::new(NodeId([0xee; 20]), StoreConfig::default())
    }

    fn head(share: &Keypair, seq: u64, updated: u64, ext: bool) -> Store {
        let h = ShareHead::sign(share, seq, ManifestId([seq as u8; 32]), updated);
        let h = if ext { h } else { h.without_extension() };
        Store { key: dht_key::share_head(&share.share_id()), value: h.to_payload(), ttl_secs: 0 }
    }

    fn providers(content: u32, entries: Vec<PeerAddr>) -> Store {
        let mut c = [0u8; 32];
        c[..4].copy_from_slice(&content.to_be_bytes());
        let p = Providers { content_id: ContentId(c), providers: entries, updated_at: T0 };
        Store { key: dht_key::content_providers(&p.content_id), value: p.to_payload(), ttl_secs: 0 }
    }

    fn served_providers(st: &mut RecordStore, key: &DhtKey, now: u64) -> Vec<PeerAddr> {
        Providers::from_payload(&st.get(key, now).unwrap().value).unwrap().providers
    }

    fn manifest(share: &Keypair) -> Store {
        let mut m = Manifest {
            version: 1,
            share_pubkey: share.public(),
            share_id: share.share_id(),
            seq: 1,
            created_at: T0,
            expires_at: None,
            title: None,
            description: None,
            visibility: Visibility::Private,
            communities: vec![],
            items: vec![Item {
                content_id: ContentId([1; 32]),
                size: 1,
                name: "x".into(),
                path: None,
                mime: None,
                tags: vec![],
                chunk_count: 1,
                chunk_list_hash: [2; 32],
            }],
            recommended_shares: vec![],
            signature: None,
        };
        m.sign(share);
        Store { key: dht_key::manifest_loc(&m.manifest_id()), value: m.to_bytes(), ttl_secs: 0 }
    }

    #[test]
    fn ttl_is_clamped_and_reported_as_remaining() {
        assert_eq!(applied_ttl(0), 86_400);
        assert_eq!(applied_ttl(100_000), 100_000);
        assert_eq!(applied_ttl(1 << 63), 604_800);
        assert_eq!(applied_ttl(u64::MAX), 604_800);
        let mut st = store();
        let share = Keypair::from_seed([1; 32]);
        let s = Store { ttl_secs: 1 << 63, ..head(&share, 1, 1, true) };
        let out = st.put(&s, &src(1, "10.0.0.1"), T0).unwrap();
        assert_eq!(out.expires_at, T0 + 604_800);
        assert_eq!(st.get(&s.key, T0 + 4).unwrap().ttl_secs, 604_796);
        assert_eq!(st.get(&s.key, T0 + 604_799).unwrap().ttl_secs, 1);
        assert!(st.get(&s.key, T0 + 604_800).is_none(), "expired records are not served");
        // Near u64::MAX nothing overflows.
        assert_eq!(st.put(&s, &src(1, "10.0.0.1"), u64::MAX - 5).unwrap().expires_at, u64::MAX);
    }

    #[test]
    fn heads_verify_and_never_go_backwards() {
        let mut st = store();
        let share = Keypair::from_seed([1; 32]);
        let a = src(1, "10.0.0.1");
        let key = dht_key::share_head(&share.share_id());
        // A v1 head (no key anywhere) is stored unverified, as v1 does; this one is forged.
        let mut forged = ShareHead::sign(&share, 5, ManifestId([5; 32]), 50).without_extension();
        forged.updated_at += 1;
        st.put(&Store { key, value: forged.to_payload(), ttl_secs: 0 }, &a, T0).unwrap();
        // A verified head replaces it even with a lower seq (learning the key shows the
        // stored one is forged; a genuine one would have become verified and kept its seq).
        st.put(&head(&share, 3, 30, true), &a, T0).unwrap();
        assert_eq!(st.known_share_pubkey(&share.share_id()), Some(share.public()));
        // Older verified heads are refused; equal seq with a later updated_at wins.
        let e = st.put(&head(&share, 2, 99, true), &a, T0).unwrap_err();
        assert!(matches!(e, DhtError::StaleHead { seq: 2, stored_seq: 3, .. }), "{e}");
        assert!(matches!(st.put(&head(&share, 3, 29, false), &a, T0), Err(DhtError::StaleHead { .. })));
        st.put(&head(&share, 3, 31, false), &a, T0).unwrap();
        // A v1 copy (no extension) of a newer head verifies with the learned key.
        st.put(&head(&share, 4, 40, false), &a, T0).unwrap();
        // The same head again with the extension, then without: the richer bytes stay.
        st.put(&head(&share, 4, 40, true), &a, T0).unwrap();
        st.put(&head(&share, 4, 40, false), &a, T0 + 10).unwrap();
        let got = ShareHead::from_payload(&st.get(&key, T0 + 10).unwrap().value).unwrap();
        assert_eq!((got.latest_seq, got.share_pubkey), (4, Some(share.public())));
        assert_eq!(st.get(&key, T0 + 10).unwrap().ttl_secs, 86_400, "the refresh extended the TTL");
        // Forged: seq 2^64-1 with the old signature, with or without the extension key.
        for ext in [true, false] {
            let mut f = ShareHead::sign(&share, 4, ManifestId([4; 32]), 40);
            f.latest_seq = u64::MAX;
            if !ext {
                f = f.without_extension();
            }
            let s = Store { key, value: f.to_payload(), ttl_secs: 0 };
            assert!(matches!(st.put(&s, &a, T0), Err(DhtError::Forged { .. })));
        }
        // An extension key of another share is refused too.
        let other = Keypair::from_seed([2; 32]);
        let mut f = ShareHead::sign(&share, 9, ManifestId([9; 32]), 90);
        f.share_pubkey = Some(other.public());
        assert!(st.put(&Store { key, value: f.to_payload(), ttl_secs: 0 }, &a, T0).is_err());
        let got = ShareHead::from_payload(&st.get(&key, T0).unwrap().value).unwrap();
        assert_eq!(got.latest_seq, 4);
    }

    #[test]
    fn unverified_heads_never_replace_verified_ones() {
        // With only one remembered share key, learning a second forgets the first.
        let cfg = StoreConfig { max_known_share_keys: 1, ..Default::default() };
        let mut st = RecordStore::new(NodeId([0xee; 20]), cfg);
        let share = Keypair::from_seed([1; 32]);
        let a = src(1, "10.0.0.1");
        st.put(&head(&share, 3, 30, true), &a, T0).unwrap();
        st.learn_share_pubkey(Keypair::from_seed([2; 32]).public());
        assert_eq!(st.known_share_pubkey(&share.share_id()), None);
        let e = st.put(&head(&share, 9, 90, false), &a, T0).unwrap_err();
        assert!(matches!(e, DhtError::UnverifiedHead { seq: 9, stored_seq: 3, .. }), "{e}");
        assert!(e.to_string().contains("unverified"));
    }

    #[test]
    fn a_learned_manifest_key_verifies_or_drops_stored_heads() {
        let share = Keypair::from_seed([1; 32]);
        let a = src(1, "10.0.0.1");
        let key = dht_key::share_head(&share.share_id());
        // A forged v1 head is accepted while nobody knows the key...
        let mut st = store();
        let mut f = ShareHead::sign(&share, 1, ManifestId([1; 32]), 1).without_extension();
        f.latest_seq = u64::MAX;
        st.put(&Store { key, value: f.to_payload(), ttl_secs: 0 }, &a, T0).unwrap();
        // ...and dropped once the share's manifest teaches the store the key.
        st.put(&manifest(&share), &a, T0).unwrap();
        assert!(st.get(&key, T0).is_none());
        st.put(&head(&share, 2, 2, false), &a, T0).unwrap();
        assert!(matches!(st.put(&head(&share, 1, 1, false), &a, T0), Err(DhtError::StaleHead { .. })));
        // A genuine v1 head stored first becomes verified when the key is learned.
        let mut st = store();
        st.put(&head(&share, 5, 5, false), &a, T0).unwrap();
        st.learn_share_pubkey(share.public());
        assert!(matches!(st.put(&head(&share, 4, 4, false), &a, T0), Err(DhtError::StaleHead { .. })));
        // A tampered manifest is refused.
        let mut m = Manifest::from_bytes(&manifest(&share).value).unwrap();
        m.seq = 99;
        let tampered = Store { key: dht_key::manifest_loc(&m.manifest_id()), value: m.to_bytes(), ttl_secs: 0 };
        assert!(matches!(st.put(&tampered, &a, T0), Err(DhtError::Forged { .. })));
    }

    #[test]
    fn community_members_are_merged_per_source() {
        let mut st = store();
        let community = ShareId([4; 32]);
        let key = dht_key::community_info(&community);
        let members = |m: Vec<PeerAddr>, upd: u64| Store {
            key,
            value: CommunityMembers { community_share_id: community, members: m, updated_at: upd }.to_payload(),
            ttl_secs: 0,
        };
        let (a, b) = (src(1, "10.0.1.1"), src(2, "10.0.2.1"));
        st.put(&members(vec![addr("10.0.1.1", 7001)], T0 - 5), &a, T0).unwrap();
        st.put(&members(vec![addr("10.0.2.1", 7001), addr("10.0.1.1", 7001)], T0 - 9), &b, T0 + 1).unwrap();
        let got = CommunityMembers::from_payload(&st.get(&key, T0 + 1).unwrap().value).unwrap();
        // b may not list a's address; the union is both, most recently refreshed first.
        assert_eq!(got.members, vec![addr("10.0.2.1", 7001), addr("10.0.1.1", 7001)]);
        assert_eq!(got.updated_at, T0 - 5);
        // a's re-store replaces a's own entry.
        st.put(&members(vec![addr("10.0.1.1", 7002)], T0), &a, T0 + 2).unwrap();
        let got = CommunityMembers::from_payload(&st.get(&key, T0 + 2).unwrap().value).unwrap();
        assert_eq!(got.members, vec![addr("10.0.1.1", 7002), addr("10.0.2.1", 7001)]);
        // A member's entry expires on its own schedule: b refreshed nothing.
        let got = CommunityMembers::from_payload(&st.get(&key, T0 + 1 + 86_400).unwrap().value).unwrap();
        assert_eq!(got.members, vec![addr("10.0.1.1", 7002)]);
        assert!(st.get(&key, T0 + 2 + 86_400).is_none());
        assert!(st.is_empty() && st.bytes() == 0);
    }

    #[test]
    fn an_empty_member_list_withdraws_only_its_sources_entries() {
        let mut st = store();
        let community = ShareId([4; 32]);
        let key = dht_key::community_info(&community);
        let members = |m: Vec<PeerAddr>| Store {
            key,
            value: CommunityMembers { community_share_id: community, members: m, updated_at: T0 }.to_payload(),
            ttl_secs: 0,
        };
        let (a, b) = (src(1, "10.0.1.1"), src(2, "10.0.2.1"));
        st.put(&members(vec![addr("10.0.1.1", 7001)]), &a, T0).unwrap();
        st.put(&members(vec![addr("10.0.2.1", 7001)]), &b, T0).unwrap();
        // b leaves: its entry goes, a's stays.
        st.put(&members(vec![]), &b, T0 + 1).unwrap();
        let got = CommunityMembers::from_payload(&st.get(&key, T0 + 1).unwrap().value).unwrap();
        assert_eq!(got.members, vec![addr("10.0.1.1", 7001)]);
        // a leaves too: nothing is left, not even the key; a repeated leave is harmless.
        st.put(&members(vec![]), &a, T0 + 2).unwrap();
        st.put(&members(vec![]), &a, T0 + 3).unwrap();
        assert!(st.get(&key, T0 + 3).is_none());
        assert!(st.is_empty() && st.bytes() == 0);
    }

    #[test]
    fn providers_are_attributed_capped_and_self_only() {
        let mut st = store();
        let a = src(1, "10.0.1.1");
        let six: Vec<PeerAddr> = (0..6).map(|i| addr("10.0.1.1", 7000 + i)).collect();
        let s = providers(1, six.clone());
        st.put(&s, &a, T0).unwrap();
        assert_eq!(served_providers(&mut st, &s.key, T0), six[..4].to_vec(), "4 entries per source");
        // A victim's address is never stored; a relayed self address is.
        let victim = addr("192.0.2.66", 80);
        let e = st.put(&providers(1, vec![victim.clone()]), &src(2, "10.0.2.1"), T0).unwrap_err();
        assert!(e.to_string().contains("192.0.2.66") || e.to_string().contains("10.0.2.1"), "{e}");
        assert_eq!(e.wire_text(), "dht provider list has no acceptable entries");
        let mut relayed = addr("192.168.1.5", 7001);
        relayed.relay_via =
            Some(Box::new(trove_proto::wire::RelayRoute { relay_addr: addr("203.0.113.9", 7001), slot_id: 7 }));
        st.put(&providers(1, vec![victim.clone(), relayed.clone()]), &src(3, "10.0.3.1"), T0 + 1).unwrap();
        let got = served_providers(&mut st, &s.key, T0 + 1);
        assert!(!got.contains(&victim));
        assert_eq!(got[0], relayed, "most recently refreshed first");
        // The v1 policy accepts anything.
        let mut any =
            RecordStore::new(NodeId([0xee; 20]), StoreConfig { entry_policy: EntryPolicy::Any, ..Default::default() });
        any.put(&providers(1, vec![victim.clone()]), &src(2, "10.0.2.1"), T0).unwrap();
        assert_eq!(served_providers(&mut any, &s.key, T0), vec![victim]);
    }

    /// A tiny deterministic generator for shuffles.
    fn shuffle<T>(v: &mut [T], mut seed: u64) {
        for i in (1..v.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v.swap(i, (seed % (i as u64 + 1)) as usize);
        }
    }

    #[test]
    fn provider_flood_keeps_the_legitimate_provider_and_ip_diversity() {
        // DH-2: 10,000 distinct sources in 1,000 /24s flood one key after a legitimate
        // provider stored itself.
        for trial in 0..3u64 {
            let mut st = store();
            let legit = addr("198.51.100.7", 7001);
            let key = providers(9, vec![]).key;
            st.put(&providers(9, vec![legit.clone()]), &src(1, "198.51.100.7"), T0).unwrap();
            let mut flood: Vec<u32> = (0..10_000).collect();
            shuffle(&mut flood, 0x9e37_79b9 + trial);
            let victim = addr("192.0.2.66", 80);
            for (n, i) in flood.into_iter().enumerate() {
                let ip = format!("100.{}.{}.{}", i / 1000 % 250, i % 1000 / 4, 10 + i % 10);
                let _ = st.put(
                    &providers(9, vec![addr(&ip, 7001), victim.clone()]),
                    &src(100 + i, &ip),
                    T0 + 1 + n as u64 / 100,
                );
            }
            let got = served_providers(&mut st, &key, T0 + 200);
            assert!(got.len() <= 64 && got.len() >= 60, "{} entries", got.len());
            assert!(got.contains(&legit), "trial {trial}: the legitimate provider was displaced");
            assert!(!got.contains(&victim));
            let mut per_net: HashMap<IpPrefix, usize> = HashMap::new();
            for p in &got {
                *per_net.entry(IpPrefix::of(&p.ip)).or_default() += 1;
            }
            assert!(per_net.values().all(|n| *n <= 2), "{per_net:?}");
        }
    }

    #[test]
    fn count_budget_evicts_the_soonest_expiring_deterministically() {
        let cfg = StoreConfig { max_values: 10, source_share_percent: 100, ..Default::default() };
        let run = || {
            let mut st = RecordStore::new(NodeId([0xee; 20]), cfg.clone());
            let mut results = Vec::new();
            for i in 0..15u32 {
                let ip = format!("10.0.{i}.1");
                // TTLs 1 day + i hours, except two that ask for the maximum.
                let ttl = if i % 7 == 3 { 1 << 63 } else { 86_400 + 3600 * i as u64 };
                let s = Store { ttl_secs: ttl, ..providers(i, vec![addr(&ip, 7001)]) };
                results.push(st.put(&s, &src(i, &ip), T0).map(|o| o.evicted).map_err(|e| e.wire_text()));
            }
            (st, results)
        };
        let (mut st, results) = run();
        assert_eq!(st.len(), 10);
        // The first ten fit; each later one evicts the soonest-expiring: the oldest low-TTL ones.
        assert_eq!(results[..10], vec![Ok(0); 10][..]);
        let kept: HashSet<u32> = (0..15).filter(|i| st.get(&providers(*i, vec![]).key, T0).is_some()).collect();
        let expect: HashSet<u32> = [3, 6, 7, 8, 9, 10, 11, 12, 13, 14].into_iter().collect();
        assert_eq!(kept, expect);
        // Same inputs, same outcome.
        let (st2, results2) = run();
        assert_eq!(results, results2);
        assert_eq!(st.bytes(), st2.bytes());
        // A new record that would itself be the first to go is refused.
        let mut st3 = run().0;
        let short = Store { ttl_secs: 0, ..providers(99, vec![addr("10.9.9.9", 7001)]) };
        let e = st3.put(&short, &src(99, "10.9.9.9"), T0).unwrap_err();
        assert_eq!(e.wire_text(), "dht store is full");
        assert_eq!(st3.len(), 10);
        assert!(st3.get(&short.key, T0).is_none());
    }

    #[test]
    fn byte_budget_and_per_source_quota() {
        let share_bytes = |st: &RecordStore| st.bytes();
        let cfg = StoreConfig { max_bytes: 4_000, source_share_percent: 100, ..Default::default() };
        let mut st = RecordStore::new(NodeId([0xee; 20]), cfg);
        for i in 0..40u32 {
            let ip = format!("10.0.{i}.1");
            let _ = st.put(&providers(i, vec![addr(&ip, 7001)]), &src(i, &ip), T0 + i as u64);
            assert!(share_bytes(&st) <= 4_000);
        }
        assert!(st.len() < 40 && st.len() > 5);
        // The newest survive (all had the same TTL, so the oldest expire first).
        assert!(st.get(&providers(39, vec![]).key, T0 + 39).is_some());
        assert!(st.get(&providers(0, vec![]).key, T0 + 39).is_none());

        // Quota: 20% of 10 records = 2 per source.
        let cfg = StoreConfig { max_values: 10, source_share_percent: 20, ..Default::default() };
        let mut st = RecordStore::new(NodeId([0xee; 20]), cfg);
        let a = src(1, "10.0.1.1");
        let mine = |i: u32, ttl: u64| Store { ttl_secs: ttl, ..providers(i, vec![addr("10.0.1.1", 7001)]) };
        st.put(&mine(0, 100_000), &a, T0).unwrap();
        st.put(&mine(1, 200_000), &a, T0).unwrap();
        st.put(&mine(2, 300_000), &a, T0).unwrap();
        assert_eq!(st.usage_of(&a.node_id).0, 2);
        assert!(st.get(&mine(0, 0).key, T0).is_none(), "its own soonest-expiring record went");
        let e = st.put(&mine(3, 0), &a, T0).unwrap_err();
        assert!(matches!(e, DhtError::QuotaExceeded { .. }), "{e}");
        assert_eq!(st.usage_of(&a.node_id).0, 2);
        // Others are unaffected, and the local node is exempt.
        st.put(&providers(4, vec![addr("10.0.2.1", 1)]), &src(2, "10.0.2.1"), T0).unwrap();
        let local = Source::new(NodeId([0xee; 20]), "127.0.0.1".parse::<IpAddr>().unwrap());
        for i in 10..15 {
            st.put(&providers(i, vec![addr("198.51.100.1", 1)]), &local, T0).unwrap();
        }
        assert_eq!(st.usage_of(&local.node_id).0, 5);
    }

    #[test]
    fn expire_sweeps_in_order() {
        let mut st = store();
        for i in 0..5u32 {
            let ip = format!("10.0.{i}.1");
            let s = Store { ttl_secs: 86_400 + i as u64 * 10, ..providers(i, vec![addr(&ip, 1)]) };
            st.put(&s, &src(i, &ip), T0).unwrap();
        }
        assert_eq!(st.expire(T0 + 86_400 + 15), 2);
        assert_eq!(st.len(), 3);
        assert_eq!(st.expire(T0 + 86_400 + 15), 0);
        assert_eq!(st.expire(u64::MAX), 3);
        assert!(st.is_empty() && st.bytes() == 0 && st.usage.is_empty() && st.expiry.is_empty());
        // The local node's own records are swept too, and never evicted for budget.
        let cfg = StoreConfig { max_values: 2, ..Default::default() };
        let mut st = RecordStore::new(NodeId([0xee; 20]), cfg);
        let local = Source::new(NodeId([0xee; 20]), "127.0.0.1".parse::<IpAddr>().unwrap());
        for i in 0..3 {
            st.put(&providers(i, vec![addr("198.51.100.1", 1)]), &local, T0).unwrap();
        }
        let e = st.put(&providers(9, vec![addr("10.0.0.9", 1)]), &src(9, "10.0.0.9"), T0).unwrap_err();
        assert_eq!(e.wire_text(), "dht store is full");
        assert_eq!(st.len(), 3);
        assert_eq!(st.expire(T0 + 86_400), 3);
        assert!(st.is_empty() && st.local_expiry.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_stores_never_panic(
            value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            key in proptest::prelude::any::<[u8; 32]>(),
            ttl in proptest::prelude::any::<u64>(),
            now in proptest::prelude::any::<u64>(),
        ) {
            let mut st = store();
            let s = Store { key: DhtKey(key), value, ttl_secs: ttl };
            let _ = st.put(&s, &src(1, "10.0.0.1"), now);
            let _ = st.get(&s.key, now);
            st.expire(now);
        }
    }
}
