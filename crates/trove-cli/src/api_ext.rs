//! The endpoints the web UI adds to the local HTTP API: downloads in the background with
//! pause, resume, cancel and "open folder"; settings; trust and blocklist flags of
//! subscriptions; share visibility; communities (in `community`); the dashboard's view of the node; and a
//! folder browser for choosing what to publish and where to download. Documented in
//! `docs/API.md` next to the others, behind the same token.

use crate::api::{ApiResult, ApiState, body, json, query, require};
use crate::error::{CliError, CliResult};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use trove_node::download::get::GetRequest;

/// The UI's endpoints (the caller adds the token check).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/downloads/start", post(downloads_start))
        .route("/api/downloads/pause", post(downloads_pause))
        .route("/api/downloads/resume", post(downloads_resume))
        .route("/api/downloads/cancel", post(downloads_cancel))
        .route("/api/downloads/open", post(downloads_open))
        .route("/api/settings", get(settings_get).post(settings_update))
        .route("/api/subscriptions/update", post(subscription_update))
        .route("/api/shares/visibility", post(share_visibility))
        .route("/api/dashboard", get(dashboard))
        .route("/api/fs", get(fs_list))
        .merge(crate::community::routes())
}

// --- downloads -------------------------------------------------------------------------

/// `{"id": N}` of the download endpoints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DownloadId {
    pub id: i64,
}

/// An acknowledgement naming the download.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DownloadDone {
    pub ok: bool,
    pub id: i64,
}

async fn downloads_start(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let req: GetRequest = crate::api::body_or_default(&b)?;
    require("share", &req.share)?;
    crate::api::absolute("out_dir", &req.out_dir)?;
    let node = st.node.clone();
    json(crate::api::long(&st, async move { Ok(node.start_get(req).await?) }).await?)
}

async fn downloads_pause(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let DownloadId { id } = body(&b)?;
    st.node.pause_download(id).map_err(CliError::from)?;
    json(DownloadDone { ok: true, id })
}

async fn downloads_resume(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let DownloadId { id } = body(&b)?;
    st.node.resume_download(id).await.map_err(CliError::from)?;
    json(DownloadDone { ok: true, id })
}

async fn downloads_cancel(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let DownloadId { id } = body(&b)?;
    st.node.cancel_download(id).map_err(CliError::from)?;
    json(DownloadDone { ok: true, id })
}

/// What "open folder" did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Opened {
    /// The folder holding the download.
    pub folder: PathBuf,
    /// Whether a file manager was started.
    pub opened: bool,
    /// Why not, when it was not.
    pub error: Option<String>,
}

async fn downloads_open(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let DownloadId { id } = body(&b)?;
    let d = st
        .node
        .downloads()
        .map_err(CliError::from)?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| CliError::not_found(format!("no download with id {id}")))?;
    let target = PathBuf::from(&d.target);
    let folder = target.parent().map(Path::to_path_buf).unwrap_or(target);
    if !folder.is_dir() {
        return json(Opened {
            error: Some(format!("the folder {} does not exist (any more)", folder.display())),
            folder,
            opened: false,
        });
    }
    let f = folder.clone();
    let r = tokio::task::spawn_blocking(move || crate::ui::open_with_desktop(&f.to_string_lossy()))
        .await
        .map_err(|e| CliError::internal(e.to_string()))?;
    json(match r {
        Ok(()) => Opened { folder, opened: true, error: None },
        Err(e) => Opened {
            error: Some(format!(
                "no file manager could be started on this machine ({e}); the folder is {}",
                folder.display()
            )),
            folder,
            opened: false,
        },
    })
}

// --- settings --------------------------------------------------------------------------

/// `GET /api/settings`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SettingsView {
    /// What `config.toml` holds (defaults for keys it leaves out).
    pub settings: serde_json::Value,
    /// What the running node uses (command-line flags included).
    pub running: serde_json::Value,
    /// The data directory (set with `--data-dir` or `TROVE_DATA_DIR`, not here).
    pub data_dir: PathBuf,
    pub config_file: PathBuf,
}

async fn settings_get(State(st): State<ApiState>) -> ApiResult {
    let dir = st.node.config().data_dir.clone();
    let saved = trove_node::NodeConfig::load(&dir)
        .map_err(|e| CliError::invalid(format!("{}: {e}", dir.join("config.toml").display())))?;
    json(SettingsView {
        settings: serde_json::to_value(&saved).map_err(|e| CliError::internal(e.to_string()))?,
        running: st.node.settings(),
        config_file: dir.join("config.toml"),
        data_dir: dir,
    })
}

async fn settings_update(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let patch: serde_json::Value = body(&b)?;
    json(st.node.update_settings(&patch).map_err(CliError::from)?)
}

// --- subscriptions and shares ----------------------------------------------------------

/// `POST /api/subscriptions/update`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SubscriptionUpdate {
    pub share: String,
    /// trusted, normal or untrusted.
    #[serde(default)]
    pub trust: Option<String>,
    /// Treat the share as a blocklist.
    #[serde(default)]
    pub blocklist: Option<bool>,
    /// Ranking weight in search (default 1.0).
    #[serde(default)]
    pub weight: Option<f64>,
}

async fn subscription_update(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let u: SubscriptionUpdate = body(&b)?;
    require("share", &u.share)?;
    json(crate::ops::update_subscription(&st.node, &u).await?)
}

/// `POST /api/shares/visibility`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VisibilityBody {
    pub share: String,
    pub public: bool,
}

async fn share_visibility(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let v: VisibilityBody = body(&b)?;
    require("share", &v.share)?;
    let node = st.node.clone();
    json(crate::api::long(&st, async move { Ok(node.set_visibility(&v.share, v.public).await?) }).await?)
}

// --- dashboard -------------------------------------------------------------------------

/// How others reach this node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reachability {
    /// `direct` (its own listen addresses), `relayed` (through a relay's tunnel) or
    /// `connecting` (registering at a relay).
    pub mode: String,
    /// The addresses others reach it at now.
    pub addresses: Vec<String>,
    /// The relay, when relayed.
    pub relay: Option<trove_node::relay::RelayRouteView>,
}

/// Disk use.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DiskView {
    /// Bytes in the data directory (database, search index, keys).
    pub data_dir_bytes: u64,
    /// Bytes of the files this node's shares list (served from where they are).
    pub shared_bytes: u64,
    /// Bytes of downloads in place and verified so far.
    pub downloaded_bytes: u64,
    /// Free and total bytes of the disk holding the data directory.
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
}

/// `GET /api/dashboard`: the node at a glance, for the dashboard page.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dashboard {
    pub status: crate::ops::StatusView,
    pub reachability: Reachability,
    pub peers: Vec<trove_node::api::PeerView>,
    pub disk: DiskView,
    /// The configured transfer limits, KiB/s (0: unlimited).
    pub upload_limit_kib: u64,
    pub download_limit_kib: u64,
}

/// Sums file sizes below `dir` (not following links), visiting at most `budget` entries.
fn dir_size(dir: &Path, budget: &mut usize) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for e in rd.flatten() {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            total += dir_size(&e.path(), budget);
        } else if m.is_file() {
            total += m.len();
        }
    }
    total
}

async fn dashboard(State(st): State<ApiState>) -> ApiResult {
    let node = &st.node;
    let status = crate::ops::status(node, Some(&st.daemon))?;
    let relay = node.relay_route();
    let mode = match &relay {
        Some(r) if r.up => "relayed",
        Some(_) => "connecting",
        None => "direct",
    };
    let reachability = Reachability {
        mode: mode.into(),
        addresses: node.reachable_addrs().iter().map(|a| a.to_string()).collect(),
        relay,
    };
    let shared_bytes = node.shares().map_err(CliError::from)?.iter().map(|s| s.bytes).sum();
    let downloaded_bytes = node.downloads().map_err(CliError::from)?.iter().map(|d| d.verified_bytes).sum();
    let dir = node.config().data_dir.clone();
    let disk = tokio::task::spawn_blocking(move || {
        let mut budget = 100_000;
        let (free_bytes, total_bytes) = match fs4::statvfs(&dir) {
            Ok(s) => (Some(s.available_space()), Some(s.total_space())),
            Err(_) => (None, None),
        };
        DiskView {
            data_dir_bytes: dir_size(&dir, &mut budget),
            shared_bytes: 0,
            downloaded_bytes: 0,
            free_bytes,
            total_bytes,
        }
    })
    .await
    .map_err(|e| CliError::internal(e.to_string()))?;
    let cfg = node.config();
    json(Dashboard {
        status,
        reachability,
        peers: node.peers(),
        disk: DiskView { shared_bytes, downloaded_bytes, ..disk },
        upload_limit_kib: cfg.upload_limit_kib,
        download_limit_kib: cfg.download_limit_kib,
    })
}

// --- folder browser --------------------------------------------------------------------

/// `GET /api/fs?path=…&hidden=…`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FsParams {
    /// An absolute folder; default: the home folder.
    #[serde(default)]
    pub path: Option<String>,
    /// List names starting with a dot too.
    #[serde(default)]
    pub hidden: Option<bool>,
}

/// One entry of a folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FsEntry {
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
    pub size: u64,
}

/// A folder's contents, folders first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FsListing {
    pub path: PathBuf,
    pub parent: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// Where downloads go by default (`$XDG_DOWNLOAD_DIR`, else `~/Downloads`).
    pub downloads: Option<PathBuf>,
    pub entries: Vec<FsEntry>,
    /// More entries than are listed.
    pub truncated: bool,
}

/// Most entries listed.
const FS_MAX: usize = 5000;

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).map(PathBuf::from).filter(|p| p.is_absolute())
}

fn downloads_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DOWNLOAD_DIR").map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Some(d);
    }
    home_dir().map(|h| h.join("Downloads"))
}

fn list_dir(p: &FsParams) -> CliResult<FsListing> {
    let home = home_dir();
    let path = match p.path.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => PathBuf::from(s),
        None => home.clone().unwrap_or_else(|| PathBuf::from("/")),
    };
    crate::api::absolute("path", &path)?;
    let rd = std::fs::read_dir(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CliError::not_found(format!("the folder {} does not exist", path.display())),
        std::io::ErrorKind::NotADirectory => CliError::invalid(format!("{} is not a folder", path.display())),
        _ => CliError::invalid(format!("cannot read the folder {}: {e}", path.display())),
    })?;
    let hidden = p.hidden.unwrap_or(false);
    let mut entries = Vec::new();
    let mut truncated = false;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !hidden && name.starts_with('.') {
            continue;
        }
        if entries.len() >= FS_MAX {
            truncated = true;
            break;
        }
        // Follow links: a link to a folder is browsed like a folder.
        let Ok(m) = std::fs::metadata(e.path()) else { continue };
        entries.push(FsEntry { name, path: e.path(), is_dir: m.is_dir(), size: if m.is_dir() { 0 } else { m.len() } });
    }
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase())));
    Ok(FsListing {
        parent: path.parent().map(Path::to_path_buf),
        path,
        home,
        downloads: downloads_dir(),
        entries,
        truncated,
    })
}

async fn fs_list(RawQuery(q): RawQuery) -> ApiResult {
    let p: FsParams = query(q)?;
    let r = tokio::task::spawn_blocking(move || list_dir(&p)).await.map_err(|e| CliError::internal(e.to_string()))?;
    json(r?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_listing_puts_folders_first_and_hides_dot_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("b-dir")).unwrap();
        std::fs::write(d.path().join("a.txt"), b"12345").unwrap();
        std::fs::write(d.path().join(".hidden"), b"x").unwrap();
        let l = list_dir(&FsParams { path: Some(d.path().display().to_string()), hidden: None }).unwrap();
        let names: Vec<_> = l.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b-dir", "a.txt"]);
        assert_eq!(l.entries[1].size, 5);
        let l = list_dir(&FsParams { path: Some(d.path().display().to_string()), hidden: Some(true) }).unwrap();
        assert_eq!(l.entries.len(), 3);
        let e = list_dir(&FsParams { path: Some("relative/dir".into()), hidden: None }).unwrap_err();
        assert!(e.message.contains("absolute"), "{e}");
        let e =
            list_dir(&FsParams { path: Some(d.path().join("nope").display().to_string()), hidden: None }).unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
    }
}
