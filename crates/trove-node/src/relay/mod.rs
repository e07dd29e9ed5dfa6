//! Relays: making nodes behind NAT or firewalls reachable (SCP2P-WIRE.md §10, docs/PROTOCOL.md
//! §7), compatible with v1 relays and clients, without the v1 relay's open doors.
//!
//! Two roles, one module each:
//! - the relay ([`service`]): slots with caps per identity, per IP and in total ([`slots`]),
//!   tunnels ([`tunnel`]), v1 envelope forwarding ([`forward`]), end-to-end virtual streams
//!   between trove peers ([`splice`]), byte quotas on the data path ([`quota`]), signed
//!   announcements at the DHT rendezvous keys and relay lists ([`announce`]);
//! - the firewalled node ([`firewalled`]): choosing relays ([`candidates`]), registering,
//!   serving what arrives through the tunnel and virtual streams ([`via_relay`]), probing,
//!   re-registering and failing over, and advertising its relayed address.
//!
//! Dialing a relayed address needs nothing here: the connection pool of `trove-net` reaches
//! it through the relay (`trove_net::relayed`).

mod announce;
mod candidates;
mod firewalled;
mod forward;
mod quota;
mod service;
mod settings;
mod slots;
mod splice;
mod stats;
mod tunnel;
mod via_relay;

pub use settings::{Bandwidth, RelaySettings, RelayUse};
pub use stats::{RelayRouteView, RelayStats, TunnelView};
pub use via_relay::CONTROL_ONLY;

use crate::events::Event;
use crate::node::{Inner, Node};
use announce::KnownRelays;
use firewalled::ClientState;
use service::RelayRole;
use std::sync::Arc;
use tokio::sync::broadcast;
use trove_net::{PeerInfo, Reply};
use trove_proto::wire::{AnyRequest, Envelope, MsgType, PeerAddr, RelayListResponse};
use trove_proto::{Keypair, PubKey};

/// Relay state of a node: the relay role (when enabled), the firewalled side, and the relays
/// it knows of.
pub(crate) struct RelayState {
    pub role: Option<Arc<RelayRole>>,
    pub client: ClientState,
    pub known: KnownRelays,
}

impl RelayState {
    pub fn new(settings: &RelaySettings, key: &Keypair, events: broadcast::Sender<Event>) -> Self {
        RelayState {
            role: settings.enabled.then(|| RelayRole::new(settings.clone(), key, events)),
            client: ClientState::default(),
            known: KnownRelays::default(),
        }
    }

    /// Closes tunnels and virtual streams (node shutdown).
    pub fn shutdown(&self) {
        if let Some(r) = &self.role {
            r.shutdown();
        }
    }
}

/// Whether the node answers `t` here rather than in the common dispatch (relay requests may
/// take their stream over).
pub(crate) fn is_relay_request(t: MsgType) -> bool {
    forward::is_relay_op(t) || t == MsgType::RELAY_LIST_REQUEST
}

/// Answers a relay request.
pub(crate) async fn reply(inner: Arc<Inner>, peer: Arc<PeerInfo>, req: Envelope) -> Reply {
    if *inner.shutdown.borrow() {
        return service::error(&req, "node is shutting down");
    }
    let ext = inner.cfg.extensions && peer.bound;
    let r = match AnyRequest::decode_ext(req.msg_type, &req.payload, ext) {
        Ok(r) => r,
        Err(e) => return service::error(&req, &e.to_string()),
    };
    match r {
        AnyRequest::RelayListRequest(l) => {
            let list = RelayListResponse { announcements: inner.relay.known.list(l.max_count as usize) };
            Reply::Respond(service::answer(MsgType::RELAY_LIST_RESPONSE, &req, &list))
        }
        AnyRequest::RelayIncoming(_) => service::error(&req, "relay notices arrive through a tunnel only"),
        r => match &inner.relay.role {
            Some(role) => role.clone().handle(&inner, &peer, req, r).await,
            None => service::error(&req, "this node does not offer relaying"),
        },
    }
}

/// Starts the relay work of a node: announcements when it relays, the firewalled side's
/// loop unless it never uses relays.
pub(crate) fn start(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    if inner.relay.role.is_some() {
        inner.spawn(announce::run(weak.clone(), inner.shutdown.subscribe()));
    }
    if inner.cfg.relay.client != RelayUse::Never {
        inner.spawn(firewalled::run(weak, inner.shutdown.subscribe()));
    }
}

/// Share-link hints while this node is reachable only through a relay: the relay's address
/// (plain bootstrap syntax, which v1 parses too).
pub(crate) fn link_hints(inner: &Inner) -> Option<Vec<String>> {
    inner.relay.client.route().map(|r| vec![firewalled::hint_string(&r.relay)])
}

impl Node {
    /// The relay role's counters (None when the node does not relay).
    pub fn relay_stats(&self) -> Option<RelayStats> {
        self.inner.relay.role.as_ref().map(|r| r.stats())
    }

    /// Bytes relayed for `key` this hour, (control, content) (None when the node does not
    /// relay).
    pub fn relay_usage(&self, key: &PubKey) -> Option<(u64, u64)> {
        self.inner.relay.role.as_ref().map(|r| r.used(key))
    }

    /// The tunnels this relay holds.
    pub fn relay_tunnels(&self) -> Vec<TunnelView> {
        self.inner.relay.role.as_ref().map(|r| r.tunnels()).unwrap_or_default()
    }

    /// Reservations `key` holds at this relay.
    pub fn relay_reservations(&self, key: &PubKey) -> usize {
        self.inner.relay.role.as_ref().map(|r| r.owned_by(key)).unwrap_or(0)
    }

    /// The relay this node is reachable through, if it uses one.
    pub fn relay_route(&self) -> Option<RelayRouteView> {
        self.inner.relay.client.view()
    }

    /// The addresses others reach this node at now: its relayed address while it uses a
    /// relay, else its advertised addresses.
    pub fn reachable_addrs(&self) -> Vec<PeerAddr> {
        self.inner.reachable_addrs()
    }
}
