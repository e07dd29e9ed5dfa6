//! An in-process simulated SCP2P DHT network for tests and the large-simulation example:
//! every node is a [`Dht`], a lookup's queries are answered by calling the target node's
//! handler directly, time is virtual (it only moves when a lookup waits for a timeout) and
//! all randomness comes from one seed, so every run is reproducible.
//!
//! Hostile behaviours model the inputs of TEST-MATRIX §4c: garbage bytes, forged records,
//! records for the wrong key, useless far-away peers, and colluding sybils.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use trove_dht::{
    Dht, DhtConfig, DhtRequest, DhtResponse, Distance, InsertOutcome, Lookup, LookupAction, LookupResult, QueryRequest,
    Source, ValueTarget,
};
use trove_proto::wire::{FindNodeResult, FindValueResult, Payload, PeerAddr, ShareHead, Store, Transport};
use trove_proto::{DhtKey, Keypair, ManifestId, NodeId, PubKey};

/// SplitMix64: a small, fast, seedable generator (quality is ample for simulations).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for chunk in b.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        b
    }

    /// `n` distinct indices out of 0..len.
    pub fn sample(&mut self, len: usize, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..len).collect();
        for i in 0..n.min(len) {
            let j = i + self.below(len - i);
            v.swap(i, j);
        }
        v.truncate(n.min(len));
        v
    }
}

/// How a simulated node behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Honest,
    /// Unreachable: queries to it time out.
    Offline,
    /// Answers with random bytes.
    Garbage,
    /// Answers FIND_VALUE with a forged copy of the genuine head (seq 2^64−1, old signature).
    Forger,
    /// Answers FIND_VALUE with a genuine record of another key.
    WrongKey,
    /// Answers with random (mostly far-away) peers and no value.
    FarPeers,
    /// Colludes with the other sybils: forged values, and only sybils as closer peers.
    Sybil,
    /// A sybil that hides instead of forging: no value, only sybils as closer peers (an
    /// answer indistinguishable from an honest node's that lacks the value).
    Eclipse,
}

impl Behaviour {
    pub fn is_hostile(self) -> bool {
        !matches!(self, Behaviour::Honest | Behaviour::Offline)
    }
}

/// One simulated node.
#[derive(Clone, Debug)]
pub struct SimNode {
    pub dht: Dht,
    pub addr: PeerAddr,
    pub behaviour: Behaviour,
}

impl SimNode {
    pub fn id(&self) -> NodeId {
        self.dht.local_id()
    }
}

/// Counters over a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub queries: u64,
    pub stores_sent: u64,
    pub stores_rejected: u64,
}

enum Outcome {
    Answer(Vec<PeerAddr>, Option<Store>),
    Failed,
    Silent,
}

/// The simulated network.
#[derive(Clone, Debug)]
pub struct SimNet {
    pub nodes: Vec<SimNode>,
    by_addr: HashMap<SocketAddr, usize>,
    pub now: u64,
    pub rng: Rng,
    pub config: DhtConfig,
    pub stats: Stats,
    /// Genuine heads the forgers have seen, by key.
    pub known_heads: BTreeMap<DhtKey, ShareHead>,
    sybils: Vec<usize>,
    sybil_answers: HashMap<NodeId, Vec<PeerAddr>>,
}

impl SimNet {
    pub fn new(seed: u64, config: DhtConfig) -> Self {
        SimNet {
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            now: 1_700_000_000,
            rng: Rng::new(seed),
            config,
            stats: Stats::default(),
            known_heads: BTreeMap::new(),
            sybils: Vec::new(),
            sybil_answers: HashMap::new(),
        }
    }

    /// A random address in a random /24 of 10.0.0.0/8.
    pub fn random_ip(&mut self) -> Ipv4Addr {
        let [a, b, c] = self.rng.bytes::<3>();
        Ipv4Addr::new(10, a, b, c.max(1))
    }

    /// Adds a node with a random key at `ip`.
    pub fn add_node(&mut self, ip: Ipv4Addr, behaviour: Behaviour) -> usize {
        let key = PubKey(self.rng.bytes());
        self.add_node_with_key(key, ip, behaviour)
    }

    pub fn add_node_with_key(&mut self, key: PubKey, ip: Ipv4Addr, behaviour: Behaviour) -> usize {
        let mut port = 7001;
        while self.by_addr.contains_key(&SocketAddr::new(IpAddr::V4(ip), port)) {
            port += 1;
        }
        let addr = PeerAddr::new(SocketAddr::new(IpAddr::V4(ip), port), Transport::Tcp).with_hint(key);
        let i = self.nodes.len();
        self.by_addr.insert(addr.socket_addr(), i);
        if behaviour == Behaviour::Sybil {
            self.sybils.push(i);
        }
        self.nodes.push(SimNode { dht: Dht::new(key, self.config.clone()), addr, behaviour });
        i
    }

    /// Adds a sybil whose id shares its first `bits` bits with `target` (ground by trying
    /// random keys, as a real attacker would).
    pub fn add_sybil_near(&mut self, target: &NodeId, bits: usize, ip: Ipv4Addr) -> usize {
        loop {
            let key = PubKey(self.rng.bytes());
            if Distance::between(&key.node_id(), target).leading_zeros() >= bits {
                return self.add_node_with_key(key, ip, Behaviour::Sybil);
            }
        }
    }

    /// Node `i` joins through `bootstrap`: a lookup for its own id.
    pub fn join(&mut self, i: usize, bootstrap: &[usize]) -> LookupResult {
        let seeds: Vec<PeerAddr> = bootstrap.iter().map(|b| self.nodes[*b].addr.clone()).collect();
        let own = self.nodes[i].id();
        let now = self.now;
        let lookup = self.nodes[i].dht.find_node(own, &seeds, now);
        self.run_lookup(i, lookup)
    }

    /// Builds a network: `n` nodes at random addresses join one by one, each through up
    /// to 3 random earlier nodes.
    pub fn bootstrap(seed: u64, n: usize, config: DhtConfig) -> SimNet {
        let mut net = SimNet::new(seed, config);
        for _ in 0..n {
            let ip = net.random_ip();
            net.add_node(ip, Behaviour::Honest);
        }
        for i in 1..n {
            let seeds = net.rng.sample(i, 3);
            net.join(i, &seeds);
        }
        net
    }

    pub fn online_honest(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.nodes[*i].behaviour == Behaviour::Honest).collect()
    }

    /// The true `k` closest nodes to `target` among those `keep` accepts (brute force).
    pub fn true_closest(&self, target: &NodeId, k: usize, keep: &dyn Fn(usize) -> bool) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.nodes.len()).filter(|i| keep(*i)).collect();
        v.sort_by_key(|i| Distance::between(&self.nodes[*i].id(), target));
        v.truncate(k);
        v
    }

    pub fn index_of(&self, p: &PeerAddr) -> Option<usize> {
        self.by_addr.get(&p.socket_addr()).copied()
    }

    /// Runs a lookup started at node `from` to its end, answering queries through the
    /// handlers of the target nodes.
    pub fn run_lookup(&mut self, from: usize, mut lookup: Lookup) -> LookupResult {
        loop {
            let actions = lookup.poll(self.now);
            if actions.is_empty() {
                let deadline = lookup.next_deadline().expect("a waiting lookup has a deadline");
                self.now = self.now.max(deadline);
                continue;
            }
            let mut queries = Vec::new();
            for a in actions {
                match a {
                    LookupAction::Finished(r) => {
                        self.nodes[from].dht.apply_lookup_result(&r);
                        return *r;
                    }
                    LookupAction::Query { peer, request } => queries.push((peer, request)),
                }
            }
            for (peer, request) in queries {
                match self.deliver(from, &peer, &request) {
                    Outcome::Answer(closer, value) => lookup.on_response(&peer, closer, value, self.now),
                    Outcome::Failed => lookup.on_failure(&peer),
                    Outcome::Silent => {}
                }
            }
        }
    }

    fn resolve_ping(&mut self, at: usize, outcome: InsertOutcome) {
        if let InsertOutcome::PingRequired { ping, .. } = outcome {
            let alive = self.index_of(&ping.addr).is_some_and(|j| self.nodes[j].behaviour != Behaviour::Offline);
            let now = self.now;
            self.nodes[at].dht.table_mut().report_ping(&ping.id, alive, now);
        }
    }

    /// A session from `from` to the node at `peer`: `None` when nobody answers, `Some(None)`
    /// when the handshake fails (wrong key), else the node index.
    fn connect(&mut self, from: usize, peer: &PeerAddr) -> Option<Option<usize>> {
        let j = self.index_of(peer)?;
        if self.nodes[j].behaviour == Behaviour::Offline {
            return None;
        }
        if peer.pubkey_hint.is_some_and(|k| k != self.nodes[j].dht.local_key()) || j == from {
            return Some(None);
        }
        // Both ends learn each other from the authenticated session.
        let (now, from_addr, to_addr) = (self.now, self.nodes[from].addr.clone(), self.nodes[j].addr.clone());
        let out = self.nodes[j].dht.observe_peer(&from_addr, now);
        self.resolve_ping(j, out);
        let out = self.nodes[from].dht.observe_peer(&to_addr, now);
        self.resolve_ping(from, out);
        Some(Some(j))
    }

    fn deliver(&mut self, from: usize, peer: &PeerAddr, request: &QueryRequest) -> Outcome {
        self.stats.queries += 1;
        let j = match self.connect(from, peer) {
            None => return Outcome::Silent,
            Some(None) => return Outcome::Failed,
            Some(Some(j)) => j,
        };
        let behaviour = self.nodes[j].behaviour;
        if behaviour == Behaviour::Honest {
            let req = match request {
                QueryRequest::FindNode(r) => DhtRequest::FindNode(r.clone()),
                QueryRequest::FindValue(r) => DhtRequest::FindValue(r.clone()),
            };
            let from_addr = &self.nodes[from].addr;
            let source = Source::new(self.nodes[from].id(), from_addr.ip);
            let now = self.now;
            return match self.nodes[j].dht.handle(&req, &source, now) {
                Ok(DhtResponse::FindNode(r)) => Outcome::Answer(r.peers, None),
                Ok(DhtResponse::FindValue(r)) => Outcome::Answer(r.closer_peers, r.value),
                _ => Outcome::Failed,
            };
        }
        // Hostile answers go through the real decoders, as bytes would.
        let bytes = self.hostile_answer(behaviour, request);
        let decoded = match request {
            QueryRequest::FindNode(_) => FindNodeResult::from_payload(&bytes).map(|r| (r.peers, None)),
            QueryRequest::FindValue(_) => FindValueResult::from_payload(&bytes).map(|r| (r.closer_peers, r.value)),
        };
        match decoded {
            Ok((peers, value)) => Outcome::Answer(peers, value),
            Err(_) => Outcome::Failed,
        }
    }

    fn random_peers(&mut self, n: usize) -> Vec<PeerAddr> {
        (0..n).map(|_| self.nodes[self.rng.below(self.nodes.len())].addr.clone()).collect()
    }

    /// The sybils closest to `target` (they all know each other).
    fn closest_sybils(&mut self, target: &NodeId, n: usize) -> Vec<PeerAddr> {
        if let Some(v) = self.sybil_answers.get(target) {
            return v.clone();
        }
        let mut v = self.sybils.clone();
        v.sort_by_key(|i| Distance::between(&self.nodes[*i].id(), target));
        let v: Vec<PeerAddr> = v.into_iter().take(n).map(|i| self.nodes[i].addr.clone()).collect();
        self.sybil_answers.insert(*target, v.clone());
        v
    }

    fn forged(&mut self, key: &DhtKey) -> Option<Store> {
        let mut head = match self.known_heads.get(key) {
            Some(h) => h.clone(),
            None => ShareHead::sign(&Keypair::from_seed(self.rng.bytes()), 1, ManifestId([0; 32]), 1),
        };
        head.latest_seq = u64::MAX;
        if self.rng.below(2) == 0 {
            head = head.without_extension();
        }
        Some(Store { key: *key, value: head.to_payload(), ttl_secs: 604_800 })
    }

    fn hostile_answer(&mut self, behaviour: Behaviour, request: &QueryRequest) -> Vec<u8> {
        let (target, key) = match request {
            QueryRequest::FindNode(r) => (r.target, None),
            QueryRequest::FindValue(r) => (r.key.target(), Some(r.key)),
        };
        match behaviour {
            Behaviour::Garbage => {
                let len = self.rng.below(200);
                (0..len).map(|_| self.rng.next_u64() as u8).collect()
            }
            Behaviour::FarPeers => {
                let peers = self.random_peers(20);
                match key {
                    None => FindNodeResult { peers }.to_payload(),
                    Some(_) => FindValueResult { value: None, closer_peers: peers }.to_payload(),
                }
            }
            Behaviour::Forger | Behaviour::WrongKey | Behaviour::Sybil => {
                let peers = if behaviour == Behaviour::Sybil {
                    self.closest_sybils(&target, 20)
                } else {
                    self.random_peers(20)
                };
                let Some(key) = key else { return FindNodeResult { peers }.to_payload() };
                let value = if behaviour == Behaviour::WrongKey {
                    // A genuine head of some other share, under the asked key.
                    let other =
                        self.known_heads.values().find(|h| trove_proto::dht_key::share_head(&h.share_id) != key);
                    match other {
                        Some(h) => Some(Store { key, value: h.to_payload(), ttl_secs: 86_400 }),
                        None => self.forged(&key),
                    }
                } else {
                    self.forged(&key)
                };
                FindValueResult { value, closer_peers: peers }.to_payload()
            }
            Behaviour::Eclipse => {
                let peers = self.closest_sybils(&target, 20);
                match key {
                    None => FindNodeResult { peers }.to_payload(),
                    Some(_) => FindValueResult { value: None, closer_peers: peers }.to_payload(),
                }
            }
            Behaviour::Honest | Behaviour::Offline => Vec::new(),
        }
    }

    /// Sends a STORE from `from` to `peer`; hostile nodes accept and drop it. Returns
    /// whether the peer stored it.
    pub fn send_store(&mut self, from: usize, peer: &PeerAddr, store: &Store) -> bool {
        self.stats.stores_sent += 1;
        let Some(Some(j)) = self.connect(from, peer) else { return false };
        if self.nodes[j].behaviour != Behaviour::Honest {
            return false;
        }
        let source = Source::new(self.nodes[from].id(), self.nodes[from].addr.ip);
        let now = self.now;
        match self.nodes[j].dht.handle(&DhtRequest::Store(store.clone()), &source, now) {
            Ok(_) => true,
            Err(_) => {
                self.stats.stores_rejected += 1;
                false
            }
        }
    }

    /// Publishes `store` from node `from`: stores it locally, finds the K closest nodes
    /// to the key and STOREs it there. Returns the number of nodes that kept it.
    pub fn publish(&mut self, from: usize, store: &Store) -> usize {
        let now = self.now;
        let store = self.nodes[from].dht.publish(store.key, store.value.clone(), now).expect("a valid value");
        let lookup = self.nodes[from].dht.find_node(store.key.target(), &[], now);
        let r = self.run_lookup(from, lookup);
        r.closest.iter().filter(|p| self.send_store(from, p, &store)).count()
    }

    /// A share head lookup from node `from`.
    pub fn find_head(&mut self, from: usize, share: PubKey) -> LookupResult {
        let now = self.now;
        let lookup = self.nodes[from].dht.find_value(ValueTarget::share_head(share), &[], now);
        self.run_lookup(from, lookup)
    }

    /// A node lookup from node `from`.
    pub fn find_node(&mut self, from: usize, target: NodeId) -> LookupResult {
        let now = self.now;
        let lookup = self.nodes[from].dht.find_node(target, &[], now);
        self.run_lookup(from, lookup)
    }

    /// Signs a head for a fresh share and remembers it (forgers see every genuine head).
    pub fn new_share_head(&mut self, seq: u64) -> (Keypair, Store) {
        let share = Keypair::from_seed(self.rng.bytes());
        let head = ShareHead::sign(&share, seq, ManifestId([seq as u8; 32]), self.now);
        let key = trove_proto::dht_key::share_head(&share.share_id());
        self.known_heads.insert(key, head.clone());
        (share, Store { key, value: head.to_payload(), ttl_secs: 86_400 })
    }
}

/// Mean and 95th percentile of a sample.
pub fn mean_p95(v: &[u32]) -> (f64, u32) {
    if v.is_empty() {
        return (0.0, 0);
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let mean = s.iter().map(|x| *x as f64).sum::<f64>() / s.len() as f64;
    let p95 = s[((s.len() as f64 * 0.95).ceil() as usize).clamp(1, s.len()) - 1];
    (mean, p95)
}
