//! A community's signed records in this node: signing its own (one member record, one record
//! per own public share bound to the community, tombstones when that changes), and checking
//! and storing the records peers send. Received records must verify, be newer than what is
//! stored about their subject, and, in a strict community, carry membership tokens (member
//! records) or come from a member holding one (share records). Nobody else's copy of this
//! node's own records is ever taken: this node is their only author.

use crate::error::Result;
use crate::events::Event;
use crate::node::Inner;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use trove_proto::wire::community_ext::MAX_RECORD_LIFETIME_SECS;
use trove_proto::wire::{MemberRecord, PeerAddr, ShareRecord, Visibility};
use trove_proto::{PubKey, ShareId, cbor};
use trove_store::db::{Community, NewRecord, PutOutcome, RecordCaps, RecordKind, RecordRow, unix_now};

/// Setting holding the last value of [`Inner::own_clock`].
const OWN_CLOCK_SETTING: &str = "community.own_clock";

/// How long a record this node signs is valid.
pub const RECORD_LIFETIME_SECS: u64 = 7 * 86_400;
/// Own records are re-signed when less than this is left.
pub const RENEW_WITHIN_SECS: u64 = 4 * 86_400;

/// What happened to a batch of received records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptReport {
    pub received: usize,
    /// New and valid: stored.
    pub accepted: usize,
    /// Not newer than what is stored (or about this node itself).
    pub stale: usize,
    /// Bad signature, expired, wrong community, missing token, or over the caps.
    pub invalid: usize,
}

/// The database row of a member record.
pub(crate) fn member_row(r: &MemberRecord) -> NewRecord {
    NewRecord {
        kind: RecordKind::Member,
        subject: r.member.0,
        seq: r.seq,
        stamp: r.issued_at,
        expires_at: r.expires_at,
        tombstone: r.left,
        publisher: None,
        record: cbor::to_vec(r),
    }
}

/// The database row of a share record.
pub(crate) fn share_row(r: &ShareRecord) -> NewRecord {
    NewRecord {
        kind: RecordKind::Share,
        subject: r.share_id().0,
        seq: r.seq,
        stamp: r.updated_at,
        expires_at: r.expires_at,
        tombstone: r.withdrawn,
        publisher: r.publisher,
        record: cbor::to_vec(r),
    }
}

/// Decodes a stored member record.
pub(crate) fn decode_member(row: &RecordRow) -> Option<MemberRecord> {
    cbor::from_slice(&row.record).ok()
}

/// Decodes a stored share record.
pub(crate) fn decode_share(row: &RecordRow) -> Option<ShareRecord> {
    cbor::from_slice(&row.record).ok()
}

/// Expiry of a record signed at `now` that replaces one expiring at `prev`: a tombstone
/// must outlive what it replaces (so a reader that misses both loses nothing).
fn expiry(now: u64, prev: Option<u64>) -> u64 {
    (now + RECORD_LIFETIME_SECS).max(prev.unwrap_or(0)).min(now + MAX_RECORD_LIFETIME_SECS)
}

/// `check` applied to every item, on all cores when there are many (signature checks).
pub(crate) fn par_check<T: Sync>(items: &[T], check: impl Fn(&T) -> bool + Sync) -> Vec<bool> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if items.len() < 256 || threads < 2 {
        return items.iter().map(&check).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> =
            items.chunks(per).map(|chunk| s.spawn(|| chunk.iter().map(&check).collect::<Vec<bool>>())).collect();
        parts.into_iter().flat_map(|p| p.join().unwrap_or_default()).collect()
    })
}

impl Inner {
    /// The addresses this node puts in its records and announcements: where it can be
    /// reached now (through its relay while it is firewalled).
    pub(crate) fn community_addrs(&self) -> Vec<PeerAddr> {
        self.reachable_addrs()
            .into_iter()
            .take(trove_proto::wire::community_ext::MAX_RECORD_ADDRS)
            .map(|a| PeerAddr { pubkey_hint: Some(self.key.public()), ..a })
            .collect()
    }

    /// A number above every one this node used for its own records' seq and stamps (the
    /// clock, unless it went backwards or records were signed faster than once a second):
    /// a record signed after leaving and rejoining always replaces the tombstone others hold.
    fn own_clock(&self, floor: u64) -> Result<u64> {
        let last: u64 = self.db.setting(OWN_CLOCK_SETTING)?.unwrap_or(0);
        let next = unix_now().max(floor).max(last + 1);
        self.db.set_setting(OWN_CLOCK_SETTING, &next)?;
        Ok(next)
    }

    /// Signs and stores this node's member record of `c` (a tombstone with `left`).
    pub(crate) fn sign_own_member(&self, c: &Community, left: bool) -> Result<MemberRecord> {
        let now = unix_now();
        let prev = self.db.community_record(&c.share_id, RecordKind::Member, &self.key.public().0)?;
        let seq = self.own_clock(prev.as_ref().map_or(0, |p| p.seq + 1))?;
        let r = MemberRecord::sign(
            &self.key,
            c.share_id,
            seq,
            now,
            expiry(now, prev.as_ref().map(|p| p.expires_at)),
            left,
            if left { Vec::new() } else { self.community_addrs() },
            if left { None } else { c.membership_token.clone() },
        );
        self.db.put_community_records(&c.share_id, &[member_row(&r)], &RecordCaps::default())?;
        Ok(r)
    }

    /// This node's member record of `c`, re-signed first when it is missing, expiring within
    /// [`RENEW_WITHIN_SECS`], or carries another token than the one held now.
    pub(crate) fn fresh_own_member(&self, c: &Community) -> Result<MemberRecord> {
        let now = unix_now();
        let row = self.db.community_record(&c.share_id, RecordKind::Member, &self.key.public().0)?;
        if let Some(row) = row
            && !row.tombstone
            && row.expires_at > now + RENEW_WITHIN_SECS
            && let Some(r) = decode_member(&row)
            && r.token == c.membership_token
            && r.addrs == self.community_addrs()
        {
            return Ok(r);
        }
        self.sign_own_member(c, false)
    }

    /// Brings this node's share records of `c` in line with its shares' latest manifests: a
    /// live record for every public share bound to `c`, a tombstone where a live record
    /// exists but the share no longer is (every live one with `withdraw_all`). Live records
    /// expiring within [`RENEW_WITHIN_SECS`] are re-signed. Returns the records signed.
    pub(crate) fn sync_own_shares(&self, c: &Community, withdraw_all: bool) -> Result<Vec<ShareRecord>> {
        let now = unix_now();
        let mut out = Vec::new();
        for s in self.db.shares()? {
            let Some(m) = crate::views::own_latest(&self.db, &s.share_id)? else { continue };
            let want = !withdraw_all && m.visibility == Visibility::Public && m.communities.contains(&c.share_id);
            let row = self.db.community_record(&c.share_id, RecordKind::Share, &s.share_id.0)?;
            let live = row.as_ref().filter(|r| !r.tombstone);
            let sign = match (want, live) {
                (true, Some(r)) => {
                    r.seq != m.seq
                        || r.expires_at <= now + RENEW_WITHIN_SECS
                        || decode_share(r).is_none_or(|x| x.title != m.title || x.description != m.description)
                }
                (true, None) | (false, Some(_)) => true,
                (false, None) => false,
            };
            if !sign {
                continue;
            }
            let key = match self.db.share_key(&s.share_id) {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!("cannot sign the community record of share {}: {e}", s.share_id.short());
                    continue;
                }
            };
            let prev = row.as_ref();
            let seq = m.seq.max(prev.map_or(0, |r| r.seq));
            let stamp = self.own_clock(match prev {
                Some(r) if r.seq == seq => r.stamp + 1,
                _ => now,
            })?;
            let r = ShareRecord::sign(
                &key,
                c.share_id,
                seq,
                m.manifest_id(),
                stamp,
                expiry(stamp, prev.map(|r| r.expires_at)),
                !want,
                m.title.as_deref(),
                m.description.as_deref(),
                Some(self.key.public()),
            );
            out.push(r);
        }
        let rows: Vec<NewRecord> = out.iter().map(share_row).collect();
        self.db.put_community_records(&c.share_id, &rows, &RecordCaps::default())?;
        Ok(out)
    }

    /// This node's live records of `c` (what it tells members about itself).
    pub(crate) fn own_records(&self, c: &Community) -> Result<(Vec<MemberRecord>, Vec<ShareRecord>)> {
        let member = self.fresh_own_member(c)?;
        self.sync_own_shares(c, false)?;
        let own: HashSet<ShareId> = self.db.shares()?.into_iter().map(|s| s.share_id).collect();
        let mut shares = Vec::new();
        for id in own {
            if let Some(row) = self.db.community_record(&c.share_id, RecordKind::Share, &id.0)?
                && let Some(r) = decode_share(&row)
            {
                shares.push(r);
            }
        }
        Ok((vec![member], shares))
    }

    /// Checks and stores records received for `c`; emits events for members and shares seen
    /// for the first time and members that left.
    pub(crate) fn accept_records(
        &self,
        c: &Community,
        members: Vec<MemberRecord>,
        shares: Vec<ShareRecord>,
    ) -> Result<AcceptReport> {
        let now = unix_now();
        let me = self.key.public();
        let own_shares: HashSet<ShareId> = self.db.shares()?.into_iter().map(|s| s.share_id).collect();
        let mut rep = AcceptReport { received: members.len() + shares.len(), ..Default::default() };

        // Members: only newer ones are verified (signatures cost more than a lookup).
        let members: Vec<MemberRecord> = members
            .into_iter()
            .filter(|r| {
                let ok = r.community == c.share_id && r.member != me;
                rep.stale += usize::from(!ok && r.community == c.share_id);
                rep.invalid += usize::from(r.community != c.share_id);
                ok
            })
            .collect();
        let subjects: Vec<[u8; 32]> = members.iter().map(|r| r.member.0).collect();
        let versions = self.db.community_record_versions(&c.share_id, RecordKind::Member, &subjects)?;
        let mut newer = Vec::new();
        for (r, v) in members.into_iter().zip(versions) {
            if v.is_some_and(|v| (r.seq, r.issued_at) <= v) {
                rep.stale += 1;
            } else {
                newer.push(r);
            }
        }
        let valid = par_check(&newer, |r| {
            r.verify(Some(now)).is_ok() && (!c.strict || r.left || r.verified_token(&c.pubkey, now).is_ok())
        });
        let mut good_members = Vec::new();
        for (r, ok) in newer.into_iter().zip(valid) {
            if ok {
                good_members.push(r);
            } else {
                rep.invalid += 1;
            }
        }
        // In a strict community a share counts only when its publisher holds a token: one
        // in this batch, or one stored.
        let batch_members: HashMap<PubKey, bool> = good_members.iter().map(|r| (r.member, !r.left)).collect();
        let shares: Vec<ShareRecord> = shares
            .into_iter()
            .filter(|r| {
                let ok = r.community == c.share_id && !own_shares.contains(&r.share_id());
                rep.stale += usize::from(!ok && r.community == c.share_id);
                rep.invalid += usize::from(r.community != c.share_id);
                ok
            })
            .collect();
        let subjects: Vec<[u8; 32]> = shares.iter().map(|r| r.share_id().0).collect();
        let versions = self.db.community_record_versions(&c.share_id, RecordKind::Share, &subjects)?;
        let mut newer = Vec::new();
        for (r, v) in shares.into_iter().zip(versions) {
            if v.is_some_and(|v| (r.seq, r.updated_at) <= v) {
                rep.stale += 1;
            } else {
                newer.push(r);
            }
        }
        let signed = par_check(&newer, |r| r.verify(Some(now)).is_ok());
        let mut good_shares = Vec::new();
        for (r, sig_ok) in newer.into_iter().zip(signed) {
            let publisher_ok = !c.strict
                || r.withdrawn
                || r.publisher.is_some_and(|p| {
                    p == me
                        || batch_members.get(&p).copied().unwrap_or_else(|| {
                            self.db
                                .community_record(&c.share_id, RecordKind::Member, &p.0)
                                .ok()
                                .flatten()
                                .is_some_and(|m| !m.tombstone && m.expires_at > now)
                        })
                });
            if publisher_ok && sig_ok {
                good_shares.push(r);
            } else {
                rep.invalid += 1;
            }
        }

        let caps = RecordCaps::default();
        let rows: Vec<NewRecord> = good_members.iter().map(member_row).collect();
        let out = self.db.put_community_records(&c.share_id, &rows, &caps)?;
        let community = c.share_id.to_hex();
        for (r, o) in good_members.iter().zip(out) {
            match o {
                PutOutcome::Stored { previous, .. } => {
                    rep.accepted += 1;
                    if !r.left && previous != Some(true) {
                        self.emit(Event::CommunityMemberSeen {
                            community: community.clone(),
                            node_pubkey: r.member.to_hex(),
                            v1: false,
                        });
                    } else if r.left && previous == Some(true) {
                        self.emit(Event::CommunityMemberLeft {
                            community: community.clone(),
                            node_pubkey: r.member.to_hex(),
                        });
                    }
                }
                PutOutcome::NotNewer => rep.stale += 1,
                PutOutcome::Full => rep.invalid += 1,
            }
        }
        let rows: Vec<NewRecord> = good_shares.iter().map(share_row).collect();
        let out = self.db.put_community_records(&c.share_id, &rows, &caps)?;
        for (r, o) in good_shares.iter().zip(out) {
            match o {
                PutOutcome::Stored { previous, .. } => {
                    rep.accepted += 1;
                    if !r.withdrawn && previous != Some(true) {
                        self.emit(Event::CommunityShareSeen {
                            community: community.clone(),
                            share_id: r.share_id().to_hex(),
                            title: r.title.clone(),
                        });
                    }
                }
                PutOutcome::NotNewer => rep.stale += 1,
                PutOutcome::Full => rep.invalid += 1,
            }
        }
        Ok(rep)
    }
}
