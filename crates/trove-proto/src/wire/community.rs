//! Communities (SCP2P-WIRE.md §4.2, §7.7): status and listing requests, the CommunityMembers
//! DHT value with its merge rule, and signed membership tokens.

use super::listing::{PublicShareSummary, decode_summaries, encode_summaries};
use super::payload::{cbor_payload, request};
use super::peer_addr::{PeerAddr, decode_peer_list, encode_peer_list};
use crate::cbor::{self, EncResult};
use crate::error::ProtoError;
use crate::ids::{PubKey, ShareId, Sig};
use crate::keys::{self, Keypair};
use crate::limits::{HANDSHAKE_MAX_BYTES, MAX_TEXT_BYTES};
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// GET_COMMUNITY_STATUS (404).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetCommunityStatus {
    pub community_share_id: ShareId,
    pub community_share_pubkey: PubKey,
}

/// COMMUNITY_STATUS (405).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityStatus {
    pub community_share_id: ShareId,
    pub joined: bool,
    /// CBOR of a [`CommunityMembershipToken`].
    pub membership_proof: Option<Vec<u8>>,
    /// Omitted from the encoding when `None`.
    pub name: Option<String>,
}

/// LIST_COMMUNITY_PUBLIC_SHARES (406).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListCommunityPublicShares {
    pub community_share_id: ShareId,
    pub community_share_pubkey: PubKey,
    pub max_entries: u16,
    /// Omitted when `None`.
    pub requester_node_pubkey: Option<PubKey>,
    /// CBOR of a token, encoded as an array of integers; omitted when `None`.
    pub requester_membership_proof: Option<Vec<u8>>,
}

/// COMMUNITY_PUBLIC_SHARE_LIST (407).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityPublicShareList {
    pub community_share_id: ShareId,
    pub shares: Vec<PublicShareSummary>,
}

/// DHT value at the community info key: the members that announced themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityMembers {
    pub community_share_id: ShareId,
    pub members: Vec<PeerAddr>,
    pub updated_at: u64,
}

/// A membership token signed by the community key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityMembershipToken {
    pub community_share_id: ShareId,
    pub member_node_pubkey: PubKey,
    pub issued_at: u64,
    pub expires_at: u64,
    pub signature: Sig,
}

cbor_payload!(GetCommunityStatus, "GET_COMMUNITY_STATUS");
cbor_payload!(CommunityStatus, "COMMUNITY_STATUS");
cbor_payload!(ListCommunityPublicShares, "LIST_COMMUNITY_PUBLIC_SHARES");
cbor_payload!(CommunityPublicShareList, "COMMUNITY_PUBLIC_SHARE_LIST");
cbor_payload!(CommunityMembers, "CommunityMembers");
cbor_payload!(CommunityMembershipToken, "membership token");
request!(GetCommunityStatus, GET_COMMUNITY_STATUS => COMMUNITY_STATUS, CommunityStatus);
request!(ListCommunityPublicShares, LIST_COMMUNITY_PUBLIC_SHARES => COMMUNITY_PUBLIC_SHARE_LIST, CommunityPublicShareList);

/// Checks that a community id is the hash of its public key.
pub fn check_community_key(id: &ShareId, pubkey: &PubKey) -> Result<(), ProtoError> {
    if pubkey.share_id() != *id {
        return Err(ProtoError::Invalid(format!(
            "community share_id {} does not match share_pubkey {}",
            id.short(),
            pubkey.short()
        )));
    }
    Ok(())
}

impl<C> Encode<C> for GetCommunityStatus {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(2)?.str("community_share_id")?;
        self.community_share_id.encode(e, ctx)?;
        e.str("community_share_pubkey")?;
        self.community_share_pubkey.encode(e, ctx)
    }
}

impl<'b, C> Decode<'b, C> for GetCommunityStatus {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "GET_COMMUNITY_STATUS";
        let (mut id, mut pk) = (None, None);
        cbor::tmap(d, W, &["community_share_id", "community_share_pubkey"], |d, i| {
            if i == 0 {
                id = Some(ShareId::decode_field(d)?);
            } else {
                pk = Some(PubKey::decode_field(d)?);
            }
            Ok(())
        })?;
        Ok(GetCommunityStatus {
            community_share_id: id.ok_or_else(|| cbor::missing(W, "community_share_id"))?,
            community_share_pubkey: pk.ok_or_else(|| cbor::missing(W, "community_share_pubkey"))?,
        })
    }
}

impl<C> Encode<C> for CommunityStatus {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(if self.name.is_some() { 4 } else { 3 })?;
        e.str("community_share_id")?;
        self.community_share_id.encode(e, ctx)?;
        e.str("joined")?.bool(self.joined)?;
        e.str("membership_proof")?;
        match &self.membership_proof {
            Some(p) => e.bytes(p)?,
            None => e.null()?,
        };
        if let Some(n) = &self.name {
            e.str("name")?.str(n)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for CommunityStatus {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "COMMUNITY_STATUS";
        let (mut id, mut joined, mut proof, mut name) = (None, None, None, None);
        cbor::tmap(d, W, &["community_share_id", "joined", "membership_proof", "name"], |d, i| {
            match i {
                0 => id = Some(ShareId::decode_field(d)?),
                1 => joined = Some(cbor::bool(d)?),
                2 => {
                    proof = if cbor::take_null(d)? {
                        None
                    } else {
                        Some(cbor::byte_vec(d, HANDSHAKE_MAX_BYTES, "membership_proof")?)
                    }
                }
                _ => name = cbor::opt_text(d, MAX_TEXT_BYTES, "name")?,
            }
            Ok(())
        })?;
        Ok(CommunityStatus {
            community_share_id: id.ok_or_else(|| cbor::missing(W, "community_share_id"))?,
            joined: joined.ok_or_else(|| cbor::missing(W, "joined"))?,
            membership_proof: proof,
            name,
        })
    }
}

impl<C> Encode<C> for ListCommunityPublicShares {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        let n = 3 + self.requester_node_pubkey.is_some() as u64 + self.requester_membership_proof.is_some() as u64;
        e.map(n)?.str("community_share_id")?;
        self.community_share_id.encode(e, ctx)?;
        e.str("community_share_pubkey")?;
        self.community_share_pubkey.encode(e, ctx)?;
        e.str("max_entries")?.u16(self.max_entries)?;
        if let Some(k) = &self.requester_node_pubkey {
            e.str("requester_node_pubkey")?;
            k.encode(e, ctx)?;
        }
        if let Some(p) = &self.requester_membership_proof {
            e.str("requester_membership_proof")?;
            cbor::write_int_array(e, p)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for ListCommunityPublicShares {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "LIST_COMMUNITY_PUBLIC_SHARES";
        let names = [
            "community_share_id",
            "community_share_pubkey",
            "max_entries",
            "requester_node_pubkey",
            "requester_membership_proof",
        ];
        let (mut id, mut pk, mut max, mut req, mut proof) = (None, None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => id = Some(ShareId::decode_field(d)?),
                1 => pk = Some(PubKey::decode_field(d)?),
                2 => max = Some(cbor::u16(d)?),
                3 => req = cbor::opt_fixed::<32>(d, "requester_node_pubkey")?.map(PubKey),
                _ => {
                    proof = if cbor::take_null(d)? {
                        None
                    } else {
                        Some(cbor::byte_vec(d, HANDSHAKE_MAX_BYTES, "requester_membership_proof")?)
                    }
                }
            }
            Ok(())
        })?;
        Ok(ListCommunityPublicShares {
            community_share_id: id.ok_or_else(|| cbor::missing(W, names[0]))?,
            community_share_pubkey: pk.ok_or_else(|| cbor::missing(W, names[1]))?,
            max_entries: max.ok_or_else(|| cbor::missing(W, names[2]))?,
            requester_node_pubkey: req,
            requester_membership_proof: proof,
        })
    }
}

impl<C> Encode<C> for CommunityPublicShareList {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(2)?.str("community_share_id")?;
        self.community_share_id.encode(e, ctx)?;
        e.str("shares")?;
        encode_summaries(e, &self.shares)
    }
}

impl<'b, C> Decode<'b, C> for CommunityPublicShareList {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "COMMUNITY_PUBLIC_SHARE_LIST";
        let (mut id, mut shares) = (None, None);
        cbor::tmap(d, W, &["community_share_id", "shares"], |d, i| {
            if i == 0 {
                id = Some(ShareId::decode_field(d)?);
            } else {
                shares = Some(decode_summaries(d)?);
            }
            Ok(())
        })?;
        Ok(CommunityPublicShareList {
            community_share_id: id.ok_or_else(|| cbor::missing(W, "community_share_id"))?,
            shares: shares.ok_or_else(|| cbor::missing(W, "shares"))?,
        })
    }
}

impl CommunityMembers {
    /// The v1 merge rule on STORE: members not already present (whole-struct equality) are
    /// appended, `updated_at` becomes the larger of the two.
    pub fn merge(&mut self, other: &CommunityMembers) {
        for m in &other.members {
            if !self.members.contains(m) {
                self.members.push(m.clone());
            }
        }
        self.updated_at = self.updated_at.max(other.updated_at);
    }
}

impl<C> Encode<C> for CommunityMembers {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(3)?.str("community_share_id")?;
        self.community_share_id.encode(e, ctx)?;
        e.str("members")?;
        encode_peer_list(e, &self.members)?;
        e.str("updated_at")?.u64(self.updated_at)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for CommunityMembers {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "CommunityMembers";
        let (mut id, mut members, mut updated) = (None, None, None);
        cbor::tmap(d, W, &["community_share_id", "members", "updated_at"], |d, i| {
            match i {
                0 => id = Some(ShareId::decode_field(d)?),
                1 => members = Some(decode_peer_list(d, "members")?),
                _ => updated = Some(cbor::u64(d)?),
            }
            Ok(())
        })?;
        Ok(CommunityMembers {
            community_share_id: id.ok_or_else(|| cbor::missing(W, "community_share_id"))?,
            members: members.ok_or_else(|| cbor::missing(W, "members"))?,
            updated_at: updated.ok_or_else(|| cbor::missing(W, "updated_at"))?,
        })
    }
}

impl CommunityMembershipToken {
    /// Bytes the community key signs: [community_share_id, member_node_pubkey, issued_at,
    /// expires_at].
    pub fn signing_bytes(&self) -> Vec<u8> {
        cbor::build(|e| {
            e.array(4)?;
            cbor::write_int_array(e, &self.community_share_id.0)?;
            cbor::write_int_array(e, &self.member_node_pubkey.0)?;
            e.u64(self.issued_at)?.u64(self.expires_at)?;
            Ok(())
        })
    }

    /// Issues a token for `member`, signed by the community key.
    pub fn issue(community: &Keypair, member: PubKey, issued_at: u64, expires_at: u64) -> Self {
        let mut t = CommunityMembershipToken {
            community_share_id: community.share_id(),
            member_node_pubkey: member,
            issued_at,
            expires_at,
            signature: [0; 64],
        };
        t.signature = community.sign(&t.signing_bytes());
        t
    }

    /// Verifies the token against the community key, at time `now` if given.
    pub fn verify(&self, community_pubkey: &PubKey, now: Option<u64>) -> Result<(), ProtoError> {
        check_community_key(&self.community_share_id, community_pubkey)?;
        if let Some(now) = now
            && now > self.expires_at
        {
            return Err(ProtoError::Invalid(format!(
                "membership token for community {} expired at {}",
                self.community_share_id.short(),
                self.expires_at
            )));
        }
        keys::verify(community_pubkey, &self.signing_bytes(), &self.signature, "membership token")
    }
}

impl<C> Encode<C> for CommunityMembershipToken {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, ctx: &mut C) -> EncResult<W> {
        e.map(5)?.str("community_share_id")?;
        self.community_share_id.encode(e, ctx)?;
        e.str("member_node_pubkey")?;
        self.member_node_pubkey.encode(e, ctx)?;
        e.str("issued_at")?.u64(self.issued_at)?;
        e.str("expires_at")?.u64(self.expires_at)?;
        e.str("signature")?.bytes(&self.signature)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for CommunityMembershipToken {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "membership token";
        let names = ["community_share_id", "member_node_pubkey", "issued_at", "expires_at", "signature"];
        let (mut id, mut member, mut issued, mut expires, mut sig) = (None, None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => id = Some(ShareId::decode_field(d)?),
                1 => member = Some(PubKey::decode_field(d)?),
                2 => issued = Some(cbor::u64(d)?),
                3 => expires = Some(cbor::u64(d)?),
                _ => sig = Some(cbor::fixed::<64>(d, "signature")?),
            }
            Ok(())
        })?;
        Ok(CommunityMembershipToken {
            community_share_id: id.ok_or_else(|| cbor::missing(W, names[0]))?,
            member_node_pubkey: member.ok_or_else(|| cbor::missing(W, names[1]))?,
            issued_at: issued.ok_or_else(|| cbor::missing(W, names[2]))?,
            expires_at: expires.ok_or_else(|| cbor::missing(W, names[3]))?,
            signature: sig.ok_or_else(|| cbor::missing(W, names[4]))?,
        })
    }
}
