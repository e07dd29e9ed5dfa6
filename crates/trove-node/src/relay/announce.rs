//! Relay announcements (SCP2P-WIRE.md §7.8, §10.4): a relay signs what it offers and stores
//! it at its two rendezvous keys of the current hour, again every `announce_interval_secs`
//! and whenever the hour changes. Every node keeps the verified, unexpired announcements it
//! learns (its own, DHT lookups, RELAY_LIST answers) and serves them in RELAY_LIST_RESPONSE.

use crate::node::Inner;
use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;
use trove_proto::limits::RELAY_ANNOUNCEMENT_MAX_TTL_SECS;
use trove_proto::wire::{Capabilities, PeerAddr, RelayAnnouncement, RelayCapacity};
use trove_proto::{PubKey, cbor, dht_key};
use trove_store::db::unix_now;

/// Announcements kept at most.
pub const MAX_KNOWN: usize = 256;
/// Entries of one RELAY_LIST_RESPONSE at most.
pub const MAX_LISTED: usize = 64;

/// Verified announcements, one per relay (the newest).
#[derive(Default)]
pub(crate) struct KnownRelays {
    map: Mutex<HashMap<PubKey, RelayAnnouncement>>,
}

impl KnownRelays {
    /// Keeps `a` if it is valid, unexpired and newer than what is known of its relay.
    pub fn offer(&self, a: RelayAnnouncement) -> bool {
        let now = unix_now();
        if a.validate().is_err() || a.expires_at <= now {
            return false;
        }
        let mut m = self.map.lock().expect("known relays");
        m.retain(|_, x| x.expires_at > now);
        if m.get(&a.relay_pubkey).is_some_and(|x| x.issued_at >= a.issued_at) {
            return false;
        }
        if m.len() >= MAX_KNOWN && !m.contains_key(&a.relay_pubkey) {
            let Some(oldest) = m.values().min_by_key(|x| x.expires_at).map(|x| x.relay_pubkey) else { return false };
            if m[&oldest].expires_at >= a.expires_at {
                return false;
            }
            m.remove(&oldest);
        }
        m.insert(a.relay_pubkey, a);
        true
    }

    /// Up to `max` unexpired announcements.
    pub fn list(&self, max: usize) -> Vec<RelayAnnouncement> {
        let now = unix_now();
        let m = self.map.lock().expect("known relays");
        let mut v: Vec<RelayAnnouncement> = m.values().filter(|a| a.expires_at > now).cloned().collect();
        v.sort_by_key(|a| std::cmp::Reverse(a.issued_at));
        v.truncate(max.min(MAX_LISTED));
        v
    }

    /// The addresses of the known relays, each with its relay's key as hint.
    pub fn addrs(&self) -> Vec<PeerAddr> {
        self.list(MAX_KNOWN)
            .into_iter()
            .flat_map(|a| {
                let k = a.relay_pubkey;
                a.relay_addrs.into_iter().map(move |p| PeerAddr { pubkey_hint: Some(k), ..p })
            })
            .collect()
    }
}

impl Inner {
    /// This relay's announcement, signed now; None when it has no address to announce.
    fn relay_announcement(&self) -> Option<RelayAnnouncement> {
        let s = &self.cfg.relay;
        let mut addrs: Vec<PeerAddr> = s.announce.iter().filter_map(|a| PeerAddr::parse_bootstrap(a).ok()).collect();
        if addrs.is_empty() {
            addrs = self.advertised.clone();
        }
        for a in &mut addrs {
            a.pubkey_hint = None;
            a.relay_via = None;
        }
        if addrs.is_empty() {
            return None;
        }
        let (control, content) = s.quota_bytes();
        let capacity = RelayCapacity {
            max_tunnels: s.max_tunnels,
            bandwidth_class: s.bandwidth.wire(),
            // Bytes one tunnel's node may have relayed per hour.
            max_bytes_per_tunnel: Some(if s.content { content } else { control }),
        };
        let now = unix_now();
        let caps = Capabilities { relay: true, ..Capabilities::default() };
        Some(RelayAnnouncement::sign(&self.key, addrs, caps, capacity, now, now + RELAY_ANNOUNCEMENT_MAX_TTL_SECS))
    }
}

/// The relay's announcement loop.
pub(crate) async fn run(weak: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let interval = inner.cfg.relay.announce_interval_secs.max(60);
        if let Some(a) = inner.relay_announcement() {
            inner.relay.known.offer(a.clone());
            let value = cbor::to_vec(&a);
            for key in dht_key::relay_rendezvous_keys(&a.relay_pubkey, dht_key::relay_bucket(a.issued_at)) {
                inner.dht_put(key, value.clone()).await;
            }
        }
        drop(inner);
        // Again after the interval, or just after the hour (the rendezvous keys) changes.
        let now = unix_now();
        let to_next_hour = 3600 - now % 3600 + 1;
        let wait = Duration::from_secs(interval.min(to_next_hour));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}
