//! Telling the network about membership and keeping it current: the v1 CommunityMembers
//! entry in the DHT (republished by the DHT driver like every owned value, withdrawn by an
//! empty list on leaving), pushes of fresh records to a few members, the hook that updates
//! share records after every publish, and the periodic pass that renews own records, drops
//! expired ones and refreshes every joined community.

use crate::node::Inner;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;
use trove_proto::wire::{CommunityMembers, Manifest, MemberRecord, PeerAddr, PutCommunityRecords, ShareRecord};
use trove_proto::{cbor, dht_key};
use trove_store::db::{Community, unix_now};

/// Members a change is pushed to at once.
pub const PUSH_FANOUT: usize = 8;
/// Deadline of one push.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl Inner {
    /// Stores this node's addresses in the community's CommunityMembers list (v1 compatible;
    /// the DHT driver republishes it while the node runs). Returns how many peers stored it.
    pub(crate) async fn announce_membership(self: &Arc<Self>, c: &Community) -> usize {
        let value = CommunityMembers {
            community_share_id: c.share_id,
            members: self.community_addrs(),
            updated_at: unix_now(),
        };
        if value.members.is_empty() {
            return 0;
        }
        self.dht_put(dht_key::community_info(&c.share_id), cbor::to_vec(&value)).await
    }

    /// Withdraws this node's entry: an empty list replaces its contribution at trove storage
    /// nodes (v1 storage nodes cannot remove entries; readers confirm members with
    /// GET_COMMUNITY_STATUS), and the value is no longer republished.
    pub(crate) async fn withdraw_membership(self: &Arc<Self>, c: &Community) {
        let key = dht_key::community_info(&c.share_id);
        let value = CommunityMembers { community_share_id: c.share_id, members: Vec::new(), updated_at: unix_now() };
        self.dht_put(key, cbor::to_vec(&value)).await;
        self.dht.lock().expect("dht").unpublish(&key);
    }

    /// Sends records to up to [`PUSH_FANOUT`] of `targets` that announced `community`, in
    /// parallel; returns how many took them.
    pub(crate) async fn push_records(
        self: &Arc<Self>,
        c: &Community,
        members: Vec<MemberRecord>,
        shares: Vec<ShareRecord>,
        targets: Vec<PeerAddr>,
    ) -> usize {
        if members.is_empty() && shares.is_empty() {
            return 0;
        }
        let (mut members, mut shares) = (members, shares);
        members.truncate(super::serve::MAX_PUSH_MEMBERS);
        shares.truncate(super::serve::MAX_PUSH_SHARES);
        let put = PutCommunityRecords {
            community: c.share_id,
            community_pubkey: c.pubkey,
            members,
            shares,
            token: c.membership_token.clone(),
        };
        let me = self.key.public();
        let sends = targets.into_iter().take(PUSH_FANOUT * 2).map(|addr| {
            let put = put.clone();
            async move {
                let work = async {
                    let s = self.session(&addr).await.ok()?;
                    if s.peer().node_pubkey == me || !s.peer().has(trove_net::peer::features::COMMUNITY) {
                        return None;
                    }
                    s.call_timeout(&put, PUSH_TIMEOUT).await.ok()
                };
                tokio::time::timeout(PUSH_TIMEOUT * 2, work).await.ok().flatten()
            }
        });
        let results = futures::future::join_all(sends).await;
        results.into_iter().flatten().take(PUSH_FANOUT).count()
    }

    /// Addresses of members to push to: live member records (most recent first), then the
    /// DHT list when `with_dht` (not in a strict community: records go only to members known
    /// to hold tokens).
    pub(crate) async fn push_targets(self: &Arc<Self>, c: &Community, with_dht: bool) -> Vec<PeerAddr> {
        let mut out = self.record_member_addrs(c, PUSH_FANOUT * 4);
        if with_dht && !c.strict {
            out.extend(self.dht_member_addrs(&c.share_id).await);
        }
        crate::community::refresh::dedup_candidates(out, &self.key.public(), &self.advertised)
    }

    /// After a publish: updates this node's share records in every joined community and
    /// pushes the changes to a few members in the background.
    pub(crate) fn on_published(self: &Arc<Self>, _manifest: &Manifest) {
        let communities = match self.db.communities() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot read communities after publishing: {e}");
                return;
            }
        };
        for c in communities {
            match self.sync_own_shares(&c, false) {
                Ok(changed) if !changed.is_empty() => {
                    let me = self.clone();
                    self.spawn(async move {
                        let targets = me.push_targets(&c, false).await;
                        me.push_records(&c, Vec::new(), changed, targets).await;
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot update the records of community {}: {e}", c.share_id.short()),
            }
        }
    }

    /// Upkeep of one community: fresh own records, the DHT announcement.
    async fn upkeep(self: &Arc<Self>, c: &Community) {
        let me = self.clone();
        let c2 = c.clone();
        let r = tokio::task::spawn_blocking(move || me.own_records(&c2)).await;
        if let Ok(Err(e)) = r {
            tracing::warn!("cannot renew the records of community {}: {e}", c.share_id.short());
        }
        self.announce_membership(c).await;
    }
}

/// The periodic pass: at start, renew own records and re-announce membership in the DHT;
/// then every `community_refresh_secs`, delete expired records and refresh every joined
/// community (which renews this node's own records).
pub(crate) async fn run_loop(weak: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    let mut first = true;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let interval = Duration::from_secs(inner.cfg.community_refresh_secs.max(5));
        let communities = inner.db.communities().unwrap_or_default();
        if let Err(e) = inner.db.expire_community_records(unix_now()) {
            tracing::warn!("cannot delete expired community records: {e}");
        }
        for c in &communities {
            if first {
                // Announcements live in memory: after a start they are made again. (Views
                // come from the database meanwhile; the first refresh is one interval later,
                // or whenever a front end asks.)
                inner.upkeep(c).await;
            } else {
                // Refreshing renews this node's own records first.
                inner.refresh_community(c).await;
            }
        }
        first = false;
        drop(inner);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
