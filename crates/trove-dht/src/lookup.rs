//! The iterative Kademlia lookup as a state machine, for FIND_NODE and FIND_VALUE.
//!
//! The driver calls [`Lookup::poll`] and sends every [`LookupAction::Query`] it returns,
//! then reports each outcome with [`Lookup::on_response`], [`Lookup::on_failure`] or
//! [`Lookup::on_timeout`], and polls again; [`Lookup::next_deadline`] says when to poll if
//! nothing else happens. The lookup ends with exactly one [`LookupAction::Finished`].
//!
//! Rules: candidates are ordered by XOR distance to the target (peers without a
//! `pubkey_hint` have no known id and sort last); at most `alpha` queries are in flight per
//! path; a query not answered within `query_timeout_secs` counts as failed, but a late
//! answer is still used; the lookup ends when the `k` closest candidates that have not failed
//! have all answered and nothing is in flight (or no candidate is left). At most
//! `max_per_prefix` candidates of one /24 or /48 are used among the closest, so one network
//! cannot fill the result. One bad, silent or garbage peer never aborts a lookup: it just
//! counts as failed. A peer that returns an invalid or forged value is counted as
//! misbehaving and everything else in its answer is ignored; once `max_per_prefix` peers of
//! one network have misbehaved, the lookup asks no other peer of that network.
//!
//! FIND_VALUE values are checked with [`validate_value`] and [`authenticate`]. By default the
//! lookup stops at the first valid value ([`ValueMode::First`]); share-head lookups
//! ([`ValueMode::FreshestHead`]) keep going and keep the freshest valid head (verified before
//! unverified, then higher `latest_seq`, then later `updated_at`). Peers that answered without
//! the value, or with an older head, are listed in [`LookupResult::missing_value`] so the
//! driver can store the value there.
//!
//! With `disjoint_paths = d > 1` the lookup runs d independent paths that never share a peer
//! (S/Kademlia): the seeds are dealt round-robin, every peer belongs to the first path that
//! heard of it, and each path ends by the rule above. The result merges all paths.

use crate::distance::Distance;
use crate::id_cache::IdCache;
use crate::prefix::IpPrefix;
use crate::validate::{Authenticity, Record, authenticate, validate_value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use trove_proto::wire::{FindNode, FindValue, MsgType, Payload, PeerAddr, Store, Transport};
use trove_proto::{DhtKey, NodeId, PubKey, dht_key};

/// Lookup settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupConfig {
    /// Result size and termination width (K). Default 20.
    pub k: usize,
    /// Queries in flight per path. Default 3.
    pub alpha: usize,
    /// Seconds before an unanswered query counts as failed. Default 3 (the v1 DHT timeout).
    pub query_timeout_secs: u64,
    /// Independent paths sharing no peers (1 = classic Kademlia). Default 1.
    pub disjoint_paths: usize,
    /// Most candidates of one IPv4 /24 or IPv6 /48 used among the closest; `None` = no
    /// limit. Default `Some(2)`.
    pub max_per_prefix: Option<usize>,
    /// Lift the prefix limit for loopback addresses (local test networks). Default false.
    pub exempt_loopback: bool,
    /// Peers taken from one answer (the closest ones). Default 20.
    pub max_peers_per_response: usize,
    /// Candidates remembered per path; the farthest not yet contacted are dropped beyond
    /// this. Default 512.
    pub max_candidates: usize,
}

impl Default for LookupConfig {
    fn default() -> Self {
        LookupConfig {
            k: 20,
            alpha: 3,
            query_timeout_secs: 3,
            disjoint_paths: 1,
            max_per_prefix: Some(2),
            exempt_loopback: false,
            max_peers_per_response: 20,
            max_candidates: 512,
        }
    }
}

/// What to do with values found by a FIND_VALUE lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueMode {
    /// Stop at the first valid value.
    First,
    /// Query everything the lookup would, keep the freshest valid share head.
    FreshestHead,
}

/// What a FIND_VALUE lookup looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueTarget {
    pub key: DhtKey,
    pub mode: ValueMode,
    /// The share key, when known, to verify heads found (heads that fail are forged).
    pub share_pubkey: Option<PubKey>,
}

impl ValueTarget {
    /// Any value at `key`; stop at the first valid one.
    pub fn first(key: DhtKey) -> Self {
        ValueTarget { key, mode: ValueMode::First, share_pubkey: None }
    }

    /// The freshest head of the share with this key, verified with it.
    pub fn share_head(share_pubkey: PubKey) -> Self {
        ValueTarget {
            key: dht_key::share_head(&share_pubkey.share_id()),
            mode: ValueMode::FreshestHead,
            share_pubkey: Some(share_pubkey),
        }
    }
}

/// The request a query sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryRequest {
    FindNode(FindNode),
    FindValue(FindValue),
}

impl QueryRequest {
    /// The envelope type code.
    pub fn msg_type(&self) -> MsgType {
        match self {
            QueryRequest::FindNode(_) => MsgType::FIND_NODE,
            QueryRequest::FindValue(_) => MsgType::FIND_VALUE,
        }
    }

    /// The envelope payload.
    pub fn to_payload(&self) -> Vec<u8> {
        match self {
            QueryRequest::FindNode(r) => r.to_payload(),
            QueryRequest::FindValue(r) => r.to_payload(),
        }
    }
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupAction {
    /// Send `request` to `peer` and report the outcome.
    Query { peer: PeerAddr, request: QueryRequest },
    /// The lookup is over; answers to queries still in flight may be dropped.
    Finished(Box<LookupResult>),
}

/// A value a FIND_VALUE lookup accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundValue {
    /// The record as received (key, value bytes, remaining TTL reported by the peer).
    pub store: Store,
    /// The decoded value.
    pub record: Record,
    /// Whether its signature was verified.
    pub authenticity: Authenticity,
    /// The first peer that sent the winning value.
    pub from: PeerAddr,
}

/// The outcome of a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupResult {
    /// The lookup target (for FIND_VALUE, the key's first 20 bytes).
    pub target: NodeId,
    /// Up to K peers that answered, closest first.
    pub closest: Vec<PeerAddr>,
    /// The accepted value (FIND_VALUE only).
    pub value: Option<FoundValue>,
    /// Those of `closest` that answered without the value or with an older head: where the
    /// driver may store the value it found.
    pub missing_value: Vec<PeerAddr>,
    /// Peers that failed or timed out (for `mark_failed`).
    pub unresponsive: Vec<PeerAddr>,
    /// Peers that sent an invalid or forged value.
    pub misbehaving: Vec<PeerAddr>,
    /// Queries sent.
    pub queried: usize,
    /// Peers that answered.
    pub answered: usize,
    /// Longest chain of referrals to a peer that answered (a seed is hop 1).
    pub hops: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum PeerKey {
    Node(NodeId),
    Addr(Transport, SocketAddr),
}

impl PeerKey {
    fn of(p: &PeerAddr, ids: &mut IdCache) -> PeerKey {
        match &p.pubkey_hint {
            Some(k) => PeerKey::Node(ids.node_id(k)),
            None => PeerKey::Addr(p.transport, p.socket_addr()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotContacted,
    Waiting { deadline: u64 },
    TimedOut,
    Succeeded,
    Failed,
    Misbehaved,
}

impl State {
    fn failed(self) -> bool {
        matches!(self, State::TimedOut | State::Failed | State::Misbehaved)
    }
}

/// Freshness rank of a value: verified first, then seq, then updated_at.
type Rank = (bool, u64, u64);

#[derive(Clone, Debug)]
struct Candidate {
    addr: PeerAddr,
    state: State,
    hop: u32,
    path: usize,
    prefix: Option<IpPrefix>,
    /// Rank of the value this peer returned, if any.
    value_rank: Option<Rank>,
}

type SortKey = (Distance, PeerKey);

#[derive(Clone, Debug, Default)]
struct Path {
    in_flight: usize,
    candidates: usize,
    done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Node,
    Value(ValueTarget),
}

/// One iterative lookup.
#[derive(Clone, Debug)]
pub struct Lookup {
    target: NodeId,
    kind: Kind,
    config: LookupConfig,
    local: Option<NodeId>,
    candidates: BTreeMap<SortKey, Candidate>,
    ids: IdCache,
    paths: Vec<Path>,
    best: Option<(Rank, FoundValue)>,
    /// Networks whose peers sent invalid or forged values, with how many did.
    tainted: Vec<(IpPrefix, usize)>,
    value_done: bool,
    queried: usize,
    finished: bool,
}

impl Lookup {
    /// A FIND_NODE lookup for `target`, starting from `seeds` (bootstrap peers and the
    /// routing table's closest). `local` is excluded from the candidates.
    pub fn find_node(target: NodeId, seeds: &[PeerAddr], local: Option<NodeId>, config: LookupConfig) -> Self {
        Self::new(target, Kind::Node, seeds, local, config)
    }

    /// A FIND_VALUE lookup for `value.key`, starting from `seeds`.
    pub fn find_value(value: ValueTarget, seeds: &[PeerAddr], local: Option<NodeId>, config: LookupConfig) -> Self {
        Self::new(value.key.target(), Kind::Value(value), seeds, local, config)
    }

    fn new(target: NodeId, kind: Kind, seeds: &[PeerAddr], local: Option<NodeId>, mut config: LookupConfig) -> Self {
        config.k = config.k.max(1);
        config.alpha = config.alpha.max(1);
        config.disjoint_paths = config.disjoint_paths.max(1);
        config.max_candidates = config.max_candidates.max(config.k);
        let mut l = Lookup {
            target,
            kind,
            paths: vec![Path::default(); config.disjoint_paths],
            config,
            local,
            candidates: BTreeMap::new(),
            ids: IdCache::default(),
            best: None,
            tainted: Vec::new(),
            value_done: false,
            queried: 0,
            finished: false,
        };
        let mut sorted: Vec<(SortKey, &PeerAddr)> = seeds.iter().map(|p| (l.sort_key(p), p)).collect();
        sorted.sort_by_key(|a| a.0);
        sorted.dedup_by(|a, b| a.0 == b.0);
        let d = l.paths.len();
        for (i, (k, p)) in sorted.into_iter().enumerate() {
            l.add_candidate(k, p, 1, i % d);
        }
        l
    }

    /// The target id.
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// Whether the lookup has reported [`LookupAction::Finished`].
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Queries sent so far.
    pub fn queries_sent(&self) -> usize {
        self.queried
    }

    /// Queries currently in flight.
    pub fn in_flight(&self) -> usize {
        self.paths.iter().map(|p| p.in_flight).sum()
    }

    /// The earliest deadline of a query in flight: poll again at that time.
    pub fn next_deadline(&self) -> Option<u64> {
        self.candidates
            .values()
            .filter_map(|c| match c.state {
                State::Waiting { deadline } => Some(deadline),
                _ => None,
            })
            .min()
    }

    fn sort_key(&mut self, p: &PeerAddr) -> SortKey {
        let key = PeerKey::of(p, &mut self.ids);
        let d = match key {
            PeerKey::Node(id) => Distance::between(&id, &self.target),
            PeerKey::Addr(..) => Distance::MAX,
        };
        (d, key)
    }

    fn add_candidate(&mut self, (d, key): SortKey, p: &PeerAddr, hop: u32, path: usize) {
        if let PeerKey::Node(id) = key
            && Some(id) == self.local
        {
            return;
        }
        if self.candidates.contains_key(&(d, key)) {
            return;
        }
        let prefix = IpPrefix::limited(&p.ip, self.config.exempt_loopback);
        self.candidates.insert(
            (d, key),
            Candidate { addr: p.clone(), state: State::NotContacted, hop, path, prefix, value_rank: None },
        );
        self.paths[path].candidates += 1;
        if self.paths[path].candidates > self.config.max_candidates {
            // Drop the farthest candidate of this path that was never contacted.
            let victim = self
                .candidates
                .iter()
                .rev()
                .find(|(_, c)| c.path == path && c.state == State::NotContacted)
                .map(|(k, _)| *k);
            if let Some(v) = victim {
                self.candidates.remove(&v);
                self.paths[path].candidates = self.paths[path].candidates.saturating_sub(1);
            }
        }
    }

    /// Finds the candidate an answer came from: by node id when the address carries a key,
    /// else (or if not found) by transport address among candidates without a key.
    fn find(&mut self, peer: &PeerAddr) -> Option<SortKey> {
        let key = self.sort_key(peer);
        if self.candidates.contains_key(&key) {
            return Some(key);
        }
        let addr_key = (Distance::MAX, PeerKey::Addr(peer.transport, peer.socket_addr()));
        self.candidates.contains_key(&addr_key).then_some(addr_key)
    }

    fn set_state(&mut self, k: &SortKey, state: State) -> Option<&mut Candidate> {
        let c = self.candidates.get_mut(k)?;
        if let State::Waiting { .. } = c.state {
            self.paths[c.path].in_flight = self.paths[c.path].in_flight.saturating_sub(1);
        }
        c.state = state;
        Some(c)
    }

    /// Reports that `peer` failed (connection refused, handshake or decode error, error
    /// response). Unknown peers and peers already finished are ignored.
    pub fn on_failure(&mut self, peer: &PeerAddr) {
        if let Some(k) = self.find(peer)
            && let Some(c) = self.candidates.get(&k)
            && matches!(c.state, State::Waiting { .. } | State::TimedOut | State::NotContacted)
        {
            self.set_state(&k, State::Failed);
        }
    }

    /// Reports that the query to `peer` timed out (when the driver keeps its own timers).
    /// A later answer is still accepted.
    pub fn on_timeout(&mut self, peer: &PeerAddr) {
        if let Some(k) = self.find(peer)
            && let Some(c) = self.candidates.get(&k)
            && matches!(c.state, State::Waiting { .. })
        {
            self.set_state(&k, State::TimedOut);
        }
    }

    /// Reports an answer from `peer`: the closer peers it named and, for FIND_VALUE, the
    /// value record it returned. Answers from peers this lookup did not query, or that
    /// already answered, are ignored.
    pub fn on_response(&mut self, peer: &PeerAddr, closer_peers: Vec<PeerAddr>, value: Option<Store>, now: u64) {
        if self.finished {
            return;
        }
        let Some(k) = self.find(peer) else { return };
        let Some(c) = self.candidates.get(&k) else { return };
        if !matches!(c.state, State::Waiting { .. } | State::TimedOut) {
            return;
        }
        let (hop, path) = (c.hop, c.path);
        let mut rank = None;
        if let (Kind::Value(target), Some(store)) = (self.kind, value) {
            match self.check_value(&target, store, peer, now) {
                Ok((r, found)) => {
                    rank = Some(r);
                    let better = self.best.as_ref().is_none_or(|(best, _)| r > *best);
                    if better {
                        self.best = Some((r, found));
                    }
                    if target.mode == ValueMode::First {
                        self.value_done = true;
                    }
                }
                Err(_) => {
                    if let Some(p) = self.set_state(&k, State::Misbehaved).and_then(|c| c.prefix) {
                        match self.tainted.iter_mut().find(|(q, _)| *q == p) {
                            Some((_, n)) => *n += 1,
                            None => self.tainted.push((p, 1)),
                        }
                    }
                    return;
                }
            }
        }
        if let Some(c) = self.set_state(&k, State::Succeeded) {
            c.value_rank = rank;
        }
        // Take only the closest few peers of the answer, at most `max_per_prefix` of each
        // network, so an answer stuffed with one network's nodes cannot hide the others.
        let mut peers: Vec<(SortKey, PeerAddr)> = Vec::with_capacity(closer_peers.len());
        for p in closer_peers.into_iter().take(trove_proto::limits::MAX_PEERS_PER_LIST) {
            peers.push((self.sort_key(&p), p));
        }
        peers.sort_by_key(|a| a.0);
        let mut prefixes = Vec::new();
        let mut taken = 0;
        for (sort_key, p) in peers {
            if taken >= self.config.max_peers_per_response {
                break;
            }
            if !self.prefix_allows(IpPrefix::limited(&p.ip, self.config.exempt_loopback), &mut prefixes) {
                continue;
            }
            taken += 1;
            self.add_candidate(sort_key, &p, hop.saturating_add(1), path);
        }
    }

    fn check_value(
        &self,
        target: &ValueTarget,
        store: Store,
        peer: &PeerAddr,
        now: u64,
    ) -> Result<(Rank, FoundValue), crate::DhtError> {
        if store.key != target.key {
            return Err(crate::DhtError::NoKeyspace {
                key: target.key,
                reason: format!("the answer carries a record for key {}", store.key),
            });
        }
        let record = validate_value(&target.key, &store.value)?;
        let authenticity = authenticate(&target.key, &record, target.share_pubkey.as_ref(), now)?;
        let rank = match &record {
            Record::ShareHead(h) => (authenticity.is_verified(), h.latest_seq, h.updated_at),
            _ => (authenticity.is_verified(), 0, 0),
        };
        Ok((rank, FoundValue { store, record, authenticity, from: peer.clone() }))
    }

    /// Advances the lookup at time `now`: expires overdue queries, picks new ones, and ends
    /// the lookup when it is done. Returns the queries to send, or the final result once.
    pub fn poll(&mut self, now: u64) -> Vec<LookupAction> {
        if self.finished {
            return Vec::new();
        }
        let overdue: Vec<SortKey> = self
            .candidates
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Waiting { deadline } if deadline <= now))
            .map(|(k, _)| *k)
            .collect();
        for k in overdue {
            self.set_state(&k, State::TimedOut);
        }
        let mut actions = Vec::new();
        if !self.value_done {
            for path in 0..self.paths.len() {
                self.step_path(path, now, &mut actions);
            }
        }
        if self.value_done || self.paths.iter().all(|p| p.done) {
            self.finished = true;
            actions.clear();
            actions.push(LookupAction::Finished(Box::new(self.result())));
        }
        actions
    }

    /// Whether a candidate is usable under the prefix limit, counting the closer ones seen
    /// (a short list: it never holds more than K networks).
    fn prefix_allows(&self, prefix: Option<IpPrefix>, seen: &mut Vec<(IpPrefix, usize)>) -> bool {
        let (Some(limit), Some(p)) = (self.config.max_per_prefix, prefix) else { return true };
        match seen.iter_mut().find(|(q, _)| *q == p) {
            Some((_, n)) if *n >= limit => false,
            Some((_, n)) => {
                *n += 1;
                true
            }
            None => {
                seen.push((p, 1));
                limit > 0
            }
        }
    }

    /// Whether `prefix` is a network from which `max_per_prefix` peers already sent invalid
    /// or forged values: its other peers are not asked any more.
    fn tainted(&self, prefix: Option<IpPrefix>) -> bool {
        let (Some(limit), Some(p)) = (self.config.max_per_prefix, prefix) else { return false };
        self.tainted.iter().any(|(q, n)| *q == p && *n >= limit.max(1))
    }

    fn step_path(&mut self, path: usize, now: u64, actions: &mut Vec<LookupAction>) {
        let k = self.config.k;
        let mut in_flight = self.paths[path].in_flight;
        let mut window = 0usize;
        let mut succeeded = 0usize;
        let mut prefixes = Vec::new();
        let mut to_query = Vec::new();
        for (key, c) in &self.candidates {
            if c.path != path || c.state.failed() || (c.state == State::NotContacted && self.tainted(c.prefix)) {
                continue;
            }
            if !self.prefix_allows(c.prefix, &mut prefixes) {
                continue;
            }
            window += 1;
            match c.state {
                State::Succeeded => succeeded += 1,
                State::NotContacted if in_flight < self.config.alpha => {
                    to_query.push(*key);
                    in_flight += 1;
                }
                _ => {}
            }
            if window >= k {
                break;
            }
        }
        let deadline = now.saturating_add(self.config.query_timeout_secs);
        for key in to_query {
            if let Some(c) = self.candidates.get_mut(&key) {
                c.state = State::Waiting { deadline };
                self.paths[path].in_flight += 1;
                self.queried += 1;
                actions.push(LookupAction::Query { peer: c.addr.clone(), request: self.request() });
            }
        }
        self.paths[path].done = self.paths[path].in_flight == 0 && succeeded == window;
    }

    fn request(&self) -> QueryRequest {
        match self.kind {
            Kind::Node => QueryRequest::FindNode(FindNode { target: self.target }),
            Kind::Value(v) => QueryRequest::FindValue(FindValue { key: v.key }),
        }
    }

    fn result(&mut self) -> LookupResult {
        let k = self.config.k;
        let mut closest = Vec::new();
        let mut missing_value = Vec::new();
        let mut unresponsive = Vec::new();
        let mut misbehaving = Vec::new();
        let mut hops = 0;
        let mut answered = 0;
        let best_rank = self.best.as_ref().map(|(r, _)| *r);
        let mut prefixes = Vec::new();
        for c in self.candidates.values() {
            match c.state {
                State::Succeeded => {
                    answered += 1;
                    hops = hops.max(c.hop);
                    if closest.len() < k && self.prefix_allows(c.prefix, &mut prefixes) {
                        closest.push(c.addr.clone());
                        let lacks = match (c.value_rank, best_rank) {
                            (None, _) => true,
                            (Some(r), Some(best)) => r < best,
                            (Some(_), None) => false,
                        };
                        if matches!(self.kind, Kind::Value(_)) && lacks {
                            missing_value.push(c.addr.clone());
                        }
                    }
                }
                State::Failed | State::TimedOut => unresponsive.push(c.addr.clone()),
                State::Misbehaved => misbehaving.push(c.addr.clone()),
                State::Waiting { .. } | State::NotContacted => {}
            }
        }
        LookupResult {
            target: self.target,
            closest,
            value: self.best.take().map(|(_, v)| v),
            missing_value,
            unresponsive,
            misbehaving,
            queried: self.queried,
            answered,
            hops,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use trove_proto::Keypair;
    use trove_proto::ManifestId;
    use trove_proto::wire::ShareHead;

    /// A static network: every node answers with the true K closest among all nodes.
    struct Net {
        nodes: Vec<PeerAddr>,
    }

    fn node(i: u32) -> PeerAddr {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k[4] = 0x77;
        let ip = format!("10.{}.{}.1", (i / 250) % 250, i % 250);
        PeerAddr::new(format!("{ip}:7001").parse().unwrap(), Transport::Tcp).with_hint(PubKey(k))
    }

    fn id(p: &PeerAddr) -> NodeId {
        p.pubkey_hint.unwrap().node_id()
    }

    impl Net {
        fn new(n: u32) -> Self {
            Net { nodes: (0..n).map(node).collect() }
        }
        /// The true `k` closest.
        fn closest(&self, target: &NodeId, k: usize) -> Vec<PeerAddr> {
            let mut v = self.nodes.clone();
            v.sort_by_key(|p| Distance::between(&id(p), target));
            v.truncate(k);
            v
        }
        /// What `asked` answers: the 20 closest among the ~40% of nodes it knows.
        fn answer(&self, asked: &PeerAddr, target: &NodeId) -> Vec<PeerAddr> {
            let me = id(asked);
            let mut v: Vec<PeerAddr> = self
                .nodes
                .iter()
                .filter(|p| {
                    let o = id(p);
                    (me.0[0] ^ o.0[1] ^ o.0[2].rotate_left(3)) % 10 < 4
                })
                .cloned()
                .collect();
            v.sort_by_key(|p| Distance::between(&id(p), target));
            v.truncate(40);
            v
        }
        /// Runs `l`, answering every query at once unless `silent` says otherwise.
        fn run(&self, l: &mut Lookup, silent: &dyn Fn(&PeerAddr) -> bool) -> LookupResult {
            let mut now = 1000;
            loop {
                let actions = l.poll(now);
                assert!(l.in_flight() <= l.config.alpha * l.config.disjoint_paths);
                if actions.is_empty() {
                    now = l.next_deadline().expect("a lookup with nothing to do must have a deadline");
                    continue;
                }
                for a in actions {
                    match a {
                        LookupAction::Finished(r) => return *r,
                        LookupAction::Query { peer, request: QueryRequest::FindNode(f) } => {
                            if !silent(&peer) {
                                l.on_response(&peer, self.answer(&peer, &f.target), None, now);
                            }
                        }
                        LookupAction::Query { .. } => panic!("FIND_NODE lookup sent FIND_VALUE"),
                    }
                }
            }
        }
    }

    fn cfg() -> LookupConfig {
        LookupConfig::default()
    }

    #[test]
    fn finds_the_true_k_closest_and_terminates() {
        let net = Net::new(300);
        for t in 0..20u8 {
            let target = NodeId([t.wrapping_mul(37); 20]);
            let seeds: Vec<PeerAddr> = net.nodes[..3].to_vec();
            let mut l = Lookup::find_node(target, &seeds, None, cfg());
            let r = net.run(&mut l, &|_| false);
            assert_eq!(r.closest, net.closest(&target, 20), "target {t}");
            assert!(r.hops >= 1 && r.queried >= 20 && r.queried < 300, "{} queries", r.queried);
            assert!(l.poll(5000).is_empty(), "finished is reported once");
            assert!(l.is_finished());
        }
    }

    #[test]
    fn alpha_queries_at_a_time() {
        let net = Net::new(50);
        let mut l = Lookup::find_node(NodeId([0; 20]), &net.nodes[..10], None, cfg());
        let first = l.poll(1);
        assert_eq!(first.len(), 3);
        assert!(l.poll(1).is_empty(), "no new query while 3 are in flight");
        let LookupAction::Query { peer, .. } = &first[0] else { panic!() };
        l.on_failure(peer);
        assert_eq!(l.poll(1).len(), 1, "a failure frees one slot");
    }

    #[test]
    fn silent_peers_time_out_and_late_answers_still_count() {
        let net = Net::new(100);
        let seeds = net.nodes[..3].to_vec();
        let mut l = Lookup::find_node(NodeId([0x42; 20]), &seeds, None, cfg());
        let q = l.poll(10);
        assert_eq!(q.len(), 3);
        assert_eq!(l.next_deadline(), Some(13));
        assert!(l.poll(12).is_empty());
        // At the deadline all three time out; with nothing else known the lookup ends.
        let end = l.poll(13);
        let [LookupAction::Finished(r)] = &end[..] else { panic!("{end:?}") };
        assert!(r.closest.is_empty());
        assert_eq!(r.unresponsive.len(), 3);

        // A late answer after a timeout is used.
        let mut l = Lookup::find_node(NodeId([0x42; 20]), &seeds, None, cfg());
        let q = l.poll(10);
        let LookupAction::Query { peer: slow, .. } = &q[0] else { panic!() };
        l.on_timeout(slow);
        let LookupAction::Query { peer: other, .. } = &q[1] else { panic!() };
        l.on_timeout(other);
        assert_eq!(l.in_flight(), 1);
        assert!(l.poll(11).is_empty(), "one query still in flight, nothing else to ask");
        l.on_response(slow, net.closest(&NodeId([0x42; 20]), 20), None, 11);
        let r = net.run(&mut l, &|_| false);
        assert_eq!(r.closest, net.closest(&NodeId([0x42; 20]), 20));
    }

    #[test]
    fn bad_and_silent_peers_never_abort_a_lookup() {
        let net = Net::new(300);
        let target = NodeId([0x99; 20]);
        let truth = net.closest(&target, 40);
        // The 3 closest nodes are silent: the result is the next 20.
        let silent: HashSet<NodeId> = truth[..3].iter().map(id).collect();
        let mut l = Lookup::find_node(target, &net.nodes[100..103], None, cfg());
        let r = net.run(&mut l, &|p| silent.contains(&id(p)));
        assert_eq!(r.closest, truth[3..23].to_vec());
        assert_eq!(r.unresponsive.len(), 3);
        // Garbage (reported as failures) from every other peer still ends the lookup.
        let mut l = Lookup::find_node(target, &net.nodes[..10], None, cfg());
        loop {
            let acts = l.poll(1);
            if let Some(LookupAction::Finished(r)) = acts.last() {
                assert!(r.closest.is_empty() && r.unresponsive.len() == 10);
                break;
            }
            for a in acts {
                if let LookupAction::Query { peer, .. } = a {
                    l.on_failure(&peer);
                }
            }
        }
    }

    #[test]
    fn unknown_peers_and_duplicate_answers_are_ignored() {
        let net = Net::new(40);
        let mut l = Lookup::find_node(NodeId([1; 20]), &net.nodes[..1], None, cfg());
        let q = l.poll(1);
        let LookupAction::Query { peer, .. } = &q[0] else { panic!() };
        l.on_response(&net.nodes[30], net.nodes.clone(), None, 1);
        assert_eq!(l.candidates.len(), 1, "an answer from a peer never queried is dropped");
        l.on_response(peer, vec![], None, 1);
        l.on_response(peer, net.nodes.clone(), None, 1);
        assert_eq!(l.candidates.len(), 1, "a second answer from the same peer is dropped");
    }

    #[test]
    fn peers_without_a_key_are_queried_but_sort_last() {
        let net = Net::new(100);
        let bare = PeerAddr::new("192.0.2.1:7001".parse().unwrap(), Transport::Tcp);
        let target = NodeId([0x10; 20]);
        let mut l = Lookup::find_node(target, &[bare.clone(), net.nodes[5].clone()], None, cfg());
        let q = l.poll(1);
        let peers: Vec<&PeerAddr> =
            q.iter().filter_map(|a| if let LookupAction::Query { peer, .. } = a { Some(peer) } else { None }).collect();
        assert_eq!(peers, vec![&net.nodes[5], &bare], "the keyless seed comes last");
        // The keyless seed answers (the driver now knows its key from the handshake).
        let mut answered = bare.clone();
        answered.pubkey_hint = Some(PubKey([0x55; 32]));
        l.on_response(&answered, net.closest(&target, 20), None, 1);
        l.on_response(&net.nodes[5], net.closest(&target, 20), None, 1);
        let r = net.run(&mut l, &|_| false);
        assert_eq!(r.closest, net.closest(&target, 20));
        assert!(!r.closest.contains(&bare));
        // Only a keyless bootstrap: still a full lookup.
        let mut l = Lookup::find_node(target, std::slice::from_ref(&bare), None, cfg());
        assert_eq!(l.poll(1).len(), 1);
        l.on_response(&bare, net.nodes[..3].to_vec(), None, 1);
        assert_eq!(net.run(&mut l, &|_| false).closest, net.closest(&target, 20));
    }

    #[test]
    fn local_node_and_floods_are_bounded() {
        let net = Net::new(2000);
        let target = NodeId([0x3c; 20]);
        let me = id(&net.closest(&target, 1)[0]);
        let mut l = Lookup::find_node(target, &net.nodes[..3], Some(me), cfg());
        let r = net.run(&mut l, &|_| false);
        assert!(r.closest.iter().all(|p| id(p) != me));
        assert!(l.candidates.values().all(|c| id(&c.addr) != me), "never even a candidate");
        let truth: HashSet<PeerAddr> = net.closest(&target, 21)[1..].iter().cloned().collect();
        let found = r.closest.iter().filter(|p| truth.contains(p)).count();
        assert!(found >= 17, "found {found} of the 20 closest");
        // A peer answering with 2000 peers contributes only the closest 20.
        let mut l = Lookup::find_node(target, &net.nodes[..1], None, cfg());
        l.poll(1);
        l.on_response(&net.nodes[0], net.nodes.clone(), None, 1);
        assert_eq!(l.candidates.len(), 21);
        let first20: Vec<&PeerAddr> = l.candidates.values().map(|c| &c.addr).take(20).collect();
        let truth = net.closest(&target, 20);
        assert_eq!(first20, truth.iter().collect::<Vec<_>>());
    }

    #[test]
    fn at_most_two_candidates_per_slash_24_among_the_closest() {
        // 30 nodes share one /24 and are the closest to the target; 200 others are spread.
        let target = NodeId([0; 20]);
        let mut all: Vec<PeerAddr> = (0..5000).map(node).collect();
        all.sort_by_key(|p| Distance::between(&id(p), &target));
        let mut nodes = Vec::new();
        for (i, mut p) in all.into_iter().take(230).enumerate() {
            if i < 30 {
                p.ip = format!("203.0.113.{}", i + 1).parse().unwrap();
            }
            nodes.push(p);
        }
        let net = Net { nodes };
        let mut l = Lookup::find_node(target, &net.nodes[100..103], None, cfg());
        let r = net.run(&mut l, &|_| false);
        let crowded = r.closest.iter().filter(|p| p.ip.to_string().starts_with("203.0.113.")).count();
        assert_eq!(crowded, 2);
        assert_eq!(r.closest.len(), 20);
        // Without the limit the crowded network fills the result.
        let mut l =
            Lookup::find_node(target, &net.nodes[100..103], None, LookupConfig { max_per_prefix: None, ..cfg() });
        let r = net.run(&mut l, &|_| false);
        assert!(r.closest.iter().all(|p| p.ip.to_string().starts_with("203.0.113.")));
    }

    #[test]
    fn disjoint_paths_share_no_peer_and_still_converge() {
        let net = Net::new(500);
        let target = NodeId([0x81; 20]);
        let c = LookupConfig { disjoint_paths: 3, ..cfg() };
        let mut l = Lookup::find_node(target, &net.nodes[..9], None, c);
        let r = net.run(&mut l, &|_| false);
        // Every peer belongs to exactly one path and each path took part.
        let mut per_path = [0usize; 3];
        let mut seen = HashSet::new();
        for cand in l.candidates.values() {
            assert!(seen.insert(PeerKey::of(&cand.addr, &mut IdCache::default())));
            if cand.state == State::Succeeded {
                per_path[cand.path] += 1;
            }
        }
        assert!(per_path.iter().all(|n| *n >= 3), "{per_path:?}");
        // Merged, the paths still see nearly all of the true closest.
        let truth: HashSet<PeerAddr> = net.closest(&target, 20).into_iter().collect();
        let found = r.closest.iter().filter(|p| truth.contains(p)).count();
        assert!(found >= 18, "found {found} of the 20 closest");
    }

    fn head_store(share: &Keypair, seq: u64, updated: u64) -> Store {
        let h = ShareHead::sign(share, seq, ManifestId([seq as u8; 32]), updated);
        Store { key: dht_key::share_head(&share.share_id()), value: h.to_payload(), ttl_secs: 100 }
    }

    /// Runs a FIND_VALUE lookup where `value_of` decides each peer's value.
    fn run_value(net: &Net, l: &mut Lookup, value_of: &dyn Fn(&PeerAddr) -> Option<Store>) -> LookupResult {
        let mut now = 1000;
        loop {
            let actions = l.poll(now);
            if actions.is_empty() {
                now = l.next_deadline().unwrap();
                continue;
            }
            for a in actions {
                match a {
                    LookupAction::Finished(r) => return *r,
                    LookupAction::Query { peer, request: QueryRequest::FindValue(f) } => {
                        l.on_response(&peer, net.answer(&peer, &f.key.target()), value_of(&peer), now)
                    }
                    LookupAction::Query { .. } => panic!(),
                }
            }
        }
    }

    #[test]
    fn find_value_stops_at_the_first_valid_value_and_skips_forgeries() {
        let net = Net::new(300);
        let share = Keypair::from_seed([3; 32]);
        let key = dht_key::share_head(&share.share_id());
        let holders: HashSet<NodeId> = net.closest(&key.target(), 20)[10..].iter().map(id).collect();
        let liars: HashSet<NodeId> = net.closest(&key.target(), 10).iter().map(id).collect();
        let genuine = head_store(&share, 5, 50);
        let mut forged_head = ShareHead::sign(&share, 5, ManifestId([5; 32]), 50);
        forged_head.latest_seq = u64::MAX;
        let forged = Store { value: forged_head.to_payload(), ..genuine.clone() };
        let wrong_key = Store { key: DhtKey([1; 32]), ..genuine.clone() };
        let other_share = head_store(&Keypair::from_seed([4; 32]), 9, 9);
        let lies = [forged, wrong_key, Store { key, ..other_share }, Store { value: vec![0xff; 7], ..genuine.clone() }];
        let value_of = |p: &PeerAddr| {
            let i = id(p);
            if liars.contains(&i) {
                Some(lies[(i.0[0] % 4) as usize].clone())
            } else if holders.contains(&i) {
                Some(genuine.clone())
            } else {
                None
            }
        };
        let mut l = Lookup::find_value(ValueTarget::first(key), &net.nodes[..3], None, cfg());
        let r = run_value(&net, &mut l, &value_of);
        let v = r.value.expect("the genuine value is found past the liars");
        assert_eq!(v.store, genuine);
        assert!(v.authenticity.is_verified(), "the head carries its key");
        assert!(holders.contains(&id(&v.from)));
        assert!(r.misbehaving.iter().all(|p| liars.contains(&id(p))));
        assert!(!r.misbehaving.is_empty());
        assert!(r.missing_value.iter().all(|p| !holders.contains(&id(p)) && !liars.contains(&id(p))));
    }

    #[test]
    fn share_head_lookups_keep_the_freshest_and_name_stale_peers() {
        let net = Net::new(300);
        let share = Keypair::from_seed([3; 32]);
        let key = dht_key::share_head(&share.share_id());
        let near = net.closest(&key.target(), 20);
        let newest: HashSet<NodeId> = near[15..17].iter().map(id).collect();
        let older: HashSet<NodeId> = near[..8].iter().map(id).collect();
        let (new_head, old_head) = (head_store(&share, 7, 70), head_store(&share, 6, 90));
        // A v1 copy of the newest head (no extension key) verifies with the known key too.
        let v1 = ShareHead::from_payload(&new_head.value).unwrap().without_extension();
        let value_of = |p: &PeerAddr| {
            let i = id(p);
            if newest.contains(&i) {
                Some(Store { value: v1.to_payload(), ..new_head.clone() })
            } else if older.contains(&i) {
                Some(old_head.clone())
            } else {
                None
            }
        };
        let mut l = Lookup::find_value(ValueTarget::share_head(share.public()), &net.nodes[..3], None, cfg());
        let r = run_value(&net, &mut l, &value_of);
        let v = r.value.unwrap();
        let Record::ShareHead(h) = &v.record else { panic!() };
        assert_eq!((h.latest_seq, h.updated_at), (7, 70));
        assert!(v.authenticity.is_verified());
        assert_eq!(r.closest, near);
        // Everyone among the closest but the two newest holders should be updated.
        let missing: HashSet<NodeId> = r.missing_value.iter().map(id).collect();
        assert_eq!((missing.len(), r.missing_value.len()), (18, 18));
        assert!(older.iter().all(|o| missing.contains(o)));
        assert!(newest.iter().all(|n| !missing.contains(n)));
    }
}
