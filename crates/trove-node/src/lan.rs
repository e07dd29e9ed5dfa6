//! LAN discovery (SCP2P-WIRE.md §9): a CBOR packet broadcast on UDP every few seconds, and
//! the peers heard that way. Several nodes on one host share the port (address reuse). The
//! packets are unauthenticated: what they claim is only a hint until a handshake confirms it.
//! trove adds two extension keys (its QUIC port and node key) that v1 decoders ignore.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use trove_proto::PubKey;
use trove_proto::wire::lan::{LAN_MAX_PACKET, LAN_PORT};
use trove_proto::wire::{Capabilities, LanPacket, Payload, PeerAddr, Transport};

/// LAN discovery settings.
#[derive(Clone, Debug)]
pub struct LanConfig {
    /// UDP port (46123 in SCP2P).
    pub port: u16,
    /// Where announcements go: 255.255.255.255 on a real LAN, 127.255.255.255 for tests
    /// and demos on one machine.
    pub broadcast: IpAddr,
    /// Time between announcements.
    pub interval: Duration,
}

impl Default for LanConfig {
    fn default() -> Self {
        LanConfig { port: LAN_PORT, broadcast: IpAddr::V4(Ipv4Addr::BROADCAST), interval: Duration::from_secs(3) }
    }
}

/// A peer heard on the LAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanPeer {
    /// Its TCP address (source IP of the packet, announced port).
    pub tcp: PeerAddr,
    /// Its QUIC address, when announced.
    pub quic: Option<PeerAddr>,
    /// Announced capabilities (unverified).
    pub capabilities: Option<Capabilities>,
    /// Announced node key (unverified; becomes the address's key hint).
    pub node_pubkey: Option<PubKey>,
}

/// What this node announces.
#[derive(Clone, Debug)]
pub struct Announcement {
    pub instance_id: [u8; 16],
    pub tcp_port: u16,
    pub quic_port: Option<u16>,
    pub capabilities: Capabilities,
    pub node_pubkey: PubKey,
    /// Include trove's extension keys.
    pub extensions: bool,
}

impl Announcement {
    /// The packet bytes.
    pub fn packet(&self) -> Vec<u8> {
        LanPacket {
            version: 2,
            instance_id: self.instance_id,
            tcp_port: self.tcp_port,
            capabilities: Some(self.capabilities),
            quic_port: self.quic_port.filter(|_| self.extensions),
            node_pubkey: Some(self.node_pubkey).filter(|_| self.extensions),
        }
        .to_payload()
    }
}

/// Interprets a received datagram; `None` for garbage, version 0 and our own packets.
pub fn parse(bytes: &[u8], from: SocketAddr, own_instance: &[u8; 16]) -> Option<LanPeer> {
    let p = LanPacket::from_payload(bytes).ok()?;
    if p.version == 0 || &p.instance_id == own_instance || p.tcp_port == 0 {
        return None;
    }
    let ip = from.ip();
    let mut tcp = PeerAddr::new(SocketAddr::new(ip, p.tcp_port), Transport::Tcp);
    tcp.pubkey_hint = p.node_pubkey;
    let quic = p.quic_port.filter(|q| *q != 0).map(|q| {
        let mut a = PeerAddr::new(SocketAddr::new(ip, q), Transport::Quic);
        a.pubkey_hint = p.node_pubkey;
        a
    });
    Some(LanPeer { tcp, quic, capabilities: p.capabilities, node_pubkey: p.node_pubkey })
}

/// Opens the shared UDP socket: address and port reuse, broadcast allowed.
pub fn socket(port: u16) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    #[cfg(unix)]
    s.set_reuse_port(true)?;
    s.set_broadcast(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port).into())?;
    UdpSocket::from_std(s.into())
}

/// Announces `me` every interval and reports heard peers until the receiver is dropped.
/// At most `max_per_interval` peers are reported per interval (a flood of spoofed packets
/// cannot flood the node).
pub async fn run(cfg: LanConfig, me: Announcement, found: mpsc::Sender<LanPeer>, max_per_interval: usize) {
    let sock = match socket(cfg.port) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("LAN discovery disabled: cannot open UDP port {}: {e}", cfg.port);
            return;
        }
    };
    let packet = me.packet();
    let dest = SocketAddr::new(cfg.broadcast, cfg.port);
    let mut tick = tokio::time::interval(cfg.interval);
    let mut buf = vec![0u8; LAN_MAX_PACKET];
    let mut reported = 0usize;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                reported = 0;
                if let Err(e) = sock.send_to(&packet, dest).await {
                    tracing::debug!("LAN announcement to {dest} failed: {e}");
                }
            }
            r = sock.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                if reported >= max_per_interval {
                    continue;
                }
                if let Some(peer) = parse(&buf[..n], from, &me.instance_id) {
                    reported += 1;
                    if found.send(peer).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(id: u8, port: u16) -> Announcement {
        Announcement {
            instance_id: [id; 16],
            tcp_port: port,
            quic_port: Some(port - 1),
            capabilities: Capabilities::default(),
            node_pubkey: PubKey([id; 32]),
            extensions: true,
        }
    }

    #[test]
    fn parse_ignores_self_and_version_zero() {
        let from: SocketAddr = "192.168.1.9:46123".parse().unwrap();
        let a = me(1, 7001);
        assert!(parse(&a.packet(), from, &[1; 16]).is_none());
        let p = parse(&a.packet(), from, &[2; 16]).unwrap();
        assert_eq!(p.tcp.socket_addr(), "192.168.1.9:7001".parse().unwrap());
        assert_eq!(p.quic.unwrap().port, 7000);
        assert_eq!(p.node_pubkey, Some(PubKey([1; 32])));
        assert!(parse(b"garbage", from, &[2; 16]).is_none());
        // A v1 packet (no extension keys) still works.
        let v1 = Announcement { extensions: false, ..a };
        let p = parse(&v1.packet(), from, &[2; 16]).unwrap();
        assert!(p.quic.is_none() && p.node_pubkey.is_none());
    }

    #[tokio::test]
    async fn two_nodes_on_one_host_hear_each_other() {
        let port = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let cfg =
            LanConfig { port, broadcast: "127.255.255.255".parse().unwrap(), interval: Duration::from_millis(100) };
        let (tx1, mut rx1) = mpsc::channel(16);
        let (tx2, mut rx2) = mpsc::channel(16);
        let t1 = tokio::spawn(run(cfg.clone(), me(1, 7001), tx1, 10));
        let t2 = tokio::spawn(run(cfg, me(2, 7101), tx2, 10));
        let heard_by_1 = tokio::time::timeout(Duration::from_secs(10), rx1.recv()).await.unwrap().unwrap();
        let heard_by_2 = tokio::time::timeout(Duration::from_secs(10), rx2.recv()).await.unwrap().unwrap();
        assert_eq!(heard_by_1.tcp.port, 7101);
        assert_eq!(heard_by_2.tcp.port, 7001);
        t1.abort();
        t2.abort();
    }
}
