//! QUIC settings (SCP2P-WIRE.md §1.3): keep-alive, idle timeout, stream limits, flow
//! control windows large enough for full-speed chunk transfers, and UDP sockets with buffers
//! that hold a burst of those windows.

use crate::tls;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The largest datagram payload accepted and probed for. quinn hands the kernel up to 10
/// datagrams per segmentation-offload send, and one send carries at most 64 KiB, so larger
/// datagrams lose the offload: on loopback 6,000 bytes carry 1.8 GiB/s against 0.8 at the
/// default of 1,472, while 6,552 falls back to 0.65 and 8,000 nearly stalls. Paths with a
/// smaller MTU settle at theirs through path MTU discovery.
const MAX_UDP_PAYLOAD: u16 = 6_000;

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
    // Probe for larger datagrams up to MAX_UDP_PAYLOAD: real paths settle at their MTU,
    // loopback and jumbo-frame networks get far fewer packets per byte.
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(MAX_UDP_PAYLOAD);
    t.mtu_discovery_config(Some(mtu));
    Arc::new(t)
}

/// Socket buffer size asked for (the kernel caps it, on Linux at `net.core.rmem_max` and
/// `wmem_max`). The default of about 200 KiB overflows during full-speed bursts of 64 KiB
/// datagrams: every datagram lost there costs a congestion-window cut.
const UDP_BUFFER_BYTES: usize = 8 << 20;

/// A UDP socket bound to `addr` with buffers as large as the kernel allows up to
/// [`UDP_BUFFER_BYTES`]. When it allows much less, says once how to raise the limit.
pub fn udp_socket(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let sock =
        socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: a smaller buffer only means more loss under load.
    let _ = sock.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = sock.set_send_buffer_size(UDP_BUFFER_BYTES);
    static SMALL: std::sync::Once = std::sync::Once::new();
    if let Ok(got) = sock.recv_buffer_size()
        && got < UDP_BUFFER_BYTES / 4
    {
        SMALL.call_once(|| {
            tracing::info!(
                "the UDP receive buffer is limited to {} KiB, so fast QUIC transfers lose datagrams; \
                 raise the limit with `sysctl -w net.core.rmem_max={UDP_BUFFER_BYTES}` (and wmem_max)",
                got / 1024
            )
        });
    }
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// A quinn endpoint on a [`udp_socket`] bound to `addr`; a listener when `server` is given.
/// It accepts datagrams up to [`MAX_UDP_PAYLOAD`], so path MTU discovery (see `transport`)
/// can use more of what loopback and jumbo-frame links carry.
pub fn endpoint(addr: SocketAddr, server: Option<quinn::ServerConfig>) -> io::Result<quinn::Endpoint> {
    let mut cfg = quinn::EndpointConfig::default();
    cfg.max_udp_payload_size(MAX_UDP_PAYLOAD).map_err(|e| io::Error::other(e.to_string()))?;
    quinn::Endpoint::new(cfg, server, udp_socket(addr)?, Arc::new(quinn::TokioRuntime))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's ceiling for a socket buffer, from `/proc` (Linux).
    fn kernel_max(name: &str) -> Option<usize> {
        std::fs::read_to_string(format!("/proc/sys/net/core/{name}")).ok()?.trim().parse().ok()
    }

    #[tokio::test]
    async fn loopback_connections_discover_datagrams_larger_than_ethernet() {
        let cert = tls::SelfSigned::generate().unwrap();
        let server = endpoint("127.0.0.1:0".parse().unwrap(), Some(server_config(&cert).unwrap())).unwrap();
        let addr = server.local_addr().unwrap();
        let mut client = endpoint("127.0.0.1:0".parse().unwrap(), None).unwrap();
        client.set_default_client_config(client_config().unwrap());
        let receiver = tokio::spawn(async move {
            let conn = server.accept().await.unwrap().await.unwrap();
            let (_send, mut recv) = conn.accept_bi().await.unwrap();
            recv.read_to_end(usize::MAX).await.unwrap().len()
        });
        let conn = client.connect(addr, tls::SERVER_NAME).unwrap().await.unwrap();
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        // Discovery runs alongside the data: send until it has grown (or 256 MiB went).
        let piece = vec![7u8; 1 << 20];
        let mut sent = 0;
        while conn.stats().path.current_mtu <= 1500 && sent < 256 << 20 {
            send.write_all(&piece).await.unwrap();
            sent += 1 << 20;
        }
        send.finish().unwrap();
        assert_eq!(receiver.await.unwrap(), sent);
        let mtu = conn.stats().path.current_mtu;
        assert!(mtu > 1500 && mtu <= MAX_UDP_PAYLOAD, "path MTU {mtu}");
    }

    #[test]
    fn udp_sockets_get_the_largest_buffers_the_kernel_allows() {
        let (Some(rmax), Some(wmax)) = (kernel_max("rmem_max"), kernel_max("wmem_max")) else { return };
        let sock = socket2::Socket::from(udp_socket("127.0.0.1:0".parse().unwrap()).unwrap());
        // Linux reports twice what was granted (bookkeeping overhead included).
        assert!(sock.recv_buffer_size().unwrap() >= 2 * rmax.min(UDP_BUFFER_BYTES), "receive buffer");
        assert!(sock.send_buffer_size().unwrap() >= 2 * wmax.min(UDP_BUFFER_BYTES), "send buffer");
    }
}
