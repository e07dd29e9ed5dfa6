//! Periodic upkeep: join the DHT at start (a lookup of our own id), then every interval
//! expire old records, republish what this node owns, refresh stale buckets, save the peer
//! book, and close idle pooled sessions.

use crate::node::Inner;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::watch;
use trove_store::db::unix_now;

/// DHT records republished per pass at most.
const REPUBLISH_BATCH: usize = 256;

/// Peers asked for more peers per pass, and peers taken from each answer.
const PEX_ASK: usize = 3;
const PEX_TAKE: usize = 32;

impl Inner {
    /// Peer exchange: asks a few reachable peers for peers they know. What they offer is a
    /// hint (capped per answer); a handshake verifies it before anything relies on it.
    async fn exchange_peers(self: &std::sync::Arc<Self>) {
        let ask: Vec<_> = self.peers.best(16).into_iter().filter(|k| k.last_ok.is_some()).take(PEX_ASK).collect();
        for k in ask {
            let addr = k.dial_addr();
            let Ok(s) = self.session(&addr).await else { continue };
            let req = trove_proto::wire::PexRequest { max_peers: PEX_TAKE as u8 };
            if let Ok(offer) = s.call_timeout(&req, crate::dht_driver::DHT_QUERY_TIMEOUT).await {
                for p in offer.peers.iter().filter(|p| p.relay_via.is_none()).take(PEX_TAKE) {
                    self.peers.hint(p, trove_store::db::PeerSource::Pex, None, None);
                }
            }
        }
    }
}

pub(crate) async fn run(weak: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    if let Some(inner) = weak.upgrade() {
        let own = inner.key.node_id();
        inner.closest_nodes(own).await;
    }
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let interval = Duration::from_secs(inner.cfg.dht_interval_secs.max(5));
        let now = unix_now();
        let (due, refresh) = {
            let mut dht = inner.dht.lock().expect("dht");
            dht.expire(now);
            let due = dht.due_republish(now, REPUBLISH_BATCH);
            let buckets = dht.table().buckets_needing_refresh(now);
            let refresh: Vec<_> = buckets
                .into_iter()
                .take(4)
                .map(|b| dht.table().random_id_in_bucket(b, trove_proto::keys::random_bytes()))
                .collect();
            (due, refresh)
        };
        for store in due {
            inner.replicate(store).await;
        }
        for target in refresh {
            inner.closest_nodes(target).await;
        }
        inner.exchange_peers().await;
        inner.flush_peers();
        inner.pool.sweep();
        drop(inner);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
