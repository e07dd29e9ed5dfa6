//! DHT messages (SCP2P-WIRE.md §4.2): FIND_NODE, FIND_VALUE and STORE with their results.
//! They are integer-keyed maps whose byte fields are byte strings.

use super::payload::{Ack, cbor_payload, request};
use super::peer_addr::{PeerAddr, decode_peer_list, encode_peer_list};
use crate::cbor::{self, EncResult};
use crate::ids::{DhtKey, NodeId};
use crate::limits::MAX_ENVELOPE_PAYLOAD_BYTES;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// FIND_NODE (200): the peers closest to `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindNode {
    pub target: NodeId,
}

/// FIND_NODE response: up to K peers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FindNodeResult {
    pub peers: Vec<PeerAddr>,
}

/// FIND_VALUE (201): the value at `key`, or closer peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindValue {
    pub key: DhtKey,
}

/// FIND_VALUE response: the value (as a STORE-shaped record) and closer peers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FindValueResult {
    pub value: Option<Store>,
    pub closer_peers: Vec<PeerAddr>,
}

/// STORE (202), also the value record inside FIND_VALUE results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    pub key: DhtKey,
    pub value: Vec<u8>,
    pub ttl_secs: u64,
}

cbor_payload!(FindNode, "FIND_NODE");
cbor_payload!(FindNodeResult, "FIND_NODE result");
cbor_payload!(FindValue, "FIND_VALUE");
cbor_payload!(FindValueResult, "FIND_VALUE result");
cbor_payload!(Store, "STORE");
request!(FindNode, FIND_NODE => FIND_NODE, FindNodeResult);
request!(FindValue, FIND_VALUE => FIND_VALUE, FindValueResult);
request!(Store, STORE => STORE, Ack);

impl<C> Encode<C> for FindNode {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.u8(0)?;
        self.target.encode_bstr(e)
    }
}

impl<'b, C> Decode<'b, C> for FindNode {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut target = None;
        cbor::imap(d, "FIND_NODE", |d, k| {
            if k == 0 {
                target = Some(NodeId::decode_bstr(d)?);
            } else {
                cbor::skip(d)?;
            }
            Ok(())
        })?;
        Ok(FindNode { target: target.ok_or_else(|| cbor::missing("FIND_NODE", "0 (target)"))? })
    }
}

impl<C> Encode<C> for FindNodeResult {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.u8(0)?;
        encode_peer_list(e, &self.peers)
    }
}

impl<'b, C> Decode<'b, C> for FindNodeResult {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut peers = None;
        cbor::imap(d, "FIND_NODE result", |d, k| {
            if k == 0 {
                peers = Some(decode_peer_list(d, "peers")?);
            } else {
                cbor::skip(d)?;
            }
            Ok(())
        })?;
        Ok(FindNodeResult { peers: peers.ok_or_else(|| cbor::missing("FIND_NODE result", "0 (peers)"))? })
    }
}

impl<C> Encode<C> for FindValue {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.u8(0)?;
        self.key.encode_bstr(e)
    }
}

impl<'b, C> Decode<'b, C> for FindValue {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut key = None;
        cbor::imap(d, "FIND_VALUE", |d, k| {
            if k == 0 {
                key = Some(DhtKey::decode_bstr(d)?);
            } else {
                cbor::skip(d)?;
            }
            Ok(())
        })?;
        Ok(FindValue { key: key.ok_or_else(|| cbor::missing("FIND_VALUE", "0 (key)"))? })
    }
}

impl<C> Encode<C> for FindValueResult {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(2)?.u8(0)?;
        match &self.value {
            Some(v) => v.encode(e, ctx)?,
            None => {
                e.null()?;
            }
        }
        e.u8(1)?;
        encode_peer_list(e, &self.closer_peers)
    }
}

impl<'b, C> Decode<'b, C> for FindValueResult {
    fn decode(d: &mut Decoder<'b>, ctx: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "FIND_VALUE result";
        let (mut value, mut peers) = (None, None);
        cbor::imap(d, W, |d, k| {
            match k {
                0 => value = Some(if cbor::take_null(d)? { None } else { Some(Store::decode(d, ctx)?) }),
                1 => peers = Some(decode_peer_list(d, "closer_peers")?),
                _ => cbor::skip(d)?,
            }
            Ok(())
        })?;
        Ok(FindValueResult {
            value: value.ok_or_else(|| cbor::missing(W, "0 (value)"))?,
            closer_peers: peers.ok_or_else(|| cbor::missing(W, "1 (closer_peers)"))?,
        })
    }
}

impl<C> Encode<C> for Store {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(3)?.u8(0)?;
        self.key.encode_bstr(e)?;
        e.u8(1)?.bytes(&self.value)?;
        // The reference writes this u64 through an i64 cast; keep it in range so it stays a
        // non-negative integer it can read back (SCP2P-WIRE.md §0.4).
        e.u8(2)?.i64(self.ttl_secs.min(i64::MAX as u64) as i64)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for Store {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "STORE";
        let (mut key, mut value, mut ttl) = (None, None, None);
        cbor::imap(d, W, |d, k| {
            match k {
                0 => key = Some(DhtKey::decode_bstr(d)?),
                1 => value = Some(cbor::bstr(d, MAX_ENVELOPE_PAYLOAD_BYTES, "DHT value")?.to_vec()),
                // Written through an i64 cast by the reference (§0.4): only 0..2^63 survives
                // a round trip, so anything else is refused rather than silently changed.
                2 => {
                    ttl = Some(
                        cbor::u64(d)
                            .ok()
                            .filter(|t| *t <= i64::MAX as u64)
                            .ok_or_else(|| cbor::err("ttl_secs must be an integer from 0 to 2^63 - 1"))?,
                    )
                }
                _ => cbor::skip(d)?,
            }
            Ok(())
        })?;
        Ok(Store {
            key: key.ok_or_else(|| cbor::missing(W, "0 (key)"))?,
            value: value.ok_or_else(|| cbor::missing(W, "1 (value)"))?,
            ttl_secs: ttl.ok_or_else(|| cbor::missing(W, "2 (ttl_secs)"))?,
        })
    }
}
