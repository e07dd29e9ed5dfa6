//! ManifestV1, the signed catalog of a share revision (SCP2P-WIRE.md §7.1–7.3): its
//! transmitted form, its signing form, its ManifestId preimage and its verification.

use super::payload::cbor_payload;
use crate::cbor::{self, EncResult};
use crate::content::Hash;
use crate::error::ProtoError;
use crate::ids::{ContentId, ManifestId, PubKey, ShareId, Sig};
use crate::keys::{self, Keypair};
use crate::limits::{
    MAX_ID_LIST, MAX_MANIFEST_CHUNKS_V1, MAX_MANIFEST_ITEMS, MAX_MANIFEST_ITEMS_V1, MAX_TAGS_PER_ITEM, MAX_TEXT_BYTES,
};
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// Whether peers may list a share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Visibility {
    /// Never listed; reachable only by id or link.
    #[default]
    Private,
    /// Listed to LAN peers and to members of the share's communities.
    Public,
}

impl Visibility {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Public => "public",
        }
    }
}

/// One file in a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub content_id: ContentId,
    pub size: u64,
    pub name: String,
    /// Path inside the share, `/`-separated, omitted from the encoding when `None`.
    pub path: Option<String>,
    pub mime: Option<String>,
    pub tags: Vec<String>,
    pub chunk_count: u32,
    pub chunk_list_hash: Hash,
}

/// A share revision's catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub version: u8,
    pub share_pubkey: PubKey,
    pub share_id: ShareId,
    pub seq: u64,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Visibility,
    pub communities: Vec<ShareId>,
    pub items: Vec<Item>,
    pub recommended_shares: Vec<ShareId>,
    pub signature: Option<Sig>,
}

cbor_payload!(Manifest, "manifest");

/// How items are written: as text-keyed maps (transmitted form, ManifestId preimage) or as
/// positional 8-arrays (signing form).
#[derive(Clone, Copy)]
enum ItemForm {
    Map,
    Array,
}

fn encode_item<W: Write>(e: &mut Encoder<W>, it: &Item, form: ItemForm) -> EncResult<W> {
    match form {
        ItemForm::Map => {
            e.map(if it.path.is_some() { 8 } else { 7 })?;
            e.str("content_id")?;
            cbor::write_int_array(e, &it.content_id.0)?;
            e.str("size")?.u64(it.size)?;
            e.str("name")?.str(&it.name)?;
            if let Some(p) = &it.path {
                e.str("path")?.str(p)?;
            }
            e.str("mime")?;
            cbor::write_opt_str(e, it.mime.as_deref())?;
            e.str("tags")?;
            encode_tags(e, &it.tags)?;
            e.str("chunk_count")?.u32(it.chunk_count)?;
            e.str("chunk_list_hash")?;
            cbor::write_int_array(e, &it.chunk_list_hash)
        }
        ItemForm::Array => {
            e.array(8)?;
            cbor::write_int_array(e, &it.content_id.0)?;
            e.u64(it.size)?.str(&it.name)?;
            cbor::write_opt_str(e, it.path.as_deref())?;
            cbor::write_opt_str(e, it.mime.as_deref())?;
            encode_tags(e, &it.tags)?;
            e.u32(it.chunk_count)?;
            cbor::write_int_array(e, &it.chunk_list_hash)
        }
    }
}

fn encode_tags<W: Write>(e: &mut Encoder<W>, tags: &[String]) -> EncResult<W> {
    e.array(tags.len() as u64)?;
    for t in tags {
        e.str(t)?;
    }
    Ok(())
}

fn encode_ids<W: Write>(e: &mut Encoder<W>, ids: &[ShareId]) -> EncResult<W> {
    e.array(ids.len() as u64)?;
    for id in ids {
        cbor::write_int_array(e, &id.0)?;
    }
    Ok(())
}

fn decode_ids(d: &mut Decoder<'_>, what: &str) -> Result<Vec<ShareId>, DecodeError> {
    cbor::array(d, MAX_ID_LIST, what, ShareId::decode_field)
}

impl<C> Encode<C> for Item {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        encode_item(e, self, ItemForm::Map)
    }
}

impl<'b, C> Decode<'b, C> for Item {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "manifest item";
        let names = ["content_id", "size", "name", "path", "mime", "tags", "chunk_count", "chunk_list_hash"];
        let (mut id, mut size, mut name, mut path, mut mime, mut tags) = (None, None, None, None, None, None);
        let (mut count, mut list) = (0u32, [0u8; 32]);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => id = Some(ContentId::decode_field(d)?),
                1 => size = Some(cbor::u64(d)?),
                2 => name = Some(cbor::text(d, MAX_TEXT_BYTES, "item name")?),
                3 => path = cbor::opt_text(d, MAX_TEXT_BYTES, "item path")?,
                4 => mime = cbor::opt_text(d, MAX_TEXT_BYTES, "item mime")?,
                5 => tags = Some(cbor::array(d, MAX_TAGS_PER_ITEM, "tags", |d| cbor::text(d, MAX_TEXT_BYTES, "tag"))?),
                6 => count = cbor::u32(d)?,
                _ => list = cbor::fixed::<32>(d, "chunk_list_hash")?,
            }
            Ok(())
        })?;
        Ok(Item {
            content_id: id.ok_or_else(|| cbor::missing(W, names[0]))?,
            size: size.ok_or_else(|| cbor::missing(W, names[1]))?,
            name: name.ok_or_else(|| cbor::missing(W, names[2]))?,
            path,
            mime,
            tags: tags.ok_or_else(|| cbor::missing(W, names[5]))?,
            chunk_count: count,
            chunk_list_hash: list,
        })
    }
}

impl Manifest {
    /// Writes the 12 signed fields (everything but the signature) with items in `form`.
    fn encode_fields<W: Write>(&self, e: &mut Encoder<W>, form: ItemForm) -> EncResult<W> {
        e.u8(self.version)?;
        cbor::write_int_array(e, &self.share_pubkey.0)?;
        cbor::write_int_array(e, &self.share_id.0)?;
        e.u64(self.seq)?.u64(self.created_at)?;
        cbor::write_opt_u64(e, self.expires_at)?;
        cbor::write_opt_str(e, self.title.as_deref())?;
        cbor::write_opt_str(e, self.description.as_deref())?;
        e.str(self.visibility.as_str())?;
        encode_ids(e, &self.communities)?;
        e.array(self.items.len() as u64)?;
        for it in &self.items {
            encode_item(e, it, form)?;
        }
        encode_ids(e, &self.recommended_shares)
    }

    /// The bytes the share key signs (§7.2): a 12-array with items as 8-arrays.
    pub fn signing_bytes(&self) -> Vec<u8> {
        cbor::build(|e| {
            e.array(12)?;
            self.encode_fields(e, ItemForm::Array)
        })
    }

    /// The ManifestId preimage (§7.3): a 13-array with items as maps and the signature as
    /// an array of integers (or null).
    pub fn id_preimage(&self) -> Vec<u8> {
        cbor::build(|e| {
            e.array(13)?;
            self.encode_fields(e, ItemForm::Map)?;
            cbor::write_opt_int_array(e, self.signature.as_ref().map(|s| &s[..]))
        })
    }

    /// The ManifestId.
    pub fn manifest_id(&self) -> ManifestId {
        ManifestId(blake3::hash(&self.id_preimage()).into())
    }

    /// Signs the manifest with the share key (which must match `share_pubkey`).
    pub fn sign(&mut self, share: &Keypair) {
        debug_assert_eq!(share.public(), self.share_pubkey);
        self.signature = Some(share.sign(&self.signing_bytes()));
    }

    /// Verifies the manifest at time `now` (§7.2): expiry, key/id binding and signature.
    pub fn verify_at(&self, now: u64) -> Result<(), ProtoError> {
        let what = || format!("manifest of share {} seq {}", self.share_id.short(), self.seq);
        if let Some(exp) = self.expires_at {
            if exp <= self.created_at {
                return Err(ProtoError::Invalid(format!("{}: expires_at is not after created_at", what())));
            }
            if now > exp {
                return Err(ProtoError::Invalid(format!("{}: expired at {exp}", what())));
            }
        }
        let sig = self.signature.ok_or_else(|| ProtoError::Signature(format!("{}: not signed", what())))?;
        if self.share_pubkey.share_id() != self.share_id {
            return Err(ProtoError::Signature(format!("{}: share_pubkey does not hash to share_id", what())));
        }
        keys::verify(&self.share_pubkey, &self.signing_bytes(), &sig, &what())
    }

    /// Checks the v1 publish/fetch limits: at most 3,000 items and 100,000 chunks in total.
    pub fn check_v1_limits(&self) -> Result<(), ProtoError> {
        if self.items.len() > MAX_MANIFEST_ITEMS_V1 {
            return Err(ProtoError::Invalid(format!(
                "manifest has {} items; SCP2P v1 allows {MAX_MANIFEST_ITEMS_V1}",
                self.items.len()
            )));
        }
        let chunks: u64 = self.items.iter().map(|i| i.chunk_count as u64).sum();
        if chunks > MAX_MANIFEST_CHUNKS_V1 {
            return Err(ProtoError::Invalid(format!(
                "manifest has {chunks} chunks in total; SCP2P v1 allows {MAX_MANIFEST_CHUNKS_V1}"
            )));
        }
        Ok(())
    }

    /// Decodes the transmitted form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, ProtoError> {
        cbor::from_slice(bytes).map_err(ProtoError::decode("manifest"))
    }

    /// Encodes the transmitted form.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::to_vec(self)
    }
}

const NAMES: [&str; 13] = [
    "version",
    "share_pubkey",
    "share_id",
    "seq",
    "created_at",
    "expires_at",
    "title",
    "description",
    "visibility",
    "communities",
    "items",
    "recommended_shares",
    "signature",
];

impl<C> Encode<C> for Manifest {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(13)?;
        e.str(NAMES[0])?.u8(self.version)?;
        e.str(NAMES[1])?;
        cbor::write_int_array(e, &self.share_pubkey.0)?;
        e.str(NAMES[2])?;
        cbor::write_int_array(e, &self.share_id.0)?;
        e.str(NAMES[3])?.u64(self.seq)?;
        e.str(NAMES[4])?.u64(self.created_at)?;
        e.str(NAMES[5])?;
        cbor::write_opt_u64(e, self.expires_at)?;
        e.str(NAMES[6])?;
        cbor::write_opt_str(e, self.title.as_deref())?;
        e.str(NAMES[7])?;
        cbor::write_opt_str(e, self.description.as_deref())?;
        e.str(NAMES[8])?.str(self.visibility.as_str())?;
        e.str(NAMES[9])?;
        encode_ids(e, &self.communities)?;
        e.str(NAMES[10])?.array(self.items.len() as u64)?;
        for it in &self.items {
            encode_item(e, it, ItemForm::Map)?;
        }
        e.str(NAMES[11])?;
        encode_ids(e, &self.recommended_shares)?;
        e.str(NAMES[12])?;
        match &self.signature {
            Some(s) => e.bytes(s)?,
            None => e.null()?,
        };
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for Manifest {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "manifest";
        let (mut version, mut pk, mut id, mut seq, mut created) = (None, None, None, None, None);
        let (mut expires, mut title, mut desc, mut vis) = (None, None, None, Visibility::Private);
        let (mut communities, mut items, mut recommended, mut sig) = (Vec::new(), None, None, None);
        cbor::tmap(d, W, &NAMES, |d, i| {
            match i {
                0 => version = Some(cbor::u8(d)?),
                1 => pk = Some(PubKey::decode_field(d)?),
                2 => id = Some(ShareId::decode_field(d)?),
                3 => seq = Some(cbor::u64(d)?),
                4 => created = Some(cbor::u64(d)?),
                5 => expires = cbor::opt_u64(d)?,
                6 => title = cbor::opt_text(d, MAX_TEXT_BYTES, "title")?,
                7 => desc = cbor::opt_text(d, MAX_TEXT_BYTES, "description")?,
                8 => {
                    vis = match cbor::text(d, 16, "visibility")?.as_str() {
                        "private" => Visibility::Private,
                        "public" => Visibility::Public,
                        other => return Err(cbor::err(format_args!("unknown visibility '{other}'"))),
                    }
                }
                9 => communities = decode_ids(d, "communities")?,
                10 => items = Some(cbor::array(d, MAX_MANIFEST_ITEMS, "items", |d| d.decode())?),
                11 => recommended = Some(decode_ids(d, "recommended_shares")?),
                _ => sig = cbor::opt_fixed::<64>(d, "signature")?,
            }
            Ok(())
        })?;
        Ok(Manifest {
            version: version.ok_or_else(|| cbor::missing(W, "version"))?,
            share_pubkey: pk.ok_or_else(|| cbor::missing(W, "share_pubkey"))?,
            share_id: id.ok_or_else(|| cbor::missing(W, "share_id"))?,
            seq: seq.ok_or_else(|| cbor::missing(W, "seq"))?,
            created_at: created.ok_or_else(|| cbor::missing(W, "created_at"))?,
            expires_at: expires,
            title,
            description: desc,
            visibility: vis,
            communities,
            items: items.ok_or_else(|| cbor::missing(W, "items"))?,
            recommended_shares: recommended.ok_or_else(|| cbor::missing(W, "recommended_shares"))?,
            signature: sig,
        })
    }
}
