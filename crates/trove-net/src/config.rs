//! Configuration of an endpoint: identity, extension policy, timeouts and limits, with
//! documented defaults.

use crate::clock::Clock;
use crate::peer::features;
use std::net::SocketAddr;
use std::time::Duration;
use trove_proto::Keypair;
use trove_proto::wire::Capabilities;

/// Deadlines for each stage of a session.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// TCP connect or QUIC connection establishment (v1 clients use 5 s).
    pub connect: Duration,
    /// TLS plus the three handshake messages, for both roles (TEST-MATRIX TR-3: ≤ 10 s).
    pub handshake: Duration,
    /// A whole request: sending it and receiving the response.
    pub request: Duration,
    /// How long a served connection may sit without a request before it is closed.
    pub idle: Duration,
    /// Receiving a frame body once its length prefix arrived (TEST-MATRIX IN-1: ≤ 10 s).
    pub frame_body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            handshake: Duration::from_secs(10),
            request: Duration::from_secs(15),
            idle: Duration::from_secs(300),
            frame_body: Duration::from_secs(10),
        }
    }
}

/// Connection admission limits for inbound connections.
#[derive(Clone, Debug)]
pub struct ConnLimits {
    /// Inbound connections at once (pending handshakes included).
    pub max_connections: usize,
    /// Inbound connections at once from one IP address.
    pub max_per_ip: usize,
    /// Handshakes in progress at once.
    pub max_pending: usize,
    /// Handshakes in progress at once from one IP address.
    pub max_pending_per_ip: usize,
    /// Requests one connection may have in progress at once (trove peers with `mux`).
    pub max_concurrent_requests: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 1024,
            max_per_ip: 64,
            max_pending: 256,
            max_pending_per_ip: 16,
            max_concurrent_requests: 64,
        }
    }
}

/// Everything an [`crate::endpoint::Endpoint`] needs.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// The node identity key.
    pub node: Keypair,
    /// Capabilities advertised in handshakes.
    pub capabilities: Capabilities,
    /// TCP (TLS) listen address; None: do not listen on TCP.
    pub listen_tcp: Option<SocketAddr>,
    /// QUIC listen address; None: do not listen on QUIC (dialing QUIC still works).
    pub listen_quic: Option<SocketAddr>,
    /// trove extensions on (channel binding, multiplexing). Off: behave exactly as v1.
    pub extensions: bool,
    /// Refuse peers without channel binding.
    pub strict: bool,
    /// Features announced to peers.
    pub features: Vec<String>,
    /// Apply the v1 per-identity request rate limits (SCP2P-WIRE.md §4.5).
    pub rate_limits: bool,
    pub timeouts: Timeouts,
    pub limits: ConnLimits,
    pub clock: Clock,
}

impl NetConfig {
    /// Defaults for a node with this key: extensions on, no listeners.
    pub fn new(node: Keypair) -> Self {
        NetConfig {
            node,
            capabilities: Capabilities::default(),
            listen_tcp: None,
            listen_quic: None,
            extensions: true,
            strict: false,
            features: vec![features::BIND.into(), features::MUX.into()],
            rate_limits: true,
            timeouts: Timeouts::default(),
            limits: ConnLimits::default(),
            clock: Clock::system(),
        }
    }
}
