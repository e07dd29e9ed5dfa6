//! The firewalled side: a node nobody can reach registers a tunnel at a relay and is
//! reachable at `<its address> via <relay> slot <n>` from then on.
//!
//! The loop decides whether a relay is needed (`client` setting: no listener, or no inbound
//! session for a while), takes the candidates in order (the last relay first, so a restarted
//! relay gets its node back with the same slot), registers on a dedicated stream, and serves
//! the tunnel. A probe sent through its own slot every `probe_secs` checks the whole path;
//! when the tunnel breaks or a probe fails the node registers again, at the same relay or
//! the next one (failover). Each time the tunnel comes up it announces its address again
//! (provider records); share links name the relay.

use super::candidates;
use super::stats::RelayRouteView;
use super::via_relay::{TunnelHandler, anonymous};
use crate::events::Event;
use crate::node::Inner;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use trove_net::peer::features;
use trove_net::relayed::call_on_stream;
use trove_net::stream::Stream;
use trove_net::{NetError, PeerInfo};
use trove_proto::ContentId;
use trove_proto::wire::{
    Envelope, HaveContent, MsgType, Payload, PeerAddr, RelayKind, RelayRegister, RelayRegistered, RelayStream,
    Transport,
};

/// How long a relay that failed is skipped.
const FAILED_RELAY_PAUSE: Duration = Duration::from_secs(30);
/// Longest pause between rounds when no relay accepts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Deadline of RELAY_REGISTER (v1 clients: 10 s).
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);
/// Content provider records announced again after a route change, besides the shares'.
const REANNOUNCE_CONTENT: usize = 256;

/// The route this node is reachable by.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    /// The relay, with its verified key as hint.
    pub relay: PeerAddr,
    pub slot: u64,
    /// This node's relayed address.
    pub addr: PeerAddr,
    pub up: bool,
}

/// State of the firewalled side.
pub(crate) struct ClientState {
    started: Instant,
    inbound: AtomicBool,
    route: Mutex<Option<Route>>,
    failed: Mutex<HashMap<String, Instant>>,
}

impl Default for ClientState {
    fn default() -> Self {
        ClientState {
            started: Instant::now(),
            inbound: AtomicBool::new(false),
            route: Mutex::new(None),
            failed: Mutex::default(),
        }
    }
}

impl ClientState {
    /// A peer opened a session to this node: it is reachable.
    pub fn note_inbound(&self) {
        self.inbound.store(true, Ordering::Relaxed);
    }

    /// The current (or last) route.
    pub fn route(&self) -> Option<Route> {
        self.route.lock().expect("route").clone()
    }

    fn set_down(&self) {
        if let Some(r) = self.route.lock().expect("route").as_mut() {
            r.up = false;
        }
    }

    /// Marks a relay as failed for a while.
    pub fn failed(&self, relay: &PeerAddr) {
        let mut f = self.failed.lock().expect("failed");
        f.retain(|_, t| t.elapsed() < FAILED_RELAY_PAUSE);
        f.insert(relay.dedup_key(), Instant::now());
    }

    /// Whether a relay failed a moment ago.
    pub fn recently_failed(&self, relay: &PeerAddr) -> bool {
        self.failed.lock().expect("failed").get(&relay.dedup_key()).is_some_and(|t| t.elapsed() < FAILED_RELAY_PAUSE)
    }

    /// What the API shows.
    pub fn view(&self) -> Option<RelayRouteView> {
        self.route().map(|r| RelayRouteView {
            relay: hint_string(&r.relay),
            slot: r.slot,
            up: r.up,
            address: r.addr.to_string(),
        })
    }
}

/// `tcp://ip:port@key`: the bootstrap syntax of SCP2P-WIRE.md §1.1, which v1 parses too.
pub(crate) fn hint_string(a: &PeerAddr) -> String {
    match a.pubkey_hint {
        Some(k) => format!("{}://{}@{}", a.transport.as_str(), a.socket_addr(), k.to_hex()),
        None => format!("{}://{}", a.transport.as_str(), a.socket_addr()),
    }
}

impl Inner {
    /// Whether this node should be reachable through a relay.
    pub(crate) fn wants_relay(&self) -> bool {
        let s = &self.cfg.relay;
        match s.client {
            super::RelayUse::Never => false,
            super::RelayUse::Always => true,
            super::RelayUse::Auto => {
                if s.enabled {
                    return false;
                }
                let listening = self.endpoint.tcp_addr().is_some() || self.endpoint.quic_addr().is_some();
                let c = &self.relay.client;
                !listening
                    || (!c.inbound.load(Ordering::Relaxed)
                        && c.started.elapsed() >= Duration::from_secs(s.reachability_secs))
            }
        }
    }

    /// The addresses others can reach this node at: its relayed address while it uses a
    /// relay, else its advertised direct addresses.
    pub(crate) fn reachable_addrs(&self) -> Vec<PeerAddr> {
        match self.relay.client.route() {
            Some(r) => vec![r.addr],
            None => self.advertised.clone(),
        }
    }

    fn relayed_addr(&self, relay: &PeerAddr, slot: u64) -> PeerAddr {
        let base = self
            .advertised
            .first()
            .cloned()
            .unwrap_or_else(|| PeerAddr::new(SocketAddr::from(([0, 0, 0, 0], 0)), Transport::Tcp));
        PeerAddr { pubkey_hint: Some(self.key.public()), relay_via: None, ..base }.via(relay.clone(), slot)
    }

    /// Announces this node's current address again for what it serves: its shares, their
    /// manifests, and (up to a bound) the contents it seeds.
    async fn reannounce(self: &Arc<Self>) {
        let mut ids: Vec<ContentId> = Vec::new();
        for s in self.db.shares().unwrap_or_default() {
            if let Some(rev) = &s.latest {
                ids.push(ContentId(s.share_id.0));
                ids.push(ContentId(rev.manifest_id.0));
            }
        }
        if self.cfg.seed_downloads {
            for sub in self.db.subscriptions().unwrap_or_default() {
                if let Some(m) = sub.manifest_id {
                    ids.push(ContentId(sub.share_id.0));
                    ids.push(ContentId(m.0));
                }
            }
        }
        ids.extend(self.db.servable_content_ids().unwrap_or_default().into_iter().take(REANNOUNCE_CONTENT));
        ids.dedup();
        for id in ids {
            self.announce_provider(id).await;
        }
    }
}

/// A registered tunnel, before it is served.
struct Registered {
    stream: Stream,
    relay: PeerAddr,
    info: PeerInfo,
    slot: u64,
}

async fn register(inner: &Arc<Inner>, relay: &PeerAddr) -> Result<Registered, NetError> {
    let (mut stream, info) = inner.endpoint.dial_stream(relay).await?;
    let req = RelayRegister { relay_slot_id: None, tunnel: true };
    let reg: RelayRegistered = call_on_stream(&mut stream, &req, REGISTER_TIMEOUT, info.addr).await?;
    let relay = PeerAddr { pubkey_hint: Some(info.node_pubkey), relay_via: None, ..relay.clone() };
    Ok(Registered { stream, relay, info, slot: reg.relay_slot_id })
}

/// The firewalled side's loop (runs for the node's lifetime).
pub(crate) async fn run(weak: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let Some(inner) = weak.upgrade() else { return };
        if !inner.wants_relay() {
            drop(inner);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        let mut registered = None;
        for c in candidates::collect(&inner).await {
            match register(&inner, &c).await {
                Ok(r) => {
                    registered = Some(r);
                    break;
                }
                Err(e) => {
                    tracing::debug!("relay {c} refused a tunnel: {e}");
                    inner.relay.client.failed(&c);
                }
            }
        }
        drop(inner);
        match registered {
            Some(r) => {
                backoff = Duration::from_secs(1);
                if keep(&weak, r, &mut shutdown).await {
                    return;
                }
            }
            None => {
                tracing::debug!("no relay accepted a tunnel; trying again in {backoff:?}");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Serves a registered tunnel until it breaks; true when the node is shutting down.
async fn keep(weak: &Weak<Inner>, t: Registered, shutdown: &mut watch::Receiver<bool>) -> bool {
    let Some(inner) = weak.upgrade() else { return true };
    let addr = inner.relayed_addr(&t.relay, t.slot);
    *inner.relay.client.route.lock().expect("route") =
        Some(Route { relay: t.relay.clone(), slot: t.slot, addr: addr.clone(), up: true });
    tracing::info!("reachable through relay {} as {addr}", t.relay);
    inner.emit(Event::RelayTunnelUp { relay: hint_string(&t.relay), slot: t.slot, address: addr.to_string() });
    // The relay answers again: requests to it must not fail on a dial failure remembered
    // from while it was down.
    inner.pool.forgive(&t.relay);
    // Announced again every time the tunnel comes up: the address may be new, and a relay
    // that restarted lost the records stored at it.
    let me = inner.clone();
    inner.spawn(async move { me.reannounce().await });
    let e2e = inner.cfg.extensions && t.info.has(features::RELAY_E2E);
    let handler = Arc::new(TunnelHandler { inner: weak.clone(), relay: t.relay.clone(), e2e });
    let probe = inner.cfg.relay.probe();
    let ep = inner.endpoint.clone();
    drop(inner);
    // The probes keep requests coming; a tunnel without any for three rounds is dead.
    let idle = probe * 3 + REGISTER_TIMEOUT;
    let serve = ep.serve_inverted(t.stream, Arc::new(anonymous(&t.info)), handler, e2e, idle);
    let why = tokio::select! {
        _ = serve => "the relay closed the tunnel".to_string(),
        why = probe_loop(weak.clone(), t.relay.clone(), t.slot, probe) => why,
        _ = shutdown.changed() => return true,
    };
    let Some(inner) = weak.upgrade() else { return true };
    tracing::info!("tunnel at relay {} lost: {why}", t.relay);
    inner.relay.client.set_down();
    inner.emit(Event::RelayTunnelLost { relay: hint_string(&t.relay), reason: why });
    false
}

/// Sends a request to this node through its own slot every `every`; returns why the first
/// failing one failed.
async fn probe_loop(weak: Weak<Inner>, relay: PeerAddr, slot: u64, every: Duration) -> String {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = weak.upgrade() else { return "the node stopped".into() };
        let ping = HaveContent { content_id: ContentId(trove_proto::keys::random_bytes()) };
        let env = Envelope::request(MsgType::HAVE_CONTENT, 1, ping.to_payload());
        let rs = RelayStream { relay_slot_id: slot, stream_id: 0, kind: RelayKind::Control, payload: env.to_bytes() };
        match inner.pool.call(&relay, &rs).await {
            Ok(_) => {}
            Err(e) if e.is_rate_limited() => {}
            Err(e) => return format!("a probe through the relay failed: {e}"),
        }
    }
}
