//! Which relays a firewalled node tries, in order: the relay it used last (a restarted relay
//! gives it back the same slot), the configured relays, the bootstrap peers (what v1 nodes
//! use), peers whose handshake (or LAN packet) says they relay, and relays known from signed
//! announcements (DHT rendezvous keys, RELAY_LIST answers). When none of those is left, it
//! looks for announcements first. Relays that failed a moment ago go last.

use crate::node::Inner;
use std::collections::HashSet;
use std::sync::Arc;
use trove_dht::ValueTarget;
use trove_proto::wire::{PeerAddr, RelayAnnouncement, RelayListRequest};
use trove_proto::{cbor, dht_key};
use trove_store::db::unix_now;

/// Peers asked for their relay lists when looking for relays.
const LIST_ASK: usize = 3;

/// The candidates, best first.
pub(crate) async fn collect(inner: &Arc<Inner>) -> Vec<PeerAddr> {
    let mut out = gather(inner).await;
    if out.iter().all(|a| inner.relay.client.recently_failed(a)) {
        discover(inner).await;
        out = gather(inner).await;
    }
    // Failed a moment ago: still tried, but after the others.
    out.sort_by_key(|a| inner.relay.client.recently_failed(a));
    out
}

async fn gather(inner: &Arc<Inner>) -> Vec<PeerAddr> {
    let mut out: Vec<PeerAddr> = Vec::new();
    if let Some(r) = inner.relay.client.route() {
        out.push(r.relay);
    }
    out.extend(crate::node::resolve_addrs(&inner.cfg.relay.relays, false).await);
    out.extend(inner.bootstrap.iter().cloned());
    out.extend(
        inner.peers.best(256).into_iter().filter(|k| k.capabilities.is_some_and(|c| c.relay)).map(|k| k.dial_addr()),
    );
    out.extend(inner.relay.known.addrs());
    let me = inner.key.public();
    let own: HashSet<String> = inner.advertised.iter().map(|a| a.dedup_key()).collect();
    let mut seen = HashSet::new();
    out.retain(|a| {
        a.relay_via.is_none()
            && a.pubkey_hint != Some(me)
            && !own.contains(&a.dedup_key())
            && seen.insert(a.dedup_key())
    });
    out
}

/// Learns relays: asks a few reachable peers for their relay lists, and looks the current
/// hour's 16 rendezvous keys up in the DHT. Everything found is verified before use.
async fn discover(inner: &Arc<Inner>) {
    let ask: Vec<PeerAddr> = inner
        .peers
        .best(16)
        .into_iter()
        .filter(|k| k.last_ok.is_some())
        .take(LIST_ASK)
        .map(|k| k.dial_addr())
        .collect();
    for p in ask {
        let Ok(s) = inner.session(&p).await else { continue };
        let req = RelayListRequest { max_count: 16 };
        if let Ok(list) = s.call_timeout(&req, crate::dht_driver::DHT_QUERY_TIMEOUT).await {
            for a in list.announcements {
                inner.relay.known.offer(a);
            }
        }
    }
    let bucket = dht_key::relay_bucket(unix_now());
    let lookups = (0..dht_key::RELAY_RENDEZVOUS_SLOTS)
        .map(|i| inner.dht_get_with(ValueTarget::first(dht_key::relay_rendezvous(bucket, i)), &[]));
    for found in futures::future::join_all(lookups).await.into_iter().flatten() {
        if let Ok(a) = cbor::from_slice::<RelayAnnouncement>(&found.store.value) {
            inner.relay.known.offer(a);
        }
    }
}
