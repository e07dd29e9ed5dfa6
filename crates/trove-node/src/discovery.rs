//! LAN discovery in the running node: announces this node, and for every peer heard tries a
//! session (which verifies who it is and whether it is a trove peer) before relying on it.

use crate::events::Event;
use crate::lan::{self, Announcement, LanConfig};
use crate::node::Inner;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use trove_store::db::PeerSource;

/// Peers accepted from LAN packets per announcement interval.
const MAX_LAN_PEERS_PER_INTERVAL: usize = 64;

pub(crate) async fn run_lan(weak: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    let Some(inner) = weak.upgrade() else { return };
    let cfg = LanConfig {
        port: inner.cfg.lan.port,
        broadcast: inner.cfg.lan.broadcast,
        interval: Duration::from_millis(inner.cfg.lan.interval_ms.max(100)),
    };
    let Some(tcp) = inner.endpoint.tcp_addr() else {
        tracing::info!("LAN discovery needs a TCP listener; not announcing");
        return;
    };
    let me = Announcement {
        instance_id: inner.instance_id,
        tcp_port: tcp.port(),
        quic_port: inner.endpoint.quic_addr().map(|a| a.port()),
        capabilities: inner.endpoint.config().capabilities,
        node_pubkey: inner.key.public(),
        extensions: inner.cfg.extensions,
    };
    drop(inner);
    let (tx, mut rx) = mpsc::channel(256);
    let announcer = tokio::spawn(lan::run(cfg, me, tx, MAX_LAN_PEERS_PER_INTERVAL));
    loop {
        tokio::select! {
            found = rx.recv() => {
                let Some(peer) = found else { break };
                let Some(inner) = weak.upgrade() else { break };
                let known = inner.peers.get(&peer.tcp).is_some_and(|k| k.last_ok.is_some());
                inner.peers.hint(&peer.tcp, PeerSource::Lan, peer.node_pubkey, peer.capabilities);
                if let Some(q) = &peer.quic {
                    inner.peers.hint(q, PeerSource::Lan, peer.node_pubkey, peer.capabilities);
                }
                if !known {
                    inner.pool.forgive(&peer.tcp);
                    inner.emit(Event::LanPeer { addr: peer.tcp.to_string() });
                    let addr = peer.tcp.clone();
                    let i2 = inner.clone();
                    i2.spawn(async move {
                        if inner.session(&addr).await.is_ok() {
                            inner.subs_changed.notify_waiters();
                        }
                    });
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    announcer.abort();
}
