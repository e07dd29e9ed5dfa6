//! Drives the sans-io DHT over real sessions: runs lookups with queries in parallel, stores
//! values at the closest nodes, learns peers from every successful session (with a liveness
//! ping before a full bucket evicts anyone).

use crate::node::Inner;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::sync::Arc;
use std::time::Duration;
use trove_dht::{FoundValue, InsertOutcome, Lookup, LookupAction, LookupResult, QueryRequest, ValueTarget};
use trove_net::{NetError, Session};
use trove_proto::wire::{FindNode, PeerAddr, Store};
use trove_proto::{DhtKey, NodeId};
use trove_store::db::unix_now;

/// Deadline of one DHT query (v1 clients use 3 s).
pub const DHT_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

type QueryResult = Result<(Vec<PeerAddr>, Option<Store>), NetError>;

impl Inner {
    /// A session with `addr` from the pool; a success teaches the peer book and the routing
    /// table about the peer.
    pub(crate) async fn session(self: &Arc<Self>, addr: &PeerAddr) -> Result<Session, NetError> {
        match self.pool.get(addr).await {
            Ok(s) => {
                self.learn(addr, &s);
                Ok(s)
            }
            Err(e) => {
                self.peers.failure(addr);
                Err(e)
            }
        }
    }

    fn learn(self: &Arc<Self>, addr: &PeerAddr, s: &Session) {
        if addr.relay_via.is_some() {
            // Relayed peers stay out of the peer book and the routing table.
            return;
        }
        let info = s.peer();
        if self.peers.get(addr).and_then(|k| k.verified_key) == Some(info.node_pubkey) {
            return;
        }
        self.peers.success(addr, info);
        let with_key = PeerAddr { pubkey_hint: Some(info.node_pubkey), ..addr.clone() };
        let outcome = self.dht.lock().expect("dht").observe_peer(&with_key, unix_now());
        if let InsertOutcome::PingRequired { ping, .. } = outcome {
            let me = self.clone();
            self.spawn(async move {
                let alive = me.ping(&ping.addr).await;
                me.dht.lock().expect("dht").table_mut().report_ping(&ping.id, alive, unix_now());
            });
        }
    }

    /// A trove peer that connected to us announced its listen addresses: dial one (the
    /// handshake must prove the same key) and, if it answers, learn it like any peer we
    /// reached ourselves.
    pub(crate) fn learn_inbound(self: &Arc<Self>, peer: &trove_net::PeerInfo) {
        if !peer.bound || peer.listen_addrs.is_empty() {
            return;
        }
        let key = peer.node_pubkey;
        let addrs: Vec<PeerAddr> = peer
            .listen_addrs
            .iter()
            .filter(|a| a.relay_via.is_none() && a.pubkey_hint == Some(key))
            .filter(|a| self.peers.get(a).is_none_or(|k| k.verified_key != Some(key)))
            .take(2)
            .cloned()
            .collect();
        if addrs.is_empty() {
            return;
        }
        let me = self.clone();
        self.spawn(async move {
            for a in addrs {
                if me.session(&a).await.is_ok() {
                    break;
                }
            }
        });
    }

    /// Whether a peer answers a FIND_NODE within the DHT deadline.
    async fn ping(self: &Arc<Self>, addr: &PeerAddr) -> bool {
        let probe = async {
            let s = self.pool.get(addr).await?;
            s.call_timeout(&FindNode { target: NodeId([0; 20]) }, DHT_QUERY_TIMEOUT).await
        };
        matches!(tokio::time::timeout(DHT_QUERY_TIMEOUT, probe).await, Ok(Ok(_)))
    }

    /// Peers to start lookups from: bootstrap peers and recently reachable ones.
    pub(crate) fn dht_seeds(&self) -> Vec<PeerAddr> {
        let mut seeds: Vec<PeerAddr> = self.bootstrap.clone();
        seeds.extend(self.peers.best(32).into_iter().filter(|k| k.last_ok.is_some()).map(|k| {
            let mut a = k.dial_addr();
            // A key remembered from an earlier run is a fine hint: the handshake checks it.
            a.pubkey_hint = a.pubkey_hint.or(k.hinted_key);
            a
        }));
        seeds.dedup_by_key(|p| p.dedup_key());
        seeds
    }

    async fn dht_query(self: &Arc<Self>, peer: PeerAddr, req: QueryRequest) -> (PeerAddr, QueryResult) {
        let work = async {
            let s = self.session(&peer).await?;
            match req {
                QueryRequest::FindNode(f) => Ok((s.call_timeout(&f, DHT_QUERY_TIMEOUT).await?.peers, None)),
                QueryRequest::FindValue(f) => {
                    let r = s.call_timeout(&f, DHT_QUERY_TIMEOUT).await?;
                    Ok((r.closer_peers, r.value))
                }
            }
        };
        let started = std::time::Instant::now();
        let r = match tokio::time::timeout(DHT_QUERY_TIMEOUT * 2, work).await {
            Ok(r) => r,
            Err(_) => Err(NetError::Limit("DHT query timed out".into())),
        };
        tracing::debug!(
            "DHT query to {peer}: {:?} in {:?}",
            r.as_ref().map(|(p, v)| (p.len(), v.is_some())),
            started.elapsed()
        );
        (peer, r)
    }

    /// Runs a lookup to the end with its queries in parallel.
    pub(crate) async fn run_lookup(self: &Arc<Self>, mut lookup: Lookup) -> LookupResult {
        let mut inflight = FuturesUnordered::new();
        loop {
            for action in lookup.poll(unix_now()) {
                match action {
                    LookupAction::Query { peer, request } => inflight.push(self.dht_query(peer, request)),
                    LookupAction::Finished(result) => {
                        self.dht.lock().expect("dht").apply_lookup_result(&result);
                        return *result;
                    }
                }
            }
            let wake = lookup.next_deadline().map(|d| d.saturating_sub(unix_now())).unwrap_or(1).max(1);
            tokio::select! {
                Some((peer, r)) = inflight.next() => match r {
                    Ok((closer, value)) => lookup.on_response(&peer, closer, value, unix_now()),
                    Err(_) => lookup.on_failure(&peer),
                },
                _ = tokio::time::sleep(Duration::from_secs(wake)) => {}
            }
        }
    }

    /// The K closest nodes to `target`.
    pub(crate) async fn closest_nodes(self: &Arc<Self>, target: NodeId) -> LookupResult {
        let seeds = self.dht_seeds();
        let lookup = self.dht.lock().expect("dht").find_node(target, &seeds, unix_now());
        self.run_lookup(lookup).await
    }

    /// Looks a value up; for share heads the freshest verified head.
    pub(crate) async fn dht_get(self: &Arc<Self>, target: ValueTarget) -> Option<FoundValue> {
        let seeds = self.dht_seeds();
        let lookup = self.dht.lock().expect("dht").find_value(target, &seeds, unix_now());
        let result = self.run_lookup(lookup).await;
        if let Some(v) = &result.value {
            // Store at the closest node that lacked it (Kademlia caching).
            if let Some(p) = result.missing_value.first().cloned() {
                let me = self.clone();
                let store = v.store.clone();
                self.spawn(async move {
                    me.store_at(&p, &store).await;
                });
            }
        }
        result.value
    }

    async fn store_at(self: &Arc<Self>, peer: &PeerAddr, store: &Store) -> bool {
        let work = async { self.session(peer).await?.call_timeout(store, DHT_QUERY_TIMEOUT).await };
        matches!(tokio::time::timeout(DHT_QUERY_TIMEOUT * 2, work).await, Ok(Ok(_)))
    }

    /// Publishes a value this node owns: stores it locally, then at the K closest nodes and
    /// at the bootstrap peers (where v1 networks keep their values). Returns how many peers
    /// acknowledged.
    pub(crate) async fn dht_put(self: &Arc<Self>, key: DhtKey, value: Vec<u8>) -> usize {
        let store = match self.dht.lock().expect("dht").publish(key, value, unix_now()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("not publishing DHT value {}: {}", key.short(), e.wire_text());
                return 0;
            }
        };
        self.replicate(store).await
    }

    /// Sends a STORE to the closest nodes of its key and to the bootstrap peers.
    pub(crate) async fn replicate(self: &Arc<Self>, store: Store) -> usize {
        let closest = self.closest_nodes(store.key.target()).await.closest;
        let mut targets: Vec<PeerAddr> = closest;
        targets.extend(self.bootstrap.iter().cloned());
        targets.dedup_by_key(|p| p.dedup_key());
        let results = futures::future::join_all(targets.iter().map(|p| self.store_at(p, &store))).await;
        results.into_iter().filter(|ok| *ok).count()
    }
}
