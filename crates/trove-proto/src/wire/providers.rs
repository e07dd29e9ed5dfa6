//! Providers (SCP2P-WIRE.md §7.6): the DHT value listing the peers that hold a content.

use super::payload::cbor_payload;
use super::peer_addr::{PeerAddr, decode_peer_list, encode_peer_list};
use crate::cbor::{self, EncResult};
use crate::ids::ContentId;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// Peers that serve a content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Providers {
    pub content_id: ContentId,
    pub providers: Vec<PeerAddr>,
    pub updated_at: u64,
}

cbor_payload!(Providers, "Providers");

impl<C> Encode<C> for Providers {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(3)?.str("content_id")?;
        self.content_id.encode(e, ctx)?;
        e.str("providers")?;
        encode_peer_list(e, &self.providers)?;
        e.str("updated_at")?.u64(self.updated_at)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for Providers {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "Providers";
        let (mut id, mut list, mut updated) = (None, None, None);
        cbor::tmap(d, W, &["content_id", "providers", "updated_at"], |d, i| {
            match i {
                0 => id = Some(ContentId::decode_field(d)?),
                1 => list = Some(decode_peer_list(d, "providers")?),
                _ => updated = Some(cbor::u64(d)?),
            }
            Ok(())
        })?;
        Ok(Providers {
            content_id: id.ok_or_else(|| cbor::missing(W, "content_id"))?,
            providers: list.ok_or_else(|| cbor::missing(W, "providers"))?,
            updated_at: updated.ok_or_else(|| cbor::missing(W, "updated_at"))?,
        })
    }
}
