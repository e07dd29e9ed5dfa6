//! Transfer messages (SCP2P-WIRE.md §4.2): GET_MANIFEST/MANIFEST_DATA, HAVE_CONTENT, and the
//! integer-keyed GET_CHUNK/CHUNK_DATA and GET_CHUNK_HASHES/CHUNK_HASH_LIST.

use super::payload::Payload;
use super::payload::{Ack, cbor_payload, request};
use crate::cbor::{self, EncResult};
use crate::content::Hash;
use crate::error::ProtoError;
use crate::ids::{ContentId, ManifestId};
use crate::limits::{CHUNK_SIZE, MAX_CHUNK_HASHES_V1, MAX_ENVELOPE_PAYLOAD_BYTES};
use bytes::Bytes;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// GET_MANIFEST (400).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetManifest {
    pub manifest_id: ManifestId,
}

/// MANIFEST_DATA (401): the manifest's transmitted CBOR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestData {
    pub manifest_id: ManifestId,
    pub bytes: Vec<u8>,
}

/// HAVE_CONTENT (499): a hint that the sender holds a content (acknowledged, ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaveContent {
    pub content_id: ContentId,
}

/// GET_CHUNK (500).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetChunk {
    pub content_id: ContentId,
    pub chunk_index: u32,
}

/// CHUNK_DATA (501). `bytes` shares the received buffer when decoded with
/// [`Payload::from_shared`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkData {
    pub content_id: ContentId,
    pub chunk_index: u32,
    pub bytes: Bytes,
}

/// GET_CHUNK_HASHES (502).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetChunkHashes {
    pub content_id: ContentId,
}

/// CHUNK_HASH_LIST (503).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkHashList {
    pub content_id: ContentId,
    pub hashes: Vec<Hash>,
}

cbor_payload!(GetManifest, "GET_MANIFEST");
cbor_payload!(ManifestData, "MANIFEST_DATA");
cbor_payload!(HaveContent, "HAVE_CONTENT");
cbor_payload!(GetChunk, "GET_CHUNK");
cbor_payload!(GetChunkHashes, "GET_CHUNK_HASHES");
cbor_payload!(ChunkHashList, "CHUNK_HASH_LIST");
request!(GetManifest, GET_MANIFEST => MANIFEST_DATA, ManifestData);
request!(HaveContent, HAVE_CONTENT => HAVE_CONTENT, Ack);
request!(GetChunk, GET_CHUNK => CHUNK_DATA, ChunkData);
request!(GetChunkHashes, GET_CHUNK_HASHES => CHUNK_HASH_LIST, ChunkHashList);

impl<C> Encode<C> for GetManifest {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(1)?.str("manifest_id")?;
        self.manifest_id.encode(e, ctx)
    }
}

impl<'b, C> Decode<'b, C> for GetManifest {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut id = None;
        cbor::tmap(d, "GET_MANIFEST", &["manifest_id"], |d, _| {
            id = Some(ManifestId::decode_field(d)?);
            Ok(())
        })?;
        Ok(GetManifest { manifest_id: id.ok_or_else(|| cbor::missing("GET_MANIFEST", "manifest_id"))? })
    }
}

impl<C> Encode<C> for ManifestData {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(2)?.str("manifest_id")?;
        self.manifest_id.encode(e, ctx)?;
        e.str("bytes")?.bytes(&self.bytes)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for ManifestData {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "MANIFEST_DATA";
        let (mut id, mut bytes) = (None, None);
        cbor::tmap(d, W, &["manifest_id", "bytes"], |d, i| {
            if i == 0 {
                id = Some(ManifestId::decode_field(d)?);
            } else {
                bytes = Some(cbor::byte_vec(d, MAX_ENVELOPE_PAYLOAD_BYTES, "manifest bytes")?);
            }
            Ok(())
        })?;
        Ok(ManifestData {
            manifest_id: id.ok_or_else(|| cbor::missing(W, "manifest_id"))?,
            bytes: bytes.ok_or_else(|| cbor::missing(W, "bytes"))?,
        })
    }
}

impl<C> Encode<C> for HaveContent {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(1)?.str("content_id")?;
        self.content_id.encode(e, ctx)
    }
}

impl<'b, C> Decode<'b, C> for HaveContent {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut id = None;
        cbor::tmap(d, "HAVE_CONTENT", &["content_id"], |d, _| {
            id = Some(ContentId::decode_field(d)?);
            Ok(())
        })?;
        Ok(HaveContent { content_id: id.ok_or_else(|| cbor::missing("HAVE_CONTENT", "content_id"))? })
    }
}

/// Decodes `{0: bstr(32) content_id, …}` maps, handing other keys to `f`.
fn content_imap<'b>(
    d: &mut Decoder<'b>,
    what: &'static str,
    mut f: impl FnMut(&mut Decoder<'b>, u64) -> Result<(), DecodeError>,
) -> Result<ContentId, DecodeError> {
    let mut id = None;
    cbor::imap(d, what, |d, k| {
        if k == 0 {
            id = Some(ContentId::decode_bstr(d)?);
            Ok(())
        } else {
            f(d, k)
        }
    })?;
    id.ok_or_else(|| cbor::missing(what, "0 (content_id)"))
}

impl<C> Encode<C> for GetChunk {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(2)?.u8(0)?;
        self.content_id.encode_bstr(e)?;
        e.u8(1)?.u32(self.chunk_index)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for GetChunk {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut index = None;
        let content_id = content_imap(d, "GET_CHUNK", |d, k| {
            if k == 1 {
                index = Some(cbor::u32(d)?);
            } else {
                cbor::skip(d)?;
            }
            Ok(())
        })?;
        Ok(GetChunk { content_id, chunk_index: index.ok_or_else(|| cbor::missing("GET_CHUNK", "1 (chunk_index)"))? })
    }
}

impl<C> Encode<C> for ChunkData {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(3)?.u8(0)?;
        self.content_id.encode_bstr(e)?;
        e.u8(1)?.u32(self.chunk_index)?;
        e.u8(2)?.bytes(&self.bytes)?;
        Ok(())
    }
}

impl ChunkData {
    /// The CHUNK_DATA payload up to the chunk bytes (`{0: content_id, 1: index, 2: bstr
    /// header}`): append exactly `len` bytes to get the whole payload, with no copy of the
    /// chunk through an intermediate buffer.
    pub fn payload_head(content_id: &ContentId, chunk_index: u32, len: usize) -> Vec<u8> {
        let mut buf = Vec::with_capacity(48 + len);
        let mut e = Encoder::new(&mut buf);
        (|| -> EncResult<&mut Vec<u8>> {
            e.map(3)?.u8(0)?;
            content_id.encode_bstr(&mut e)?;
            e.u8(1)?.u32(chunk_index)?;
            e.u8(2)?.bytes_len(len as u64)?;
            Ok(())
        })()
        .expect("encoding into a Vec cannot fail");
        buf
    }
}

/// Decodes CHUNK_DATA, returning where the chunk bytes sit in the decoder's input.
fn decode_chunk_data(d: &mut Decoder<'_>) -> Result<(ContentId, u32, std::ops::Range<usize>), DecodeError> {
    const W: &str = "CHUNK_DATA";
    let input = d.input();
    let (mut index, mut bytes) = (None, None);
    let content_id = content_imap(d, W, |d, k| {
        match k {
            1 => index = Some(cbor::u32(d)?),
            2 => {
                let b = cbor::bstr(d, CHUNK_SIZE, "chunk bytes")?;
                let start = b.as_ptr() as usize - input.as_ptr() as usize;
                bytes = Some(start..start + b.len());
            }
            _ => cbor::skip(d)?,
        }
        Ok(())
    })?;
    Ok((
        content_id,
        index.ok_or_else(|| cbor::missing(W, "1 (chunk_index)"))?,
        bytes.ok_or_else(|| cbor::missing(W, "2 (bytes)"))?,
    ))
}

impl<'b, C> Decode<'b, C> for ChunkData {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let input = d.input();
        let (content_id, chunk_index, r) = decode_chunk_data(d)?;
        Ok(ChunkData { content_id, chunk_index, bytes: Bytes::copy_from_slice(&input[r]) })
    }
}

impl Payload for ChunkData {
    const NAME: &'static str = "CHUNK_DATA";
    fn to_payload(&self) -> Vec<u8> {
        cbor::to_vec(self)
    }
    fn from_payload(bytes: &[u8]) -> Result<Self, ProtoError> {
        cbor::from_slice(bytes).map_err(ProtoError::decode("CHUNK_DATA"))
    }
    fn from_shared(bytes: &Bytes) -> Result<Self, ProtoError> {
        let (content_id, chunk_index, r) =
            decode_chunk_data(&mut Decoder::new(bytes)).map_err(ProtoError::decode("CHUNK_DATA"))?;
        Ok(ChunkData { content_id, chunk_index, bytes: bytes.slice(r) })
    }
}

impl<C> Encode<C> for GetChunkHashes {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(1)?.u8(0)?;
        self.content_id.encode_bstr(e)
    }
}

impl<'b, C> Decode<'b, C> for GetChunkHashes {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let content_id = content_imap(d, "GET_CHUNK_HASHES", |d, _| cbor::skip(d))?;
        Ok(GetChunkHashes { content_id })
    }
}

/// Encodes a list of hashes as an array of A32.
pub fn encode_hash_list<W: Write>(e: &mut Encoder<W>, hashes: &[Hash]) -> EncResult<W> {
    e.array(hashes.len() as u64)?;
    for h in hashes {
        cbor::write_int_array(e, h)?;
    }
    Ok(())
}

/// Decodes an array of 32-byte hashes (A32 or bstr each).
pub fn decode_hash_list(d: &mut Decoder<'_>, max: usize) -> Result<Vec<Hash>, DecodeError> {
    cbor::array(d, max, "chunk hashes", |d| cbor::fixed::<32>(d, "chunk hash"))
}

impl<C> Encode<C> for ChunkHashList {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(2)?.u8(0)?;
        self.content_id.encode_bstr(e)?;
        e.u8(1)?;
        encode_hash_list(e, &self.hashes)
    }
}

impl<'b, C> Decode<'b, C> for ChunkHashList {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut hashes = None;
        let content_id = content_imap(d, "CHUNK_HASH_LIST", |d, k| {
            if k == 1 {
                hashes = Some(decode_hash_list(d, MAX_CHUNK_HASHES_V1)?);
            } else {
                cbor::skip(d)?;
            }
            Ok(())
        })?;
        Ok(ChunkHashList { content_id, hashes: hashes.ok_or_else(|| cbor::missing("CHUNK_HASH_LIST", "1 (hashes)"))? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_head_plus_bytes_is_the_payload() {
        for len in [0usize, 1, 23, 24, 255, 256, 65_536, 262_144] {
            let d = ChunkData { content_id: ContentId([3; 32]), chunk_index: 70_000, bytes: vec![9u8; len].into() };
            let mut p = ChunkData::payload_head(&d.content_id, d.chunk_index, len);
            p.extend_from_slice(&d.bytes);
            assert_eq!(p, d.to_payload(), "{len}");
        }
    }
}
