//! Background downloads for long-running nodes: `get` started without waiting, each file a
//! task that can be paused (its `.part` file and verified chunks are kept), resumed, or
//! cancelled (the part file is removed), with at most `parallel_files` running at once
//! (files of one chunk: sixteen times as many, in slots of their own).
//! Downloads interrupted by a crash or shutdown resume when the node starts again (when
//! configured to).

use super::get::{FileReport, GetRequest};
use crate::error::{NodeError, Result};
use crate::node::{Inner, Node};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use trove_proto::ShareId;
use trove_proto::limits::CHUNK_SIZE;
use trove_store::db::{Download, DownloadId, DownloadState};

/// How many more files of one chunk than larger files run at once: each is little more than
/// a round trip and a few file-system calls, which overlap well.
const SMALL_FILES_FACTOR: usize = 16;

/// Running download tasks, and the slots every download of the node (background or not)
/// takes one of while it runs.
pub struct Downloads {
    tasks: Mutex<HashMap<i64, JoinHandle<()>>>,
    slots: Arc<Semaphore>,
    small_slots: Arc<Semaphore>,
}

impl Downloads {
    /// A manager running at most `parallel` files at once (and `16 × parallel` files of one
    /// chunk besides).
    pub fn new(parallel: usize) -> Self {
        let parallel = parallel.max(1);
        Downloads {
            tasks: Mutex::default(),
            slots: Arc::new(Semaphore::new(parallel)),
            small_slots: Arc::new(Semaphore::new(parallel * SMALL_FILES_FACTOR)),
        }
    }

    /// Waits for a slot to download a file of `size` bytes; the slot is freed when the permit
    /// is dropped.
    pub(crate) async fn slot(&self, size: u64) -> OwnedSemaphorePermit {
        self.slots_for(size).clone().acquire_owned().await.expect("download slots are never closed")
    }

    fn slots_for(&self, size: u64) -> &Arc<Semaphore> {
        if size <= CHUNK_SIZE as u64 { &self.small_slots } else { &self.slots }
    }

    fn abort(&self, id: i64) -> bool {
        match self.tasks.lock().expect("downloads").remove(&id) {
            Some(t) => {
                t.abort();
                true
            }
            None => false,
        }
    }

    /// Whether a download is running (or waiting for a slot) in this process.
    pub fn is_active(&self, id: i64) -> bool {
        self.tasks.lock().expect("downloads").get(&id).is_some_and(|t| !t.is_finished())
    }
}

/// What `start_get` did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StartedGet {
    pub share_id: ShareId,
    /// Download ids now running in the background.
    pub started: Vec<i64>,
    /// Files needing no download (already present) or refused (see their errors).
    pub settled: Vec<FileReport>,
}

impl Inner {
    fn launch(
        self: &Arc<Self>,
        path: String,
        dl: Download,
        peers: Arc<Vec<trove_proto::wire::PeerAddr>>,
        overwrite: bool,
    ) {
        let id = dl.id.0;
        let _ = self.db.set_download_state(dl.id, DownloadState::Queued, None);
        let me = self.clone();
        let task = tokio::spawn(async move {
            let _slot = me.downloads.slot(dl.size).await;
            me.run_download(path, dl, &peers, overwrite).await;
            me.downloads.tasks.lock().expect("downloads").remove(&id);
        });
        self.downloads.tasks.lock().expect("downloads").insert(id, task);
    }

    /// Restarts downloads left running or queued by an earlier run.
    pub(crate) async fn resume_interrupted(self: &Arc<Self>) {
        let Ok(all) = self.db.downloads() else { return };
        for d in all.into_iter().filter(|d| matches!(d.state, DownloadState::Running | DownloadState::Queued)) {
            let peers = self.share_peers(d.share_id, Vec::new()).await;
            self.launch(d.item_path.clone(), d, Arc::new(peers), false);
        }
    }
}

impl Node {
    /// Starts a `get` in the background and returns at once (progress and completion arrive
    /// as events; states are in [`Node::downloads`]).
    pub async fn start_get(&self, req: GetRequest) -> Result<StartedGet> {
        let plan = self.inner.plan_get(&req).await?;
        let mut started = Vec::new();
        for (path, dl) in plan.jobs {
            started.push(dl.id.0);
            self.inner.launch(path, dl, plan.peers.clone(), req.overwrite);
        }
        Ok(StartedGet { share_id: plan.share_id, started, settled: plan.settled })
    }

    fn download_row(&self, id: i64) -> Result<Download> {
        self.inner.db.download(DownloadId(id))?.ok_or_else(|| NodeError::NotFound(format!("no download with id {id}")))
    }

    /// Pauses a download: the task stops, verified chunks stay in its `.part` file.
    pub fn pause_download(&self, id: i64) -> Result<()> {
        let d = self.download_row(id)?;
        if d.state == DownloadState::Complete {
            return Err(NodeError::Invalid(format!("download {id} is already complete")));
        }
        self.inner.downloads.abort(id);
        self.inner.db.set_download_state(d.id, DownloadState::Paused, None)?;
        Ok(())
    }

    /// Resumes a paused, failed or interrupted download.
    pub async fn resume_download(&self, id: i64) -> Result<()> {
        let d = self.download_row(id)?;
        if d.state == DownloadState::Complete {
            return Err(NodeError::Invalid(format!("download {id} is already complete")));
        }
        if self.inner.downloads.is_active(id) {
            return Ok(());
        }
        let peers = self.inner.share_peers(d.share_id, Vec::new()).await;
        self.inner.launch(d.item_path.clone(), d, Arc::new(peers), false);
        Ok(())
    }

    /// Cancels a download: the task stops and its `.part` file and record are removed.
    pub fn cancel_download(&self, id: i64) -> Result<()> {
        let d = self.download_row(id)?;
        self.inner.downloads.abort(id);
        if d.state != DownloadState::Complete
            && let Ok(part) = trove_store::files::part::part_path(&d.target_path)
        {
            match std::fs::remove_file(&part) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(NodeError::io(format!("removing {}", part.display()))(e)),
            }
        }
        self.inner.db.delete_download(d.id)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_chunk_files_have_many_slots_of_their_own() {
        let d = Downloads::new(2);
        let big = CHUNK_SIZE as u64 + 1;
        let (a, b) = (d.slot(big).await, d.slot(big).await);
        assert_eq!(d.slots_for(big).available_permits(), 0, "a third large file must wait");
        let mut small = Vec::new();
        for size in [0, 1, CHUNK_SIZE as u64] {
            small.push(d.slot(size).await);
        }
        assert_eq!(d.slots_for(1).available_permits(), 2 * SMALL_FILES_FACTOR - 3);
        drop((a, b, small));
        assert_eq!(d.slots_for(big).available_permits(), 2);
        assert_eq!(d.slots_for(0).available_permits(), 2 * SMALL_FILES_FACTOR);
    }
}
