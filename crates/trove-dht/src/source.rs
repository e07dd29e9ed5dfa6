//! [`Source`]: who sent a request to this node, as the DHT sees it: the node id from the
//! session's authenticated key and the IP address the connection came from. Store quotas,
//! provider attribution and prefix diversity are keyed by it.

use std::net::IpAddr;
use trove_proto::wire::PeerAddr;
use trove_proto::{NodeId, PubKey};

/// The sender of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    /// NodeId of the key the session authenticated.
    pub node_id: NodeId,
    /// The address the connection came from (not what the peer claims).
    pub ip: IpAddr,
}

impl Source {
    /// A source with a known node id.
    pub fn new(node_id: NodeId, ip: IpAddr) -> Self {
        Source { node_id, ip: ip.to_canonical() }
    }

    /// The source of a session with the peer at `addr`, whose `pubkey_hint` is the key the
    /// handshake authenticated; `None` without a key.
    pub fn from_peer(addr: &PeerAddr) -> Option<Self> {
        addr.pubkey_hint.map(|k| Source::new(k.node_id(), addr.ip))
    }

    /// A source without an authenticated identity (requests arriving through a relay
    /// tunnel): a stable pseudo id derived from the address, so quotas still apply per IP.
    pub fn anonymous(ip: IpAddr) -> Self {
        let ip = ip.to_canonical();
        let mut b = [0u8; 32];
        b[0] = 0xa5;
        match ip {
            IpAddr::V4(a) => b[1..5].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => b[1..17].copy_from_slice(&a.octets()),
        }
        Source { node_id: PubKey(b).node_id(), ip }
    }
}
