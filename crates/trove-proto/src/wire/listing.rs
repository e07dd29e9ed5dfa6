//! Public share listings (SCP2P-WIRE.md §4.2, §7.5): LIST_PUBLIC_SHARES and the summaries
//! it returns, also used by the community listing.

use super::payload::{cbor_payload, request};
use crate::cbor::{self, EncResult};
use crate::ids::{ManifestId, PubKey, ShareId};
use crate::limits::{MAX_LIST_ENTRIES, MAX_TEXT_BYTES};
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// LIST_PUBLIC_SHARES (402).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPublicShares {
    pub max_entries: u16,
}

/// PUBLIC_SHARE_LIST (403).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PublicShareList {
    pub shares: Vec<PublicShareSummary>,
}

/// One listed share (unsigned; a subscriber verifies the head and manifest it points to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicShareSummary {
    pub share_id: ShareId,
    pub share_pubkey: PubKey,
    pub latest_seq: u64,
    pub latest_manifest_id: ManifestId,
    pub title: Option<String>,
    pub description: Option<String>,
}

cbor_payload!(ListPublicShares, "LIST_PUBLIC_SHARES");
cbor_payload!(PublicShareList, "PUBLIC_SHARE_LIST");
request!(ListPublicShares, LIST_PUBLIC_SHARES => PUBLIC_SHARE_LIST, PublicShareList);

impl<C> Encode<C> for ListPublicShares {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.str("max_entries")?.u16(self.max_entries)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for ListPublicShares {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut max = None;
        cbor::tmap(d, "LIST_PUBLIC_SHARES", &["max_entries"], |d, _| {
            max = Some(cbor::u16(d)?);
            Ok(())
        })?;
        Ok(ListPublicShares { max_entries: max.ok_or_else(|| cbor::missing("LIST_PUBLIC_SHARES", "max_entries"))? })
    }
}

/// Encodes a list of summaries.
pub fn encode_summaries<W: Write>(e: &mut Encoder<W>, shares: &[PublicShareSummary]) -> EncResult<W> {
    e.array(shares.len() as u64)?;
    for s in shares {
        e.encode(s)?;
    }
    Ok(())
}

/// Decodes a list of summaries.
pub fn decode_summaries(d: &mut Decoder<'_>) -> Result<Vec<PublicShareSummary>, DecodeError> {
    cbor::array(d, MAX_LIST_ENTRIES, "shares", |d| d.decode())
}

impl<C> Encode<C> for PublicShareList {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.str("shares")?;
        encode_summaries(e, &self.shares)
    }
}

impl<'b, C> Decode<'b, C> for PublicShareList {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut shares = None;
        cbor::tmap(d, "PUBLIC_SHARE_LIST", &["shares"], |d, _| {
            shares = Some(decode_summaries(d)?);
            Ok(())
        })?;
        Ok(PublicShareList { shares: shares.ok_or_else(|| cbor::missing("PUBLIC_SHARE_LIST", "shares"))? })
    }
}

impl<C> Encode<C> for PublicShareSummary {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(6)?.str("share_id")?;
        self.share_id.encode(e, ctx)?;
        e.str("share_pubkey")?;
        self.share_pubkey.encode(e, ctx)?;
        e.str("latest_seq")?.u64(self.latest_seq)?;
        e.str("latest_manifest_id")?;
        self.latest_manifest_id.encode(e, ctx)?;
        e.str("title")?;
        cbor::write_opt_str(e, self.title.as_deref())?;
        e.str("description")?;
        cbor::write_opt_str(e, self.description.as_deref())
    }
}

impl<'b, C> Decode<'b, C> for PublicShareSummary {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "public share summary";
        let names = ["share_id", "share_pubkey", "latest_seq", "latest_manifest_id", "title", "description"];
        let (mut id, mut pk, mut seq, mut mid, mut title, mut desc) = (None, None, None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => id = Some(ShareId::decode_field(d)?),
                1 => pk = Some(PubKey::decode_field(d)?),
                2 => seq = Some(cbor::u64(d)?),
                3 => mid = Some(ManifestId::decode_field(d)?),
                4 => title = cbor::opt_text(d, MAX_TEXT_BYTES, "title")?,
                _ => desc = cbor::opt_text(d, MAX_TEXT_BYTES, "description")?,
            }
            Ok(())
        })?;
        Ok(PublicShareSummary {
            share_id: id.ok_or_else(|| cbor::missing(W, names[0]))?,
            share_pubkey: pk.ok_or_else(|| cbor::missing(W, names[1]))?,
            latest_seq: seq.ok_or_else(|| cbor::missing(W, names[2]))?,
            latest_manifest_id: mid.ok_or_else(|| cbor::missing(W, names[3]))?,
            title,
            description: desc,
        })
    }
}
