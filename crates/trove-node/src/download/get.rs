//! `get`: downloads a whole share or selected paths into a folder. Resolves the share's
//! current manifest (fetching it if the share is not followed), plans safe target paths,
//! never overwrites an existing file without consent, resumes earlier attempts, and runs
//! several files at once.

use crate::error::{NodeError, Result};
use crate::events::Event;
use crate::node::{Inner, Node};
use crate::share_ref::ShareRef;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use trove_proto::wire::{Item, Manifest, PeerAddr};
use trove_proto::{ContentId, ShareId};
use trove_store::db::{Download, DownloadState, NewDownload, Subscription, Trust};
use trove_store::files::{PathPlanner, prepare_target};

/// What to download.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GetRequest {
    /// A share link, id, or own share name.
    pub share: String,
    /// Paths inside the share (files or folders); empty: everything.
    pub paths: Vec<String>,
    /// The folder to download into.
    pub out_dir: PathBuf,
    /// Replace files that already exist at the targets.
    pub overwrite: bool,
}

/// What happened to one file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileReport {
    /// Path inside the share.
    pub path: String,
    /// Where it was written.
    pub target: PathBuf,
    pub size: u64,
    /// "downloaded", "present" (already there with the right content) or "failed".
    pub status: String,
    pub error: Option<String>,
    /// Bytes that were already on disk from an earlier attempt.
    pub resumed_bytes: u64,
    /// Peers that delivered chunks.
    pub peers: usize,
    /// What each of them delivered.
    #[serde(default)]
    pub delivered: Vec<Delivered>,
}

/// Bytes one peer delivered for a file (duplicates at the end of a download included).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Delivered {
    /// The peer's address.
    pub peer: String,
    pub bytes: u64,
}

/// The result of a `get`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GetReport {
    pub share_id: ShareId,
    pub files: Vec<FileReport>,
    /// Bytes downloaded in this run.
    pub bytes: u64,
    pub seconds: f64,
}

impl GetReport {
    /// Whether every file is in place.
    pub fn ok(&self) -> bool {
        self.files.iter().all(|f| f.status != "failed")
    }
}

/// A planned `get`: downloads to run and files already settled.
pub(crate) struct Plan {
    pub share_id: ShareId,
    pub peers: Arc<Vec<PeerAddr>>,
    pub jobs: Vec<(String, Download)>,
    pub settled: Vec<FileReport>,
}

/// The full path of an item inside its share.
pub fn item_path(it: &Item) -> String {
    it.path.clone().unwrap_or_else(|| it.name.clone())
}

/// Items selected by `paths` (exact file paths or folder prefixes); all when empty.
pub fn select<'a>(m: &'a Manifest, paths: &[String]) -> Result<Vec<&'a Item>> {
    if paths.is_empty() {
        return Ok(m.items.iter().collect());
    }
    let mut out = Vec::new();
    for p in paths {
        let p = p.trim_matches('/');
        let hits: Vec<&Item> = m
            .items
            .iter()
            .filter(|it| {
                let ip = item_path(it);
                p.is_empty() || ip == p || ip.starts_with(&format!("{p}/"))
            })
            .collect();
        if hits.is_empty() {
            return Err(NodeError::NotFound(format!("'{p}' is not a file or folder in this share")));
        }
        for h in hits {
            if !out.iter().any(|o: &&Item| std::ptr::eq(*o, h)) {
                out.push(h);
            }
        }
    }
    Ok(out)
}

impl Node {
    /// Downloads files of a share (see [`GetRequest`]); progress arrives as events.
    pub async fn get(&self, req: GetRequest) -> Result<GetReport> {
        self.inner.get(req).await
    }

    /// The current manifest of a share named by the user: own, followed, or fetched now.
    pub async fn resolve_manifest(&self, share: &str) -> Result<(Manifest, Vec<PeerAddr>)> {
        self.inner.resolve_manifest(share).await
    }
}

impl Inner {
    pub(crate) async fn resolve_manifest(self: &Arc<Self>, share: &str) -> Result<(Manifest, Vec<PeerAddr>)> {
        let r: ShareRef = crate::share_ref::parse(share, Some(&self.db))?;
        let hints = crate::node::resolve_bootstrap(&r.hints).await;
        if let Some(m) = crate::views::own_latest(&self.db, &r.share_id)? {
            return Ok((m, hints));
        }
        if let Some(sub) = self.db.subscription(&r.share_id)? {
            let mut peers = hints;
            peers.extend(crate::node::resolve_bootstrap(&sub.bootstrap).await);
            if let Some(id) = sub.manifest_id
                && let Some(m) = crate::views::manifest(&self.db, &id)?
            {
                return Ok((m, peers));
            }
            let report = self.sync_one(sub.clone()).await;
            if let Some(id) = report.manifest_id
                && let Some(m) = crate::views::manifest(&self.db, &id)?
            {
                return Ok((m, peers));
            }
            return Err(NodeError::Unavailable(report.error.unwrap_or_else(|| "the share has no revision yet".into())));
        }
        // Not followed: look it up without subscribing.
        let temp = Subscription {
            share_id: r.share_id,
            share_pubkey: r.pubkey,
            trust: Trust::Normal,
            is_blocklist: false,
            weight: 1.0,
            bootstrap: r.hints.clone(),
            subscribed_at: 0,
            last_sync_at: None,
            last_error: None,
            current_seq: None,
            manifest_id: None,
        };
        let report = self.sync_one(temp).await;
        match report.manifest_id {
            Some(id) => match crate::views::manifest(&self.db, &id)? {
                Some(m) => Ok((m, hints)),
                None => Err(NodeError::Unavailable("the manifest could not be stored".into())),
            },
            None => Err(NodeError::Unavailable(report.error.unwrap_or_else(|| "share not found".into()))),
        }
    }

    async fn get(self: &Arc<Self>, req: GetRequest) -> Result<GetReport> {
        let started = Instant::now();
        let plan = self.plan_get(&req).await?;
        // Each file on its own task, so files spread over every core, once it has one of the
        // node's download slots; dropping the set (the get is cancelled) aborts them.
        let mut running = tokio::task::JoinSet::new();
        let mut results: Vec<FileReport> = Vec::new();
        for (path, dl) in plan.jobs {
            let slot = self.downloads.slot(dl.size).await;
            let me = self.clone();
            let peers = plan.peers.clone();
            running.spawn(async move {
                let _slot = slot;
                me.run_download(path, dl, &peers, req.overwrite).await
            });
            while let Some(r) = running.try_join_next() {
                results.push(r.map_err(crate::publish::join_err)?);
            }
        }
        while let Some(r) = running.join_next().await {
            results.push(r.map_err(crate::publish::join_err)?);
        }
        let bytes = results.iter().filter(|r| r.status == "downloaded").map(|r| r.size - r.resumed_bytes).sum();
        let mut reports = plan.settled;
        reports.extend(results);
        reports.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(GetReport { share_id: plan.share_id, files: reports, bytes, seconds: started.elapsed().as_secs_f64() })
    }

    /// Peers to ask for a share's files: its link hints, LAN peers and bootstrap peers.
    pub(crate) async fn share_peers(&self, share: Option<ShareId>, mut hints: Vec<PeerAddr>) -> Vec<PeerAddr> {
        if let Some(s) = share
            && let Ok(Some(sub)) = self.db.subscription(&s)
        {
            hints.extend(crate::node::resolve_bootstrap(&sub.bootstrap).await);
        }
        hints.extend(self.peers.from_source(trove_store::db::PeerSource::Lan).into_iter().map(|k| k.dial_addr()));
        hints.extend(self.bootstrap.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        hints.retain(|p| seen.insert(p.dedup_key()));
        hints
    }

    /// Resolves the manifest, selects the items, plans safe targets, settles files already
    /// present or refused, and creates (or finds, to resume) a download row for the rest.
    pub(crate) async fn plan_get(self: &Arc<Self>, req: &GetRequest) -> Result<Plan> {
        let (manifest, hints) = self.resolve_manifest(&req.share).await?;
        let peers = self.share_peers(Some(manifest.share_id), hints).await;
        let items = select(&manifest, &req.paths)?;
        let root = super::out_dir::open_out_dir(&req.out_dir)?;

        let mut planner = PathPlanner::new();
        let mut jobs = Vec::new();
        let mut reports = Vec::new();
        for it in items {
            let path = item_path(it);
            let planned = planner.plan(&it.name, it.path.as_deref()).and_then(|rel| prepare_target(&root, &rel));
            let target = match planned {
                Ok(t) => t,
                Err(e) => {
                    reports.push(failed(&path, root.join(&it.name), it.size, e.to_string()));
                    continue;
                }
            };
            if target.existing && !req.overwrite {
                if same_content(&target.path, it).await {
                    reports.push(FileReport {
                        path,
                        target: target.path,
                        size: it.size,
                        status: "present".into(),
                        error: None,
                        resumed_bytes: 0,
                        peers: 0,
                        delivered: Vec::new(),
                    });
                } else {
                    reports.push(failed(
                        &path,
                        target.path.clone(),
                        it.size,
                        format!("{} already exists; move it away or use --overwrite", target.path.display()),
                    ));
                }
                continue;
            }
            let dl = match self.db.download_by_target(&target.path)? {
                Some(d) if d.content_id == it.content_id && d.state != DownloadState::Complete => d,
                Some(d) => {
                    self.db.delete_download(d.id)?;
                    self.create_download(&manifest, it, &path, &target.path)?
                }
                None => {
                    if target.existing_part {
                        // A .part file we did not make: never touch it.
                        reports.push(failed(
                            &path,
                            target.path.clone(),
                            it.size,
                            format!("{}.part exists and was not made by trove; move it away", target.path.display()),
                        ));
                        continue;
                    }
                    self.create_download(&manifest, it, &path, &target.path)?
                }
            };
            jobs.push((path, dl));
        }
        Ok(Plan { share_id: manifest.share_id, peers: Arc::new(peers), jobs, settled: reports })
    }

    /// Runs one planned download to the end and reports it (state and events included).
    pub(crate) async fn run_download(
        self: &Arc<Self>,
        path: String,
        dl: Download,
        peers: &[PeerAddr],
        overwrite: bool,
    ) -> FileReport {
        match self.download_file(&dl, peers, overwrite).await {
            Ok(o) => FileReport {
                path,
                target: dl.target_path.clone(),
                size: dl.size,
                status: "downloaded".into(),
                error: None,
                resumed_bytes: o.resumed_bytes,
                peers: o.delivered.len(),
                delivered: o.delivered,
            },
            Err(e) => {
                let text = e.to_string();
                if !matches!(e, NodeError::Store(trove_store::StoreError::DiskFull(_))) {
                    let _ = self.db.set_download_state(dl.id, DownloadState::Failed, Some(&text));
                }
                self.emit(Event::DownloadFailed {
                    download_id: dl.id.0,
                    path: dl.target_path.display().to_string(),
                    error: text.clone(),
                });
                failed(&path, dl.target_path.clone(), dl.size, text)
            }
        }
    }

    fn create_download(
        &self,
        m: &Manifest,
        it: &Item,
        path: &str,
        target: &std::path::Path,
    ) -> Result<trove_store::db::Download> {
        Ok(self.db.create_download(&NewDownload {
            content_id: it.content_id,
            share_id: Some(m.share_id),
            item_path: path.to_string(),
            target_path: target.to_path_buf(),
            size: it.size,
            chunk_list_hash: it.chunk_list_hash,
        })?)
    }
}

fn failed(path: &str, target: PathBuf, size: u64, error: String) -> FileReport {
    FileReport {
        path: path.to_string(),
        target,
        size,
        status: "failed".into(),
        error: Some(error),
        resumed_bytes: 0,
        peers: 0,
        delivered: Vec::new(),
    }
}

/// Whether the file at `p` already holds the item's content (size, then hash).
async fn same_content(p: &std::path::Path, it: &Item) -> bool {
    let Ok(meta) = std::fs::metadata(p) else { return false };
    if meta.len() != it.size {
        return false;
    }
    let p = p.to_path_buf();
    let id: ContentId = it.content_id;
    tokio::task::spawn_blocking(move || {
        std::fs::File::open(&p)
            .ok()
            .and_then(|f| trove_proto::content::hash_reader(f).ok())
            .is_some_and(|d| d.content_id == id)
    })
    .await
    .unwrap_or(false)
}
