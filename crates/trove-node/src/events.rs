//! Events the node reports to front ends (CLI progress, HTTP event stream, UIs).

use serde::Serialize;

/// Something that happened.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A session with a peer was established (either direction).
    PeerConnected { node_id: String, addr: String, transport: String, trove: bool },
    /// A peer was heard on the LAN.
    LanPeer { addr: String },
    /// A subscribed share has a new verified manifest.
    ManifestUpdated { share_id: String, seq: u64, manifest_id: String, items: usize },
    /// A share sync failed.
    SyncFailed { share_id: String, error: String },
    /// This node published a revision.
    Published { share_id: String, seq: u64, manifest_id: String, items: usize },
    /// Hashing progress while publishing.
    PublishProgress { bytes_done: u64, bytes_total: u64, files_done: usize, files_total: usize },
    /// Download progress of one file.
    DownloadProgress { download_id: i64, path: String, bytes_done: u64, bytes_total: u64, rate_bps: u64, peers: usize },
    /// A download finished (verified and renamed into place).
    DownloadComplete { download_id: i64, path: String, bytes: u64 },
    /// A download stopped with an error (resumable).
    DownloadFailed { download_id: i64, path: String, error: String },
    /// The search index changed.
    IndexUpdated { share_id: String, items: usize },
    /// A published file changed on disk and was withdrawn.
    ContentWithdrawn { path: String, reason: String },
}
