//! Keeping the search index in step with manifests: own shares on publish, subscriptions on
//! sync, removal on unsubscribe, a rebuild from the database when the index is missing or
//! was damaged, and blocklist shares (their `blocklist` item, SCP2P-WIRE.md §15) applied to
//! results. Index work runs on blocking threads; failures are logged and never block a sync.

use crate::error::{NodeError, Result};
use crate::events::Event;
use crate::node::{Inner, Node};
use std::sync::Arc;
use trove_proto::ShareId;
use trove_proto::wire::{BlocklistRules, Manifest, Payload};
use trove_store::db::{Subscription, Trust};
use trove_store::search::{SearchQuery, SearchResults, ShareMeta};

fn meta(m: &Manifest, trust: Trust, weight: f64, own: bool) -> ShareMeta {
    ShareMeta {
        share_id: m.share_id,
        title: m.title.clone(),
        description: m.description.clone(),
        trust,
        weight: weight.clamp(0.0, 1000.0) as f32,
        own,
    }
}

/// Indexes a manifest before returning, so a command that exits right after a publish or
/// a sync leaves the index up to date.
async fn index_now(inner: &Arc<Inner>, meta: ShareMeta, manifest: Manifest) {
    let me = inner.clone();
    let items = manifest.items.len();
    let id = meta.share_id;
    let r = tokio::task::spawn_blocking(move || me.search.index_share(&meta, &manifest)).await;
    match r {
        Ok(Ok(())) => inner.emit(Event::IndexUpdated { share_id: id.to_hex(), items }),
        Ok(Err(e)) => tracing::warn!("indexing share {}: {e}", id.short()),
        Err(e) => tracing::warn!("indexing share {}: {e}", id.short()),
    }
}

/// Indexes a revision of one of our own shares.
pub(crate) async fn index_own(inner: &Arc<Inner>, manifest: &Manifest) {
    index_now(inner, meta(manifest, Trust::Trusted, 1.0, true), manifest.clone()).await;
}

/// Indexes a subscription's new manifest (and reloads its rules if it is a blocklist).
pub(crate) async fn index_subscription(inner: &Arc<Inner>, sub: &Subscription, manifest: &Manifest) {
    index_now(inner, meta(manifest, sub.trust, sub.weight, false), manifest.clone()).await;
    if sub.is_blocklist {
        let me = inner.clone();
        let m = manifest.clone();
        inner.spawn(async move { me.load_blocklist(&m).await });
    }
}

/// Applies new trust or weight options of a subscription to its search results before
/// returning, so a command that exits right after (or the next search) sees them.
pub(crate) async fn update_options(inner: &Arc<Inner>, sub: &Subscription) {
    let me = inner.clone();
    let (id, trust, weight) = (sub.share_id, sub.trust, sub.weight as f32);
    let _ = tokio::task::spawn_blocking(move || me.search.set_share_options(&id, trust, weight)).await;
}

/// Stops applying a share's blocklist rules.
pub(crate) fn forget_blocklist(inner: &Arc<Inner>, share: &ShareId) {
    inner.blocklists.lock().expect("blocklists").remove(share);
    inner.apply_blocklists();
    let _ = std::fs::remove_file(inner.blocklist_file(share));
}

/// Removes a share from the index (and its blocklist rules).
pub(crate) fn remove_share(inner: &Arc<Inner>, share: &ShareId) {
    inner.blocklists.lock().expect("blocklists").remove(share);
    inner.apply_blocklists();
    let me = inner.clone();
    let id = *share;
    inner.spawn(async move {
        let _ = tokio::task::spawn_blocking(move || me.search.remove_share(&id)).await;
    });
}

impl Inner {
    /// Every manifest the index should hold: own shares' latest and subscriptions' current.
    fn wanted_in_index(&self) -> Result<Vec<(ShareMeta, Manifest)>> {
        let mut all = Vec::new();
        for s in self.db.shares()? {
            if let Some(m) = crate::views::own_latest(&self.db, &s.share_id)? {
                all.push((meta(&m, Trust::Trusted, 1.0, true), m));
            }
        }
        for s in self.db.subscriptions()? {
            if let Some(id) = s.manifest_id
                && let Some(m) = crate::views::manifest(&self.db, &id)?
            {
                all.push((meta(&m, s.trust, s.weight, false), m));
            }
        }
        Ok(all)
    }

    /// Rebuilds the index from every stored manifest of own shares and subscriptions.
    pub(crate) fn rebuild_index(&self) -> Result<u64> {
        Ok(self.search.rebuild(self.wanted_in_index()?)?)
    }

    /// Brings an existing index in line with the database (after a crash between storing a
    /// manifest and indexing it, or an unsubscribe that did not finish): shares at the wrong
    /// revision are re-indexed, shares no longer followed are removed.
    pub(crate) fn reconcile_index(&self) -> Result<usize> {
        let wanted = self.wanted_in_index()?;
        let have: std::collections::HashMap<ShareId, u64> =
            self.search.shares().into_iter().map(|s| (s.meta.share_id, s.seq)).collect();
        let mut changed = 0;
        for (meta, m) in &wanted {
            if have.get(&meta.share_id) != Some(&m.seq) {
                self.search.index_share(meta, m)?;
                changed += 1;
            }
        }
        let keep: std::collections::HashSet<ShareId> = wanted.iter().map(|(meta, _)| meta.share_id).collect();
        for id in have.keys().filter(|id| !keep.contains(id)) {
            self.search.remove_share(id)?;
            changed += 1;
        }
        Ok(changed)
    }

    fn apply_blocklists(&self) {
        let rules: Vec<BlocklistRules> = self.blocklists.lock().expect("blocklists").values().cloned().collect();
        self.search.set_blocklist(&rules);
    }

    fn blocklist_file(&self, share: &ShareId) -> std::path::PathBuf {
        self.cfg.data_dir.join("blocklists").join(format!("{}.cbor", share.to_hex()))
    }

    /// Loads the rules saved for blocklist subscriptions (at start).
    /// Applies the saved rules of every blocklist share; one whose rules were never saved
    /// (the process ended before they arrived) or do not decode is fetched again.
    pub(crate) fn load_saved_blocklists(self: &Arc<Self>) {
        let Ok(subs) = self.db.subscriptions() else { return };
        for s in subs.into_iter().filter(|s| s.is_blocklist) {
            if let Ok(bytes) = std::fs::read(self.blocklist_file(&s.share_id))
                && let Ok(r) = BlocklistRules::from_payload(&bytes)
            {
                self.blocklists.lock().expect("blocklists").insert(s.share_id, r);
            } else if let Some(id) = s.manifest_id
                && let Ok(Some(m)) = crate::views::manifest(&self.db, &id)
            {
                let me = self.clone();
                self.spawn(async move { me.load_blocklist(&m).await });
            }
        }
        self.apply_blocklists();
    }

    /// Downloads a blocklist share's `blocklist` item, checks it decodes, and applies it.
    pub(crate) async fn load_blocklist(self: &Arc<Self>, m: &Manifest) {
        let Some(item) = m.items.iter().find(|i| i.name == trove_proto::wire::blocklist::BLOCKLIST_ITEM_NAME) else {
            tracing::warn!("blocklist share {} has no item named 'blocklist'", m.share_id.short());
            return;
        };
        let file = self.blocklist_file(&m.share_id);
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let node = Node { inner: self.clone() };
        if let Err(e) = node.fetch(&item.content_id, &file, true).await {
            tracing::warn!("fetching the rules of blocklist {}: {e}", m.share_id.short());
            return;
        }
        match std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| BlocklistRules::from_payload(&b).map_err(|e| e.to_string()))
        {
            Ok(rules) => {
                self.blocklists.lock().expect("blocklists").insert(m.share_id, rules);
                self.apply_blocklists();
            }
            Err(e) => tracing::warn!("blocklist {} does not decode: {e}", m.share_id.short()),
        }
    }
}

impl Node {
    /// Searches own shares and subscriptions (never the network); see [`SearchQuery`].
    pub async fn search(&self, q: SearchQuery) -> Result<SearchResults> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.search.search(&q).map_err(NodeError::from))
            .await
            .map_err(crate::publish::join_err)?
    }
}
