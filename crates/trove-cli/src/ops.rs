//! The operations behind every command, over a [`Node`]: the HTTP API handlers and the
//! in-process commands both call these, so a command behaves the same either way. Here the
//! user's text is turned into node arguments (trust levels, keys, ids) and node results into
//! the JSON shapes of `docs/API.md`; all protocol work is the node's.

use crate::error::{CliError, CliResult};
use crate::runfiles::DaemonInfo;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use trove_node::Node;
use trove_node::api::{ShareInfo, Status};
use trove_node::download::get::{GetReport, GetRequest};
use trove_node::publish::{PublishRequest, PublishResult};
use trove_node::sync::SyncReport;
use trove_proto::{ContentId, PubKey, ShareId};

/// `?share=…` of the share endpoints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ShareParam {
    /// A share link, a hex share id, or the name of one of your shares.
    pub share: String,
}

/// `GET /api/ls`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LsParams {
    pub share: String,
    /// A folder inside the share; the top when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `POST /api/subscribe`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SubscribeBody {
    /// A share link or a 64-digit hex share id.
    pub target: String,
    /// The share public key (hex), when subscribing by id.
    #[serde(default)]
    pub pubkey: Option<String>,
    /// trusted, normal (default) or untrusted.
    #[serde(default)]
    pub trust: Option<String>,
}

/// `POST /api/fetch`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FetchBody {
    /// The content id (64 hex digits).
    pub content_id: String,
    /// Where to write the file (absolute path through the API).
    pub out: PathBuf,
    #[serde(default)]
    pub overwrite: bool,
}

/// `POST /api/identity/export`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExportBody {
    pub share: String,
    #[serde(default)]
    pub passphrase: Option<String>,
}

/// `POST /api/identity/import`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ImportBody {
    /// The share key seed, 64 hex digits.
    pub key: String,
    /// The name of the share on this node.
    pub name: String,
}

/// `GET /api/search`. Lists are comma-separated in the query string.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SearchParams {
    /// The words to look for.
    #[serde(default)]
    pub q: String,
    /// Only these shares: links, ids or own share names, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// Trust tiers, comma-separated (default trusted,normal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
    /// A mime class (video, audio, image, text, application, …).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A share's link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkView {
    pub share_id: ShareId,
    pub link: String,
}

/// An exported share key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyExport {
    pub share_id: ShareId,
    /// The secret seed (64 hex digits): whoever has it can publish revisions of the share.
    pub key: String,
}

/// A plain acknowledgement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Done {
    pub ok: bool,
    pub share_id: Option<ShareId>,
}

/// `GET /api/health`: enough for the CLI to recognise its daemon.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub pid: u32,
    pub version: String,
    pub node_id: String,
    pub data_dir: String,
}

/// The node's status, and the daemon's when the command went through one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusView {
    #[serde(flatten)]
    pub node: Status,
    /// The daemon that answered; absent for an in-process node.
    pub daemon: Option<DaemonInfo>,
}

/// This node's identity and the share keys it holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdentityView {
    pub node_id: String,
    pub node_pubkey: PubKey,
    pub data_dir: String,
    /// Shares this node can publish (it holds their keys).
    pub shares: Vec<ShareKeyView>,
}

/// A share key held by this node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareKeyView {
    pub name: String,
    pub share_id: ShareId,
    pub share_pubkey: PubKey,
}

/// One search hit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HitView {
    pub share_id: ShareId,
    pub content_id: ContentId,
    pub name: String,
    /// Path inside the share.
    pub path: String,
    pub size: u64,
    pub mime: Option<String>,
    pub tags: Vec<String>,
    pub score: f32,
    /// Byte ranges `[start, end)` of `name` that matched.
    pub highlight: Vec<[usize; 2]>,
}

/// One page of search results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchView {
    /// All matches (not only this page).
    pub total: usize,
    pub hits: Vec<HitView>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// A file fetched by content id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FetchView {
    pub content_id: ContentId,
    pub target: PathBuf,
    pub size: u64,
    /// "downloaded" or "present".
    pub status: String,
    pub resumed_bytes: u64,
}

pub async fn publish(node: &Node, req: PublishRequest) -> CliResult<PublishResult> {
    Ok(node.publish(req).await?)
}

pub fn shares(node: &Node) -> CliResult<Vec<ShareInfo>> {
    Ok(node.shares()?)
}

pub fn link(node: &Node, share: &str) -> CliResult<LinkView> {
    let link = node.link(share)?;
    let parsed = trove_proto::ShareLink::parse(&link).map_err(|e| CliError::internal(e.to_string()))?;
    Ok(LinkView { share_id: parsed.share_id, link })
}

pub async fn subscribe(node: &Node, body: SubscribeBody) -> CliResult<SyncReport> {
    let trust = trove_node::api::parse_trust(body.trust.as_deref().unwrap_or("normal"))?;
    let pubkey = match body.pubkey.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(hex) => Some(
            PubKey::from_hex(hex)
                .map_err(|_| CliError::invalid(format!("--pubkey '{hex}' is not a public key (64 hex digits)")))?,
        ),
        None => None,
    };
    Ok(node.subscribe(&body.target, pubkey, trust).await?)
}

pub async fn unsubscribe(node: &Node, share: &str) -> CliResult<Done> {
    node.unsubscribe(share).await?;
    let id = trove_node::share_ref::parse(share, Some(node.db())).ok().map(|r| r.share_id);
    Ok(Done { ok: true, share_id: id })
}

pub fn subscriptions(node: &Node) -> CliResult<Vec<trove_node::api::SubscriptionInfo>> {
    Ok(node.subscriptions()?)
}

/// Changes trust, weight or the blocklist mark of a subscription; returns it as listed.
pub async fn update_subscription(
    node: &Node,
    u: &crate::api_ext::SubscriptionUpdate,
) -> CliResult<trove_node::api::SubscriptionInfo> {
    let change = trove_node::sync::SubscriptionChange {
        trust: u.trust.as_deref().map(trove_node::api::parse_trust).transpose()?,
        weight: u.weight,
        blocklist: u.blocklist,
    };
    let sub = node.update_subscription(&u.share, change).await?;
    node.subscriptions()?
        .into_iter()
        .find(|s| s.share_id == sub.share_id)
        .ok_or_else(|| CliError::not_found(format!("not subscribed to {}", sub.share_id)))
}

pub async fn sync(node: &Node) -> CliResult<Vec<SyncReport>> {
    Ok(node.sync_all().await?)
}

pub async fn ls(node: &Node, p: &LsParams) -> CliResult<trove_node::api::Listing> {
    Ok(node.ls(&p.share, p.path.as_deref().filter(|s| !s.is_empty())).await?)
}

pub async fn get(node: &Node, req: GetRequest) -> CliResult<GetReport> {
    Ok(node.get(req).await?)
}

pub async fn fetch(node: &Node, body: FetchBody) -> CliResult<FetchView> {
    let id = ContentId::from_hex(body.content_id.trim())
        .map_err(|_| CliError::invalid(format!("'{}' is not a content id (64 hex digits)", body.content_id)))?;
    let r = node.fetch(&id, &body.out, body.overwrite).await?;
    Ok(FetchView { content_id: id, target: r.target, size: r.size, status: r.status, resumed_bytes: r.resumed_bytes })
}

pub async fn browse(node: &Node) -> CliResult<Vec<trove_node::api::BrowseEntry>> {
    Ok(node.browse().await?)
}

pub fn peers(node: &Node) -> Vec<trove_node::api::PeerView> {
    node.peers()
}

pub fn status(node: &Node, daemon: Option<&DaemonInfo>) -> CliResult<StatusView> {
    Ok(StatusView { node: node.status()?, daemon: daemon.cloned() })
}

pub fn identity(node: &Node) -> CliResult<IdentityView> {
    let st = node.status()?;
    let shares = node
        .shares()?
        .into_iter()
        .map(|s| ShareKeyView { name: s.name, share_id: s.share_id, share_pubkey: s.share_pubkey })
        .collect();
    Ok(IdentityView { node_id: st.node_id, node_pubkey: st.node_pubkey, data_dir: st.data_dir, shares })
}

pub fn export_key(node: &Node, body: &ExportBody) -> CliResult<KeyExport> {
    let key = node.export_share_key(&body.share, body.passphrase.as_deref())?;
    let share_id = trove_node::share_ref::parse(&body.share, Some(node.db()))?.share_id;
    Ok(KeyExport { share_id, key })
}

pub fn import_key(node: &Node, body: &ImportBody) -> CliResult<ShareInfo> {
    if body.name.trim().is_empty() {
        return Err(CliError::invalid("give the imported share a name with --name"));
    }
    Ok(node.import_share_key(&body.key, body.name.trim())?)
}

pub fn downloads(node: &Node) -> CliResult<Vec<trove_node::api::DownloadView>> {
    Ok(node.downloads()?)
}

pub fn health(node: &Node) -> Health {
    Health {
        ok: true,
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        node_id: node.node_pubkey().node_id().to_hex(),
        data_dir: node.config().data_dir.display().to_string(),
    }
}

/// Splits a comma-separated list, dropping empty parts.
fn list(s: Option<&str>) -> Vec<String> {
    s.map(|s| s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()).unwrap_or_default()
}

pub async fn search(node: &Node, p: &SearchParams) -> CliResult<SearchView> {
    use trove_store::search::SearchQuery;
    let mut shares = Vec::new();
    for s in list(p.share.as_deref()) {
        shares.push(trove_node::share_ref::parse(&s, Some(node.db()))?.share_id);
    }
    let trust =
        list(p.trust.as_deref()).iter().map(|t| trove_node::api::parse_trust(t)).collect::<Result<Vec<_>, _>>()?;
    let q = SearchQuery {
        text: p.q.clone(),
        shares: (!shares.is_empty()).then_some(shares),
        trust,
        mime_class: p.kind.clone().filter(|k| !k.trim().is_empty()),
        min_size: p.min_size,
        max_size: p.max_size,
        limit: p.limit.unwrap_or(trove_store::search::DEFAULT_LIMIT),
        cursor: p.cursor.clone().filter(|c| !c.is_empty()),
    };
    if let (Some(a), Some(b)) = (q.min_size, q.max_size)
        && a > b
    {
        return Err(CliError::invalid(format!("--min-size {a} is larger than --max-size {b}")));
    }
    let r = node_search(node, &q).await?;
    Ok(SearchView {
        total: r.total,
        next_cursor: r.next_cursor,
        hits: r
            .hits
            .into_iter()
            .map(|h| HitView {
                share_id: h.share_id,
                content_id: h.content_id,
                path: h.path.clone().unwrap_or_else(|| h.name.clone()),
                name: h.name,
                size: h.size,
                mime: h.mime,
                tags: h.tags,
                score: h.score,
                highlight: h.highlight.iter().map(|r| [r.start, r.end]).collect(),
            })
            .collect(),
    })
}

/// The node's search over own shares and subscriptions.
async fn node_search(
    node: &Node,
    q: &trove_store::search::SearchQuery,
) -> CliResult<trove_store::search::SearchResults> {
    Ok(node.search(q.clone()).await?)
}
