//! trove's end-to-end relay extension (docs/PROTOCOL.md §7), feature `relay-e2e`. Between
//! trove peers a relay does not carry envelopes: it splices two byte streams, one from the
//! dialer and one from the firewalled node, and the two run TLS and a channel-bound
//! handshake over them, so the relay sees ciphertext only.
//!
//! - RELAY_OPEN / RELAY_OPENED: the dialer, on a stream of its own to the relay, asks for a
//!   virtual stream to the node behind a slot; after RELAY_OPENED the stream carries raw
//!   bytes.
//! - RELAY_INCOMING: the relay tells the firewalled node, through its tunnel, that a
//!   virtual stream waits under a one-time token.
//! - RELAY_ACCEPT: the firewalled node, on a new stream of its own to the relay, claims the
//!   token; after the acknowledgement that stream carries raw bytes.

use super::payload::{Ack, cbor_payload, request};
use super::relay::RelayKind;
use crate::cbor::{self, EncResult};
use crate::ids::PubKey;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// Error text of a relay asked for a virtual stream to a node that cannot accept one (a v1
/// node): the dialer falls back to v1 envelope forwarding.
pub const NO_E2E: &str = "the node behind this relay slot does not accept end-to-end streams";

/// RELAY_OPEN (4020): open a virtual stream to the node behind `relay_slot_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayOpen {
    pub relay_slot_id: u64,
    /// What the stream will carry; a relay that does not relay content grants `control`.
    pub kind: RelayKind,
    /// The node key the dialer expects behind the slot (refused early if it differs).
    pub target: Option<PubKey>,
}

/// RELAY_OPENED (4021): the virtual stream is spliced; raw bytes follow on this stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayOpened {
    pub relay_slot_id: u64,
    /// The kind granted (`control` when content relaying is off).
    pub kind: RelayKind,
}

/// RELAY_INCOMING (4022), relay → firewalled node through its tunnel: claim `token` with
/// RELAY_ACCEPT on a new stream. Answered with an empty acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayIncoming {
    pub token: [u8; 16],
    pub kind: RelayKind,
    /// The dialer's node key as the relay authenticated it.
    pub dialer: PubKey,
}

/// RELAY_ACCEPT (4023), firewalled node → relay on a new stream: splice this stream to the
/// virtual stream waiting under `token`. Answered with an empty acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayAccept {
    pub token: [u8; 16],
}

cbor_payload!(RelayOpen, "RELAY_OPEN");
cbor_payload!(RelayOpened, "RELAY_OPENED");
cbor_payload!(RelayIncoming, "RELAY_INCOMING");
cbor_payload!(RelayAccept, "RELAY_ACCEPT");
request!(RelayOpen, RELAY_OPEN => RELAY_OPENED, RelayOpened);
request!(RelayIncoming, RELAY_INCOMING => RELAY_INCOMING, Ack);
request!(RelayAccept, RELAY_ACCEPT => RELAY_ACCEPT, Ack);

fn kind_str(k: RelayKind) -> &'static str {
    match k {
        RelayKind::Control => "control",
        RelayKind::Content => "content",
    }
}

fn decode_kind(d: &mut Decoder<'_>) -> Result<RelayKind, DecodeError> {
    match cbor::text(d, 16, "kind")?.as_str() {
        "control" => Ok(RelayKind::Control),
        "content" => Ok(RelayKind::Content),
        other => Err(cbor::err(format_args!("unknown relay stream kind '{other}'"))),
    }
}

impl<C> Encode<C> for RelayOpen {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(3)?.str("relay_slot_id")?.u64(self.relay_slot_id)?;
        e.str("kind")?.str(kind_str(self.kind))?;
        e.str("target")?;
        cbor::write_opt_int_array(e, self.target.as_ref().map(|k| &k.0[..]))
    }
}

impl<'b, C> Decode<'b, C> for RelayOpen {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "RELAY_OPEN";
        let (mut slot, mut kind, mut target) = (None, None, None);
        cbor::tmap(d, W, &["relay_slot_id", "kind", "target"], |d, i| {
            match i {
                0 => slot = Some(cbor::u64(d)?),
                1 => kind = Some(decode_kind(d)?),
                _ => target = cbor::opt_fixed::<32>(d, "target")?.map(PubKey),
            }
            Ok(())
        })?;
        Ok(RelayOpen {
            relay_slot_id: slot.ok_or_else(|| cbor::missing(W, "relay_slot_id"))?,
            kind: kind.ok_or_else(|| cbor::missing(W, "kind"))?,
            target,
        })
    }
}

impl<C> Encode<C> for RelayOpened {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(2)?.str("relay_slot_id")?.u64(self.relay_slot_id)?;
        e.str("kind")?.str(kind_str(self.kind))?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for RelayOpened {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "RELAY_OPENED";
        let (mut slot, mut kind) = (None, None);
        cbor::tmap(d, W, &["relay_slot_id", "kind"], |d, i| {
            if i == 0 {
                slot = Some(cbor::u64(d)?);
            } else {
                kind = Some(decode_kind(d)?);
            }
            Ok(())
        })?;
        Ok(RelayOpened {
            relay_slot_id: slot.ok_or_else(|| cbor::missing(W, "relay_slot_id"))?,
            kind: kind.ok_or_else(|| cbor::missing(W, "kind"))?,
        })
    }
}

impl<C> Encode<C> for RelayIncoming {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(3)?.str("token")?.bytes(&self.token)?;
        e.str("kind")?.str(kind_str(self.kind))?;
        e.str("dialer")?;
        cbor::write_int_array(e, &self.dialer.0)
    }
}

impl<'b, C> Decode<'b, C> for RelayIncoming {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "RELAY_INCOMING";
        let (mut token, mut kind, mut dialer) = (None, None, None);
        cbor::tmap(d, W, &["token", "kind", "dialer"], |d, i| {
            match i {
                0 => token = Some(cbor::bstr_fixed::<16>(d, "token")?),
                1 => kind = Some(decode_kind(d)?),
                _ => dialer = Some(PubKey(cbor::fixed::<32>(d, "dialer")?)),
            }
            Ok(())
        })?;
        Ok(RelayIncoming {
            token: token.ok_or_else(|| cbor::missing(W, "token"))?,
            kind: kind.ok_or_else(|| cbor::missing(W, "kind"))?,
            dialer: dialer.ok_or_else(|| cbor::missing(W, "dialer"))?,
        })
    }
}

impl<C> Encode<C> for RelayAccept {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.str("token")?.bytes(&self.token)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for RelayAccept {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut token = None;
        cbor::tmap(d, "RELAY_ACCEPT", &["token"], |d, _| {
            token = Some(cbor::bstr_fixed::<16>(d, "token")?);
            Ok(())
        })?;
        Ok(RelayAccept { token: token.ok_or_else(|| cbor::missing("RELAY_ACCEPT", "token"))? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_kinds() {
        let o = RelayOpen { relay_slot_id: 77, kind: RelayKind::Content, target: Some(PubKey([7; 32])) };
        assert_eq!(cbor::from_slice::<RelayOpen>(&cbor::to_vec(&o)).unwrap(), o);
        let i = RelayIncoming { token: [3; 16], kind: RelayKind::Control, dialer: PubKey([9; 32]) };
        assert_eq!(cbor::from_slice::<RelayIncoming>(&cbor::to_vec(&i)).unwrap(), i);
        let bad = cbor::build(|e| {
            e.map(2)?.str("relay_slot_id")?.u64(1)?.str("kind")?.str("video")?;
            Ok(())
        });
        assert!(cbor::from_slice::<RelayOpened>(&bad).is_err());
        // A token must be exactly 16 bytes.
        let short = cbor::build(|e| {
            e.map(1)?.str("token")?.bytes(&[1; 15])?;
            Ok(())
        });
        assert!(cbor::from_slice::<RelayAccept>(&short).is_err());
    }
}
