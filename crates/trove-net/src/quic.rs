//! QUIC settings (SCP2P-WIRE.md §1.3): keep-alive, idle timeout, stream limits, and flow
//! control windows large enough for full-speed chunk transfers.

use crate::tls;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use std::sync::Arc;
use std::time::Duration;

/// Streams a peer may open at once on one connection (v1 clients use one).
pub const MAX_BIDI_STREAMS: u32 = 256;

fn transport() -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.keep_alive_interval(Some(Duration::from_secs(10)));
    t.max_idle_timeout(Some(IdleTimeout::from(VarInt::from_u32(30_000))));
    t.initial_rtt(Duration::from_millis(100));
    t.max_concurrent_bidi_streams(VarInt::from_u32(MAX_BIDI_STREAMS));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    t.stream_receive_window(VarInt::from_u32(8 * 1024 * 1024));
    t.receive_window(VarInt::from_u32(32 * 1024 * 1024));
    t.send_window(32 * 1024 * 1024);
    // Probe for larger datagrams up to the UDP maximum: real paths settle at their MTU,
    // loopback and jumbo-frame networks get far fewer packets per byte.
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(65_527);
    t.mtu_discovery_config(Some(mtu));
    Arc::new(t)
}

/// The server configuration for a listener with this certificate.
pub fn server_config(cert: &tls::SelfSigned) -> Result<quinn::ServerConfig, String> {
    let crypto = tls::quic_server_config(cert).map_err(|e| e.to_string())?;
    let crypto = QuicServerConfig::try_from(crypto).map_err(|e| e.to_string())?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(transport());
    Ok(cfg)
}

/// The client configuration used for every dial.
pub fn client_config() -> Result<quinn::ClientConfig, String> {
    let crypto = tls::client_config(true).map_err(|e| e.to_string())?;
    let crypto = QuicClientConfig::try_from(crypto).map_err(|e| e.to_string())?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(transport());
    Ok(cfg)
}
