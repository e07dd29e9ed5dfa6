//! Answering peers about communities: GET_COMMUNITY_STATUS and LIST_COMMUNITY_PUBLIC_SHARES
//! as v1 defines them (SCP2P-WIRE.md §4.2), with strict mode checking the membership token
//! against the identity the handshake authenticated (never a self-declared field, §13 S6);
//! and, to peers that announced `community`, the record stream (GET_COMMUNITY_RECORDS) and
//! record pushes (PUT_COMMUNITY_RECORDS).

use crate::node::Inner;
use std::sync::Arc;
use trove_net::PeerInfo;
use trove_net::peer::features;
use trove_proto::wire::community_ext::{KIND_ALL, check_token};
use trove_proto::wire::*;
use trove_proto::{PubKey, cbor};
use trove_store::db::{Community, RecordKind, unix_now};

/// Most records in one page, whatever the request asks.
pub const MAX_PAGE: usize = 1024;
/// Most encoded record bytes in one page (well below the 1 MiB payload limit).
pub const MAX_PAGE_BYTES: usize = 768 * 1024;
/// Most member records taken from one push.
pub const MAX_PUSH_MEMBERS: usize = 16;
/// Most share records taken from one push.
pub const MAX_PUSH_SHARES: usize = 256;
/// Most shares listed in one LIST_COMMUNITY_PUBLIC_SHARES answer.
pub const MAX_V1_LISTED: usize = 4096;

fn ok<P: Payload>(t: MsgType, req: &Envelope, p: &P) -> Envelope {
    Envelope::response(t, req.req_id, p.to_payload())
}

fn err(req: &Envelope, text: &str) -> Envelope {
    Envelope::error(req.msg_type, req.req_id, text)
}

/// In a strict community, the requester must present a token issued to the identity its
/// session authenticated. `Err` is the text sent back.
pub(crate) fn check_requester(c: &Community, token: Option<&[u8]>, peer: &PubKey, now: u64) -> Result<(), String> {
    if !c.strict {
        return Ok(());
    }
    let Some(t) = token else {
        return Err(format!("community {} is strict: a membership token is required", c.share_id.short()));
    };
    check_token(t, &c.pubkey, &c.share_id, peer, now).map(|_| ()).map_err(|e| format!("membership token refused: {e}"))
}

impl Inner {
    fn joined(&self, id: &trove_proto::ShareId, pubkey: &PubKey) -> Result<Community, String> {
        if pubkey.share_id() != *id {
            return Err("community share_id does not match share_pubkey".into());
        }
        match self.db.community(id) {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(format!("not a member of community {}", id.short())),
            Err(e) => Err(format!("cannot read community {}: {e}", id.short())),
        }
    }

    /// GET_COMMUNITY_STATUS (404).
    pub(crate) fn serve_community_status(&self, req: &Envelope, g: &GetCommunityStatus) -> Envelope {
        if g.community_share_pubkey.share_id() != g.community_share_id {
            return err(req, "community share_id does not match share_pubkey");
        }
        let joined = self.db.community(&g.community_share_id).ok().flatten();
        let status = CommunityStatus {
            community_share_id: g.community_share_id,
            joined: joined.is_some(),
            membership_proof: joined.as_ref().and_then(|c| c.membership_token.clone()),
            name: joined.and_then(|c| c.name),
        };
        ok(MsgType::COMMUNITY_STATUS, req, &status)
    }

    /// LIST_COMMUNITY_PUBLIC_SHARES (406): own public shares bound to the community; nothing
    /// when not joined; in strict mode only to a requester whose token names its session
    /// identity (a `requester_node_pubkey` naming someone else is refused as well).
    pub(crate) async fn serve_community_shares(
        &self,
        peer: &PeerInfo,
        req: &Envelope,
        l: &ListCommunityPublicShares,
    ) -> Envelope {
        if l.community_share_pubkey.share_id() != l.community_share_id {
            return err(req, "community share_id does not match share_pubkey");
        }
        let Some(c) = self.db.community(&l.community_share_id).ok().flatten() else {
            let empty = CommunityPublicShareList { community_share_id: l.community_share_id, shares: Vec::new() };
            return ok(MsgType::COMMUNITY_PUBLIC_SHARE_LIST, req, &empty);
        };
        if c.strict {
            if l.requester_node_pubkey.is_some_and(|k| k != peer.node_pubkey) {
                return err(req, "requester_node_pubkey is not the identity of this session");
            }
            if let Err(e) = check_requester(&c, l.requester_membership_proof.as_deref(), &peer.node_pubkey, unix_now())
            {
                return err(req, &e);
            }
        }
        let db = self.db.clone();
        let max = (l.max_entries as usize).min(MAX_V1_LISTED);
        let id = c.share_id;
        let shares =
            tokio::task::spawn_blocking(move || crate::views::public_summaries(&db, Some(id), max).unwrap_or_default())
                .await
                .unwrap_or_default();
        ok(MsgType::COMMUNITY_PUBLIC_SHARE_LIST, req, &CommunityPublicShareList { community_share_id: id, shares })
    }

    /// GET_COMMUNITY_RECORDS (4030): the next page of the record stream after the cursor.
    pub(crate) async fn serve_community_records(
        self: &Arc<Self>,
        peer: &PeerInfo,
        req: &Envelope,
        g: GetCommunityRecords,
    ) -> Envelope {
        if !peer.has(features::COMMUNITY) {
            return err(req, &format!("unknown message type {}", req.msg_type.0));
        }
        let c = match self.joined(&g.community, &g.community_pubkey) {
            Ok(c) => c,
            Err(e) => return err(req, &e),
        };
        let now = unix_now();
        if let Err(e) = check_requester(&c, g.token.as_deref(), &peer.node_pubkey, now) {
            return err(req, &e);
        }
        let kinds = g.kinds & KIND_ALL;
        if kinds == 0 {
            return err(req, "kinds must name members (1), shares (2) or both (3)");
        }
        let after = match &g.cursor {
            None => 0,
            Some(b) => match RecordCursor::open(b, &self.community.cursor_secret, &c.share_id) {
                Ok(cur) if cur.kinds == kinds => cur.after_rev,
                Ok(_) => return err(req, "the cursor was made for other record kinds"),
                Err(e) => return err(req, &e.to_string()),
            },
        };
        let limit = (g.limit as usize).clamp(1, MAX_PAGE);
        let me = self.clone();
        let page = tokio::task::spawn_blocking(move || me.records_page(&c, kinds, after, limit, now)).await;
        match page {
            Ok(Ok(p)) => ok(MsgType::COMMUNITY_RECORDS, req, &p),
            Ok(Err(e)) => err(req, &format!("cannot read community records: {e}")),
            Err(_) => err(req, "cannot read community records"),
        }
    }

    /// One page of the record stream: up to `limit` records (and [`MAX_PAGE_BYTES`]) after
    /// change number `after`, with the sealed cursor of the last one included.
    pub(crate) fn records_page(
        &self,
        c: &Community,
        kinds: u8,
        after: u64,
        limit: usize,
        now: u64,
    ) -> crate::error::Result<CommunityRecords> {
        // One row more than the page tells whether more follow.
        let rows = self.db.community_records_after(&c.share_id, kinds, after, limit + 1, now)?;
        let mut more = rows.len() > limit;
        let (mut members, mut shares) = (Vec::new(), Vec::new());
        let (mut last, mut bytes) = (after, 0usize);
        for row in rows.into_iter().take(limit) {
            if bytes + row.record.len() > MAX_PAGE_BYTES && bytes > 0 {
                more = true;
                break;
            }
            bytes += row.record.len();
            last = row.rev;
            match row.kind {
                RecordKind::Member => members.extend(cbor::from_slice::<MemberRecord>(&row.record).ok()),
                RecordKind::Share => shares.extend(cbor::from_slice::<ShareRecord>(&row.record).ok()),
            }
        }
        let next = RecordCursor { kinds, after_rev: last }.seal(&self.community.cursor_secret, &c.share_id);
        Ok(CommunityRecords { community: c.share_id, members, shares, next, more })
    }

    /// PUT_COMMUNITY_RECORDS (4032): records a member pushes (its own after a change, or
    /// tombstones when leaving). Checked like any received record.
    pub(crate) async fn serve_put_community_records(
        self: &Arc<Self>,
        peer: &PeerInfo,
        req: &Envelope,
        p: PutCommunityRecords,
    ) -> Envelope {
        if !peer.has(features::COMMUNITY) {
            return err(req, &format!("unknown message type {}", req.msg_type.0));
        }
        let c = match self.joined(&p.community, &p.community_pubkey) {
            Ok(c) => c,
            Err(e) => return err(req, &e),
        };
        // A member leaving has given up its token; its own tombstone is always accepted.
        let only_own_tombstone =
            p.shares.iter().all(|s| s.withdrawn) && p.members.iter().all(|m| m.left && m.member == peer.node_pubkey);
        if !only_own_tombstone && let Err(e) = check_requester(&c, p.token.as_deref(), &peer.node_pubkey, unix_now()) {
            return err(req, &e);
        }
        // Pushes are small (a member's own records); more is read from streams, so the
        // signature checks one request can cause stay bounded.
        let mut p = p;
        let refused = p.members.len().saturating_sub(MAX_PUSH_MEMBERS) + p.shares.len().saturating_sub(MAX_PUSH_SHARES);
        p.members.truncate(MAX_PUSH_MEMBERS);
        p.shares.truncate(MAX_PUSH_SHARES);
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || me.accept_records(&c, p.members, p.shares)).await;
        match r {
            Ok(Ok(rep)) => ok(
                MsgType::COMMUNITY_RECORDS_ACCEPTED,
                req,
                &CommunityRecordsAccepted {
                    accepted: rep.accepted as u32,
                    rejected: (rep.stale + rep.invalid + refused) as u32,
                },
            ),
            Ok(Err(e)) => err(req, &format!("cannot store community records: {e}")),
            Err(_) => err(req, "cannot store community records"),
        }
    }
}
