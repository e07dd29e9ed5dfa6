//! trove's community extension (`community`, docs/PROTOCOL.md §6): signed per-member and
//! per-share records with sequence numbers and tombstones, paged record streams with opaque
//! tamper-checked cursors, and pushes of fresh records. Sent only to peers that announced the
//! feature on a bound session; v1 members keep using CommunityMembers, GET_COMMUNITY_STATUS
//! and LIST_COMMUNITY_PUBLIC_SHARES (SCP2P-WIRE.md §4.2, §7.7).
//!
//! - A [`MemberRecord`] is signed by the member's node key: "node K is (or, with `left`, is
//!   no longer) a member of community C, reachable at these addresses", optionally with the
//!   membership token the community key issued to K.
//! - A [`ShareRecord`] is signed by the share key: "revision `seq` of this public share is
//!   bound to community C" (or, with `withdrawn`, no longer listed there).
//! - A record replaces an older one about the same subject (member key or share id) when its
//!   `(seq, stamp)` is higher; tombstones are records too, so they travel the same way.
//! - [`GetCommunityRecords`] reads a server's record stream in change order from a cursor;
//!   the last cursor of a full read is where the next incremental read starts.

use super::community::CommunityMembershipToken;
use super::payload::{cbor_payload, request};
use super::peer_addr::PeerAddr;
use crate::cbor::{self, EncResult};
use crate::error::ProtoError;
use crate::ids::{ManifestId, PubKey, ShareId, Sig};
use crate::keys::{self, Keypair};
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// Most addresses in one member record.
pub const MAX_RECORD_ADDRS: usize = 8;
/// Largest membership token carried in a record or request (CBOR bytes).
pub const MAX_TOKEN_BYTES: usize = 1024;
/// Longest share title in a share record (bytes of UTF-8).
pub const MAX_RECORD_TITLE: usize = 1024;
/// Longest share description in a share record (bytes of UTF-8).
pub const MAX_RECORD_DESCRIPTION: usize = 4096;
/// Longest validity of a record (`expires_at − stamp`).
pub const MAX_RECORD_LIFETIME_SECS: u64 = 8 * 86_400;
/// How far in the future a record's stamp may be.
pub const MAX_RECORD_FUTURE_SECS: u64 = 86_400;
/// Most records of one kind in a page or a push.
pub const MAX_PAGE_RECORDS: usize = 2048;
/// Longest cursor accepted.
pub const MAX_CURSOR_BYTES: usize = 64;
/// Record kinds: members.
pub const KIND_MEMBERS: u8 = 1;
/// Record kinds: shares.
pub const KIND_SHARES: u8 = 2;
/// Record kinds: both.
pub const KIND_ALL: u8 = KIND_MEMBERS | KIND_SHARES;

const MEMBER_DOMAIN: &str = "trove/community-member/v1";
const SHARE_DOMAIN: &str = "trove/community-share/v1";
const CURSOR_DOMAIN: &[u8] = b"trove/community-cursor/v1";

/// "Node `member` is a member of `community`" (or, with `left`, no longer is), signed by
/// the member's node key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub community: ShareId,
    pub member: PubKey,
    pub seq: u64,
    pub issued_at: u64,
    pub expires_at: u64,
    /// Tombstone: the member left.
    pub left: bool,
    /// Where the member listens (hints; empty in tombstones).
    pub addrs: Vec<PeerAddr>,
    /// CBOR of the [`CommunityMembershipToken`] the community key issued to `member`.
    pub token: Option<Vec<u8>>,
    pub sig: Sig,
}

/// "Revision `seq` of the public share with key `share_pubkey` is listed in `community`"
/// (or, with `withdrawn`, no longer is), signed by the share key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRecord {
    pub community: ShareId,
    pub share_pubkey: PubKey,
    /// The manifest seq the record describes.
    pub seq: u64,
    pub manifest_id: ManifestId,
    pub updated_at: u64,
    pub expires_at: u64,
    /// Tombstone: the share is private again, no longer bound to the community, or its
    /// publisher left.
    pub withdrawn: bool,
    pub title: Option<String>,
    pub description: Option<String>,
    /// The node key of the node that publishes and serves the share.
    pub publisher: Option<PubKey>,
    pub sig: Sig,
}

/// GET_COMMUNITY_RECORDS (4030): the next records of `kinds` after `cursor` (from the start
/// when `None`), at most `limit` of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetCommunityRecords {
    pub community: ShareId,
    pub community_pubkey: PubKey,
    /// Bit set: [`KIND_MEMBERS`], [`KIND_SHARES`].
    pub kinds: u8,
    pub cursor: Option<Vec<u8>>,
    pub limit: u32,
    /// The requester's membership token (strict communities).
    pub token: Option<Vec<u8>>,
}

/// COMMUNITY_RECORDS (4031): records in change order. `next` continues the stream; when
/// `more` is false it is where the next incremental read starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityRecords {
    pub community: ShareId,
    pub members: Vec<MemberRecord>,
    pub shares: Vec<ShareRecord>,
    pub next: Vec<u8>,
    pub more: bool,
}

/// PUT_COMMUNITY_RECORDS (4032): records the sender thinks the receiver lacks (its own
/// after a change, tombstones when leaving).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutCommunityRecords {
    pub community: ShareId,
    pub community_pubkey: PubKey,
    pub members: Vec<MemberRecord>,
    pub shares: Vec<ShareRecord>,
    pub token: Option<Vec<u8>>,
}

/// COMMUNITY_RECORDS_ACCEPTED (4033): how many records were new and valid, how many were
/// refused (invalid, not newer, over a cap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommunityRecordsAccepted {
    pub accepted: u32,
    pub rejected: u32,
}

cbor_payload!(MemberRecord, "community member record");
cbor_payload!(ShareRecord, "community share record");
cbor_payload!(GetCommunityRecords, "GET_COMMUNITY_RECORDS");
cbor_payload!(CommunityRecords, "COMMUNITY_RECORDS");
cbor_payload!(PutCommunityRecords, "PUT_COMMUNITY_RECORDS");
cbor_payload!(CommunityRecordsAccepted, "COMMUNITY_RECORDS_ACCEPTED");
request!(GetCommunityRecords, GET_COMMUNITY_RECORDS => COMMUNITY_RECORDS, CommunityRecords);
request!(PutCommunityRecords, PUT_COMMUNITY_RECORDS => COMMUNITY_RECORDS_ACCEPTED, CommunityRecordsAccepted);

fn invalid(msg: String) -> ProtoError {
    ProtoError::Invalid(msg)
}

/// Checks the time rules shared by both record kinds.
fn check_times(what: &str, stamp: u64, expires_at: u64, now: Option<u64>) -> Result<(), ProtoError> {
    if expires_at <= stamp || expires_at - stamp > MAX_RECORD_LIFETIME_SECS {
        return Err(invalid(format!(
            "{what}: valid from {stamp} to {expires_at}; a record lives at most {MAX_RECORD_LIFETIME_SECS} s"
        )));
    }
    if let Some(now) = now {
        if now > expires_at {
            return Err(invalid(format!("{what}: expired at {expires_at}")));
        }
        if stamp > now.saturating_add(MAX_RECORD_FUTURE_SECS) {
            return Err(invalid(format!("{what}: stamped {stamp}, too far in the future")));
        }
    }
    Ok(())
}

fn write_opt_bytes<W: Write>(e: &mut Encoder<W>, b: Option<&[u8]>) -> EncResult<W> {
    match b {
        Some(b) => e.bytes(b)?,
        None => e.null()?,
    };
    Ok(())
}

fn opt_bytes(d: &mut Decoder<'_>, max: usize, what: &str) -> Result<Option<Vec<u8>>, DecodeError> {
    if cbor::take_null(d)? {
        return Ok(None);
    }
    Ok(Some(cbor::bstr(d, max, what)?.to_vec()))
}

impl MemberRecord {
    /// Signed bytes: the CBOR array ["trove/community-member/v1", community, member, seq,
    /// issued_at, expires_at, left, addrs, token] (ids and token as byte strings, token null
    /// when absent).
    pub fn signing_bytes(&self) -> Vec<u8> {
        cbor::build(|e| {
            e.array(9)?.str(MEMBER_DOMAIN)?;
            e.bytes(&self.community.0)?.bytes(&self.member.0)?;
            e.u64(self.seq)?.u64(self.issued_at)?.u64(self.expires_at)?.bool(self.left)?;
            e.array(self.addrs.len() as u64)?;
            for a in &self.addrs {
                e.encode(a)?;
            }
            write_opt_bytes(e, self.token.as_deref())
        })
    }

    /// Builds and signs a record with the member's node key.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        node: &Keypair,
        community: ShareId,
        seq: u64,
        issued_at: u64,
        expires_at: u64,
        left: bool,
        addrs: Vec<PeerAddr>,
        token: Option<Vec<u8>>,
    ) -> Self {
        let mut r = MemberRecord {
            community,
            member: node.public(),
            seq,
            issued_at,
            expires_at,
            left,
            addrs,
            token,
            sig: [0; 64],
        };
        r.sig = node.sign(&r.signing_bytes());
        r
    }

    /// Verifies the signature and the time rules (at `now`, if given).
    pub fn verify(&self, now: Option<u64>) -> Result<(), ProtoError> {
        let what = format!("member record of {} in community {}", self.member.short(), self.community.short());
        check_times(&what, self.issued_at, self.expires_at, now)?;
        keys::verify(&self.member, &self.signing_bytes(), &self.sig, &what)
    }

    /// The record's membership token, verified: issued by the community key to this member,
    /// for this community, unexpired at `now`.
    pub fn verified_token(&self, community_pubkey: &PubKey, now: u64) -> Result<CommunityMembershipToken, ProtoError> {
        let bytes = self.token.as_deref().ok_or_else(|| {
            invalid(format!(
                "member {} carries no membership token for community {}",
                self.member.short(),
                self.community.short()
            ))
        })?;
        check_token(bytes, community_pubkey, &self.community, &self.member, now)
    }

    /// Whether this record replaces `other` (same subject): higher (seq, issued_at).
    pub fn supersedes(&self, other: &MemberRecord) -> bool {
        (self.seq, self.issued_at) > (other.seq, other.issued_at)
    }
}

/// Decodes a membership token and checks it names `community` and `member`, is signed by
/// the community key and is unexpired at `now`.
pub fn check_token(
    bytes: &[u8],
    community_pubkey: &PubKey,
    community: &ShareId,
    member: &PubKey,
    now: u64,
) -> Result<CommunityMembershipToken, ProtoError> {
    let t: CommunityMembershipToken = cbor::from_slice(bytes).map_err(ProtoError::decode("membership token"))?;
    if t.community_share_id != *community {
        return Err(invalid(format!(
            "membership token is for community {}, not {}",
            t.community_share_id.short(),
            community.short()
        )));
    }
    if t.member_node_pubkey != *member {
        return Err(invalid(format!(
            "membership token was issued to node {}, not to {}",
            t.member_node_pubkey.short(),
            member.short()
        )));
    }
    t.verify(community_pubkey, Some(now))?;
    Ok(t)
}

impl ShareRecord {
    /// The share id (SHA-256 of the share key).
    pub fn share_id(&self) -> ShareId {
        self.share_pubkey.share_id()
    }

    /// Signed bytes: the CBOR array ["trove/community-share/v1", community, share_pubkey, seq,
    /// manifest_id, updated_at, expires_at, withdrawn, title, description, publisher] (ids as
    /// byte strings, absent texts and publisher as null).
    pub fn signing_bytes(&self) -> Vec<u8> {
        cbor::build(|e| {
            e.array(11)?.str(SHARE_DOMAIN)?;
            e.bytes(&self.community.0)?.bytes(&self.share_pubkey.0)?.u64(self.seq)?;
            e.bytes(&self.manifest_id.0)?.u64(self.updated_at)?.u64(self.expires_at)?.bool(self.withdrawn)?;
            cbor::write_opt_str(e, self.title.as_deref())?;
            cbor::write_opt_str(e, self.description.as_deref())?;
            write_opt_bytes(e, self.publisher.as_ref().map(|k| &k.0[..]))
        })
    }

    /// Builds and signs a record with the share key. Title and description are cut to the
    /// record limits (at a character boundary).
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        share: &Keypair,
        community: ShareId,
        seq: u64,
        manifest_id: ManifestId,
        updated_at: u64,
        expires_at: u64,
        withdrawn: bool,
        title: Option<&str>,
        description: Option<&str>,
        publisher: Option<PubKey>,
    ) -> Self {
        let mut r = ShareRecord {
            community,
            share_pubkey: share.public(),
            seq,
            manifest_id,
            updated_at,
            expires_at,
            withdrawn,
            title: title.map(|t| truncate(t, MAX_RECORD_TITLE)),
            description: description.map(|t| truncate(t, MAX_RECORD_DESCRIPTION)),
            publisher,
            sig: [0; 64],
        };
        r.sig = share.sign(&r.signing_bytes());
        r
    }

    /// Verifies the signature and the time rules (at `now`, if given).
    pub fn verify(&self, now: Option<u64>) -> Result<(), ProtoError> {
        let what = format!("share record of {} in community {}", self.share_id().short(), self.community.short());
        check_times(&what, self.updated_at, self.expires_at, now)?;
        keys::verify(&self.share_pubkey, &self.signing_bytes(), &self.sig, &what)
    }

    /// Whether this record replaces `other` (same share): higher (seq, updated_at).
    pub fn supersedes(&self, other: &ShareRecord) -> bool {
        (self.seq, self.updated_at) > (other.seq, other.updated_at)
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let cut = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    s[..cut].to_string()
}

/// A position in a server's record stream. Servers hand it out sealed (opaque to clients):
/// `version (1) ‖ kinds (1) ‖ after_rev (8, big endian) ‖ mac (16)` where `mac` is the first
/// 16 bytes of BLAKE3 keyed with the server's secret over
/// `"trove/community-cursor/v1" ‖ community (32) ‖ version ‖ kinds ‖ after_rev`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordCursor {
    pub kinds: u8,
    /// The last change number the holder has seen.
    pub after_rev: u64,
}

impl RecordCursor {
    const VERSION: u8 = 1;
    /// Length of a sealed cursor.
    pub const SEALED_LEN: usize = 26;

    fn mac(&self, secret: &[u8; 32], community: &ShareId) -> [u8; 16] {
        let mut h = blake3::Hasher::new_keyed(secret);
        h.update(CURSOR_DOMAIN);
        h.update(&community.0);
        h.update(&[Self::VERSION, self.kinds]);
        h.update(&self.after_rev.to_be_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        out
    }

    /// The opaque bytes handed to a client.
    pub fn seal(&self, secret: &[u8; 32], community: &ShareId) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::SEALED_LEN);
        out.push(Self::VERSION);
        out.push(self.kinds);
        out.extend_from_slice(&self.after_rev.to_be_bytes());
        out.extend_from_slice(&self.mac(secret, community));
        out
    }

    /// Opens a sealed cursor; any change to its bytes, another community or another
    /// server's secret makes it fail.
    pub fn open(bytes: &[u8], secret: &[u8; 32], community: &ShareId) -> Result<RecordCursor, ProtoError> {
        let bad = || invalid("invalid or expired community cursor: read again from the start".into());
        if bytes.len() != Self::SEALED_LEN || bytes[0] != Self::VERSION {
            return Err(bad());
        }
        let c =
            RecordCursor { kinds: bytes[1], after_rev: u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes")) };
        let mac = c.mac(secret, community);
        // Constant-time comparison.
        let diff = mac.iter().zip(&bytes[10..]).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(bad());
        }
        Ok(c)
    }
}

impl<C> Encode<C> for MemberRecord {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(9)?;
        e.str("community")?.bytes(&self.community.0)?;
        e.str("member")?.bytes(&self.member.0)?;
        e.str("seq")?.u64(self.seq)?;
        e.str("issued_at")?.u64(self.issued_at)?;
        e.str("expires_at")?.u64(self.expires_at)?;
        e.str("left")?.bool(self.left)?;
        e.str("addrs")?.array(self.addrs.len() as u64)?;
        for a in &self.addrs {
            e.encode(a)?;
        }
        e.str("token")?;
        write_opt_bytes(e, self.token.as_deref())?;
        e.str("sig")?.bytes(&self.sig)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for MemberRecord {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "community member record";
        let names = ["community", "member", "seq", "issued_at", "expires_at", "left", "addrs", "token", "sig"];
        let (mut community, mut member, mut seq, mut issued, mut expires) = (None, None, None, None, None);
        let (mut left, mut addrs, mut token, mut sig) = (None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => community = Some(ShareId::decode_field(d)?),
                1 => member = Some(PubKey::decode_field(d)?),
                2 => seq = Some(cbor::u64(d)?),
                3 => issued = Some(cbor::u64(d)?),
                4 => expires = Some(cbor::u64(d)?),
                5 => left = Some(cbor::bool(d)?),
                6 => addrs = Some(cbor::array(d, MAX_RECORD_ADDRS, "addrs", |d| d.decode())?),
                7 => token = opt_bytes(d, MAX_TOKEN_BYTES, "token")?,
                _ => sig = Some(cbor::fixed::<64>(d, "sig")?),
            }
            Ok(())
        })?;
        Ok(MemberRecord {
            community: community.ok_or_else(|| cbor::missing(W, names[0]))?,
            member: member.ok_or_else(|| cbor::missing(W, names[1]))?,
            seq: seq.ok_or_else(|| cbor::missing(W, names[2]))?,
            issued_at: issued.ok_or_else(|| cbor::missing(W, names[3]))?,
            expires_at: expires.ok_or_else(|| cbor::missing(W, names[4]))?,
            left: left.ok_or_else(|| cbor::missing(W, names[5]))?,
            addrs: addrs.ok_or_else(|| cbor::missing(W, names[6]))?,
            token,
            sig: sig.ok_or_else(|| cbor::missing(W, names[8]))?,
        })
    }
}

impl<C> Encode<C> for ShareRecord {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(11)?;
        e.str("community")?.bytes(&self.community.0)?;
        e.str("share_pubkey")?.bytes(&self.share_pubkey.0)?;
        e.str("seq")?.u64(self.seq)?;
        e.str("manifest_id")?.bytes(&self.manifest_id.0)?;
        e.str("updated_at")?.u64(self.updated_at)?;
        e.str("expires_at")?.u64(self.expires_at)?;
        e.str("withdrawn")?.bool(self.withdrawn)?;
        e.str("title")?;
        cbor::write_opt_str(e, self.title.as_deref())?;
        e.str("description")?;
        cbor::write_opt_str(e, self.description.as_deref())?;
        e.str("publisher")?;
        write_opt_bytes(e, self.publisher.as_ref().map(|k| &k.0[..]))?;
        e.str("sig")?.bytes(&self.sig)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for ShareRecord {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "community share record";
        let names = [
            "community",
            "share_pubkey",
            "seq",
            "manifest_id",
            "updated_at",
            "expires_at",
            "withdrawn",
            "title",
            "description",
            "publisher",
            "sig",
        ];
        let (mut community, mut pk, mut seq, mut mid, mut updated, mut expires) = (None, None, None, None, None, None);
        let (mut withdrawn, mut title, mut desc, mut publisher, mut sig) = (None, None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => community = Some(ShareId::decode_field(d)?),
                1 => pk = Some(PubKey::decode_field(d)?),
                2 => seq = Some(cbor::u64(d)?),
                3 => mid = Some(ManifestId::decode_field(d)?),
                4 => updated = Some(cbor::u64(d)?),
                5 => expires = Some(cbor::u64(d)?),
                6 => withdrawn = Some(cbor::bool(d)?),
                7 => title = cbor::opt_text(d, MAX_RECORD_TITLE, "title")?,
                8 => desc = cbor::opt_text(d, MAX_RECORD_DESCRIPTION, "description")?,
                9 => publisher = cbor::opt_fixed::<32>(d, "publisher")?.map(PubKey),
                _ => sig = Some(cbor::fixed::<64>(d, "sig")?),
            }
            Ok(())
        })?;
        Ok(ShareRecord {
            community: community.ok_or_else(|| cbor::missing(W, names[0]))?,
            share_pubkey: pk.ok_or_else(|| cbor::missing(W, names[1]))?,
            seq: seq.ok_or_else(|| cbor::missing(W, names[2]))?,
            manifest_id: mid.ok_or_else(|| cbor::missing(W, names[3]))?,
            updated_at: updated.ok_or_else(|| cbor::missing(W, names[4]))?,
            expires_at: expires.ok_or_else(|| cbor::missing(W, names[5]))?,
            withdrawn: withdrawn.ok_or_else(|| cbor::missing(W, names[6]))?,
            title,
            description: desc,
            publisher,
            sig: sig.ok_or_else(|| cbor::missing(W, names[10]))?,
        })
    }
}

fn encode_list<W: Write, T: Encode<()>>(e: &mut Encoder<W>, list: &[T]) -> EncResult<W> {
    e.array(list.len() as u64)?;
    for x in list {
        e.encode(x)?;
    }
    Ok(())
}

impl<C> Encode<C> for GetCommunityRecords {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(6)?;
        e.str("community")?.bytes(&self.community.0)?;
        e.str("community_pubkey")?.bytes(&self.community_pubkey.0)?;
        e.str("kinds")?.u8(self.kinds)?;
        e.str("cursor")?;
        write_opt_bytes(e, self.cursor.as_deref())?;
        e.str("limit")?.u32(self.limit)?;
        e.str("token")?;
        write_opt_bytes(e, self.token.as_deref())
    }
}

impl<'b, C> Decode<'b, C> for GetCommunityRecords {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "GET_COMMUNITY_RECORDS";
        let names = ["community", "community_pubkey", "kinds", "cursor", "limit", "token"];
        let (mut community, mut pk, mut kinds, mut cursor, mut limit, mut token) = (None, None, None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => community = Some(ShareId::decode_field(d)?),
                1 => pk = Some(PubKey::decode_field(d)?),
                2 => kinds = Some(cbor::u8(d)?),
                3 => cursor = opt_bytes(d, MAX_CURSOR_BYTES, "cursor")?,
                4 => limit = Some(cbor::u32(d)?),
                _ => token = opt_bytes(d, MAX_TOKEN_BYTES, "token")?,
            }
            Ok(())
        })?;
        Ok(GetCommunityRecords {
            community: community.ok_or_else(|| cbor::missing(W, names[0]))?,
            community_pubkey: pk.ok_or_else(|| cbor::missing(W, names[1]))?,
            kinds: kinds.ok_or_else(|| cbor::missing(W, names[2]))?,
            cursor,
            limit: limit.ok_or_else(|| cbor::missing(W, names[4]))?,
            token,
        })
    }
}

impl<C> Encode<C> for CommunityRecords {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(5)?;
        e.str("community")?.bytes(&self.community.0)?;
        e.str("members")?;
        encode_list(e, &self.members)?;
        e.str("shares")?;
        encode_list(e, &self.shares)?;
        e.str("next")?.bytes(&self.next)?;
        e.str("more")?.bool(self.more)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for CommunityRecords {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "COMMUNITY_RECORDS";
        let names = ["community", "members", "shares", "next", "more"];
        let (mut community, mut members, mut shares, mut next, mut more) = (None, None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => community = Some(ShareId::decode_field(d)?),
                1 => members = Some(cbor::array(d, MAX_PAGE_RECORDS, "members", |d| d.decode())?),
                2 => shares = Some(cbor::array(d, MAX_PAGE_RECORDS, "shares", |d| d.decode())?),
                3 => next = Some(cbor::bstr(d, MAX_CURSOR_BYTES, "next")?.to_vec()),
                _ => more = Some(cbor::bool(d)?),
            }
            Ok(())
        })?;
        Ok(CommunityRecords {
            community: community.ok_or_else(|| cbor::missing(W, names[0]))?,
            members: members.ok_or_else(|| cbor::missing(W, names[1]))?,
            shares: shares.ok_or_else(|| cbor::missing(W, names[2]))?,
            next: next.ok_or_else(|| cbor::missing(W, names[3]))?,
            more: more.ok_or_else(|| cbor::missing(W, names[4]))?,
        })
    }
}

impl<C> Encode<C> for PutCommunityRecords {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(5)?;
        e.str("community")?.bytes(&self.community.0)?;
        e.str("community_pubkey")?.bytes(&self.community_pubkey.0)?;
        e.str("members")?;
        encode_list(e, &self.members)?;
        e.str("shares")?;
        encode_list(e, &self.shares)?;
        e.str("token")?;
        write_opt_bytes(e, self.token.as_deref())
    }
}

impl<'b, C> Decode<'b, C> for PutCommunityRecords {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "PUT_COMMUNITY_RECORDS";
        let names = ["community", "community_pubkey", "members", "shares", "token"];
        let (mut community, mut pk, mut members, mut shares, mut token) = (None, None, None, None, None);
        cbor::tmap(d, W, &names, |d, i| {
            match i {
                0 => community = Some(ShareId::decode_field(d)?),
                1 => pk = Some(PubKey::decode_field(d)?),
                2 => members = Some(cbor::array(d, MAX_PAGE_RECORDS, "members", |d| d.decode())?),
                3 => shares = Some(cbor::array(d, MAX_PAGE_RECORDS, "shares", |d| d.decode())?),
                _ => token = opt_bytes(d, MAX_TOKEN_BYTES, "token")?,
            }
            Ok(())
        })?;
        Ok(PutCommunityRecords {
            community: community.ok_or_else(|| cbor::missing(W, names[0]))?,
            community_pubkey: pk.ok_or_else(|| cbor::missing(W, names[1]))?,
            members: members.ok_or_else(|| cbor::missing(W, names[2]))?,
            shares: shares.ok_or_else(|| cbor::missing(W, names[3]))?,
            token,
        })
    }
}

impl<C> Encode<C> for CommunityRecordsAccepted {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(2)?.str("accepted")?.u32(self.accepted)?.str("rejected")?.u32(self.rejected)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for CommunityRecordsAccepted {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "COMMUNITY_RECORDS_ACCEPTED";
        let (mut accepted, mut rejected) = (None, None);
        cbor::tmap(d, W, &["accepted", "rejected"], |d, i| {
            if i == 0 {
                accepted = Some(cbor::u32(d)?);
            } else {
                rejected = Some(cbor::u32(d)?);
            }
            Ok(())
        })?;
        Ok(CommunityRecordsAccepted {
            accepted: accepted.ok_or_else(|| cbor::missing(W, "accepted"))?,
            rejected: rejected.ok_or_else(|| cbor::missing(W, "rejected"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Transport;

    fn member(left: bool) -> MemberRecord {
        let node = Keypair::from_seed([0x31; 32]);
        let addr = PeerAddr::new("127.0.0.1:7001".parse().unwrap(), Transport::Tcp).with_hint(node.public());
        MemberRecord::sign(&node, ShareId([0x44; 32]), 5, 1_700_000_000, 1_700_086_400, left, vec![addr], None)
    }

    #[test]
    fn member_record_round_trip_and_tamper() {
        let r = member(false);
        r.verify(Some(1_700_000_100)).unwrap();
        let back: MemberRecord = cbor::from_slice(&cbor::to_vec(&r)).unwrap();
        assert_eq!(back, r);
        let mut t = r.clone();
        t.left = true;
        assert!(t.verify(None).is_err(), "flipping the tombstone bit breaks the signature");
        assert!(r.verify(Some(1_700_086_401)).unwrap_err().to_string().contains("expired"));
        assert!(!member(true).supersedes(&member(false)), "same seq and stamp: not newer");
    }

    #[test]
    fn lifetime_is_bounded() {
        let node = Keypair::from_seed([0x31; 32]);
        let r =
            MemberRecord::sign(&node, ShareId([1; 32]), 1, 10, 10 + MAX_RECORD_LIFETIME_SECS + 1, false, vec![], None);
        assert!(r.verify(None).unwrap_err().to_string().contains("at most"));
    }

    #[test]
    fn share_record_truncates_and_verifies() {
        let share = Keypair::from_seed([0x32; 32]);
        let long = "é".repeat(MAX_RECORD_TITLE);
        let r = ShareRecord::sign(
            &share,
            ShareId([2; 32]),
            3,
            ManifestId([3; 32]),
            100,
            200,
            false,
            Some(&long),
            None,
            None,
        );
        assert!(r.title.as_ref().unwrap().len() <= MAX_RECORD_TITLE);
        r.verify(Some(150)).unwrap();
        let back: ShareRecord = cbor::from_slice(&cbor::to_vec(&r)).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn cursor_is_tamper_checked() {
        let secret = [7u8; 32];
        let c = RecordCursor { kinds: KIND_SHARES, after_rev: 123_456 };
        let sealed = c.seal(&secret, &ShareId([1; 32]));
        assert_eq!(sealed.len(), RecordCursor::SEALED_LEN);
        assert_eq!(RecordCursor::open(&sealed, &secret, &ShareId([1; 32])).unwrap(), c);
        assert!(RecordCursor::open(&sealed, &secret, &ShareId([2; 32])).is_err(), "other community");
        assert!(RecordCursor::open(&sealed, &[8; 32], &ShareId([1; 32])).is_err(), "other server");
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(RecordCursor::open(&t, &secret, &ShareId([1; 32])).is_err(), "byte {i} flipped");
        }
    }
}
