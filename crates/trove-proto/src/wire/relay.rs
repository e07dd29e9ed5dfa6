//! Relay messages (SCP2P-WIRE.md §4.2, §7.8, §10): slot registration, tunnelled streams,
//! relay lists and the signed RelayAnnouncement.

use super::capabilities::Capabilities;
use super::payload::{Ack, cbor_payload, request};
use super::peer_addr::{PeerAddr, decode_peer_list, encode_peer_list};
use crate::cbor::{self, EncResult};
use crate::dht_key;
use crate::error::ProtoError;
use crate::ids::{DhtKey, PubKey, Sig};
use crate::keys::{self, Keypair};
use crate::limits::{MAX_ENVELOPE_PAYLOAD_BYTES, MAX_LIST_ENTRIES, RELAY_ANNOUNCEMENT_MAX_TTL_SECS};
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// RELAY_REGISTER (450). Both fields default on decode (`{}` = new slot, no tunnel).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RelayRegister {
    pub relay_slot_id: Option<u64>,
    pub tunnel: bool,
}

/// RELAY_REGISTERED (451).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayRegistered {
    pub relay_slot_id: u64,
    pub expires_at: u64,
}

/// RELAY_CONNECT (452).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayConnect {
    pub relay_slot_id: u64,
}

/// What a relayed stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RelayKind {
    #[default]
    Control,
    Content,
}

/// RELAY_STREAM (453): in tunnel mode `payload` is a whole inner envelope's CBOR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayStream {
    pub relay_slot_id: u64,
    pub stream_id: u32,
    pub kind: RelayKind,
    pub payload: Vec<u8>,
}

/// RELAY_LIST_REQUEST (460).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayListRequest {
    pub max_count: u16,
}

/// RELAY_LIST_RESPONSE (461).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RelayListResponse {
    pub announcements: Vec<RelayAnnouncement>,
}

/// Bandwidth class of a relay (capitalised on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BandwidthClass {
    Low,
    #[default]
    Medium,
    High,
}

/// What a relay offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayCapacity {
    pub max_tunnels: u16,
    pub bandwidth_class: BandwidthClass,
    pub max_bytes_per_tunnel: Option<u64>,
}

/// A relay's signed self-description, stored at rendezvous keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayAnnouncement {
    pub relay_pubkey: PubKey,
    pub relay_addrs: Vec<PeerAddr>,
    pub capabilities: Capabilities,
    pub capacity: RelayCapacity,
    pub issued_at: u64,
    pub expires_at: u64,
    pub signature: Sig,
}

cbor_payload!(RelayRegister, "RELAY_REGISTER");
cbor_payload!(RelayRegistered, "RELAY_REGISTERED");
cbor_payload!(RelayConnect, "RELAY_CONNECT");
cbor_payload!(RelayStream, "RELAY_STREAM");
cbor_payload!(RelayListRequest, "RELAY_LIST_REQUEST");
cbor_payload!(RelayListResponse, "RELAY_LIST_RESPONSE");
cbor_payload!(RelayAnnouncement, "RelayAnnouncement");
request!(RelayRegister, RELAY_REGISTER => RELAY_REGISTERED, RelayRegistered);
request!(RelayConnect, RELAY_CONNECT => RELAY_CONNECT, Ack);
request!(RelayStream, RELAY_STREAM => RELAY_STREAM, RelayStream);
request!(RelayListRequest, RELAY_LIST_REQUEST => RELAY_LIST_RESPONSE, RelayListResponse);

impl<C> Encode<C> for RelayRegister {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(2)?.str("relay_slot_id")?;
        cbor::write_opt_u64(e, self.relay_slot_id)?;
        e.str("tunnel")?.bool(self.tunnel)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for RelayRegister {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut r = RelayRegister::default();
        cbor::tmap(d, "RELAY_REGISTER", &["relay_slot_id", "tunnel"], |d, i| {
            if i == 0 {
                r.relay_slot_id = cbor::opt_u64(d)?;
            } else {
                r.tunnel = cbor::bool(d)?;
            }
            Ok(())
        })?;
        Ok(r)
    }
}

impl<C> Encode<C> for RelayRegistered {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(2)?.str("relay_slot_id")?.u64(self.relay_slot_id)?;
        e.str("expires_at")?.u64(self.expires_at)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for RelayRegistered {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "RELAY_REGISTERED";
        let (mut slot, mut exp) = (None, None);
        cbor::tmap(d, W, &["relay_slot_id", "expires_at"], |d, i| {
            let v = Some(cbor::u64(d)?);
            if i == 0 {
                slot = v
            } else {
                exp = v
            }
            Ok(())
        })?;
        Ok(RelayRegistered {
            relay_slot_id: slot.ok_or_else(|| cbor::missing(W, "relay_slot_id"))?,
            expires_at: exp.ok_or_else(|| cbor::missing(W, "expires_at"))?,
        })
    }
}

impl<C> Encode<C> for RelayConnect {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.str("relay_slot_id")?.u64(self.relay_slot_id)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for RelayConnect {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut slot = None;
        cbor::tmap(d, "RELAY_CONNECT", &["relay_slot_id"], |d, _| {
            slot = Some(cbor::u64(d)?);
            Ok(())
        })?;
        Ok(RelayConnect { relay_slot_id: slot.ok_or_else(|| cbor::missing("RELAY_CONNECT", "relay_slot_id"))? })
    }
}

impl<C> Encode<C> for RelayStream {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(4)?.str("relay_slot_id")?.u64(self.relay_slot_id)?;
        e.str("stream_id")?.u32(self.stream_id)?;
        e.str("kind")?.str(match self.kind {
            RelayKind::Control => "control",
            RelayKind::Content => "content",
        })?;
        e.str("payload")?.bytes(&self.payload)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for RelayStream {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "RELAY_STREAM";
        let (mut slot, mut stream, mut kind, mut payload) = (None, None, RelayKind::Control, None);
        cbor::tmap(d, W, &["relay_slot_id", "stream_id", "kind", "payload"], |d, i| {
            match i {
                0 => slot = Some(cbor::u64(d)?),
                1 => stream = Some(cbor::u32(d)?),
                2 => {
                    kind = match cbor::text(d, 16, "kind")?.as_str() {
                        "control" => RelayKind::Control,
                        "content" => RelayKind::Content,
                        other => return Err(cbor::err(format_args!("unknown relay stream kind '{other}'"))),
                    }
                }
                _ => payload = Some(cbor::byte_vec(d, MAX_ENVELOPE_PAYLOAD_BYTES, "payload")?),
            }
            Ok(())
        })?;
        Ok(RelayStream {
            relay_slot_id: slot.ok_or_else(|| cbor::missing(W, "relay_slot_id"))?,
            stream_id: stream.ok_or_else(|| cbor::missing(W, "stream_id"))?,
            kind,
            payload: payload.ok_or_else(|| cbor::missing(W, "payload"))?,
        })
    }
}

impl<C> Encode<C> for RelayListRequest {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.str("max_count")?.u16(self.max_count)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for RelayListRequest {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut max = None;
        cbor::tmap(d, "RELAY_LIST_REQUEST", &["max_count"], |d, _| {
            max = Some(cbor::u16(d)?);
            Ok(())
        })?;
        Ok(RelayListRequest { max_count: max.ok_or_else(|| cbor::missing("RELAY_LIST_REQUEST", "max_count"))? })
    }
}

impl<C> Encode<C> for RelayListResponse {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.str("announcements")?.array(self.announcements.len() as u64)?;
        for a in &self.announcements {
            e.encode(a)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for RelayListResponse {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut list = None;
        cbor::tmap(d, "RELAY_LIST_RESPONSE", &["announcements"], |d, _| {
            list = Some(cbor::array(d, MAX_LIST_ENTRIES, "announcements", |d| d.decode())?);
            Ok(())
        })?;
        Ok(RelayListResponse {
            announcements: list.ok_or_else(|| cbor::missing("RELAY_LIST_RESPONSE", "announcements"))?,
        })
    }
}

impl BandwidthClass {
    fn as_str(self) -> &'static str {
        match self {
            BandwidthClass::Low => "Low",
            BandwidthClass::Medium => "Medium",
            BandwidthClass::High => "High",
        }
    }
}

impl<C> Encode<C> for RelayCapacity {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(3)?.str("max_tunnels")?.u16(self.max_tunnels)?;
        e.str("bandwidth_class")?.str(self.bandwidth_class.as_str())?;
        e.str("max_bytes_per_tunnel")?;
        cbor::write_opt_u64(e, self.max_bytes_per_tunnel)
    }
}

impl<'b, C> Decode<'b, C> for RelayCapacity {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "relay capacity";
        let (mut max, mut class, mut bytes) = (None, None, None);
        cbor::tmap(d, W, &["max_tunnels", "bandwidth_class", "max_bytes_per_tunnel"], |d, i| {
            match i {
                0 => max = Some(cbor::u16(d)?),
                1 => {
                    class = Some(match cbor::text(d, 16, "bandwidth_class")?.as_str() {
                        "Low" => BandwidthClass::Low,
                        "Medium" => BandwidthClass::Medium,
                        "High" => BandwidthClass::High,
                        other => return Err(cbor::err(format_args!("unknown bandwidth class '{other}'"))),
                    })
                }
                _ => bytes = cbor::opt_u64(d)?,
            }
            Ok(())
        })?;
        Ok(RelayCapacity {
            max_tunnels: max.ok_or_else(|| cbor::missing(W, "max_tunnels"))?,
            bandwidth_class: class.ok_or_else(|| cbor::missing(W, "bandwidth_class"))?,
            max_bytes_per_tunnel: bytes,
        })
    }
}

impl RelayAnnouncement {
    /// Bytes the relay key signs: [relay_pubkey, relay_addrs, capabilities, capacity,
    /// issued_at, expires_at].
    pub fn signing_bytes(&self) -> Vec<u8> {
        cbor::build(|e| {
            e.array(6)?;
            cbor::write_int_array(e, &self.relay_pubkey.0)?;
            encode_peer_list(e, &self.relay_addrs)?;
            e.encode(self.capabilities)?;
            e.encode(&self.capacity)?;
            e.u64(self.issued_at)?.u64(self.expires_at)?;
            Ok(())
        })
    }

    /// Builds and signs an announcement.
    pub fn sign(
        relay: &Keypair,
        relay_addrs: Vec<PeerAddr>,
        capabilities: Capabilities,
        capacity: RelayCapacity,
        issued_at: u64,
        expires_at: u64,
    ) -> Self {
        let mut a = RelayAnnouncement {
            relay_pubkey: relay.public(),
            relay_addrs,
            capabilities,
            capacity,
            issued_at,
            expires_at,
            signature: [0; 64],
        };
        a.signature = relay.sign(&a.signing_bytes());
        a
    }

    /// Checks the validity rules of §7.8 and the signature (freshness is not checked).
    pub fn validate(&self) -> Result<(), ProtoError> {
        let bad = |r: &str| Err(ProtoError::Invalid(format!("relay announcement {}: {r}", self.relay_pubkey.short())));
        if !self.capabilities.relay {
            return bad("relay capability is not set");
        }
        if self.expires_at <= self.issued_at {
            return bad("expires before it is issued");
        }
        if self.expires_at - self.issued_at > RELAY_ANNOUNCEMENT_MAX_TTL_SECS {
            return bad("valid for longer than 6 hours");
        }
        if self.relay_addrs.is_empty() {
            return bad("has no address");
        }
        if self.relay_addrs.iter().any(|a| a.relay_via.is_some()) {
            return bad("an address is itself relayed");
        }
        keys::verify(&self.relay_pubkey, &self.signing_bytes(), &self.signature, "relay announcement")
    }

    /// Whether `key` is one of the rendezvous keys this announcement may be stored under
    /// (its issue bucket and the neighbouring ones).
    pub fn matches_rendezvous_key(&self, key: &DhtKey) -> bool {
        let b = dht_key::relay_bucket(self.issued_at);
        [b, b.wrapping_sub(1), b + 1]
            .iter()
            .any(|bucket| dht_key::relay_rendezvous_keys(&self.relay_pubkey, *bucket).contains(key))
    }
}

impl<C> Encode<C> for RelayAnnouncement {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(7)?.str("relay_pubkey")?;
        self.relay_pubkey.encode(e, ctx)?;
        e.str("relay_addrs")?;
        encode_peer_list(e, &self.relay_addrs)?;
        e.str("capabilities")?.encode(self.capabilities)?;
        e.str("capacity")?.encode(&self.capacity)?;
        e.str("issued_at")?.u64(self.issued_at)?;
        e.str("expires_at")?.u64(self.expires_at)?;
        e.str("signature")?.bytes(&self.signature)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for RelayAnnouncement {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "RelayAnnouncement";
        let names = ["relay_pubkey", "relay_addrs", "capabilities", "capacity", "issued_at", "expires_at", "signature"];
        let (mut pk, mut addrs, mut caps, mut cap, mut iss, mut exp, mut sig) =
            (None, None, None, None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => pk = Some(PubKey::decode_field(d)?),
                1 => addrs = Some(decode_peer_list(d, "relay_addrs")?),
                2 => caps = Some(d.decode()?),
                3 => cap = Some(d.decode()?),
                4 => iss = Some(cbor::u64(d)?),
                5 => exp = Some(cbor::u64(d)?),
                _ => sig = Some(cbor::fixed::<64>(d, "signature")?),
            }
            Ok(())
        })?;
        Ok(RelayAnnouncement {
            relay_pubkey: pk.ok_or_else(|| cbor::missing(W, names[0]))?,
            relay_addrs: addrs.ok_or_else(|| cbor::missing(W, names[1]))?,
            capabilities: caps.ok_or_else(|| cbor::missing(W, names[2]))?,
            capacity: cap.ok_or_else(|| cbor::missing(W, names[3]))?,
            issued_at: iss.ok_or_else(|| cbor::missing(W, names[4]))?,
            expires_at: exp.ok_or_else(|| cbor::missing(W, names[5]))?,
            signature: sig.ok_or_else(|| cbor::missing(W, names[6]))?,
        })
    }
}
