//! trove's extension messages (docs/PROTOCOL.md §3). They are sent only to peers whose
//! handshake announced the matching feature, so a v1 peer never sees them:
//! - `paged-manifest`: GET_MANIFEST_PAGE / MANIFEST_PAGE, byte ranges of a manifest's
//!   transmitted CBOR, so manifests of any size travel (v1 stops at 1 MiB per envelope);
//! - `paged-hashes`: GET_CHUNK_HASHES_PAGE / CHUNK_HASHES_PAGE, ranges of a content's chunk
//!   hash list, so files of any size travel (v1 stops near 7 GiB);
//! - `head-push`: WATCH_HEADS / HEADS, a long poll that returns as soon as a newer head of a
//!   watched share exists, so subscribers learn of revisions without polling delays.

use super::payload::{cbor_payload, request};
use crate::cbor::{self, EncResult};
use crate::content::Hash;
use crate::ids::{ContentId, ManifestId, ShareId};
use crate::limits::MAX_ENVELOPE_PAYLOAD_BYTES;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// Largest manifest page.
pub const MAX_MANIFEST_PAGE: u32 = 768 * 1024;
/// Most hashes in one page (fits an envelope with room to spare).
pub const MAX_HASHES_PAGE: u32 = 16_384;
/// Most shares one WATCH_HEADS may watch.
pub const MAX_WATCHED: usize = 4_096;
/// Longest wait a WATCH_HEADS may ask for.
pub const MAX_WATCH_MS: u32 = 60_000;
/// Largest manifest accepted through pages (100,000 items fit well below this).
pub const MAX_PAGED_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;

/// GET_MANIFEST_PAGE (4000).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetManifestPage {
    pub manifest_id: ManifestId,
    pub offset: u64,
    pub max_len: u32,
}

/// MANIFEST_PAGE (4001): bytes `offset..offset+bytes.len()` of the transmitted CBOR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestPage {
    pub manifest_id: ManifestId,
    pub total_len: u64,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// GET_CHUNK_HASHES_PAGE (4002).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetChunkHashesPage {
    pub content_id: ContentId,
    pub start: u32,
    pub count: u32,
}

/// CHUNK_HASHES_PAGE (4003): hashes `start..start+hashes.len()` of `total`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkHashesPage {
    pub content_id: ContentId,
    pub total: u32,
    pub start: u32,
    pub hashes: Vec<Hash>,
}

/// WATCH_HEADS (4010): answer when any watched share has a head with a higher seq than
/// given, or after `wait_ms` with no heads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchHeads {
    pub shares: Vec<(ShareId, u64)>,
    pub wait_ms: u32,
}

/// HEADS (4011): the newer heads, each the CBOR of a ShareHead (with its share_pubkey key).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Heads {
    pub heads: Vec<Vec<u8>>,
}

cbor_payload!(GetManifestPage, "GET_MANIFEST_PAGE");
cbor_payload!(ManifestPage, "MANIFEST_PAGE");
cbor_payload!(GetChunkHashesPage, "GET_CHUNK_HASHES_PAGE");
cbor_payload!(ChunkHashesPage, "CHUNK_HASHES_PAGE");
cbor_payload!(WatchHeads, "WATCH_HEADS");
cbor_payload!(Heads, "HEADS");
request!(GetManifestPage, GET_MANIFEST_PAGE => MANIFEST_PAGE, ManifestPage);
request!(GetChunkHashesPage, GET_CHUNK_HASHES_PAGE => CHUNK_HASHES_PAGE, ChunkHashesPage);
request!(WatchHeads, WATCH_HEADS => HEADS, Heads);

impl<C> Encode<C> for GetManifestPage {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(3)?.str("manifest_id")?;
        self.manifest_id.encode(e, ctx)?;
        e.str("offset")?.u64(self.offset)?;
        e.str("max_len")?.u32(self.max_len)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for GetManifestPage {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "GET_MANIFEST_PAGE";
        let (mut id, mut off, mut max) = (None, None, None);
        cbor::tmap(d, W, &["manifest_id", "offset", "max_len"], |d, i| {
            match i {
                0 => id = Some(ManifestId::decode_field(d)?),
                1 => off = Some(cbor::u64(d)?),
                _ => max = Some(cbor::u32(d)?),
            }
            Ok(())
        })?;
        Ok(GetManifestPage {
            manifest_id: id.ok_or_else(|| cbor::missing(W, "manifest_id"))?,
            offset: off.ok_or_else(|| cbor::missing(W, "offset"))?,
            max_len: max.ok_or_else(|| cbor::missing(W, "max_len"))?,
        })
    }
}

impl<C> Encode<C> for ManifestPage {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(4)?.str("manifest_id")?;
        self.manifest_id.encode(e, ctx)?;
        e.str("total_len")?.u64(self.total_len)?;
        e.str("offset")?.u64(self.offset)?;
        e.str("bytes")?.bytes(&self.bytes)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for ManifestPage {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "MANIFEST_PAGE";
        let (mut id, mut total, mut off, mut bytes) = (None, None, None, None);
        cbor::tmap(d, W, &["manifest_id", "total_len", "offset", "bytes"], |d, i| {
            match i {
                0 => id = Some(ManifestId::decode_field(d)?),
                1 => total = Some(cbor::u64(d)?),
                2 => off = Some(cbor::u64(d)?),
                _ => bytes = Some(cbor::bstr(d, MAX_ENVELOPE_PAYLOAD_BYTES, "page bytes")?.to_vec()),
            }
            Ok(())
        })?;
        Ok(ManifestPage {
            manifest_id: id.ok_or_else(|| cbor::missing(W, "manifest_id"))?,
            total_len: total.ok_or_else(|| cbor::missing(W, "total_len"))?,
            offset: off.ok_or_else(|| cbor::missing(W, "offset"))?,
            bytes: bytes.ok_or_else(|| cbor::missing(W, "bytes"))?,
        })
    }
}

impl<C> Encode<C> for GetChunkHashesPage {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(3)?.str("content_id")?;
        self.content_id.encode(e, ctx)?;
        e.str("start")?.u32(self.start)?;
        e.str("count")?.u32(self.count)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for GetChunkHashesPage {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "GET_CHUNK_HASHES_PAGE";
        let (mut id, mut start, mut count) = (None, None, None);
        cbor::tmap(d, W, &["content_id", "start", "count"], |d, i| {
            match i {
                0 => id = Some(ContentId::decode_field(d)?),
                1 => start = Some(cbor::u32(d)?),
                _ => count = Some(cbor::u32(d)?),
            }
            Ok(())
        })?;
        Ok(GetChunkHashesPage {
            content_id: id.ok_or_else(|| cbor::missing(W, "content_id"))?,
            start: start.ok_or_else(|| cbor::missing(W, "start"))?,
            count: count.ok_or_else(|| cbor::missing(W, "count"))?,
        })
    }
}

impl<C> Encode<C> for ChunkHashesPage {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(4)?.str("content_id")?;
        self.content_id.encode(e, ctx)?;
        e.str("total")?.u32(self.total)?;
        e.str("start")?.u32(self.start)?;
        e.str("hashes")?.array(self.hashes.len() as u64)?;
        for h in &self.hashes {
            e.bytes(h)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for ChunkHashesPage {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "CHUNK_HASHES_PAGE";
        let (mut id, mut total, mut start, mut hashes) = (None, None, None, None);
        cbor::tmap(d, W, &["content_id", "total", "start", "hashes"], |d, i| {
            match i {
                0 => id = Some(ContentId::decode_field(d)?),
                1 => total = Some(cbor::u32(d)?),
                2 => start = Some(cbor::u32(d)?),
                _ => {
                    hashes = Some(cbor::array(d, MAX_HASHES_PAGE as usize, "hashes", |d| {
                        cbor::fixed::<32>(d, "chunk hash")
                    })?)
                }
            }
            Ok(())
        })?;
        Ok(ChunkHashesPage {
            content_id: id.ok_or_else(|| cbor::missing(W, "content_id"))?,
            total: total.ok_or_else(|| cbor::missing(W, "total"))?,
            start: start.ok_or_else(|| cbor::missing(W, "start"))?,
            hashes: hashes.ok_or_else(|| cbor::missing(W, "hashes"))?,
        })
    }
}

impl<C> Encode<C> for WatchHeads {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(2)?.str("shares")?.array(self.shares.len() as u64)?;
        for (id, seq) in &self.shares {
            e.array(2)?.bytes(&id.0)?.u64(*seq)?;
        }
        e.str("wait_ms")?.u32(self.wait_ms)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for WatchHeads {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "WATCH_HEADS";
        let (mut shares, mut wait) = (None, None);
        cbor::tmap(d, W, &["shares", "wait_ms"], |d, i| {
            if i == 0 {
                shares = Some(cbor::array(d, MAX_WATCHED, "shares", decode_watched)?);
            } else {
                wait = Some(cbor::u32(d)?);
            }
            Ok(())
        })?;
        Ok(WatchHeads {
            shares: shares.ok_or_else(|| cbor::missing(W, "shares"))?,
            wait_ms: wait.ok_or_else(|| cbor::missing(W, "wait_ms"))?,
        })
    }
}

/// One watched share: `[bstr(32) share_id, uint seq]`.
fn decode_watched(d: &mut Decoder<'_>) -> Result<(ShareId, u64), DecodeError> {
    cbor::peek(d)?;
    if d.array()? != Some(2) {
        return Err(cbor::err("watched share must be [share_id, seq]"));
    }
    Ok((ShareId(cbor::bstr_fixed::<32>(d, "share id")?), cbor::u64(d)?))
}

impl<C> Encode<C> for Heads {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.str("heads")?.array(self.heads.len() as u64)?;
        for h in &self.heads {
            e.bytes(h)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for Heads {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut heads = None;
        cbor::tmap(d, "HEADS", &["heads"], |d, _| {
            heads = Some(cbor::array(d, MAX_WATCHED, "heads", |d| Ok(cbor::bstr(d, 4096, "head")?.to_vec()))?);
            Ok(())
        })?;
        Ok(Heads { heads: heads.ok_or_else(|| cbor::missing("HEADS", "heads"))? })
    }
}
