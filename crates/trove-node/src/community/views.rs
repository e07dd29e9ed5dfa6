//! What front ends show of a joined community: its members (from live member records and
//! the v1 members confirmed in the last refresh) and the public shares bound to it (from
//! share records whose publisher is a live member, and from v1 members' listings), each with
//! a link to subscribe from; paged views of both; a page read directly from one peer.
//! In a strict community only members holding a valid token count (this node always does).

use super::records::{decode_member, decode_share, par_check};
use crate::error::{NodeError, Result};
use crate::node::{Inner, Node};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use trove_net::peer::features;
use trove_proto::wire::community_ext::{KIND_MEMBERS, KIND_SHARES};
use trove_proto::wire::{GetCommunityRecords, MemberRecord, PeerAddr, RecordCursor, ShareRecord};
use trove_proto::{ManifestId, PubKey, ShareId, ShareLink};
use trove_store::db::{Community, RecordKind, unix_now};

/// Largest page of a local browse.
pub const MAX_BROWSE_PAGE: usize = 1000;

/// A member of a community.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberView {
    pub node_pubkey: PubKey,
    pub node_id: String,
    /// Where it listens (`tcp://ip:port`, `quic://ip:port`).
    pub addrs: Vec<String>,
    /// This node.
    pub is_self: bool,
    /// Seen through the v1 messages (no signed record).
    pub v1: bool,
    /// Holds a valid membership token.
    pub has_token: bool,
    /// When its record was signed (or, for a v1 member, when it was last confirmed).
    pub seen_at: u64,
    /// When its record expires (none for v1 members).
    pub expires_at: Option<u64>,
}

/// A public share bound to a community.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommunityShareView {
    pub share_id: ShareId,
    pub share_pubkey: PubKey,
    pub seq: u64,
    pub manifest_id: ManifestId,
    pub title: Option<String>,
    pub description: Option<String>,
    /// The member that publishes it.
    pub publisher: Option<PubKey>,
    /// One of this node's shares.
    pub is_own: bool,
    /// Listed by a v1 member (unsigned summary) rather than a signed share record.
    pub v1: bool,
    /// Subscribe with this (the publisher's addresses as bootstrap hints).
    pub link: String,
}

/// Which list a browse pages through.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BrowseKind {
    Members,
    #[default]
    Shares,
}

/// A page request of [`Node::community_browse`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BrowseQuery {
    pub kind: BrowseKind,
    /// `next` of the previous page; none for the first.
    pub cursor: Option<String>,
    /// Entries per page (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A page of members or shares, newest change first.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BrowsePage {
    pub members: Vec<MemberView>,
    pub shares: Vec<CommunityShareView>,
    /// Pass back for the next page; none at the end.
    pub next: Option<String>,
}

/// A page read directly from one peer's record stream (records verified, not stored).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RemotePage {
    pub members: Vec<MemberView>,
    pub shares: Vec<CommunityShareView>,
    /// The peer's cursor (hex) for the next page, or for later changes when `more` is false.
    pub next: String,
    pub more: bool,
    /// Records dropped because they did not verify.
    pub invalid: usize,
}

fn addr_text(a: &PeerAddr) -> String {
    format!("{}://{}", a.transport.as_str(), a.socket_addr())
}

fn member_view(r: &MemberRecord, me: &PubKey, has_token: bool) -> MemberView {
    MemberView {
        node_pubkey: r.member,
        node_id: r.member.node_id().to_hex(),
        addrs: r.addrs.iter().map(addr_text).collect(),
        is_self: r.member == *me,
        v1: false,
        has_token,
        seen_at: r.issued_at,
        expires_at: Some(r.expires_at),
    }
}

fn share_view(r: &ShareRecord, hints: Vec<String>, is_own: bool) -> CommunityShareView {
    CommunityShareView {
        share_id: r.share_id(),
        share_pubkey: r.share_pubkey,
        seq: r.seq,
        manifest_id: r.manifest_id,
        title: r.title.clone(),
        description: r.description.clone(),
        publisher: r.publisher,
        is_own,
        v1: false,
        link: ShareLink::new(r.share_pubkey, hints).to_string(),
    }
}

impl Inner {
    /// Live members holding what the community requires, by key, with their addresses.
    fn live_members(&self, c: &Community) -> Result<Vec<(MemberRecord, bool)>> {
        let now = unix_now();
        let me = self.key.public();
        let mut out = Vec::new();
        for row in self.db.community_live_members(&c.share_id, now)? {
            let Some(r) = decode_member(&row) else { continue };
            let has_token = r.token.is_some() && r.verified_token(&c.pubkey, now).is_ok();
            if c.strict && !has_token && r.member != me {
                continue;
            }
            out.push((r, has_token));
        }
        Ok(out)
    }

    /// The members of `c` in this node's view: record members (newest first), then v1
    /// members confirmed in the last refresh that have no live record.
    pub(crate) fn member_views(&self, c: &Community) -> Result<Vec<MemberView>> {
        let me = self.key.public();
        let mut out: Vec<MemberView> = self.live_members(c)?.iter().map(|(r, t)| member_view(r, &me, *t)).collect();
        let known: HashSet<PubKey> = out.iter().map(|m| m.node_pubkey).collect();
        for m in self.v1_members(c) {
            if !known.contains(&m.node_pubkey) {
                out.push(MemberView {
                    node_pubkey: m.node_pubkey,
                    node_id: m.node_pubkey.node_id().to_hex(),
                    addrs: vec![addr_text(&m.addr)],
                    is_self: false,
                    v1: true,
                    has_token: m.has_token,
                    seen_at: m.seen_at,
                    expires_at: None,
                });
            }
        }
        Ok(out)
    }

    fn v1_members(&self, c: &Community) -> Vec<super::V1Member> {
        self.community.v1.lock().expect("v1 members").get(&c.share_id).cloned().unwrap_or_default()
    }

    /// Link hints of a publisher that counts as a member (live record; in a strict
    /// community, a valid token), looked up once per key.
    fn publisher_hints(
        &self,
        c: &Community,
        cache: &mut HashMap<PubKey, Option<Vec<String>>>,
        key: &PubKey,
    ) -> Option<Vec<String>> {
        if *key == self.key.public() {
            return Some(self.link_hints());
        }
        cache
            .entry(*key)
            .or_insert_with(|| {
                let now = unix_now();
                let row = self.db.community_record(&c.share_id, RecordKind::Member, &key.0).ok().flatten()?;
                let r = decode_member(&row).filter(|r| !r.left && r.expires_at > now)?;
                if c.strict && r.verified_token(&c.pubkey, now).is_err() {
                    return None;
                }
                Some(r.addrs.iter().map(addr_text).collect())
            })
            .clone()
    }

    /// Share records below `before_rev` (newest first) whose publisher is a member, at most
    /// `limit`; returns the views and the change number of the last row read when more may
    /// follow.
    fn share_rows(
        &self,
        c: &Community,
        cache: &mut HashMap<PubKey, Option<Vec<String>>>,
        own: &HashSet<ShareId>,
        before_rev: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<CommunityShareView>, Option<u64>)> {
        let rows = self.db.community_live_shares_page(&c.share_id, before_rev, limit, unix_now())?;
        let last = if rows.len() == limit { rows.last().map(|r| r.rev) } else { None };
        let views = rows
            .iter()
            .filter_map(decode_share)
            .filter_map(|r| {
                let h = self.publisher_hints(c, cache, &r.publisher?)?;
                Some(share_view(&r, h, own.contains(&r.share_id())))
            })
            .collect();
        Ok((views, last))
    }

    /// v1 members' listed shares not already known from records.
    fn v1_share_views(&self, c: &Community, known: &HashSet<ShareId>) -> Vec<CommunityShareView> {
        let mut out = Vec::new();
        let mut seen = known.clone();
        for m in self.v1_members(c) {
            for s in &m.shares {
                if !seen.insert(s.share_id) {
                    continue;
                }
                out.push(CommunityShareView {
                    share_id: s.share_id,
                    share_pubkey: s.share_pubkey,
                    seq: s.latest_seq,
                    manifest_id: s.latest_manifest_id,
                    title: s.title.clone(),
                    description: s.description.clone(),
                    publisher: Some(m.node_pubkey),
                    is_own: false,
                    v1: true,
                    link: ShareLink::new(s.share_pubkey, vec![addr_text(&m.addr)]).to_string(),
                });
            }
        }
        out
    }

    /// Every public share of `c` in this node's view.
    pub(crate) fn share_views(&self, c: &Community) -> Result<Vec<CommunityShareView>> {
        let mut cache = HashMap::new();
        let own: HashSet<ShareId> = self.db.shares()?.into_iter().map(|s| s.share_id).collect();
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let (views, last) = self.share_rows(c, &mut cache, &own, before, MAX_BROWSE_PAGE)?;
            out.extend(views);
            match last {
                Some(l) => before = Some(l),
                None => break,
            }
        }
        let known: HashSet<ShareId> = out.iter().map(|s| s.share_id).collect();
        out.extend(self.v1_share_views(c, &known));
        Ok(out)
    }
}

impl Node {
    /// Members of a joined community as this node sees them (call
    /// [`Node::community_refresh`] to read the network first).
    pub fn community_members(&self, target: &str) -> Result<Vec<MemberView>> {
        let c = self.inner.find_community(target)?;
        self.inner.member_views(&c)
    }

    /// Public shares bound to a joined community, each with a link to subscribe from.
    pub fn community_shares(&self, target: &str) -> Result<Vec<CommunityShareView>> {
        let c = self.inner.find_community(target)?;
        self.inner.share_views(&c)
    }

    /// One page of members or shares, newest change first. The cursor is opaque and
    /// tamper-checked; v1 members and their shares come on the first page.
    pub fn community_browse(&self, target: &str, q: &BrowseQuery) -> Result<BrowsePage> {
        let inner = &self.inner;
        let c = inner.find_community(target)?;
        let limit = q.limit.unwrap_or(100).clamp(1, MAX_BROWSE_PAGE);
        let kind = match q.kind {
            BrowseKind::Members => KIND_MEMBERS,
            BrowseKind::Shares => KIND_SHARES,
        };
        let before = match &q.cursor {
            None => None,
            Some(h) => {
                let bytes = hex::decode(h).map_err(|_| NodeError::Invalid("a browse cursor is hex".into()))?;
                let cur = RecordCursor::open(&bytes, &inner.community.cursor_secret, &c.share_id)?;
                if cur.kinds != kind {
                    return Err(NodeError::Invalid("this cursor belongs to the other list".into()));
                }
                Some(cur.after_rev)
            }
        };
        let seal = |rev: u64| {
            hex::encode(RecordCursor { kinds: kind, after_rev: rev }.seal(&inner.community.cursor_secret, &c.share_id))
        };
        let mut page = BrowsePage::default();
        match q.kind {
            BrowseKind::Shares => {
                let own: HashSet<ShareId> = inner.db.shares()?.into_iter().map(|s| s.share_id).collect();
                let (views, last) = inner.share_rows(&c, &mut HashMap::new(), &own, before, limit)?;
                page.shares = views;
                page.next = last.map(seal);
                if before.is_none() {
                    let known: HashSet<ShareId> = page.shares.iter().map(|s| s.share_id).collect();
                    page.shares.extend(inner.v1_share_views(&c, &known));
                }
            }
            BrowseKind::Members => {
                // Members are few enough to be read whole; the page is cut from the list.
                let all = inner.member_views(&c)?;
                let start = before.unwrap_or(0) as usize;
                let end = (start + limit).min(all.len());
                page.members = all.get(start..end).map(<[_]>::to_vec).unwrap_or_default();
                page.next = (end < all.len()).then(|| seal(end as u64));
            }
        }
        Ok(page)
    }

    /// Reads one page of a peer's record stream of a joined community (`kinds`: 1 members,
    /// 2 shares, 3 both), verifying every record but storing nothing: browsing a large
    /// community at one member without copying it.
    pub async fn community_remote_page(
        &self,
        target: &str,
        peer: &PeerAddr,
        kinds: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<RemotePage> {
        let inner = &self.inner;
        let c = inner.find_community(target)?;
        let cursor = cursor
            .map(|h| hex::decode(h).map_err(|_| NodeError::Invalid("a peer cursor is hex".into())))
            .transpose()?;
        let s = inner.session(peer).await?;
        if !s.peer().has(features::COMMUNITY) {
            return Err(NodeError::Unavailable(format!("{peer} does not serve community records (a v1 peer)")));
        }
        let req = GetCommunityRecords {
            community: c.share_id,
            community_pubkey: c.pubkey,
            kinds,
            cursor,
            limit,
            token: c.membership_token.clone(),
        };
        let p = s.call_timeout(&req, Duration::from_secs(30)).await?;
        let now = unix_now();
        let me = inner.key.public();
        let own: HashSet<ShareId> = inner.db.shares()?.into_iter().map(|s| s.share_id).collect();
        let mut out = RemotePage { next: hex::encode(&p.next), more: p.more, ..Default::default() };
        let mut hints: HashMap<PubKey, Vec<String>> = HashMap::new();
        let ok_members = par_check(&p.members, |r| r.community == c.share_id && r.verify(Some(now)).is_ok());
        let ok_shares = par_check(&p.shares, |r| r.community == c.share_id && r.verify(Some(now)).is_ok());
        for (r, ok) in p.members.into_iter().zip(ok_members) {
            if !ok {
                out.invalid += 1;
                continue;
            }
            let has_token = r.verified_token(&c.pubkey, now).is_ok();
            hints.insert(r.member, r.addrs.iter().map(addr_text).collect());
            if !r.left {
                out.members.push(member_view(&r, &me, has_token));
            }
        }
        for (r, ok) in p.shares.into_iter().zip(ok_shares) {
            if !ok {
                out.invalid += 1;
                continue;
            }
            if !r.withdrawn {
                let h = r.publisher.and_then(|k| hints.get(&k).cloned()).unwrap_or_default();
                out.shares.push(share_view(&r, h, own.contains(&r.share_id())));
            }
        }
        Ok(out)
    }

    /// Reads a peer's whole record stream of a joined community from where this node left
    /// off, storing what is new (an incremental refresh from one member).
    pub async fn community_sync_from(&self, target: &str, peer: &PeerAddr) -> Result<super::SyncStats> {
        let c = self.inner.find_community(target)?;
        let s = self.inner.session(peer).await?;
        if !s.peer().has(features::COMMUNITY) {
            return Err(NodeError::Unavailable(format!("{peer} does not serve community records (a v1 peer)")));
        }
        self.inner.sync_records_from(&c, &s).await
    }

    /// Checks and stores records given directly (imports, tools, benchmarks), as if a member
    /// had pushed them.
    pub fn community_import(
        &self,
        target: &str,
        members: Vec<MemberRecord>,
        shares: Vec<ShareRecord>,
    ) -> Result<super::records::AcceptReport> {
        let c = self.inner.find_community(target)?;
        self.inner.accept_records(&c, members, shares)
    }
}
