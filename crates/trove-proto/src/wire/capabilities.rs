//! Capabilities: the five booleans a node advertises in its handshake, LAN packets and relay
//! announcements (SCP2P-WIRE.md §2.6).

use crate::cbor::{self, EncResult};
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// What a node offers. All five keys are required on decode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Capabilities {
    pub dht: bool,
    pub store: bool,
    pub relay: bool,
    pub content_seed: bool,
    pub mobile_light: bool,
}

const NAMES: [&str; 5] = ["dht", "store", "relay", "content_seed", "mobile_light"];

impl<C> Encode<C> for Capabilities {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(5)?;
        for (name, v) in NAMES.iter().zip([self.dht, self.store, self.relay, self.content_seed, self.mobile_light]) {
            e.str(name)?.bool(v)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for Capabilities {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut v = [None; 5];
        cbor::tmap(d, "capabilities", &NAMES, |d, i| {
            v[i] = Some(cbor::bool(d)?);
            Ok(())
        })?;
        let get = |i: usize| v[i].ok_or_else(|| cbor::missing("capabilities", NAMES[i]));
        Ok(Capabilities { dht: get(0)?, store: get(1)?, relay: get(2)?, content_seed: get(3)?, mobile_light: get(4)? })
    }
}
