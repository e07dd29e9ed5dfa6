//! Publishing: turns files, folders or a text into a signed manifest revision of a share
//! (new, or seq+1 of an existing one with the same share id), records it durably, serves the
//! files in place, and announces the new head (head board for watchers, DHT for everyone).

use crate::error::{NodeError, Result};
use crate::events::Event;
use crate::node::{Inner, Node};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trove_dht::ValueTarget;
use trove_proto::wire::{Item, Manifest, Providers, ShareHead, Visibility};
use trove_proto::{ContentId, Keypair, ManifestId, PubKey, ShareId, ShareLink, cbor, dht_key, limits};
use trove_store::db::{ContentSource, Origin, unix_now};
use trove_store::files::{ScannedFile, hash_files, scan_folder};

/// What to publish.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PublishRequest {
    /// Files and folders. One folder alone: its contents become the share; otherwise each
    /// file at the top, each folder under its own name.
    pub paths: Vec<PathBuf>,
    /// A text published as a file named `text_name` (default `note.txt`).
    pub text: Option<String>,
    pub text_name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Tags for every item.
    pub tags: Vec<String>,
    /// Public or private; `None` keeps the previous revision's visibility (private for a new
    /// share).
    pub public: Option<bool>,
    /// An existing share (name, id or id prefix) to publish a new revision of.
    pub share: Option<String>,
    /// The name of a new share (default: the title or the first path's name).
    pub name: Option<String>,
    /// Communities the share is bound to (public shares are listed to their members); empty
    /// keeps the previous revision's (use `set_share_communities` to change them alone).
    pub communities: Vec<ShareId>,
}

/// What was published.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublishResult {
    pub share_id: ShareId,
    pub share_pubkey: PubKey,
    pub name: String,
    pub seq: u64,
    pub manifest_id: ManifestId,
    pub items: usize,
    pub bytes: u64,
    pub link: String,
}

/// A file to put in the manifest: where it is and its path inside the share.
struct Planned {
    disk: PathBuf,
    rel: String,
}

fn file_name(p: &Path) -> Result<String> {
    p.file_name()
        .and_then(|n| n.to_str())
        .map(String::from)
        .ok_or_else(|| NodeError::Invalid(format!("{}: the name is not valid UTF-8", p.display())))
}

fn plan(req: &PublishRequest, text_file: Option<PathBuf>) -> Result<Vec<Planned>> {
    let mut out = Vec::new();
    let single_dir = req.paths.len() == 1 && req.text.is_none() && req.paths[0].is_dir();
    for p in &req.paths {
        let meta =
            std::fs::metadata(p).map_err(|e| NodeError::Invalid(format!("cannot publish {}: {e}", p.display())))?;
        if meta.is_dir() {
            let files: Vec<ScannedFile> = scan_folder(p)?;
            let prefix = if single_dir { String::new() } else { format!("{}/", file_name(p)?) };
            out.extend(files.into_iter().map(|f| Planned { disk: f.path, rel: format!("{prefix}{}", f.rel_path) }));
        } else if meta.is_file() {
            let disk = std::fs::canonicalize(p).map_err(NodeError::io(format!("resolving {}", p.display())))?;
            out.push(Planned { rel: file_name(p)?, disk });
        } else {
            return Err(NodeError::Invalid(format!("{} is neither a file nor a folder", p.display())));
        }
    }
    if let Some(t) = text_file {
        let name = req.text_name.clone().unwrap_or_else(|| "note.txt".into());
        out.push(Planned { disk: t, rel: name });
    }
    if out.is_empty() {
        return Err(NodeError::Invalid("nothing to publish: give files, a folder or a text".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for p in &out {
        if !seen.insert(p.rel.as_str()) {
            return Err(NodeError::Invalid(format!("two files would both be published as '{}'", p.rel)));
        }
    }
    Ok(out)
}

impl Node {
    /// Publishes a revision (see [`PublishRequest`]).
    pub async fn publish(&self, req: PublishRequest) -> Result<PublishResult> {
        self.inner.publish(req).await
    }
}

impl Inner {
    async fn publish(self: &Arc<Self>, req: PublishRequest) -> Result<PublishResult> {
        let _g = self.publish_lock.lock().await;
        // Resolve or create the share first so bad names fail before any hashing.
        let (share, key) = self.share_for(&req)?;
        if share.latest.is_none() {
            // A key restored on a new machine: continue above what the network has (FT-9).
            if let Some(seen) = self.network_head_seq(share.pubkey).await {
                self.db.raise_seq_floor(&share.share_id, seen)?;
            }
        }
        let text_file = match &req.text {
            Some(t) => Some(self.store_text(t)?),
            None => None,
        };
        let planned = {
            let req = req.clone();
            tokio::task::spawn_blocking(move || plan(&req, text_file)).await.map_err(join_err)??
        };
        let hashed = self.hash_planned(&planned).await?;
        let mut items = Vec::with_capacity(planned.len());
        let mut sources = Vec::with_capacity(planned.len());
        let mut bytes = 0u64;
        for (p, h) in planned.iter().zip(hashed) {
            let d = &h.digest;
            bytes += d.size;
            let name = p.rel.rsplit('/').next().unwrap_or(&p.rel).to_string();
            let chunk_count = u32::try_from(d.chunk_hashes.len())
                .map_err(|_| NodeError::Invalid(format!("{} is too large to publish", p.disk.display())))?;
            items.push(Item {
                content_id: d.content_id,
                size: d.size,
                path: (p.rel != name).then(|| p.rel.clone()),
                mime: crate::mime::guess(&name).map(String::from),
                name,
                tags: req.tags.clone(),
                chunk_count,
                chunk_list_hash: d.chunk_list_hash,
            });
            sources.push(ContentSource::hashed(p.disk.clone(), h, Origin::Published));
        }
        let previous = crate::views::own_latest(&self.db, &share.share_id)?;
        let seq = self.db.reserve_seq(&share.share_id)?;
        let now = unix_now();
        let mut manifest = Manifest {
            version: 1,
            share_pubkey: key.public(),
            share_id: share.share_id,
            seq,
            created_at: now,
            expires_at: None,
            title: req.title.clone().or_else(|| Some(share.name.clone())),
            description: req.description.clone(),
            visibility: match req.public {
                Some(true) => Visibility::Public,
                Some(false) => Visibility::Private,
                None => previous.as_ref().map_or(Visibility::Private, |m| m.visibility),
            },
            communities: if req.communities.is_empty() {
                previous.as_ref().map(|m| m.communities.clone()).unwrap_or_default()
            } else {
                req.communities.clone()
            },
            items,
            recommended_shares: Vec::new(),
            signature: None,
        };
        manifest.sign(&key);
        let manifest_id = manifest.manifest_id();
        let manifest_bytes = manifest.to_bytes();
        let head = ShareHead::sign(&key, seq, manifest_id, now);
        {
            let db = self.db.clone();
            let head = head.clone();
            let mb = manifest_bytes.clone();
            let sid = share.share_id;
            tokio::task::spawn_blocking(move || -> Result<()> {
                db.add_content_batch(&sources)?;
                db.put_manifest(&manifest_id, &sid, seq, &mb)?;
                db.record_revision(&sid, seq, &manifest_id)?;
                db.record_head(&head)?;
                Ok(())
            })
            .await
            .map_err(join_err)??;
        }
        for it in &manifest.items {
            self.content.invalidate(&it.content_id);
        }
        self.heads.offer(head.clone());
        self.emit(Event::Published {
            share_id: share.share_id.to_hex(),
            seq,
            manifest_id: manifest_id.to_hex(),
            items: manifest.items.len(),
        });
        crate::search_hooks::index_own(self, &manifest).await;
        self.on_published(&manifest);
        let me = self.clone();
        let m2 = manifest.clone();
        self.spawn(async move { me.announce(&head, &m2, &manifest_bytes).await });
        Ok(PublishResult {
            share_id: share.share_id,
            share_pubkey: key.public(),
            name: share.name,
            seq,
            manifest_id,
            items: manifest.items.len(),
            bytes,
            link: ShareLink::new(key.public(), self.link_hints()).to_string(),
        })
    }

    /// Bootstrap hints for links: this node's advertised addresses, or its relay's while it
    /// is reachable only through one.
    pub(crate) fn link_hints(&self) -> Vec<String> {
        if let Some(hints) = crate::relay::link_hints(self) {
            return hints;
        }
        self.advertised.iter().map(|a| format!("{}://{}", a.transport.as_str(), a.socket_addr())).collect()
    }

    fn share_for(&self, req: &PublishRequest) -> Result<(trove_store::db::OwnShare, Keypair)> {
        if let Some(q) = &req.share {
            let s = self.db.find_share(q)?;
            let key = self.db.share_key(&s.share_id)?;
            return Ok((s, key));
        }
        let explicit = req.name.clone();
        let base = explicit
            .clone()
            .or_else(|| req.title.clone())
            .or_else(|| req.paths.first().and_then(|p| file_name(p).ok()))
            .unwrap_or_else(|| "share".into());
        let mut name = base.chars().take(64).collect::<String>().trim().to_string();
        if name.is_empty() {
            name = "share".into();
        }
        let taken = |n: &str| self.db.find_share(n).map(|s| s.name.eq_ignore_ascii_case(n)).unwrap_or(false);
        if taken(&name) {
            if explicit.is_some() {
                return Err(NodeError::Invalid(format!(
                    "a share named '{name}' already exists; use --share '{name}' to publish a new revision of it"
                )));
            }
            let stem: String = name.chars().take(58).collect();
            name = (2..).map(|i| format!("{stem} ({i})")).find(|n| !taken(n)).expect("an unused name exists");
        }
        let (s, key) = self.db.create_share(&name)?;
        Ok((s, key))
    }

    fn store_text(&self, text: &str) -> Result<PathBuf> {
        let dir = self.cfg.data_dir.join("texts");
        std::fs::create_dir_all(&dir).map_err(NodeError::io(format!("creating {}", dir.display())))?;
        let id = trove_proto::content::content_id(text.as_bytes());
        let path = dir.join(format!("{}.txt", id.to_hex()));
        if !path.exists() {
            std::fs::write(&path, text).map_err(NodeError::io(format!("writing {}", path.display())))?;
        }
        Ok(path)
    }

    async fn hash_planned(self: &Arc<Self>, planned: &[Planned]) -> Result<Vec<trove_store::files::HashedFile>> {
        let paths: Vec<PathBuf> = planned.iter().map(|p| p.disk.clone()).collect();
        let total: u64 = paths.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        let files_total = paths.len();
        let me = self.clone();
        let results = tokio::task::spawn_blocking(move || {
            let last = std::sync::atomic::AtomicU64::new(0);
            hash_files(&paths, |done| {
                // Report every 64 MiB or so.
                let prev = last.load(std::sync::atomic::Ordering::Relaxed);
                if done >= prev + (64 << 20) || done == total {
                    last.store(done, std::sync::atomic::Ordering::Relaxed);
                    me.emit(Event::PublishProgress {
                        bytes_done: done,
                        bytes_total: total,
                        files_done: 0,
                        files_total,
                    });
                }
            })
        })
        .await
        .map_err(join_err)?;
        results.into_iter().map(|r| r.map_err(NodeError::from)).collect()
    }

    /// The highest head seq the network has for a share key (DHT and known peers).
    async fn network_head_seq(self: &Arc<Self>, pubkey: PubKey) -> Option<u64> {
        let found = self.dht_get(ValueTarget::share_head(pubkey)).await;
        let dht_seq = found.and_then(|f| cbor::from_slice::<ShareHead>(&f.store.value).ok()).map(|h| h.latest_seq);
        let local = self.db.highest_seq(&pubkey.share_id()).ok().flatten();
        dht_seq.max(local)
    }

    /// Tells the network about a revision: the head and the provider records in the DHT, and
    /// the manifest itself where v1 readers look for it (when it fits their limits).
    pub(crate) async fn announce(self: &Arc<Self>, head: &ShareHead, manifest: &Manifest, manifest_bytes: &[u8]) {
        let share = head.share_id;
        self.dht_put(dht_key::share_head(&share), cbor::to_vec(head)).await;
        if manifest_bytes.len() <= limits::MAX_DHT_VALUE_BYTES && manifest.check_v1_limits().is_ok() {
            self.dht_put(dht_key::manifest_loc(&head.latest_manifest_id), manifest_bytes.to_vec()).await;
        }
        // Who serves this share's manifests and files.
        self.announce_provider(ContentId(share.0)).await;
        self.announce_provider(ContentId(head.latest_manifest_id.0)).await;
        // Per-file records for shares a v1 node can read; bigger shares are found through
        // the share's own provider record.
        if manifest.items.len() <= limits::MAX_MANIFEST_ITEMS_V1 {
            let ids: Vec<ContentId> = manifest.items.iter().map(|i| i.content_id).collect();
            let me = self.clone();
            futures::stream::iter(ids)
                .for_each_concurrent(8, |id| {
                    let me = me.clone();
                    async move { me.announce_provider(id).await }
                })
                .await;
        }
    }

    /// Stores a Providers record listing this node at the content provider key of `id`.
    pub(crate) async fn announce_provider(self: &Arc<Self>, id: ContentId) {
        let providers = Providers {
            content_id: id,
            // A relayed address keeps this node's key: dialers check it end to end.
            providers: self
                .reachable_addrs()
                .into_iter()
                .map(|a| match a.relay_via {
                    Some(_) => a,
                    None => trove_proto::wire::PeerAddr { pubkey_hint: None, ..a },
                })
                .collect(),
            updated_at: unix_now(),
        };
        self.dht_put(dht_key::content_providers(&id), cbor::to_vec(&providers)).await;
    }
}

use futures::StreamExt;

/// Provider announcements of finished downloads in flight at once.
const ANNOUNCE_SLOTS: usize = 4;

/// Works off the queue of finished downloads to announce, a few at a time, until shutdown.
pub(crate) async fn run_announcer(
    weak: std::sync::Weak<Inner>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<ContentId>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let work = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).for_each_concurrent(ANNOUNCE_SLOTS, |id| {
        let weak = weak.clone();
        async move {
            if let Some(me) = weak.upgrade() {
                me.announce_provider(id).await;
            }
        }
    });
    tokio::select! {
        _ = work => {}
        _ = shutdown.wait_for(|s| *s) => {}
    }
}

pub(crate) fn join_err(e: tokio::task::JoinError) -> NodeError {
    NodeError::Invalid(format!("background task failed: {e}"))
}
