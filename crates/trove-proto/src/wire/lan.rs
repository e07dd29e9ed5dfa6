//! The LAN discovery packet (SCP2P-WIRE.md §9): one CBOR map per UDP datagram, unsigned.

use super::capabilities::Capabilities;
use super::payload::cbor_payload;
use crate::cbor::{self, EncResult};
use crate::ids::PubKey;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// UDP port of LAN discovery.
pub const LAN_PORT: u16 = 46123;
/// Largest packet read.
pub const LAN_MAX_PACKET: usize = 1024;

/// A LAN announcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanPacket {
    /// Packet version; the deployed desktop sends 2, 0 is ignored.
    pub version: u64,
    /// Random per process start; packets with one's own id are ignored.
    pub instance_id: [u8; 16],
    /// The sender's TCP port.
    pub tcp_port: u16,
    /// Absent in the oldest packets.
    pub capabilities: Option<Capabilities>,
    /// Extension (`quic_port`): the sender's QUIC port, when it listens on one.
    pub quic_port: Option<u16>,
    /// Extension (`node_pubkey`): the sender's node key, a hint verified by the handshake.
    pub node_pubkey: Option<PubKey>,
}

cbor_payload!(LanPacket, "LAN packet");

const NAMES: [&str; 6] = ["version", "instance_id", "tcp_port", "capabilities", "quic_port", "node_pubkey"];

impl<C> Encode<C> for LanPacket {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(4 + self.quic_port.is_some() as u64 + self.node_pubkey.is_some() as u64)?;
        e.str(NAMES[0])?.u64(self.version)?;
        e.str(NAMES[1])?;
        cbor::write_int_array(e, &self.instance_id)?;
        e.str(NAMES[2])?.u16(self.tcp_port)?;
        e.str(NAMES[3])?;
        match &self.capabilities {
            Some(c) => c.encode(e, ctx)?,
            None => {
                e.null()?;
            }
        }
        if let Some(p) = self.quic_port {
            e.str(NAMES[4])?.u16(p)?;
        }
        if let Some(k) = &self.node_pubkey {
            e.str(NAMES[5])?;
            k.encode(e, ctx)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for LanPacket {
    fn decode(d: &mut Decoder<'b>, ctx: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "LAN packet";
        let (mut version, mut id, mut port, mut caps, mut quic, mut key) = (None, None, None, None, None, None);
        cbor::tmap(d, W, &NAMES, |d, i| {
            match i {
                0 => version = Some(cbor::u64(d)?),
                1 => id = Some(cbor::fixed::<16>(d, "instance_id")?),
                2 => port = Some(cbor::u16(d)?),
                3 => caps = if cbor::take_null(d)? { None } else { Some(Capabilities::decode(d, ctx)?) },
                4 => quic = Some(cbor::u16(d)?),
                _ => key = cbor::opt_fixed::<32>(d, "node_pubkey")?.map(PubKey),
            }
            Ok(())
        })?;
        Ok(LanPacket {
            version: version.ok_or_else(|| cbor::missing(W, NAMES[0]))?,
            instance_id: id.ok_or_else(|| cbor::missing(W, NAMES[1]))?,
            tcp_port: port.ok_or_else(|| cbor::missing(W, NAMES[2]))?,
            capabilities: caps,
            quic_port: quic,
            node_pubkey: key,
        })
    }
}
