//! PeerAddr: how SCP2P names a reachable endpoint, optionally with the expected node key and
//! a relay route (SCP2P-WIRE.md §5), plus the bootstrap-string syntax of §1.1.

use crate::cbor::{self, EncResult};
use crate::error::ProtoError;
use crate::ids::PubKey;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The two SCP2P transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TLS over TCP.
    Tcp,
    /// QUIC over UDP.
    Quic,
}

impl Transport {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Quic => "quic",
        }
    }
}

/// A relay route: reach the peer through the tunnel at `slot_id` on `relay_addr`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RelayRoute {
    pub relay_addr: PeerAddr,
    pub slot_id: u64,
}

/// A peer endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr {
    pub ip: IpAddr,
    pub port: u16,
    pub transport: Transport,
    /// The node key expected at this address, when known.
    pub pubkey_hint: Option<PubKey>,
    /// Present when the peer is only reachable through a relay tunnel.
    pub relay_via: Option<Box<RelayRoute>>,
}

/// Deepest chain of relay routes accepted (the reference never nests beyond one).
pub const MAX_RELAY_NESTING: u32 = 2;

impl PeerAddr {
    /// A direct address without a key hint.
    pub fn new(addr: SocketAddr, transport: Transport) -> Self {
        PeerAddr { ip: addr.ip(), port: addr.port(), transport, pubkey_hint: None, relay_via: None }
    }

    /// The socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// The same address with a key hint.
    pub fn with_hint(mut self, key: PubKey) -> Self {
        self.pubkey_hint = Some(key);
        self
    }

    /// The reference's de-duplication key `ip:port:Transport`. A relayed address adds its
    /// route (` via <relay key>#<slot>`): firewalled nodes often share an unroutable
    /// `ip:port`, and only the route tells them apart.
    pub fn dedup_key(&self) -> String {
        let t = match self.transport {
            Transport::Tcp => "Tcp",
            Transport::Quic => "Quic",
        };
        match &self.relay_via {
            None => format!("{}:{t}", self.socket_addr()),
            Some(r) => format!("{}:{t} via {}#{}", self.socket_addr(), r.relay_addr.dedup_key(), r.slot_id),
        }
    }

    /// This address reached through the tunnel at `slot_id` on `relay`.
    pub fn via(mut self, relay: PeerAddr, slot_id: u64) -> Self {
        self.relay_via = Some(Box::new(RelayRoute { relay_addr: relay, slot_id }));
        self
    }

    /// Parses a bootstrap string: `quic://IP:PORT`, `tcp://IP:PORT` or bare `IP:PORT` (TCP),
    /// with an optional `@<64 hex>` node key suffix. Host names are resolved elsewhere; this
    /// accepts literal addresses only.
    pub fn parse_bootstrap(s: &str) -> Result<PeerAddr, ProtoError> {
        let input = s.trim();
        let (rest, hint) = match input.rsplit_once('@') {
            Some((a, k)) => (
                a,
                Some(PubKey::from_hex(k).map_err(|_| {
                    ProtoError::parse("peer address", input, "the part after '@' must be a 64-digit hex node key")
                })?),
            ),
            None => (input, None),
        };
        let (transport, hostport) = split_scheme(rest).map_err(|r| ProtoError::parse("peer address", input, r))?;
        let addr: SocketAddr = hostport.parse().map_err(|_| {
            ProtoError::parse("peer address", input, "expected IP:PORT, e.g. 192.0.2.7:7001 or [2001:db8::1]:7001")
        })?;
        let mut p = PeerAddr::new(addr, transport);
        p.pubkey_hint = hint;
        Ok(p)
    }
}

/// Splits an optional `tcp://` or `quic://` scheme from `host:port`.
pub fn split_scheme(s: &str) -> Result<(Transport, &str), String> {
    if let Some(r) = s.strip_prefix("tcp://") {
        Ok((Transport::Tcp, r))
    } else if let Some(r) = s.strip_prefix("quic://") {
        Ok((Transport::Quic, r))
    } else if s.contains("://") {
        Err("unknown scheme; use tcp:// or quic://".into())
    } else {
        Ok((Transport::Tcp, s))
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.transport.as_str(), self.socket_addr())?;
        if let Some(k) = &self.pubkey_hint {
            write!(f, "@{k}")?;
        }
        if let Some(r) = &self.relay_via {
            write!(f, " via {} slot {}", r.relay_addr, r.slot_id)?;
        }
        Ok(())
    }
}

fn encode_ip<W: Write>(e: &mut Encoder<W>, ip: &IpAddr) -> EncResult<W> {
    e.map(1)?;
    match ip {
        IpAddr::V4(a) => {
            e.str("V4")?;
            cbor::write_int_array(e, &a.octets())
        }
        IpAddr::V6(a) => {
            e.str("V6")?;
            cbor::write_int_array(e, &a.octets())
        }
    }
}

fn decode_ip(d: &mut Decoder<'_>) -> Result<IpAddr, DecodeError> {
    let mut ip = None;
    cbor::tmap(d, "ip", &["V4", "V6"], |d, i| {
        if ip.is_some() {
            return Err(cbor::err("ip: more than one address family"));
        }
        ip = Some(if i == 0 {
            IpAddr::V4(Ipv4Addr::from(cbor::fixed::<4>(d, "IPv4 address")?))
        } else {
            IpAddr::V6(Ipv6Addr::from(cbor::fixed::<16>(d, "IPv6 address")?))
        });
        Ok(())
    })?;
    ip.ok_or_else(|| cbor::err("ip: expected {\"V4\": …} or {\"V6\": …}"))
}

impl<C> Encode<C> for PeerAddr {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(if self.relay_via.is_some() { 5 } else { 4 })?;
        e.str("ip")?;
        encode_ip(e, &self.ip)?;
        e.str("port")?.u16(self.port)?;
        e.str("transport")?.str(self.transport.as_str())?;
        e.str("pubkey_hint")?;
        cbor::write_opt_int_array(e, self.pubkey_hint.as_ref().map(|k| &k.0[..]))?;
        if let Some(r) = &self.relay_via {
            e.str("relay_via")?.map(2)?;
            e.str("relay_addr")?;
            r.relay_addr.encode(e, ctx)?;
            e.str("slot_id")?.u64(r.slot_id)?;
        }
        Ok(())
    }
}

/// Decodes a PeerAddr allowing `depth` more levels of relay routes.
fn decode_peer_addr(d: &mut Decoder<'_>, depth: u32) -> Result<PeerAddr, DecodeError> {
    const W: &str = "PeerAddr";
    let (mut ip, mut port, mut transport, mut hint, mut via) = (None, None, None, None, None);
    cbor::tmap(d, W, &["ip", "port", "transport", "pubkey_hint", "relay_via"], |d, i| {
        match i {
            0 => ip = Some(decode_ip(d)?),
            1 => port = Some(cbor::u16(d)?),
            2 => {
                transport = Some(match cbor::text(d, 16, "transport")?.as_str() {
                    "tcp" => Transport::Tcp,
                    "quic" => Transport::Quic,
                    other => return Err(cbor::err(format_args!("unknown transport '{other}'"))),
                })
            }
            3 => hint = cbor::opt_fixed::<32>(d, "pubkey_hint")?.map(PubKey),
            _ => {
                if cbor::take_null(d)? {
                    return Ok(());
                }
                if depth == 0 {
                    return Err(cbor::err("relay_via nested too deeply"));
                }
                via = Some(decode_route(d, depth - 1)?);
            }
        }
        Ok(())
    })?;
    Ok(PeerAddr {
        ip: ip.ok_or_else(|| cbor::missing(W, "ip"))?,
        port: port.ok_or_else(|| cbor::missing(W, "port"))?,
        transport: transport.ok_or_else(|| cbor::missing(W, "transport"))?,
        pubkey_hint: hint,
        relay_via: via.map(Box::new),
    })
}

fn decode_route(d: &mut Decoder<'_>, depth: u32) -> Result<RelayRoute, DecodeError> {
    let (mut addr, mut slot) = (None, None);
    cbor::tmap(d, "relay_via", &["relay_addr", "slot_id"], |d, i| {
        if i == 0 {
            addr = Some(decode_peer_addr(d, depth)?);
        } else {
            slot = Some(cbor::u64(d)?);
        }
        Ok(())
    })?;
    Ok(RelayRoute {
        relay_addr: addr.ok_or_else(|| cbor::missing("relay_via", "relay_addr"))?,
        slot_id: slot.ok_or_else(|| cbor::missing("relay_via", "slot_id"))?,
    })
}

impl<'b, C> Decode<'b, C> for PeerAddr {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        decode_peer_addr(d, MAX_RELAY_NESTING)
    }
}

/// Decodes a list of PeerAddr with the standard cap.
pub fn decode_peer_list(d: &mut Decoder<'_>, what: &str) -> Result<Vec<PeerAddr>, DecodeError> {
    cbor::array(d, crate::limits::MAX_PEERS_PER_LIST, what, |d| d.decode())
}

/// Encodes a list of PeerAddr.
pub fn encode_peer_list<W: Write>(e: &mut Encoder<W>, peers: &[PeerAddr]) -> EncResult<W> {
    e.array(peers.len() as u64)?;
    for p in peers {
        e.encode(p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_strings() {
        let p = PeerAddr::parse_bootstrap("quic://10.0.0.1:7000").unwrap();
        assert_eq!((p.transport, p.port), (Transport::Quic, 7000));
        let p = PeerAddr::parse_bootstrap("10.0.0.1:7001").unwrap();
        assert_eq!(p.transport, Transport::Tcp);
        let k = "ab".repeat(32);
        let p = PeerAddr::parse_bootstrap(&format!("tcp://[::1]:7001@{k}")).unwrap();
        assert_eq!(p.pubkey_hint, Some(PubKey([0xab; 32])));
        assert!(PeerAddr::parse_bootstrap("udp://1.2.3.4:1").unwrap_err().to_string().contains("scheme"));
        assert!(PeerAddr::parse_bootstrap("1.2.3.4:1@zz").is_err());
        assert!(PeerAddr::parse_bootstrap("1.2.3.4").is_err());
    }

    #[test]
    fn deep_relay_nesting_is_refused() {
        let mut p = PeerAddr::new("10.0.0.1:1".parse().unwrap(), Transport::Tcp);
        for _ in 0..4 {
            p = PeerAddr { relay_via: Some(Box::new(RelayRoute { relay_addr: p.clone(), slot_id: 1 })), ..p.clone() };
        }
        let bytes = cbor::to_vec(&p);
        assert!(cbor::from_slice::<PeerAddr>(&bytes).is_err());
    }
}
