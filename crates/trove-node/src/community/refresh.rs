//! Reading the network for one community. Candidates are the addresses in the v1
//! CommunityMembers list (gathered from the DHT nodes closest to the community info key and
//! merged, since each holds the entries it was sent) and those in live member records. Each
//! candidate that announced `community` is read incrementally (GET_COMMUNITY_RECORDS from the
//! cursor saved for it, page by page, every record checked before it is stored) and gets this
//! node's own records; a v1 candidate is asked GET_COMMUNITY_STATUS and, if joined,
//! LIST_COMMUNITY_PUBLIC_SHARES. One bad or silent peer never stops the others.

use super::V1Member;
use super::records::AcceptReport;
use crate::dht_driver::DHT_QUERY_TIMEOUT;
use crate::error::{NodeError, Result};
use crate::events::Event;
use crate::node::Inner;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use trove_net::peer::features;
use trove_net::{NetError, Session};
use trove_proto::wire::community_ext::{KIND_ALL, check_token};
use trove_proto::wire::{
    CommunityMembers, FindValue, GetCommunityRecords, GetCommunityStatus, ListCommunityPublicShares, PeerAddr,
    Transport,
};
use trove_proto::{PubKey, ShareId, cbor, dht_key};
use trove_store::db::{Community, RecordKind, unix_now};

/// Most candidates contacted in one refresh.
pub const MAX_CONTACTS: usize = 32;
/// Candidates contacted at the same time.
const PARALLEL: usize = 8;
/// Records asked for per page.
pub const PAGE_LIMIT: u32 = 1024;
/// Most pages read from one peer in one refresh.
const MAX_PAGES: usize = 4096;
/// Deadline of one request to a member.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Shares asked for from a v1 member.
const V1_MAX_ENTRIES: u16 = 1024;

/// What a refresh found.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RefreshReport {
    pub community: Option<ShareId>,
    /// Addresses considered (DHT list and member records, deduplicated).
    pub candidates: usize,
    /// trove members whose record streams were read.
    pub trove_peers: usize,
    /// v1 members that confirmed they are joined.
    pub v1_members: usize,
    /// Records received and what became of them.
    pub records: AcceptReport,
    /// Peers that took this node's own records.
    pub pushed: usize,
    /// Members and shares in this node's view afterwards.
    pub members: usize,
    pub shares: usize,
    /// Peers that could not be read, with why.
    pub errors: Vec<String>,
}

/// What reading one peer's record stream did.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct SyncStats {
    pub pages: usize,
    pub records: AcceptReport,
}

impl AcceptReport {
    pub(crate) fn add(&mut self, o: &AcceptReport) {
        self.received += o.received;
        self.accepted += o.accepted;
        self.stale += o.stale;
        self.invalid += o.invalid;
    }
}

/// Candidates without this node and its own addresses, one address per node key (TCP
/// first), no address twice, in the order given.
pub(crate) fn dedup_candidates(list: Vec<PeerAddr>, me: &PubKey, own: &[PeerAddr]) -> Vec<PeerAddr> {
    let own: HashSet<String> = own.iter().map(|a| a.dedup_key()).collect();
    let mut list: Vec<(usize, PeerAddr)> = list.into_iter().enumerate().collect();
    // TCP first within each key, otherwise the given order.
    list.sort_by_key(|(i, a)| (a.pubkey_hint.map(|k| k.0), a.transport != Transport::Tcp, *i));
    let mut keys = HashSet::new();
    let mut addrs = HashSet::new();
    let mut out: Vec<(usize, PeerAddr)> = Vec::new();
    for (i, a) in list {
        if a.pubkey_hint == Some(*me) || own.contains(&a.dedup_key()) || !addrs.insert(a.dedup_key()) {
            continue;
        }
        if let Some(k) = a.pubkey_hint
            && !keys.insert(k)
        {
            continue;
        }
        out.push((i, a));
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, a)| a).collect()
}

enum Contact {
    Trove { stats: SyncStats, pushed: bool },
    V1(Option<V1Member>),
    Skip,
}

impl Inner {
    /// The community's v1 member list: merged from the DHT nodes closest to the community
    /// info key (and this node's own store).
    pub(crate) async fn dht_member_addrs(self: &Arc<Self>, id: &ShareId) -> Vec<PeerAddr> {
        let key = dht_key::community_info(id);
        let closest = self.closest_nodes(key.target()).await.closest;
        let mut values: Vec<Vec<u8>> =
            self.dht.lock().expect("dht").store_mut().get(&key, unix_now()).map(|s| s.value).into_iter().collect();
        let asks = closest.into_iter().map(|p| async move {
            let work = async {
                let s = self.session(&p).await?;
                s.call_timeout(&FindValue { key }, DHT_QUERY_TIMEOUT).await
            };
            tokio::time::timeout(DHT_QUERY_TIMEOUT * 2, work).await.ok().and_then(|r| r.ok())
        });
        for r in futures::future::join_all(asks).await.into_iter().flatten() {
            if let Some(v) = r.value
                && v.key == key
            {
                values.push(v.value);
            }
        }
        let mut out = Vec::new();
        for v in values {
            if let Ok(m) = cbor::from_slice::<CommunityMembers>(&v)
                && m.community_share_id == *id
            {
                out.extend(m.members);
            }
        }
        out
    }

    /// Addresses from the newest live member records (not this node's), at most `max` members.
    pub(crate) fn record_member_addrs(&self, c: &Community, max: usize) -> Vec<PeerAddr> {
        let me = self.key.public();
        let rows = self.db.community_live_members(&c.share_id, unix_now()).unwrap_or_default();
        rows.iter()
            .filter(|r| r.subject != me.0)
            .take(max)
            .filter_map(super::records::decode_member)
            .flat_map(|m| {
                let key = m.member;
                m.addrs.into_iter().map(move |a| PeerAddr { pubkey_hint: Some(key), ..a })
            })
            .collect()
    }

    /// Reads `s`'s record stream of `c` from the saved cursor to its end, storing what is
    /// new and valid and saving the cursor after every page.
    pub(crate) async fn sync_records_from(self: &Arc<Self>, c: &Community, s: &Session) -> Result<SyncStats> {
        let peer = s.peer().node_pubkey;
        let mut cursor = self.db.community_cursor(&c.share_id, &peer, KIND_ALL)?;
        let mut stats = SyncStats::default();
        let mut restarted = false;
        while stats.pages < MAX_PAGES {
            let req = GetCommunityRecords {
                community: c.share_id,
                community_pubkey: c.pubkey,
                kinds: KIND_ALL,
                cursor: cursor.clone(),
                limit: PAGE_LIMIT,
                token: c.membership_token.clone(),
            };
            let page = match s.call_timeout(&req, REQUEST_TIMEOUT).await {
                Ok(p) => p,
                // The peer no longer knows our position (its database is new): from the start.
                Err(NetError::Remote { message, .. }) if message.contains("cursor") && !restarted => {
                    restarted = true;
                    cursor = None;
                    self.db.set_community_cursor(&c.share_id, &peer, KIND_ALL, None)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if page.community != c.share_id {
                return Err(NodeError::Invalid(format!("{} answered for another community", s.peer().addr)));
            }
            stats.pages += 1;
            let me = self.clone();
            let c2 = c.clone();
            let (members, shares) = (page.members, page.shares);
            let rep = tokio::task::spawn_blocking(move || me.accept_records(&c2, members, shares))
                .await
                .map_err(crate::publish::join_err)??;
            stats.records.add(&rep);
            self.db.set_community_cursor(&c.share_id, &peer, KIND_ALL, Some(&page.next))?;
            cursor = Some(page.next);
            if !page.more {
                break;
            }
        }
        Ok(stats)
    }

    /// Asks a v1 peer whether it is a member and, if so, which public shares it lists.
    async fn ask_v1(&self, c: &Community, s: &Session, addr: &PeerAddr) -> Result<Option<V1Member>> {
        let status = s
            .call_timeout(
                &GetCommunityStatus { community_share_id: c.share_id, community_share_pubkey: c.pubkey },
                REQUEST_TIMEOUT,
            )
            .await?;
        if status.community_share_id != c.share_id || !status.joined {
            return Ok(None);
        }
        let now = unix_now();
        let peer = s.peer().node_pubkey;
        let has_token = status
            .membership_proof
            .as_deref()
            .is_some_and(|t| check_token(t, &c.pubkey, &c.share_id, &peer, now).is_ok());
        if c.strict && !has_token {
            return Ok(None);
        }
        let list = s
            .call_timeout(
                &ListCommunityPublicShares {
                    community_share_id: c.share_id,
                    community_share_pubkey: c.pubkey,
                    max_entries: V1_MAX_ENTRIES,
                    requester_node_pubkey: Some(self.key.public()),
                    requester_membership_proof: c.membership_token.clone(),
                },
                REQUEST_TIMEOUT,
            )
            .await;
        let shares = match list {
            Ok(l) if l.community_share_id == c.share_id => {
                l.shares.into_iter().filter(|x| x.share_pubkey.share_id() == x.share_id).collect()
            }
            _ => Vec::new(),
        };
        Ok(Some(V1Member { node_pubkey: peer, addr: addr.clone(), has_token, shares, seen_at: now }))
    }

    async fn contact(self: &Arc<Self>, c: &Community, addr: &PeerAddr, own: &super::OwnRecords) -> Result<Contact> {
        let s = match tokio::time::timeout(REQUEST_TIMEOUT, self.session(addr)).await {
            Ok(r) => r?,
            Err(_) => return Err(NodeError::Unavailable(format!("{addr}: no session within the deadline"))),
        };
        if s.peer().node_pubkey == self.key.public() {
            return Ok(Contact::Skip);
        }
        if s.peer().has(features::COMMUNITY) {
            let stats = self.sync_records_from(c, &s).await?;
            // In a strict community only members known to hold a token get this node's
            // records (they are stored only with one).
            let peer = s.peer().node_pubkey;
            if c.strict
                && !self
                    .db
                    .community_record(&c.share_id, RecordKind::Member, &peer.0)?
                    .is_some_and(|r| !r.tombstone && r.expires_at > unix_now())
            {
                return Ok(Contact::Trove { stats, pushed: false });
            }
            let put = trove_proto::wire::PutCommunityRecords {
                community: c.share_id,
                community_pubkey: c.pubkey,
                members: own.0.iter().take(super::serve::MAX_PUSH_MEMBERS).cloned().collect(),
                shares: own.1.iter().take(super::serve::MAX_PUSH_SHARES).cloned().collect(),
                token: c.membership_token.clone(),
            };
            let pushed = s.call_timeout(&put, REQUEST_TIMEOUT).await.is_ok();
            return Ok(Contact::Trove { stats, pushed });
        }
        Ok(Contact::V1(self.ask_v1(c, &s, addr).await?))
    }

    /// Refreshes one community: reads every candidate (at most [`MAX_CONTACTS`]), stores
    /// what is new, replaces the set of v1 members seen, and reports.
    pub(crate) async fn refresh_community(self: &Arc<Self>, c: &Community) -> RefreshReport {
        let _g = self.community.refresh_lock.lock().await;
        let mut rep = RefreshReport { community: Some(c.share_id), ..Default::default() };
        let me = self.clone();
        let c2 = c.clone();
        let own = match tokio::task::spawn_blocking(move || me.own_records(&c2)).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                rep.errors.push(format!("own records: {e}"));
                (Vec::new(), Vec::new())
            }
            Err(e) => {
                rep.errors.push(format!("own records: {e}"));
                (Vec::new(), Vec::new())
            }
        };
        let mut cands = self.dht_member_addrs(&c.share_id).await;
        cands.extend(self.record_member_addrs(c, MAX_CONTACTS * 2));
        let cands = dedup_candidates(cands, &self.key.public(), &self.advertised);
        rep.candidates = cands.len();
        let own = &own;
        let results: Vec<(PeerAddr, Result<Contact>)> = futures::stream::iter(cands.into_iter().take(MAX_CONTACTS))
            .map(|a| async move {
                let r = self.contact(c, &a, own).await;
                (a, r)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut v1 = Vec::new();
        let mut seen_keys = HashSet::new();
        for (addr, r) in results {
            match r {
                Ok(Contact::Trove { stats, pushed }) => {
                    rep.trove_peers += 1;
                    rep.records.add(&stats.records);
                    rep.pushed += usize::from(pushed);
                }
                Ok(Contact::V1(Some(m))) => {
                    if seen_keys.insert(m.node_pubkey) {
                        v1.push(m);
                    }
                }
                Ok(Contact::V1(None)) | Ok(Contact::Skip) => {}
                Err(e) => rep.errors.push(format!("{addr}: {e}")),
            }
        }
        rep.v1_members = v1.len();
        let before: HashSet<PubKey> = {
            let mut map = self.community.v1.lock().expect("v1 members");
            let before = map.get(&c.share_id).map(|l| l.iter().map(|m| m.node_pubkey).collect()).unwrap_or_default();
            map.insert(c.share_id, v1.clone());
            before
        };
        for m in &v1 {
            let known = self.db.community_record(&c.share_id, RecordKind::Member, &m.node_pubkey.0).ok().flatten();
            if !before.contains(&m.node_pubkey) && known.is_none_or(|r| r.tombstone) {
                self.emit(Event::CommunityMemberSeen {
                    community: c.share_id.to_hex(),
                    node_pubkey: m.node_pubkey.to_hex(),
                    v1: true,
                });
            }
        }
        if let Ok(m) = self.member_views(c) {
            rep.members = m.len();
        }
        if let Ok(s) = self.share_views(c) {
            rep.shares = s.len();
        }
        self.emit(Event::CommunityRefreshed {
            community: c.share_id.to_hex(),
            members: rep.members,
            shares: rep.shares,
        });
        rep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_deduplicated_per_key_tcp_first_without_self() {
        let (me, a, b) = (PubKey([1; 32]), PubKey([2; 32]), PubKey([3; 32]));
        let at = |port: u16, t: Transport, k: Option<PubKey>| PeerAddr {
            pubkey_hint: k,
            ..PeerAddr::new(([127, 0, 0, 1], port).into(), t)
        };
        let own = vec![at(9, Transport::Tcp, Some(me))];
        let list = vec![
            at(20, Transport::Quic, Some(a)),
            at(21, Transport::Tcp, Some(a)),
            at(9, Transport::Tcp, None),
            at(30, Transport::Tcp, Some(me)),
            at(40, Transport::Tcp, None),
            at(40, Transport::Tcp, None),
            at(50, Transport::Quic, Some(b)),
        ];
        let out = dedup_candidates(list, &me, &own);
        let ports: Vec<u16> = out.iter().map(|p| p.port).collect();
        assert_eq!(ports, vec![21, 40, 50]);
    }
}
