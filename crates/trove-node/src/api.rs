//! The read-side API front ends use: own shares and their links, subscriptions, share
//! listings as trees, peers, node status, identity, downloads, public shares of reachable
//! peers. Every type here serialises to JSON for the CLI's `--json` and the HTTP API.

use crate::download::get::item_path;
use crate::error::{NodeError, Result};
use crate::node::Node;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use trove_proto::wire::{ListPublicShares, PublicShareSummary, Visibility};
use trove_proto::{ContentId, ManifestId, PubKey, ShareId, ShareLink};
use trove_store::db::{PeerSource, Trust};

/// One of this node's shares.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareInfo {
    pub share_id: ShareId,
    pub share_pubkey: PubKey,
    pub name: String,
    pub seq: Option<u64>,
    pub manifest_id: Option<ManifestId>,
    pub title: Option<String>,
    pub public: bool,
    pub items: usize,
    pub bytes: u64,
    pub link: String,
}

/// A followed share.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubscriptionInfo {
    pub share_id: ShareId,
    pub share_pubkey: Option<PubKey>,
    pub trust: String,
    pub blocklist: bool,
    /// Ranking weight in search.
    pub weight: f64,
    pub seq: Option<u64>,
    pub manifest_id: Option<ManifestId>,
    pub title: Option<String>,
    pub items: Option<usize>,
    pub last_sync_at: Option<u64>,
    pub last_error: Option<String>,
}

/// One entry of a share listing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Path inside the share.
    pub path: String,
    pub name: String,
    /// Folders have no content id; their size is the sum of what they contain.
    pub is_dir: bool,
    pub size: u64,
    pub content_id: Option<ContentId>,
    pub mime: Option<String>,
    pub tags: Vec<String>,
    /// Files below a folder.
    pub files: usize,
}

/// A share's contents at one folder level.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Listing {
    pub share_id: ShareId,
    pub seq: u64,
    pub title: Option<String>,
    pub description: Option<String>,
    pub path: String,
    pub entries: Vec<Entry>,
}

/// A known peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerView {
    pub addr: String,
    pub node_pubkey: Option<PubKey>,
    pub trove: bool,
    pub source: String,
    pub last_ok: Option<u64>,
    pub failures: u32,
}

/// The node at a glance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    pub node_id: String,
    pub node_pubkey: PubKey,
    pub data_dir: String,
    pub listen_tcp: Option<String>,
    pub listen_quic: Option<String>,
    pub advertised: Vec<String>,
    pub extensions: bool,
    pub peers_known: usize,
    pub dht_table: usize,
    pub dht_records: usize,
    pub shares: usize,
    pub subscriptions: usize,
    pub downloads_active: usize,
    pub recovered_database: Option<String>,
}

/// A public share seen at a peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BrowseEntry {
    pub peer: String,
    #[serde(flatten)]
    pub summary: SummaryView,
    pub link: String,
}

/// A serialisable [`PublicShareSummary`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SummaryView {
    pub share_id: ShareId,
    pub share_pubkey: PubKey,
    pub seq: u64,
    pub manifest_id: ManifestId,
    pub title: Option<String>,
    pub description: Option<String>,
}

impl From<&PublicShareSummary> for SummaryView {
    fn from(s: &PublicShareSummary) -> Self {
        SummaryView {
            share_id: s.share_id,
            share_pubkey: s.share_pubkey,
            seq: s.latest_seq,
            manifest_id: s.latest_manifest_id,
            title: s.title.clone(),
            description: s.description.clone(),
        }
    }
}

/// The outcome of a DHT head lookup.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeadLookup {
    pub seq: Option<u64>,
    pub hops: u32,
    pub queried: usize,
}

/// A download in the database.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DownloadView {
    pub id: i64,
    pub path: String,
    pub target: String,
    pub size: u64,
    pub verified_bytes: u64,
    pub state: String,
    pub error: Option<String>,
}

/// Parses a trust level name.
pub fn parse_trust(s: &str) -> Result<Trust> {
    Trust::parse(s)
        .map_err(|_| NodeError::Invalid(format!("unknown trust level '{s}': use trusted, normal or untrusted")))
}

impl Node {
    /// This node's shares.
    pub fn shares(&self) -> Result<Vec<ShareInfo>> {
        let inner = &self.inner;
        let mut out = Vec::new();
        for s in inner.db.shares()? {
            let m = match &s.latest {
                Some(r) => crate::views::manifest(&inner.db, &r.manifest_id)?,
                None => None,
            };
            out.push(ShareInfo {
                share_id: s.share_id,
                share_pubkey: s.pubkey,
                name: s.name.clone(),
                seq: s.latest.as_ref().map(|r| r.seq),
                manifest_id: s.latest.as_ref().map(|r| r.manifest_id),
                title: m.as_ref().and_then(|m| m.title.clone()),
                public: m.as_ref().is_some_and(|m| m.visibility == Visibility::Public),
                items: m.as_ref().map_or(0, |m| m.items.len()),
                bytes: m.as_ref().map_or(0, |m| m.items.iter().map(|i| i.size).sum()),
                link: ShareLink::new(s.pubkey, inner.link_hints()).to_string(),
            });
        }
        Ok(out)
    }

    /// The link of a share (own share name or id, or any followed share with a known key).
    pub fn link(&self, share: &str) -> Result<String> {
        let r = crate::share_ref::parse(share, Some(&self.inner.db))?;
        let own = self.inner.db.share(&r.share_id)?;
        let key = r
            .pubkey
            .or_else(|| own.as_ref().map(|s| s.pubkey))
            .or_else(|| self.inner.db.subscription(&r.share_id).ok().flatten().and_then(|s| s.share_pubkey));
        match key {
            Some(k) => {
                let hints = if own.is_some() { self.inner.link_hints() } else { r.hints };
                Ok(ShareLink::new(k, hints).to_string())
            }
            None => Err(NodeError::NotFound(format!(
                "the public key of share {} is not known yet; sync it first",
                r.share_id
            ))),
        }
    }

    /// Followed shares.
    pub fn subscriptions(&self) -> Result<Vec<SubscriptionInfo>> {
        let inner = &self.inner;
        let mut out = Vec::new();
        for s in inner.db.subscriptions()? {
            let m = s.manifest_id.and_then(|id| crate::views::manifest(&inner.db, &id).ok().flatten());
            out.push(SubscriptionInfo {
                share_id: s.share_id,
                share_pubkey: s.share_pubkey,
                trust: s.trust.as_str().into(),
                blocklist: s.is_blocklist,
                weight: s.weight,
                seq: s.current_seq,
                manifest_id: s.manifest_id,
                title: m.as_ref().and_then(|m| m.title.clone()),
                items: m.as_ref().map(|m| m.items.len()),
                last_sync_at: s.last_sync_at,
                last_error: s.last_error.clone(),
            });
        }
        Ok(out)
    }

    /// A share's contents under `path` (the top when None): folders first, then files.
    pub async fn ls(&self, share: &str, path: Option<&str>) -> Result<Listing> {
        let (m, _) = self.resolve_manifest(share).await?;
        let base = path.unwrap_or("").trim_matches('/').to_string();
        let prefix = if base.is_empty() { String::new() } else { format!("{base}/") };
        let mut dirs: std::collections::BTreeMap<String, (u64, usize)> = Default::default();
        let mut files = Vec::new();
        let mut matched = false;
        for it in &m.items {
            let p = item_path(it);
            if p == base {
                matched = true;
                files.push(entry_for(it, p.clone()));
                continue;
            }
            let Some(rest) = p.strip_prefix(&prefix) else { continue };
            matched = true;
            match rest.split_once('/') {
                Some((dir, _)) => {
                    let e = dirs.entry(dir.to_string()).or_default();
                    e.0 += it.size;
                    e.1 += 1;
                }
                None => files.push(entry_for(it, p.clone())),
            }
        }
        if !matched && !base.is_empty() {
            return Err(NodeError::NotFound(format!("'{base}' is not a file or folder in this share")));
        }
        let mut entries: Vec<Entry> = dirs
            .into_iter()
            .map(|(name, (size, files))| Entry {
                path: format!("{prefix}{name}"),
                name,
                is_dir: true,
                size,
                content_id: None,
                mime: None,
                tags: Vec::new(),
                files,
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        entries.extend(files);
        Ok(Listing {
            share_id: m.share_id,
            seq: m.seq,
            title: m.title,
            description: m.description,
            path: base,
            entries,
        })
    }

    /// Looks up a share's head in the DHT (for diagnostics and benchmarks): the freshest
    /// verified seq found, the lookup's hops and how many peers it queried.
    pub async fn lookup_head(&self, share_pubkey: PubKey) -> HeadLookup {
        let target = trove_dht::ValueTarget::share_head(share_pubkey);
        let r = self.inner.dht_lookup_with(target, &[]).await;
        let seq = r
            .value
            .as_ref()
            .and_then(|f| trove_proto::cbor::from_slice::<trove_proto::wire::ShareHead>(&f.store.value).ok())
            .map(|h| h.latest_seq);
        HeadLookup { seq, hops: r.hops, queried: r.queried }
    }

    /// Whether this node's DHT store holds a live value for `key`.
    pub fn dht_has(&self, key: &trove_proto::DhtKey) -> bool {
        self.inner.dht.lock().expect("dht").store_mut().get(key, trove_store::db::unix_now()).is_some()
    }

    /// Peers known to this node, best first.
    pub fn peers(&self) -> Vec<PeerView> {
        self.inner
            .peers
            .best(usize::MAX)
            .into_iter()
            .map(|k| PeerView {
                addr: k.addr.to_string(),
                node_pubkey: k.verified_key,
                trove: k.trove,
                source: format!("{:?}", k.source).to_lowercase(),
                last_ok: k.last_ok,
                failures: k.failures,
            })
            .collect()
    }

    /// The node at a glance.
    pub fn status(&self) -> Result<Status> {
        let inner = &self.inner;
        let (table, records) = {
            let dht = inner.dht.lock().expect("dht");
            (dht.table().len(), dht.store().len())
        };
        let downloads = inner.db.downloads()?;
        Ok(Status {
            node_id: inner.key.node_id().to_hex(),
            node_pubkey: inner.key.public(),
            data_dir: inner.cfg.data_dir.display().to_string(),
            listen_tcp: inner.endpoint.tcp_addr().map(|a| a.to_string()),
            listen_quic: inner.endpoint.quic_addr().map(|a| a.to_string()),
            advertised: inner.advertised.iter().map(|a| a.to_string()).collect(),
            extensions: inner.cfg.extensions,
            peers_known: inner.peers.len(),
            dht_table: table,
            dht_records: records,
            shares: inner.db.shares()?.len(),
            subscriptions: inner.db.subscriptions()?.len(),
            downloads_active: downloads
                .iter()
                .filter(|d| {
                    matches!(d.state, trove_store::db::DownloadState::Running | trove_store::db::DownloadState::Queued)
                })
                .count(),
            recovered_database: inner.db.recovery().map(|r| r.moved_to.display().to_string()),
        })
    }

    /// Downloads recorded in the database, newest first.
    pub fn downloads(&self) -> Result<Vec<DownloadView>> {
        let mut v: Vec<DownloadView> = self
            .inner
            .db
            .downloads()?
            .into_iter()
            .map(|d| DownloadView {
                id: d.id.0,
                path: d.item_path.clone(),
                target: d.target_path.display().to_string(),
                size: d.size,
                verified_bytes: (0..d.chunk_count)
                    .filter(|i| d.is_verified(*i))
                    .map(|i| trove_proto::content::chunk_len(d.size, i as u64).unwrap_or(0) as u64)
                    .sum(),
                state: d.state.as_str().into(),
                error: d.error.clone(),
            })
            .collect();
        v.reverse();
        Ok(v)
    }

    /// Public shares of reachable peers: LAN peers, bootstrap peers and recently reachable
    /// ones are asked with LIST_PUBLIC_SHARES.
    pub async fn browse(&self) -> Result<Vec<BrowseEntry>> {
        let inner = self.inner.clone();
        let mut peers: Vec<_> = inner.peers.from_source(PeerSource::Lan).into_iter().map(|k| k.dial_addr()).collect();
        peers.extend(inner.bootstrap.iter().cloned());
        peers.extend(inner.peers.best(32).into_iter().filter(|k| k.last_ok.is_some()).map(|k| k.dial_addr()));
        let own: std::collections::HashSet<String> = inner.advertised.iter().map(|a| a.dedup_key()).collect();
        let mut seen = std::collections::HashSet::new();
        peers.retain(|p| !own.contains(&p.dedup_key()) && seen.insert(p.dedup_key()));
        let asks = peers.into_iter().map(|p| {
            let inner = inner.clone();
            async move {
                let r = async {
                    let s = inner.session(&p).await?;
                    s.call_timeout(&ListPublicShares { max_entries: 64 }, Duration::from_secs(5)).await
                };
                let r = tokio::time::timeout(Duration::from_secs(8), r).await;
                (p, r)
            }
        });
        let mut out = Vec::new();
        let mut seen_shares = std::collections::HashSet::new();
        for (p, r) in futures::future::join_all(asks).await {
            let Ok(Ok(list)) = r else { continue };
            for s in list.shares {
                // A listed key must belong to the listed id; anything else is dropped.
                if s.share_pubkey.share_id() != s.share_id || !seen_shares.insert(s.share_id) {
                    continue;
                }
                let hint = format!("{}://{}", p.transport.as_str(), p.socket_addr());
                out.push(BrowseEntry {
                    peer: p.to_string(),
                    summary: SummaryView::from(&s),
                    link: ShareLink::new(s.share_pubkey, vec![hint]).to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Exports a share key seed (hex). Asks for the passphrase when keys are protected.
    pub fn export_share_key(&self, share: &str, passphrase: Option<&str>) -> Result<String> {
        let r = crate::share_ref::parse(share, Some(&self.inner.db))?;
        Ok(hex::encode(self.inner.db.export_share_key(&r.share_id, passphrase)?))
    }

    /// Imports a share key seed (hex) under a name, so this node can publish revisions of it.
    pub fn import_share_key(&self, seed_hex: &str, name: &str) -> Result<ShareInfo> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(seed_hex.trim(), &mut seed)
            .map_err(|_| NodeError::Invalid("a share key is 64 hex digits".into()))?;
        let info = self.inner.db.import_share_key(seed)?;
        if self.inner.db.share(&info.share_id)?.is_none() {
            self.inner.db.create_share_with_key(name, &info.share_id)?;
        }
        self.shares()?
            .into_iter()
            .find(|s| s.share_id == info.share_id)
            .ok_or_else(|| NodeError::NotFound("imported share not found".into()))
    }
}

fn entry_for(it: &trove_proto::wire::Item, path: String) -> Entry {
    Entry {
        path,
        name: it.name.clone(),
        is_dir: false,
        size: it.size,
        content_id: Some(it.content_id),
        mime: it.mime.clone(),
        tags: it.tags.clone(),
        files: 1,
    }
}
