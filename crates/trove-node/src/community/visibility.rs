//! Share visibility: a private share is never listed to anyone (whoever has its id or link
//! can still subscribe); a public share is listed to LAN peers (LIST_PUBLIC_SHARES, answered
//! with an empty list to addresses beyond the local network) and to the members of the
//! communities it is bound to. Both are properties of the signed manifest,
//! so changing them publishes a new revision (seq + 1) of the same items; the community
//! records follow through the publish hook (tombstones where a share stops being listed).

use crate::error::{NodeError, Result};
use crate::events::Event;
use crate::node::{Inner, Node};
use crate::publish::{PublishResult, join_err};
use std::net::IpAddr;
use std::sync::Arc;
use trove_proto::wire::{Manifest, ShareHead, Visibility};
use trove_proto::{ShareId, ShareLink};
use trove_store::db::unix_now;

impl Node {
    /// Makes one of this node's shares (name or id) public or private: a new revision of the
    /// same items with the new visibility.
    pub async fn set_visibility(&self, share: &str, public: bool) -> Result<PublishResult> {
        let v = if public { Visibility::Public } else { Visibility::Private };
        self.inner.republish(share, |m| m.visibility = v).await
    }

    /// Binds one of this node's shares to exactly these communities: a new revision of the
    /// same items.
    pub async fn set_share_communities(&self, share: &str, communities: Vec<ShareId>) -> Result<PublishResult> {
        let mut list = communities;
        list.dedup();
        if list.len() > trove_proto::limits::MAX_ID_LIST {
            return Err(NodeError::Invalid("too many communities for one share".into()));
        }
        self.inner.republish(share, move |m| m.communities = list).await
    }
}

impl Inner {
    /// Signs a new revision of an own share from its latest manifest changed by `edit`, and
    /// records and announces it like a publish.
    async fn republish(self: &Arc<Self>, share: &str, edit: impl FnOnce(&mut Manifest)) -> Result<PublishResult> {
        let _g = self.publish_lock.lock().await;
        let s = self.db.find_share(share)?;
        let key = self.db.share_key(&s.share_id)?;
        let old = crate::views::own_latest(&self.db, &s.share_id)?
            .ok_or_else(|| NodeError::NotFound(format!("share '{}' has no revision yet: publish it first", s.name)))?;
        let seq = self.db.reserve_seq(&s.share_id)?;
        let now = unix_now();
        let mut m = Manifest { seq, created_at: now, signature: None, ..old };
        edit(&mut m);
        m.sign(&key);
        let manifest_id = m.manifest_id();
        let bytes = m.to_bytes();
        let head = ShareHead::sign(&key, seq, manifest_id, now);
        {
            let db = self.db.clone();
            let (head, bytes, sid) = (head.clone(), bytes.clone(), s.share_id);
            tokio::task::spawn_blocking(move || -> Result<()> {
                db.put_manifest(&manifest_id, &sid, seq, &bytes)?;
                db.record_revision(&sid, seq, &manifest_id)?;
                db.record_head(&head)?;
                Ok(())
            })
            .await
            .map_err(join_err)??;
        }
        self.heads.offer(head.clone());
        self.emit(Event::Published {
            share_id: s.share_id.to_hex(),
            seq,
            manifest_id: manifest_id.to_hex(),
            items: m.items.len(),
        });
        crate::search_hooks::index_own(self, &m).await;
        self.on_published(&m);
        let me = self.clone();
        let m2 = m.clone();
        self.spawn(async move { me.announce(&head, &m2, &bytes).await });
        Ok(PublishResult {
            share_id: s.share_id,
            share_pubkey: key.public(),
            name: s.name,
            seq,
            manifest_id,
            items: m.items.len(),
            bytes: m.items.iter().map(|i| i.size).sum(),
            link: ShareLink::new(key.public(), self.link_hints()).to_string(),
        })
    }
}

/// Whether a peer's address is on the local network: loopback, private IPv4 (10/8,
/// 172.16/12, 192.168/16), link-local, IPv6 unique-local (fc00::/7) and link-local
/// (fe80::/10), also as IPv4-mapped IPv6.
pub fn is_lan(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_lan;

    #[test]
    fn lan_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.5",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.1.5",
        ] {
            assert!(is_lan(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "172.32.0.1", "203.0.113.9", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!is_lan(a.parse().unwrap()), "{a}");
        }
    }
}
