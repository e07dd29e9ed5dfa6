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
    /// This node registered a tunnel at a relay and is reachable at `address`.
    RelayTunnelUp { relay: String, slot: u64, address: String },
    /// This node's tunnel at a relay broke (it registers again, there or elsewhere).
    RelayTunnelLost { relay: String, reason: String },
    /// (Relay role) a firewalled node registered a tunnel; `remote` is where its connection
    /// comes from as this relay sees it (after any NAT).
    RelayTunnelRegistered { node: String, slot: u64, remote: String },
    /// (Relay role) the tunnel of a firewalled node was freed: it left or stopped answering.
    RelayTunnelFreed { node: String, slot: u64, reason: String },
    /// This node joined a community.
    CommunityJoined { community: String, name: Option<String> },
    /// This node left a community.
    CommunityLeft { community: String },
    /// A member of a joined community was seen for the first time (or again after leaving):
    /// from a signed member record, or (`v1`) a v1 member that confirmed it is joined.
    CommunityMemberSeen { community: String, node_pubkey: String, v1: bool },
    /// A member's signed record says it left the community.
    CommunityMemberLeft { community: String, node_pubkey: String },
    /// A public share bound to a joined community was seen for the first time.
    CommunityShareSeen { community: String, share_id: String, title: Option<String> },
    /// A refresh of a community's members and shares finished.
    CommunityRefreshed { community: String, members: usize, shares: usize },
}
