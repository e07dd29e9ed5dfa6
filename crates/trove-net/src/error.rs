//! The error type of `trove-net`: what failed, at which stage, with which peer.

use std::net::SocketAddr;
use thiserror::Error;

/// Why a handshake was refused. The text tells the user what happened and, where it helps,
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    #[error("peer's handshake is malformed: {0}")]
    Malformed(String),
    #[error("peer's handshake signature does not verify: {0}")]
    BadSignature(String),
    #[error("peer's clock is off: {0}")]
    ClockSkew(String),
    #[error("peer speaks protocol version {0}, this node speaks 1")]
    Version(u16),
    #[error("expected node key {expected} but the peer is {got}")]
    KeyMismatch { expected: String, got: String },
    #[error("peer did not echo our nonce (stale or replayed handshake)")]
    NonceMismatch,
    #[error("client nonce was already used: replayed handshake refused")]
    Replay,
    #[error("channel binding failed: the TLS channel was intercepted (man in the middle) or the peer is broken")]
    BindingMismatch,
    #[error(
        "the peer is a trove node but its handshake arrived without the channel-binding extension: a man in the middle stripped it"
    )]
    ExtensionStripped,
    #[error("peer speaks only SCP2P v1 without channel binding, and strict mode refuses such peers")]
    StrictRefusesV1,
    #[error("peer sent a weak key exchange value: {0}")]
    WeakKey(String),
}

/// Errors from endpoints, sessions and the pool.
#[derive(Debug, Error)]
pub enum NetError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("{stage} with {addr} timed out after {secs} s")]
    Timeout { stage: &'static str, addr: SocketAddr, secs: u64 },
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: SocketAddr, reason: String },
    #[error("handshake with {addr} failed: {source}")]
    Handshake {
        addr: SocketAddr,
        #[source]
        source: HandshakeError,
    },
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    FrameTooLarge { len: usize, limit: usize },
    #[error("connection to {addr} closed: {reason}")]
    Closed { addr: SocketAddr, reason: String },
    #[error("peer {addr} answered with an error: {message}")]
    Remote { addr: SocketAddr, message: String },
    #[error("peer {addr} sent an unexpected response: {reason}")]
    Protocol { addr: SocketAddr, reason: String },
    #[error("{0}")]
    Limit(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot bind {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error(transparent)]
    Proto(#[from] trove_proto::ProtoError),
}

impl NetError {
    /// Whether the peer answered with an error text containing "rate limit".
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, NetError::Remote { message, .. } if message.contains("rate limit"))
    }

    /// Whether retrying on a fresh connection could help (the session broke, not the request).
    pub fn is_connection_error(&self) -> bool {
        matches!(self, NetError::Closed { .. } | NetError::Io(_) | NetError::Connect { .. } | NetError::Timeout { .. })
    }
}

/// Result alias for this crate.
pub type Result<T, E = NetError> = std::result::Result<T, E>;
