//! What a session knows about the authenticated peer at its other end.

use std::net::SocketAddr;
use trove_proto::wire::{Capabilities, Transport};
use trove_proto::{NodeId, PubKey};

/// Feature names trove peers announce in the handshake extension (docs/PROTOCOL.md).
pub mod features {
    /// Channel binding (always present in extension version 1).
    pub const BIND: &str = "bind";
    /// Concurrent requests: several QUIC streams per connection, out-of-order answers on TCP.
    pub const MUX: &str = "mux";
    /// Paged manifests (GET_MANIFEST_PAGE).
    pub const PAGED_MANIFEST: &str = "paged-manifest";
    /// Paged chunk hash lists (GET_CHUNK_HASHES_PAGE).
    pub const PAGED_HASHES: &str = "paged-hashes";
    /// Share heads pushed to connected subscribers.
    pub const HEAD_PUSH: &str = "head-push";
    /// Signed community member and share records, paged and incremental
    /// (GET_COMMUNITY_RECORDS, PUT_COMMUNITY_RECORDS).
    pub const COMMUNITY: &str = "community";
    /// End-to-end relayed sessions: virtual streams spliced by a relay (RELAY_OPEN,
    /// RELAY_INCOMING, RELAY_ACCEPT), with TLS and the handshake running inside them.
    pub const RELAY_E2E: &str = "relay-e2e";
}

/// An authenticated peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The node key proven in the handshake.
    pub node_pubkey: PubKey,
    /// Its Kademlia id.
    pub node_id: NodeId,
    /// What it advertised.
    pub capabilities: Capabilities,
    /// The socket address of the other end.
    pub addr: SocketAddr,
    /// The transport of this session.
    pub transport: Transport,
    /// trove features the peer announced, empty for a v1 peer.
    pub features: Vec<String>,
    /// Whether the session is bound to the TLS channel (both sides trove with extensions).
    pub bound: bool,
    /// Listen addresses the peer announced (unverified hints; empty for v1 peers).
    pub listen_addrs: Vec<trove_proto::wire::PeerAddr>,
}

impl PeerInfo {
    /// Whether the peer announced `feature` (and the session is bound, so the list is
    /// authentic).
    pub fn has(&self, feature: &str) -> bool {
        self.bound && self.features.iter().any(|f| f == feature)
    }

    /// Whether the peer is a v1 peer (no extension).
    pub fn is_v1(&self) -> bool {
        !self.bound
    }
}
