//! `fetch`: downloads one file by its content id alone, without a manifest. The providers
//! come from the DHT (and the peers this node knows); the chunk hash list comes from the
//! first provider that has one, the size from the length of the last chunk (checked against
//! its hash); then the usual swarm runs, and the whole-file hash must equal the content id
//! before the file is renamed into place, so a lying provider cannot get a wrong file
//! accepted.

use super::runtime::hash_page;
use crate::error::{NodeError, Result};
use crate::node::{Inner, Node};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trove_net::peer::features;
use trove_proto::ContentId;
use trove_proto::content::{ChunkListHasher, Hash, chunk_hash};
use trove_proto::limits::CHUNK_SIZE;
use trove_proto::wire::ext::MAX_HASHES_PAGE;
use trove_proto::wire::{GetChunk, GetChunkHashes, GetChunkHashesPage, PeerAddr};
use trove_store::db::{DownloadState, NewDownload, PeerSource};
use trove_store::files::{PathPlanner, prepare_target};

/// Chunk hashes accepted from a provider at most (a 1 TiB file).
const MAX_FETCH_CHUNKS: u64 = (1 << 40) / CHUNK_SIZE as u64;
/// Providers asked for the hash list at most.
const MAX_HASH_SOURCES: usize = 16;

/// What a provider says of a content.
struct Learned {
    /// The chunk hash list when it came whole in the first answer.
    hashes: Option<Vec<Hash>>,
    /// The hash of the list.
    list_hash: Hash,
    /// The size, from the length of the last chunk.
    size: u64,
}

/// What `fetch` did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FetchReport {
    pub content_id: ContentId,
    /// Where the file is.
    pub target: PathBuf,
    pub size: u64,
    /// "downloaded", or "present" (the target already held this content).
    pub status: String,
    /// Bytes that were already verified on disk from an earlier attempt.
    pub resumed_bytes: u64,
}

impl Node {
    /// Downloads the file whose content id is `id` to the file `target` (its folder is
    /// created). An existing file is kept when it already holds the content, and is replaced
    /// only with `overwrite`. Resumes an earlier attempt at the same target.
    pub async fn fetch(&self, id: &ContentId, target: &Path, overwrite: bool) -> Result<FetchReport> {
        self.inner.fetch(id, target, overwrite).await
    }
}

impl Inner {
    async fn fetch(self: &Arc<Self>, id: &ContentId, target: &Path, overwrite: bool) -> Result<FetchReport> {
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| NodeError::Invalid(format!("{} does not name a file", target.display())))?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let root = super::out_dir::open_out_dir(&parent)?;
        let rel = PathPlanner::new().plan(name, None)?;
        let prepared = prepare_target(&root, &rel)?;
        let report = |status: &str, size: u64, resumed_bytes: u64| FetchReport {
            content_id: *id,
            target: prepared.path.clone(),
            size,
            status: status.into(),
            resumed_bytes,
        };
        if prepared.existing && !overwrite {
            let p = prepared.path.clone();
            let digest = tokio::task::spawn_blocking(move || {
                std::fs::File::open(&p).and_then(trove_proto::content::hash_reader).ok()
            })
            .await
            .map_err(crate::publish::join_err)?;
            return match digest {
                Some(d) if d.content_id == *id => Ok(report("present", d.size, 0)),
                _ => Err(NodeError::Invalid(format!(
                    "{} already exists; move it away or use --overwrite",
                    prepared.path.display()
                ))),
            };
        }
        if *id == trove_proto::content::content_id(&[]) {
            std::fs::write(&prepared.path, [])
                .map_err(NodeError::io(format!("writing {}", prepared.path.display())))?;
            return Ok(report("downloaded", 0, 0));
        }

        let mut peers: Vec<PeerAddr> =
            self.peers.from_source(PeerSource::Lan).into_iter().map(|k| k.dial_addr()).collect();
        peers.extend(self.bootstrap.iter().cloned());
        peers.extend(self.peers.best(16).into_iter().filter(|k| k.last_ok.is_some()).map(|k| k.dial_addr()));
        let providers = self.providers_of(id, None, &peers).await;

        let dl = match self.db.download_by_target(&prepared.path)? {
            Some(d) if d.content_id == *id && d.state != DownloadState::Complete => d,
            other => {
                if let Some(d) = other {
                    self.db.delete_download(d.id)?;
                } else if prepared.existing_part {
                    return Err(NodeError::Invalid(format!(
                        "{}.part exists and was not made by trove; move it away",
                        prepared.path.display()
                    )));
                }
                let learned = self.learn_content(id, &providers).await?;
                let dl = self.db.create_download(&NewDownload {
                    content_id: *id,
                    share_id: None,
                    item_path: name.to_string(),
                    target_path: prepared.path.clone(),
                    size: learned.size,
                    chunk_list_hash: learned.list_hash,
                })?;
                // A list longer than one answer is read again by the download, into the
                // database a page at a time.
                if let Some(hashes) = &learned.hashes {
                    self.db.set_download_chunk_hashes(dl.id, hashes)?;
                }
                dl
            }
        };
        match self.download_file(&dl, &providers, overwrite).await {
            Ok(o) => Ok(report("downloaded", o.bytes, o.resumed_bytes)),
            Err(e) => {
                if matches!(
                    e,
                    NodeError::Store(trove_store::StoreError::Invalid(_) | trove_store::StoreError::Corrupt(_))
                ) {
                    // The hash list (from an unverified provider) did not add up to the content
                    // id: forget it, so the next attempt asks again.
                    let _ = self.db.delete_download(dl.id);
                } else if !matches!(e, NodeError::Store(trove_store::StoreError::DiskFull(_))) {
                    let _ = self.db.set_download_state(dl.id, DownloadState::Failed, Some(&e.to_string()));
                }
                Err(e)
            }
        }
    }

    /// The chunk hash list (its hash) and the size of a content, from the first provider
    /// that gives a consistent answer: a hash list and a last chunk that matches its hash.
    async fn learn_content(self: &Arc<Self>, id: &ContentId, providers: &[PeerAddr]) -> Result<Learned> {
        let mut errors = Vec::new();
        for p in providers.iter().take(MAX_HASH_SOURCES) {
            match self.learn_from(p, id).await {
                Ok(r) => return Ok(r),
                Err(e) => errors.push(format!("{p}: {e}")),
            }
        }
        Err(NodeError::Unavailable(if errors.is_empty() {
            format!("no provider of content {} could be found", id.short())
        } else {
            format!("no provider gave content {}: {}", id.short(), errors.join("; "))
        }))
    }

    async fn learn_from(self: &Arc<Self>, p: &PeerAddr, id: &ContentId) -> Result<Learned> {
        let s = self.session(p).await?;
        let (count, first) = if s.peer().has(features::PAGED_HASHES) {
            let page = s.call(&GetChunkHashesPage { content_id: *id, start: 0, count: MAX_HASHES_PAGE }).await?;
            if page.total as u64 > MAX_FETCH_CHUNKS {
                return Err(NodeError::Invalid(format!("claims {} chunks, more than this node accepts", page.total)));
            }
            if page.content_id != *id || page.start != 0 || page.hashes.len() > page.total as usize {
                return Err(NodeError::Invalid("inconsistent hash page".into()));
            }
            (u64::from(page.total), page.hashes)
        } else {
            let l = s.call(&GetChunkHashes { content_id: *id }).await?;
            if l.content_id != *id {
                return Err(NodeError::Invalid("answered for another content".into()));
            }
            (l.hashes.len() as u64, l.hashes)
        };
        // The rest of a long list is hashed as it arrives and let go.
        let mut list_hash = ChunkListHasher::default();
        list_hash.update(&first);
        let mut last_hash = first.last().copied();
        let mut next = first.len() as u64;
        while next < count {
            let page = hash_page(p, &s, id, next, count).await?;
            list_hash.update(&page);
            last_hash = page.last().copied();
            next += page.len() as u64;
        }
        let hashes = (first.len() as u64 == count).then_some(first);
        let Some(last_hash) = last_hash else {
            return Err(NodeError::Invalid("sent an empty hash list for a non-empty content".into()));
        };
        let last = (count - 1) as u32;
        let data = s.call(&GetChunk { content_id: *id, chunk_index: last }).await?;
        if data.content_id != *id
            || data.chunk_index != last
            || data.bytes.is_empty()
            || data.bytes.len() > CHUNK_SIZE
            || chunk_hash(&data.bytes) != last_hash
        {
            return Err(NodeError::Invalid("the last chunk does not match its hash".into()));
        }
        let size = last as u64 * CHUNK_SIZE as u64 + data.bytes.len() as u64;
        Ok(Learned { hashes, list_hash: list_hash.finalize(), size })
    }
}
