//! Background downloads for long-running nodes: `get` started without waiting, each file a
//! task that can be paused (its `.part` file and verified chunks are kept), resumed, or
//! cancelled (the part file is removed), with at most `parallel_files` running at once.
//! Downloads interrupted by a crash or shutdown resume when the node starts again (when
//! configured to).

use super::get::{FileReport, GetRequest};
use crate::error::{NodeError, Result};
use crate::node::{Inner, Node};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use trove_proto::ShareId;
use trove_store::db::{Download, DownloadId, DownloadState};

/// Running download tasks.
pub struct Downloads {
    tasks: Mutex<HashMap<i64, JoinHandle<()>>>,
    slots: Arc<Semaphore>,
}

impl Downloads {
    /// A manager running at most `parallel` files at once.
    pub fn new(parallel: usize) -> Self {
        Downloads { tasks: Mutex::default(), slots: Arc::new(Semaphore::new(parallel.max(1))) }
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
        let slots = self.downloads.slots.clone();
        let task = tokio::spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else { return };
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
