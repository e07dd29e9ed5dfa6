//! The relay role: what a node with `[relay] enabled` answers. RELAY_REGISTER reserves a slot
//! (capped per identity, per IP and in total) and, with `tunnel`, takes the stream over as a
//! tunnel; RELAY_CONNECT and renewals are for the slot's owner only; RELAY_STREAM forwards a
//! v1 envelope into a tunnel; RELAY_OPEN and RELAY_ACCEPT splice a virtual stream between a
//! dialer and the firewalled node. Quotas are charged on the data path.

use super::forward;
use super::quota::Quotas;
use super::settings::RelaySettings;
use super::slots::{RegisterError, SlotLimits, Slots};
use super::splice;
use super::stats::{Counters, RelayStats, TunnelView};
use super::tunnel::Tunnel;
use crate::events::Event;
use crate::node::Inner;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, oneshot, watch};
use trove_net::stream::Stream;
use trove_net::{PeerInfo, Reply};
use trove_proto::wire::{
    AnyRequest, Envelope, HaveContent, MsgType, Payload, RelayKind, RelayRegister, RelayRegistered,
};
use trove_proto::{ContentId, Keypair, PubKey};
use trove_store::db::unix_now;

/// A virtual stream waiting for the firewalled node to claim it.
pub(crate) struct Pending {
    pub owner: PubKey,
    pub tx: oneshot::Sender<Stream>,
}

/// How long an open or a forwarded request waits for a tunnel that is being attached. The
/// owner learns its slot from RELAY_REGISTERED, written just before the relay takes over the
/// stream it was sent on as the tunnel, so a request may name the slot a moment early.
const ATTACH_WAIT: Duration = Duration::from_secs(5);

/// Marks a slot's tunnel as being attached until dropped (attached, or the registering
/// stream lost).
pub(crate) struct Attaching {
    role: Arc<RelayRole>,
    slot: u64,
}

impl Drop for Attaching {
    fn drop(&mut self) {
        self.role.attaching.lock().expect("attaching").remove(&self.slot);
        self.role.attach_done.notify_waiters();
    }
}

/// The relay role's state.
pub(crate) struct RelayRole {
    pub settings: RelaySettings,
    pub slots: Mutex<Slots<Arc<Tunnel>>>,
    pub quotas: Mutex<Quotas>,
    pub pending: Mutex<HashMap<[u8; 16], Pending>>,
    /// Virtual streams being spliced.
    pub streams: AtomicUsize,
    pub counters: Counters,
    /// Flips to true at shutdown: splices and keepalives end.
    pub stop: watch::Sender<bool>,
    events: broadcast::Sender<Event>,
    /// Slots whose tunnel is being attached (see [`Attaching`]).
    attaching: Mutex<HashSet<u64>>,
    attach_done: Notify,
}

pub(crate) fn error(req: &Envelope, text: &str) -> Reply {
    Reply::Respond(Envelope::error(req.msg_type, req.req_id, text))
}

pub(crate) fn answer<P: Payload>(t: MsgType, req: &Envelope, p: &P) -> Envelope {
    Envelope::response(t, req.req_id, p.to_payload())
}

impl RelayRole {
    pub fn new(settings: RelaySettings, key: &Keypair, events: broadcast::Sender<Event>) -> Arc<RelayRole> {
        let mut material = b"trove relay slot secret v1".to_vec();
        material.extend_from_slice(&key.seed());
        let secret = trove_proto::content::content_id(&material).0;
        let limits = SlotLimits {
            global: settings.max_tunnels.max(1) as usize,
            per_identity: settings.max_per_identity.max(1),
            per_ip: settings.max_per_ip.max(1),
        };
        let (control, content) = settings.quota_bytes();
        Arc::new(RelayRole {
            slots: Mutex::new(Slots::new(secret, limits)),
            quotas: Mutex::new(Quotas::new(control, content)),
            pending: Mutex::default(),
            streams: AtomicUsize::new(0),
            counters: Counters::default(),
            stop: watch::channel(false).0,
            events,
            attaching: Mutex::default(),
            attach_done: Notify::new(),
            settings,
        })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RelayStats {
        let (slots, tunnels) = {
            let s = self.slots.lock().expect("slots");
            (s.len(), s.tunnels())
        };
        RelayStats::from(&self.counters, slots, tunnels, self.streams.load(Ordering::Relaxed))
    }

    /// The live tunnels.
    pub fn tunnels(&self) -> Vec<TunnelView> {
        let slots = self.slots.lock().expect("slots");
        slots
            .tunnel_list()
            .into_iter()
            .map(|t| TunnelView {
                node: t.owner.to_hex(),
                slot: t.slot,
                remote: t.remote.to_string(),
                e2e: t.e2e,
                queued: t.queued(),
            })
            .collect()
    }

    /// Closes every tunnel and virtual stream.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tunnels = self.slots.lock().expect("slots").take_tunnels();
        drop(tunnels);
        self.pending.lock().expect("pending").clear();
    }

    pub fn refused(&self) {
        Counters::add(&self.counters.refused, 1);
    }

    /// Marks `slot`'s tunnel as being attached while the guard lives.
    fn attaching(self: &Arc<Self>, slot: u64) -> Attaching {
        self.attaching.lock().expect("attaching").insert(slot);
        Attaching { role: self.clone(), slot }
    }

    /// The live tunnel of a slot, waiting up to [`ATTACH_WAIT`] for one being attached.
    pub async fn tunnel_soon(&self, slot: u64) -> Result<Arc<Tunnel>, &'static str> {
        let deadline = tokio::time::Instant::now() + ATTACH_WAIT;
        // Waits while the slot has no tunnel but one is being attached.
        crate::wait::until(&self.attach_done, deadline, || match self.tunnel(slot) {
            Err(e) if self.attaching.lock().expect("attaching").contains(&slot) => Err(e),
            found => Ok(found),
        })
        .await
        .unwrap_or_else(Err)
    }

    /// The live tunnel of a slot.
    pub fn tunnel(&self, slot: u64) -> Result<Arc<Tunnel>, &'static str> {
        let slots = self.slots.lock().expect("slots");
        let s = slots.get(slot).ok_or("relay slot not found")?;
        match &s.tunnel {
            Some(t) if !t.is_dead() => Ok(t.clone()),
            _ => Err("relay slot has no tunnel"),
        }
    }

    /// Removes a tunnel that stopped answering or left.
    pub fn free(&self, t: &Tunnel, why: &str) {
        let removed = self.slots.lock().expect("slots").detach(t.slot, unix_now(), |x| x.serial == t.serial);
        if removed.is_some() {
            Counters::add(&self.counters.tunnels_freed, 1);
            tracing::info!("relay: tunnel of slot {} ({}) freed: {why}", t.slot, t.owner.short());
            let _ =
                self.events.send(Event::RelayTunnelFreed { node: t.owner.to_hex(), slot: t.slot, reason: why.into() });
        }
    }

    /// Bytes of `kind` the identities may still have relayed this hour.
    pub fn remaining(&self, ids: &[PubKey], kind: RelayKind) -> u64 {
        self.quotas.lock().expect("quotas").remaining(ids, kind, unix_now())
    }

    /// Charges bytes about to be relayed; returns how many may pass.
    pub fn charge(&self, ids: &[PubKey], kind: RelayKind, n: u64) -> u64 {
        let allowed = self.quotas.lock().expect("quotas").take(ids, kind, n, unix_now());
        let c = match kind {
            RelayKind::Control => &self.counters.control_bytes,
            RelayKind::Content => &self.counters.content_bytes,
        };
        Counters::add(c, allowed);
        allowed
    }

    /// Bytes charged to `id` this hour: (control, content).
    pub fn used(&self, id: &PubKey) -> (u64, u64) {
        self.quotas.lock().expect("quotas").used(id, unix_now())
    }

    /// Answers a relay request (the node has checked it is one and decoded it).
    pub async fn handle(
        self: &Arc<Self>,
        inner: &Arc<Inner>,
        peer: &Arc<PeerInfo>,
        req: Envelope,
        r: AnyRequest,
    ) -> Reply {
        if *self.stop.borrow() {
            return error(&req, "relay is shutting down");
        }
        match r {
            AnyRequest::RelayRegister(reg) => self.register(inner, peer, &req, reg),
            AnyRequest::RelayConnect(c) => {
                let slots = self.slots.lock().expect("slots");
                match slots.get(c.relay_slot_id) {
                    None => error(&req, "relay slot not found"),
                    // Only the owner may connect to its slot: a slot id taken from a provider
                    // record grants nothing (RL-1).
                    Some(s) if s.owner != peer.node_pubkey => {
                        self.refused();
                        error(&req, &RegisterError::NotOwner.to_string())
                    }
                    Some(_) => Reply::Respond(Envelope::response(MsgType::RELAY_CONNECT, req.req_id, Bytes::new())),
                }
            }
            AnyRequest::RelayStream(rs) => match forward::forward(self, peer, rs).await {
                Ok(out) => Reply::Respond(answer(MsgType::RELAY_STREAM, &req, &out)),
                Err(text) => {
                    self.refused();
                    error(&req, &text)
                }
            },
            AnyRequest::RelayOpen(o) => splice::open(inner, self, peer, &req, o).await,
            AnyRequest::RelayAccept(a) => splice::accept(self, peer, &req, a),
            _ => error(&req, "not a relay request"),
        }
    }

    fn register(
        self: &Arc<Self>,
        inner: &Arc<Inner>,
        peer: &Arc<PeerInfo>,
        req: &Envelope,
        reg: RelayRegister,
    ) -> Reply {
        let owner = peer.node_pubkey;
        let r = self.slots.lock().expect("slots").register(
            owner,
            peer.addr.ip(),
            reg.relay_slot_id,
            reg.tunnel,
            unix_now(),
        );
        let (slot, expires_at) = match r {
            Ok(x) => x,
            Err(e) => {
                self.refused();
                return error(req, &e.to_string());
            }
        };
        let resp = answer(MsgType::RELAY_REGISTERED, req, &RelayRegistered { relay_slot_id: slot, expires_at });
        if !reg.tunnel {
            return Reply::Respond(resp);
        }
        let role = self.clone();
        let peer = peer.clone();
        let weak = Arc::downgrade(inner);
        let frame_body = inner.endpoint.config().timeouts.frame_body;
        let attaching = self.attaching(slot);
        Reply::RespondAndTake(
            resp,
            Box::new(move |stream| {
                let _attaching = attaching;
                if *role.stop.borrow() {
                    return;
                }
                let s = &role.settings;
                let t = Tunnel::start(stream, &peer, slot, s.queue_per_tunnel, s.forward_timeout(), frame_body);
                let attached = role.slots.lock().expect("slots").attach(slot, &owner, t.clone());
                if attached.is_err() {
                    return;
                }
                Counters::add(&role.counters.tunnels_registered, 1);
                tracing::info!("relay: tunnel for {} on slot {slot} from {}", owner.short(), peer.addr);
                let _ = role.events.send(Event::RelayTunnelRegistered {
                    node: owner.to_hex(),
                    slot,
                    remote: peer.addr.to_string(),
                });
                if let Some(inner) = weak.upgrade() {
                    inner.spawn(watch_tunnel(role.clone(), Arc::downgrade(&t)));
                }
            }),
        )
    }
}

/// Frees a tunnel once its connection ends, and checks an idle tunnel with a keepalive
/// request (HAVE_CONTENT, which every node answers) so a silent node is found.
async fn watch_tunnel(role: Arc<RelayRole>, tunnel: Weak<Tunnel>) {
    let keepalive = role.settings.keepalive();
    let tick = keepalive.min(Duration::from_secs(1));
    let mut stop = role.stop.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
        let Some(t) = tunnel.upgrade() else { return };
        if t.is_dead() {
            role.free(&t, "its connection ended or it stopped answering");
            return;
        }
        if t.silent_for() >= keepalive && t.queued() == 0 {
            let probe = HaveContent { content_id: ContentId(trove_proto::keys::random_bytes()) };
            if t.call(&probe).await.is_err() && t.is_dead() {
                role.free(&t, "it did not answer a keepalive");
                return;
            }
        }
    }
}

/// Whether a tunnel error means the tunnel should go.
pub(crate) fn free_if_dead(role: &RelayRole, t: &Tunnel) {
    if t.is_dead() {
        role.free(t, "it stopped answering");
    }
}

/// The idle limit of a virtual stream.
pub(crate) const STREAM_IDLE: Duration = Duration::from_secs(330);

impl RelayRole {
    /// Reservations held by `key`.
    pub fn owned_by(&self, key: &PubKey) -> usize {
        self.slots.lock().expect("slots").count_owned(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::wire::{Capabilities, Transport};

    fn role() -> Arc<RelayRole> {
        RelayRole::new(RelaySettings::server(), &Keypair::from_seed([3; 32]), broadcast::channel(8).0)
    }

    fn registered(role: &RelayRole, owner: PubKey) -> u64 {
        let ip = "127.0.0.1".parse().unwrap();
        role.slots.lock().unwrap().register(owner, ip, None, true, unix_now()).unwrap().0
    }

    /// A tunnel over an in-memory stream, and the firewalled node's end of it.
    fn tunnel_of(owner: PubKey, slot: u64) -> (Arc<Tunnel>, tokio::io::DuplexStream) {
        let peer = PeerInfo {
            node_pubkey: owner,
            node_id: owner.node_id(),
            capabilities: Capabilities::default(),
            addr: "127.0.0.1:9".parse().unwrap(),
            transport: Transport::Tcp,
            features: Vec::new(),
            bound: false,
            listen_addrs: Vec::new(),
        };
        let (near, far) = tokio::io::duplex(1024);
        let t = Duration::from_secs(5);
        (Tunnel::start(Stream::from_io(near), &peer, slot, 4, t, t), far)
    }

    /// An open that names a slot whose registration was just answered waits for the
    /// tunnel instead of being refused.
    #[tokio::test]
    async fn a_request_for_a_slot_being_attached_waits_for_its_tunnel() {
        let role = role();
        let owner = PubKey([5; 32]);
        let slot = registered(&role, owner);
        assert_eq!(role.tunnel_soon(slot).await.err(), Some("relay slot has no tunnel"), "nothing being attached");
        let attaching = role.attaching(slot);
        let r2 = role.clone();
        let waiter = tokio::spawn(async move { r2.tunnel_soon(slot).await.map(|t| t.serial) });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "refused before the tunnel was attached");
        let (t, _node_end) = tunnel_of(owner, slot);
        role.slots.lock().unwrap().attach(slot, &owner, t.clone()).unwrap();
        drop(attaching);
        let got = tokio::time::timeout(Duration::from_secs(2), waiter).await.expect("woken").unwrap();
        assert_eq!(got, Ok(t.serial));
    }

    /// A registration whose stream was lost before the tunnel was attached refuses the
    /// waiting request at once, not after the wait.
    #[tokio::test]
    async fn a_lost_registration_refuses_the_waiting_request_at_once() {
        let role = role();
        let slot = registered(&role, PubKey([6; 32]));
        let attaching = role.attaching(slot);
        let r2 = role.clone();
        let waiter = tokio::spawn(async move { r2.tunnel_soon(slot).await.map(|t| t.serial) });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(attaching);
        let got =
            tokio::time::timeout(Duration::from_secs(2), waiter).await.expect("woken before ATTACH_WAIT").unwrap();
        assert_eq!(got, Err("relay slot has no tunnel"));
    }
}
