//! The [`Dht`] facade: one node's routing table, record store and republish schedule, the
//! pure handlers for incoming FIND_NODE / FIND_VALUE / STORE, and constructors for lookups
//! seeded from the table.

use crate::error::DhtError;
use crate::lookup::{Lookup, LookupConfig, LookupResult, ValueTarget};
use crate::republish::{RepublishConfig, Republisher};
use crate::routing_table::{InsertOutcome, RoutingConfig, RoutingTable};
use crate::source::Source;
use crate::store::{PutOutcome, RecordStore, StoreConfig};
use trove_proto::limits::DHT_DEFAULT_TTL_SECS;
use trove_proto::wire::{
    AnyRequest, FindNode, FindNodeResult, FindValue, FindValueResult, MsgType, Payload, PeerAddr, Store,
};
use trove_proto::{DhtKey, NodeId, PubKey};

/// All DHT settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhtConfig {
    pub routing: RoutingConfig,
    pub lookup: LookupConfig,
    pub store: StoreConfig,
    pub republish: RepublishConfig,
}

impl DhtConfig {
    /// Settings for a network on loopback addresses (tests): prefix limits lifted for
    /// loopback in the table, lookups and store.
    pub fn loopback() -> Self {
        let mut c = DhtConfig::default();
        c.routing.exempt_loopback = true;
        c.lookup.exempt_loopback = true;
        c.store.exempt_loopback = true;
        c
    }
}

/// A DHT request this node serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhtRequest {
    FindNode(FindNode),
    FindValue(FindValue),
    Store(Store),
}

impl DhtRequest {
    /// The DHT request inside a decoded request, if it is one.
    pub fn from_any(req: AnyRequest) -> Option<DhtRequest> {
        match req {
            AnyRequest::FindNode(r) => Some(DhtRequest::FindNode(r)),
            AnyRequest::FindValue(r) => Some(DhtRequest::FindValue(r)),
            AnyRequest::Store(r) => Some(DhtRequest::Store(r)),
            _ => None,
        }
    }

    /// The request's type code (also the type code of its response and of its errors).
    pub fn msg_type(&self) -> MsgType {
        match self {
            DhtRequest::FindNode(_) => MsgType::FIND_NODE,
            DhtRequest::FindValue(_) => MsgType::FIND_VALUE,
            DhtRequest::Store(_) => MsgType::STORE,
        }
    }
}

/// The answer to a [`DhtRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhtResponse {
    FindNode(FindNodeResult),
    FindValue(FindValueResult),
    /// STORE accepted (an empty-payload acknowledgement).
    Stored,
}

impl DhtResponse {
    /// The response type code (the request's, SCP2P-WIRE.md §4.1).
    pub fn msg_type(&self) -> MsgType {
        match self {
            DhtResponse::FindNode(_) => MsgType::FIND_NODE,
            DhtResponse::FindValue(_) => MsgType::FIND_VALUE,
            DhtResponse::Stored => MsgType::STORE,
        }
    }

    /// The response payload.
    pub fn to_payload(&self) -> Vec<u8> {
        match self {
            DhtResponse::FindNode(r) => r.to_payload(),
            DhtResponse::FindValue(r) => r.to_payload(),
            DhtResponse::Stored => Vec::new(),
        }
    }
}

/// One node's DHT state.
#[derive(Clone, Debug)]
pub struct Dht {
    local_key: PubKey,
    local_id: NodeId,
    config: DhtConfig,
    table: RoutingTable,
    store: RecordStore,
    republisher: Republisher,
}

impl Dht {
    /// The DHT of the node whose key is `local_key`.
    pub fn new(local_key: PubKey, config: DhtConfig) -> Self {
        let local_id = local_key.node_id();
        Dht {
            local_key,
            local_id,
            table: RoutingTable::new(local_id, config.routing.clone()),
            store: RecordStore::new(local_id, config.store.clone()),
            republisher: Republisher::new(config.republish.clone()),
            config,
        }
    }

    /// The local node key.
    pub fn local_key(&self) -> PubKey {
        self.local_key
    }

    /// The local node id.
    pub fn local_id(&self) -> NodeId {
        self.local_id
    }

    /// The settings.
    pub fn config(&self) -> &DhtConfig {
        &self.config
    }

    /// The routing table.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// The routing table, for pings, failures and removals.
    pub fn table_mut(&mut self) -> &mut RoutingTable {
        &mut self.table
    }

    /// The record store.
    pub fn store(&self) -> &RecordStore {
        &self.store
    }

    /// The record store, for learned share keys and sweeps.
    pub fn store_mut(&mut self) -> &mut RecordStore {
        &mut self.store
    }

    /// Records a peer seen over an authenticated session (its address with `pubkey_hint`
    /// set to the handshake key). A [`InsertOutcome::PingRequired`] answer asks the driver
    /// to ping and call `table_mut().report_ping`.
    pub fn observe_peer(&mut self, addr: &PeerAddr, now: u64) -> InsertOutcome {
        self.table.insert(addr, now)
    }

    /// Answers an incoming DHT request from `source` at `now`. Errors carry the text for the
    /// error envelope in [`DhtError::wire_text`].
    pub fn handle(&mut self, request: &DhtRequest, source: &Source, now: u64) -> Result<DhtResponse, DhtError> {
        match request {
            DhtRequest::FindNode(r) => Ok(DhtResponse::FindNode(self.handle_find_node(r, source))),
            DhtRequest::FindValue(r) => Ok(DhtResponse::FindValue(self.handle_find_value(r, source, now))),
            DhtRequest::Store(r) => self.handle_store(r, source, now).map(|_| DhtResponse::Stored),
        }
    }

    /// The K closest entries to `target` for an answer, leaving out the requester and
    /// naming entries that have not failed since they were last seen before those that
    /// have (a stale entry in an answer costs the asker a timeout).
    fn closer_peers(&self, target: &NodeId, source: &Source) -> Vec<PeerAddr> {
        let k = self.config.routing.k;
        let mut out: Vec<PeerAddr> = self
            .table
            .closest_where(target, k, |e| e.id != source.node_id && e.failures == 0)
            .into_iter()
            .map(|e| e.addr.clone())
            .collect();
        if out.len() < k {
            let failed = self.table.closest_where(target, k - out.len(), |e| e.id != source.node_id && e.failures > 0);
            out.extend(failed.into_iter().map(|e| e.addr.clone()));
        }
        out
    }

    /// FIND_NODE: the K closest entries of the routing table (the requester left out,
    /// responsive entries first).
    pub fn handle_find_node(&self, request: &FindNode, source: &Source) -> FindNodeResult {
        FindNodeResult { peers: self.closer_peers(&request.target, source) }
    }

    /// FIND_VALUE: the stored value with its remaining TTL, if any, and the K closest
    /// entries of the routing table to the key's first 20 bytes.
    pub fn handle_find_value(&mut self, request: &FindValue, source: &Source, now: u64) -> FindValueResult {
        FindValueResult {
            value: self.store.get(&request.key, now),
            closer_peers: self.closer_peers(&request.key.target(), source),
        }
    }

    /// STORE: validates and stores the value, and schedules its replication.
    pub fn handle_store(&mut self, request: &Store, source: &Source, now: u64) -> Result<PutOutcome, DhtError> {
        let out = self.store.put(request, source, now)?;
        self.republisher.note_stored(request.key, now);
        Ok(out)
    }

    /// Publishes a value this node owns: stores it locally (so this node answers for it)
    /// and schedules its republishing. Returns the STORE to send to the K closest now.
    pub fn publish(&mut self, key: DhtKey, value: Vec<u8>, now: u64) -> Result<Store, DhtError> {
        let ttl_secs = self.config.republish.ttl_secs;
        let store = Store { key, value, ttl_secs };
        let local_ip = std::net::IpAddr::from([127, 0, 0, 1]);
        self.store.put(&store, &Source::new(self.local_id, local_ip), now)?;
        self.republisher.own(key, store.value.clone(), now);
        // Due at once; the returned STORE is this first round.
        self.republisher.due_owned(now);
        Ok(store)
    }

    /// Stops republishing `key`.
    pub fn unpublish(&mut self, key: &DhtKey) -> bool {
        self.republisher.disown(key)
    }

    /// Work due at `now`: owned records to re-store, then up to `limit` replicated records
    /// (read from the store with their remaining TTL). For each, run a FIND_NODE lookup for
    /// `key.target()` and STORE to the closest peers found.
    ///
    /// A replicated record is only passed on while at least a day of its lifetime remains:
    /// receivers raise any TTL to a day (SCP2P-WIRE.md §8.1), so passing on a record with
    /// less left would extend a lifetime that only its owner may renew.
    pub fn due_republish(&mut self, now: u64, limit: usize) -> Vec<Store> {
        let mut out = self.republisher.due_owned(now);
        for key in self.republisher.due_replication(now, limit) {
            match self.store.get(&key, now) {
                Some(s) if s.ttl_secs >= DHT_DEFAULT_TTL_SECS => out.push(s),
                Some(_) => {}
                None => self.republisher.forget(&key),
            }
        }
        out
    }

    /// When [`Self::due_republish`] next has work.
    pub fn next_republish(&self) -> Option<u64> {
        self.republisher.next_due()
    }

    /// Drops expired records; returns how many contributions went.
    pub fn expire(&mut self, now: u64) -> usize {
        self.store.expire(now)
    }

    fn seeds(&self, target: &NodeId, extra: &[PeerAddr]) -> Vec<PeerAddr> {
        let mut seeds: Vec<PeerAddr> =
            self.table.closest(target, self.config.lookup.k).into_iter().map(|e| e.addr.clone()).collect();
        seeds.extend(extra.iter().cloned());
        seeds
    }

    /// A FIND_NODE lookup for `target`, seeded with the table's closest entries and
    /// `bootstrap` (peers from configuration or links, with or without keys).
    pub fn find_node(&mut self, target: NodeId, bootstrap: &[PeerAddr], now: u64) -> Lookup {
        self.table.note_lookup(&target, now);
        Lookup::find_node(target, &self.seeds(&target, bootstrap), Some(self.local_id), self.config.lookup.clone())
    }

    /// A FIND_VALUE lookup, seeded like [`Self::find_node`].
    pub fn find_value(&mut self, value: ValueTarget, bootstrap: &[PeerAddr], now: u64) -> Lookup {
        let target = value.key.target();
        self.table.note_lookup(&target, now);
        Lookup::find_value(value, &self.seeds(&target, bootstrap), Some(self.local_id), self.config.lookup.clone())
    }

    /// Applies what a finished lookup learned about peers: failures are counted, peers that
    /// sent forged or invalid values are removed. (Peers that answered are added by the
    /// driver through [`Self::observe_peer`] when their session is authenticated.)
    pub fn apply_lookup_result(&mut self, result: &LookupResult) {
        for p in &result.unresponsive {
            if let Some(k) = p.pubkey_hint {
                self.table.mark_failed(&k.node_id());
            }
        }
        for p in &result.misbehaving {
            if let Some(k) = p.pubkey_hint {
                self.table.remove(&k.node_id());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::wire::{Providers, ShareHead, Transport};
    use trove_proto::{ContentId, Keypair, ManifestId, dht_key};

    fn peer(i: u32, ip: &str) -> PeerAddr {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        PeerAddr::new(format!("{ip}:7001").parse().unwrap(), Transport::Tcp).with_hint(PubKey(k))
    }

    #[test]
    fn handlers_answer_with_v1_shapes_and_texts() {
        let mut dht = Dht::new(PubKey([0xee; 32]), DhtConfig::default());
        for i in 0..50 {
            dht.observe_peer(&peer(i, &format!("10.0.{i}.1")), 1);
        }
        let requester = peer(3, "10.0.3.1");
        let src = Source::from_peer(&requester).unwrap();
        let target = requester.pubkey_hint.unwrap().node_id();
        let DhtResponse::FindNode(r) = dht.handle(&DhtRequest::FindNode(FindNode { target }), &src, 5).unwrap() else {
            panic!()
        };
        assert_eq!(r.peers.len(), 20);
        assert!(!r.peers.contains(&requester), "the requester is left out");

        // STORE then FIND_VALUE.
        let share = Keypair::from_seed([4; 32]);
        let head = ShareHead::sign(&share, 1, ManifestId([1; 32]), 2);
        let key = dht_key::share_head(&share.share_id());
        let store = Store { key, value: head.to_payload(), ttl_secs: 10 };
        assert_eq!(dht.handle(&DhtRequest::Store(store), &src, 100).unwrap(), DhtResponse::Stored);
        let DhtResponse::FindValue(v) = dht.handle(&DhtRequest::FindValue(FindValue { key }), &src, 200).unwrap()
        else {
            panic!()
        };
        let got = v.value.unwrap();
        assert_eq!(got.value, head.to_payload());
        assert_eq!(got.ttl_secs, 86_400 - 100);
        assert_eq!(v.closer_peers.len(), 20);

        let bad = Store { key: DhtKey([0; 32]), value: vec![0xa0], ttl_secs: 1 };
        let e = dht.handle(&DhtRequest::Store(bad), &src, 1).unwrap_err();
        assert_eq!(e.wire_text(), "DHT value does not match any recognized keyspace");
        let big = Store { key: DhtKey([0; 32]), value: vec![0; 70_000], ttl_secs: 1 };
        assert_eq!(dht.handle(&DhtRequest::Store(big), &src, 1).unwrap_err().wire_text(), "dht value exceeds 64KiB");
        assert_eq!(DhtResponse::Stored.to_payload(), Vec::<u8>::new());
    }

    #[test]
    fn published_records_are_local_and_come_due_again() {
        let me = PubKey([0xee; 32]);
        let mut dht = Dht::new(me, DhtConfig::default());
        let content = ContentId([5; 32]);
        let key = dht_key::content_providers(&content);
        let me_addr = PeerAddr::new("198.51.100.7:7001".parse().unwrap(), Transport::Tcp).with_hint(me);
        let p = Providers { content_id: content, providers: vec![me_addr], updated_at: 1 };
        let s = dht.publish(key, p.to_payload(), 1_000).unwrap();
        assert_eq!(s.ttl_secs, 86_400);
        assert!(dht.store_mut().get(&key, 1_001).is_some());
        assert!(dht.due_republish(1_001, 10).is_empty());
        let due = dht.due_republish(1_600, 10);
        assert!(due.iter().any(|s| s.key == key));
    }

    #[test]
    fn replication_never_extends_a_record_lifetime() {
        let mut dht = Dht::new(PubKey([0xee; 32]), DhtConfig::default());
        let share = Keypair::from_seed([4; 32]);
        let head = ShareHead::sign(&share, 1, ManifestId([1; 32]), 2);
        let key = dht_key::share_head(&share.share_id());
        let src = Source::from_peer(&peer(1, "10.0.1.1")).unwrap();
        let t0 = 1_000_000;
        dht.handle(&DhtRequest::Store(Store { key, value: head.to_payload(), ttl_secs: 2 * 86_400 }), &src, t0)
            .unwrap();
        assert!(dht.due_republish(t0 + 3_599, 10).is_empty());
        let due = dht.due_republish(t0 + 3_600, 10);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].ttl_secs, 2 * 86_400 - 3_600, "passed on with its remaining lifetime");
        // With less than a day left it is no longer passed on.
        let late = t0 + 86_400 + 3_600 * 2;
        assert!(dht.due_republish(late, 10).is_empty());
        // Once gone, it is forgotten.
        dht.expire(t0 + 2 * 86_400);
        assert!(dht.due_republish(t0 + 3 * 86_400, 10).is_empty());
        assert_eq!(dht.next_republish(), None);
    }

    #[test]
    fn requests_are_recognised_and_failures_feed_the_table() {
        use trove_proto::wire::PexRequest;
        let find = DhtRequest::from_any(AnyRequest::FindNode(FindNode { target: NodeId([1; 20]) })).unwrap();
        assert_eq!(find.msg_type(), MsgType::FIND_NODE);
        assert!(DhtRequest::from_any(AnyRequest::PexRequest(PexRequest { max_peers: 1 })).is_none());
        let mut dht = Dht::new(PubKey([0xee; 32]), DhtConfig::default());
        let (a, b) = (peer(1, "10.0.1.1"), peer(2, "10.0.2.1"));
        dht.observe_peer(&a, 1);
        dht.observe_peer(&b, 1);
        let mut l = dht.find_node(NodeId([0; 20]), &[], 2);
        for act in l.poll(2) {
            if let crate::LookupAction::Query { peer, .. } = act {
                if peer == a {
                    l.on_failure(&peer);
                } else {
                    l.on_response(&peer, vec![], None, 2);
                }
            }
        }
        let [crate::LookupAction::Finished(r)] = &l.poll(2)[..] else { panic!() };
        dht.apply_lookup_result(r);
        assert_eq!(dht.table().get(&a.pubkey_hint.unwrap().node_id()).unwrap().failures, 1);
        assert_eq!(dht.table().get(&b.pubkey_hint.unwrap().node_id()).unwrap().failures, 0);
    }

    #[test]
    fn lookups_are_seeded_from_the_table() {
        let mut dht = Dht::new(PubKey([0xee; 32]), DhtConfig::default());
        for i in 0..30 {
            dht.observe_peer(&peer(i, &format!("10.1.{i}.1")), 1);
        }
        let mut l = dht.find_node(NodeId([0; 20]), &[], 2);
        let actions = l.poll(2);
        assert_eq!(actions.len(), 3, "alpha queries to the closest seeds");
    }
}
