//! `trove-net`: turns an address into an authenticated session that carries SCP2P requests
//! and responses, over QUIC (quinn) or TLS over TCP (tokio-rustls). It owns the handshake
//! with channel binding, framing, the request multiplexer, the serve loop and its defences
//! (deadlines, connection limits, rate limits), and the connection pool. It does not know
//! what a manifest means.

pub mod admission;
pub mod clock;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod nonce_tracker;
pub mod peer;
pub mod pins;
pub mod pool;
pub mod quic;
pub mod rate_limit;
pub mod relayed;
pub mod server;
pub mod session;
pub mod stream;
pub mod tls;

pub use config::{ConnLimits, NetConfig, Timeouts};
pub use endpoint::Endpoint;
pub use error::{HandshakeError, NetError, Result};
pub use peer::PeerInfo;
pub use pins::{BindingPins, MemoryPins};
pub use pool::Pool;
pub use server::{Handler, Reply, ReplyFuture};
pub use session::Session;
