//! The peer book: every peer address the node has heard of, where from, whether a handshake
//! confirmed it (and whether it is a trove peer), and how contacts went. It is bounded, hands
//! out candidates best first, and is flushed to the database in bounded batches.

use std::collections::HashMap;
use std::sync::Mutex;
use trove_net::PeerInfo;
use trove_proto::PubKey;
use trove_proto::wire::{Capabilities, PeerAddr};
use trove_store::db::{PeerSighting, PeerSource};

/// Most peers kept in memory.
pub const MAX_PEERS: usize = 10_000;

/// Sort key of a peer: reachable before unknown, trove before v1, fewer failures, recent first.
type Rank = (bool, bool, u32, std::cmp::Reverse<u64>);

/// A known peer.
#[derive(Clone, Debug)]
pub struct Known {
    pub addr: PeerAddr,
    /// Node key proven by a handshake at this address.
    pub verified_key: Option<PubKey>,
    /// Key claimed by whoever told us (unverified).
    pub hinted_key: Option<PubKey>,
    /// A handshake showed a trove peer (channel bound).
    pub trove: bool,
    pub capabilities: Option<Capabilities>,
    pub source: PeerSource,
    pub last_seen: u64,
    pub last_ok: Option<u64>,
    pub failures: u32,
}

impl Known {
    /// The address to dial, with the best key hint known.
    pub fn dial_addr(&self) -> PeerAddr {
        let mut a = self.addr.clone();
        if a.pubkey_hint.is_none() {
            a.pubkey_hint = self.verified_key;
        }
        a
    }

    fn rank(&self) -> Rank {
        (self.last_ok.is_none(), !self.trove, self.failures, std::cmp::Reverse(self.last_ok.unwrap_or(self.last_seen)))
    }
}

#[derive(Default)]
struct State {
    peers: HashMap<String, Known>,
    dirty: Vec<PeerSighting>,
}

/// The book.
#[derive(Default)]
pub struct PeerBook {
    state: Mutex<State>,
}

fn now() -> u64 {
    trove_store::db::unix_now()
}

impl PeerBook {
    /// Records an address heard from `source` (unverified).
    pub fn hint(&self, addr: &PeerAddr, source: PeerSource, key: Option<PubKey>, caps: Option<Capabilities>) {
        let mut st = self.state.lock().expect("peer book");
        let k = addr.dedup_key();
        let t = now();
        let entry = st.peers.entry(k).or_insert_with(|| Known {
            addr: PeerAddr { pubkey_hint: None, ..addr.clone() },
            verified_key: None,
            hinted_key: None,
            trove: false,
            capabilities: None,
            source,
            last_seen: t,
            last_ok: None,
            failures: 0,
        });
        entry.last_seen = t;
        if entry.verified_key.is_none() {
            entry.hinted_key = key.or(addr.pubkey_hint).or(entry.hinted_key);
        }
        if caps.is_some() && entry.capabilities.is_none() {
            entry.capabilities = caps;
        }
        let mut s = PeerSighting::new(addr.clone(), source);
        s.node_pubkey = key.or(addr.pubkey_hint);
        s.capabilities = caps;
        st.dirty.push(s);
        Self::bound(&mut st);
    }

    /// Restores a peer saved by an earlier run (its key stays unverified until the next
    /// handshake).
    pub fn restore(&self, r: &trove_store::db::PeerRecord) {
        let mut st = self.state.lock().expect("peer book");
        st.peers.entry(r.addr.dedup_key()).or_insert_with(|| Known {
            addr: PeerAddr { pubkey_hint: None, ..r.addr.clone() },
            verified_key: None,
            hinted_key: r.node_pubkey,
            trove: false,
            capabilities: r.capabilities,
            source: r.source,
            last_seen: r.last_seen,
            last_ok: r.last_ok,
            failures: r.failures,
        });
    }

    /// Records a successful outbound session to `dialed`.
    pub fn success(&self, dialed: &PeerAddr, info: &PeerInfo) {
        let mut st = self.state.lock().expect("peer book");
        let t = now();
        let k = dialed.dedup_key();
        let e = st.peers.entry(k).or_insert_with(|| Known {
            addr: PeerAddr { pubkey_hint: None, ..dialed.clone() },
            verified_key: None,
            hinted_key: None,
            trove: false,
            capabilities: None,
            source: PeerSource::Session,
            last_seen: t,
            last_ok: None,
            failures: 0,
        });
        e.verified_key = Some(info.node_pubkey);
        e.trove = info.bound;
        e.capabilities = Some(info.capabilities);
        e.last_ok = Some(t);
        e.last_seen = t;
        e.failures = 0;
        let mut s =
            PeerSighting::new(PeerAddr { pubkey_hint: Some(info.node_pubkey), ..dialed.clone() }, PeerSource::Session);
        s.node_pubkey = Some(info.node_pubkey);
        s.capabilities = Some(info.capabilities);
        s.capabilities_verified = true;
        st.dirty.push(s);
        Self::bound(&mut st);
    }

    /// Records a failed contact.
    pub fn failure(&self, addr: &PeerAddr) {
        let mut st = self.state.lock().expect("peer book");
        if let Some(e) = st.peers.get_mut(&addr.dedup_key()) {
            e.failures = e.failures.saturating_add(1);
        }
    }

    /// Up to `n` peers, best first (recently reachable, trove, fewest failures).
    pub fn best(&self, n: usize) -> Vec<Known> {
        let st = self.state.lock().expect("peer book");
        let mut all: Vec<&Known> = st.peers.values().collect();
        all.sort_by_key(|k| k.rank());
        all.into_iter().take(n).cloned().collect()
    }

    /// Peers from one source.
    pub fn from_source(&self, source: PeerSource) -> Vec<Known> {
        let st = self.state.lock().expect("peer book");
        let mut v: Vec<Known> = st.peers.values().filter(|k| k.source == source).cloned().collect();
        v.sort_by_key(|k| k.rank());
        v
    }

    /// A peer by address.
    pub fn get(&self, addr: &PeerAddr) -> Option<Known> {
        self.state.lock().expect("peer book").peers.get(&addr.dedup_key()).cloned()
    }

    /// Number of peers known.
    pub fn len(&self) -> usize {
        self.state.lock().expect("peer book").peers.len()
    }

    /// Whether no peer is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sightings not yet saved.
    pub fn take_dirty(&self) -> Vec<PeerSighting> {
        std::mem::take(&mut self.state.lock().expect("peer book").dirty)
    }

    fn bound(st: &mut State) {
        if st.dirty.len() > 4096 {
            let excess = st.dirty.len() - 4096;
            st.dirty.drain(..excess);
        }
        if st.peers.len() <= MAX_PEERS {
            return;
        }
        let mut all: Vec<(String, Rank)> = st.peers.iter().map(|(k, v)| (k.clone(), v.rank())).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let excess = st.peers.len() - MAX_PEERS;
        for (k, _) in all.into_iter().take(excess) {
            st.peers.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::wire::Transport;

    fn addr(i: u32) -> PeerAddr {
        PeerAddr::new(
            std::net::SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 7001)),
            Transport::Tcp,
        )
    }

    #[test]
    fn bounded_and_ranked() {
        let b = PeerBook::default();
        for i in 0..(MAX_PEERS as u32 + 500) {
            b.hint(&addr(i), PeerSource::Pex, None, None);
        }
        assert_eq!(b.len(), MAX_PEERS);
        b.failure(&addr(1));
        let best = b.best(3);
        assert_eq!(best.len(), 3);
        assert!(best.iter().all(|k| k.failures == 0));
        assert!(b.take_dirty().len() <= 4096);
    }
}
