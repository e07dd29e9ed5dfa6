//! ShareHead (SCP2P-WIRE.md §7.4): the signed pointer to a share's newest manifest, stored
//! at the share head key. trove adds the share public key under the extension key
//! `share_pubkey` (docs/PROTOCOL.md) so storage nodes can verify heads; v1 decoders ignore it
//! and the signature does not cover it (the key is self-certifying: it must hash to the id).

use super::payload::cbor_payload;
use crate::cbor::{self, EncResult};
use crate::error::ProtoError;
use crate::ids::{ManifestId, PubKey, ShareId, Sig};
use crate::keys::{self, Keypair};
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};
use std::cmp::Ordering;

/// A signed share head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareHead {
    pub share_id: ShareId,
    pub latest_seq: u64,
    pub latest_manifest_id: ManifestId,
    pub updated_at: u64,
    pub sig: Sig,
    /// Extension: the share public key (absent in v1 heads).
    pub share_pubkey: Option<PubKey>,
}

cbor_payload!(ShareHead, "share head");

impl ShareHead {
    /// Signed bytes: [share_id, latest_seq, latest_manifest_id, updated_at].
    pub fn signing_bytes(&self) -> Vec<u8> {
        cbor::build(|e| {
            e.array(4)?;
            cbor::write_int_array(e, &self.share_id.0)?;
            e.u64(self.latest_seq)?;
            cbor::write_int_array(e, &self.latest_manifest_id.0)?;
            e.u64(self.updated_at)?;
            Ok(())
        })
    }

    /// Builds and signs a head; the extension key carries the share public key.
    pub fn sign(share: &Keypair, latest_seq: u64, latest_manifest_id: ManifestId, updated_at: u64) -> Self {
        let mut h = ShareHead {
            share_id: share.share_id(),
            latest_seq,
            latest_manifest_id,
            updated_at,
            sig: [0; 64],
            share_pubkey: Some(share.public()),
        };
        h.sig = share.sign(&h.signing_bytes());
        h
    }

    /// Verifies the head with the share's public key (which must hash to `share_id`).
    pub fn verify(&self, share_pubkey: &PubKey) -> Result<(), ProtoError> {
        if share_pubkey.share_id() != self.share_id {
            return Err(ProtoError::Signature(format!(
                "head of share {}: public key {} belongs to another share",
                self.share_id.short(),
                share_pubkey.short()
            )));
        }
        keys::verify(
            share_pubkey,
            &self.signing_bytes(),
            &self.sig,
            &format!("head of share {} seq {}", self.share_id.short(), self.latest_seq),
        )
    }

    /// Verifies with the embedded extension key when present; `Ok(false)` when the head
    /// carries no key and cannot be checked on its own.
    pub fn verify_self(&self) -> Result<bool, ProtoError> {
        match &self.share_pubkey {
            Some(k) => self.verify(k).map(|_| true),
            None => Ok(false),
        }
    }

    /// Freshness order: higher seq wins, then later `updated_at`.
    pub fn freshness(&self, other: &ShareHead) -> Ordering {
        (self.latest_seq, self.updated_at).cmp(&(other.latest_seq, other.updated_at))
    }

    /// The same head without the extension key (what a v1 node stores).
    pub fn without_extension(&self) -> ShareHead {
        ShareHead { share_pubkey: None, ..self.clone() }
    }
}

impl<C> Encode<C> for ShareHead {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(if self.share_pubkey.is_some() { 6 } else { 5 })?;
        e.str("share_id")?;
        self.share_id.encode(e, ctx)?;
        e.str("latest_seq")?.u64(self.latest_seq)?;
        e.str("latest_manifest_id")?;
        self.latest_manifest_id.encode(e, ctx)?;
        e.str("updated_at")?.u64(self.updated_at)?;
        e.str("sig")?;
        cbor::write_int_array(e, &self.sig)?;
        if let Some(k) = &self.share_pubkey {
            e.str("share_pubkey")?;
            k.encode(e, ctx)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for ShareHead {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "share head";
        let names = ["share_id", "latest_seq", "latest_manifest_id", "updated_at", "sig", "share_pubkey"];
        let (mut id, mut seq, mut mid, mut upd, mut sig, mut pk) = (None, None, None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => id = Some(ShareId::decode_field(d)?),
                1 => seq = Some(cbor::u64(d)?),
                2 => mid = Some(ManifestId::decode_field(d)?),
                3 => upd = Some(cbor::u64(d)?),
                4 => sig = Some(cbor::fixed::<64>(d, "sig")?),
                _ => pk = cbor::opt_fixed::<32>(d, "share_pubkey")?.map(PubKey),
            }
            Ok(())
        })?;
        Ok(ShareHead {
            share_id: id.ok_or_else(|| cbor::missing(W, names[0]))?,
            latest_seq: seq.ok_or_else(|| cbor::missing(W, names[1]))?,
            latest_manifest_id: mid.ok_or_else(|| cbor::missing(W, names[2]))?,
            updated_at: upd.ok_or_else(|| cbor::missing(W, names[3]))?,
            sig: sig.ok_or_else(|| cbor::missing(W, names[4]))?,
            share_pubkey: pk,
        })
    }
}
