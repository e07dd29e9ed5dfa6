//! Communities from the command line and the HTTP API: the request shapes, the operations
//! over a [`Node`] that both `trove community …` (in-process) and the endpoints call, and
//! the `/api/communities…` routes. Protocol work is the node's (`trove_node::community`).

use crate::api::{ApiResult, ApiState, body, json, query, require};
use crate::error::{CliError, CliResult};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use trove_node::Node;
use trove_node::community::{
    BrowsePage, BrowseQuery, CommunityInfo, JoinOptions, MemberView, RefreshReport, TokenView,
};
use trove_proto::PubKey;

/// `{"community": …}`: a joined community's link, id, id prefix or local name.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CommunityParam {
    pub community: String,
    /// `GET /api/communities/browse`: the `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `POST /api/communities/create`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    pub name: Option<String>,
    /// Answer only members holding a token issued by this node.
    #[serde(default)]
    pub strict: bool,
}

/// `POST /api/communities/join`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JoinBody {
    /// A community link (`scp2p://s/…`).
    #[serde(default)]
    pub link: Option<String>,
    /// Or its id and public key (hex).
    #[serde(default)]
    pub share_id: Option<String>,
    #[serde(default)]
    pub share_pubkey: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// A membership token issued to this node (hex).
    #[serde(default)]
    pub token: Option<String>,
    /// Answer only members that hold a valid token.
    #[serde(default)]
    pub strict: bool,
}

/// `POST /api/communities/token/issue`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IssueBody {
    pub community: String,
    /// The member's node public key (hex).
    pub member: String,
    /// Days the token is valid (default 365).
    #[serde(default)]
    pub days: Option<u64>,
}

/// `POST /api/communities/token/set`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SetTokenBody {
    pub community: String,
    pub token: String,
}

/// `POST /api/communities/strict`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StrictBody {
    pub community: String,
    pub strict: bool,
}

/// `POST /api/communities/leave`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Left {
    /// False when the community was not joined.
    pub ok: bool,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn pubkey(what: &str, hex: &str) -> CliResult<PubKey> {
    PubKey::from_hex(hex.trim()).map_err(|_| CliError::invalid(format!("'{hex}' is not {what} (64 hex digits)")))
}

// --- operations ------------------------------------------------------------------------

pub fn list(node: &Node) -> CliResult<Vec<CommunityInfo>> {
    Ok(node.communities()?)
}

pub async fn create(node: &Node, c: &CreateBody) -> CliResult<CommunityInfo> {
    Ok(node.community_create(non_empty(&c.name), c.strict).await?)
}

pub async fn join(node: &Node, j: &JoinBody) -> CliResult<CommunityInfo> {
    let (target, key) = match (non_empty(&j.link), non_empty(&j.share_id), non_empty(&j.share_pubkey)) {
        (Some(link), _, key) => (link.to_string(), key.map(|k| pubkey("a community public key", k)).transpose()?),
        (None, Some(id), Some(key)) => (id.to_string(), Some(pubkey("a community public key", key)?)),
        (None, Some(_), None) => {
            return Err(CliError::invalid("joining by id needs the community's public key too (share_pubkey)"));
        }
        _ => return Err(CliError::invalid("give a community link, or its id and public key")),
    };
    let opts = JoinOptions {
        name: non_empty(&j.name).map(String::from),
        strict: j.strict,
        token: non_empty(&j.token).map(String::from),
    };
    Ok(node.community_join(&target, key, opts).await?)
}

pub async fn leave(node: &Node, c: &CommunityParam) -> CliResult<Left> {
    require("community", &c.community)?;
    Ok(Left { ok: node.community_leave(&c.community).await? })
}

pub async fn refresh(node: &Node, c: &CommunityParam) -> CliResult<RefreshReport> {
    require("community", &c.community)?;
    Ok(node.community_refresh(&c.community).await?)
}

pub fn members(node: &Node, c: &CommunityParam) -> CliResult<Vec<MemberView>> {
    require("community", &c.community)?;
    Ok(node.community_members(&c.community)?)
}

pub fn browse(node: &Node, c: &CommunityParam) -> CliResult<BrowsePage> {
    require("community", &c.community)?;
    let q = BrowseQuery { cursor: non_empty(&c.cursor).map(String::from), limit: c.limit, ..BrowseQuery::default() };
    Ok(node.community_browse(&c.community, &q)?)
}

pub fn issue_token(node: &Node, b: &IssueBody) -> CliResult<TokenView> {
    require("community", &b.community)?;
    let member = pubkey("a node public key", &b.member)?;
    let days = b.days.unwrap_or(365);
    if days == 0 || days > 36_500 {
        return Err(CliError::invalid(format!("a token valid for {days} days makes no sense: give 1 to 36500")));
    }
    Ok(node.community_issue_token(&b.community, member, Some(days * 86_400))?)
}

pub async fn set_token(node: &Node, b: &SetTokenBody) -> CliResult<CommunityInfo> {
    require("community", &b.community)?;
    require("token", &b.token)?;
    Ok(node.community_set_token(&b.community, b.token.trim()).await?)
}

pub fn set_strict(node: &Node, b: &StrictBody) -> CliResult<CommunityInfo> {
    require("community", &b.community)?;
    Ok(node.community_set_strict(&b.community, b.strict)?)
}

// --- endpoints -------------------------------------------------------------------------

/// The `/api/communities…` endpoints (the caller adds the token check).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/communities", get(list_h))
        .route("/api/communities/create", post(create_h))
        .route("/api/communities/join", post(join_h))
        .route("/api/communities/leave", post(leave_h))
        .route("/api/communities/refresh", post(refresh_h))
        .route("/api/communities/members", get(members_h))
        .route("/api/communities/browse", get(browse_h))
        .route("/api/communities/token/issue", post(issue_h))
        .route("/api/communities/token/set", post(set_token_h))
        .route("/api/communities/strict", post(strict_h))
}

async fn list_h(State(st): State<ApiState>) -> ApiResult {
    json(list(&st.node)?)
}

async fn create_h(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let c: CreateBody = body(&b)?;
    json(create(&st.node, &c).await?)
}

async fn join_h(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let j: JoinBody = body(&b)?;
    let node = st.node.clone();
    json(crate::api::long(&st, async move { join(&node, &j).await }).await?)
}

async fn leave_h(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let c: CommunityParam = body(&b)?;
    json(leave(&st.node, &c).await?)
}

async fn refresh_h(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let c: CommunityParam = body(&b)?;
    let node = st.node.clone();
    json(crate::api::long(&st, async move { refresh(&node, &c).await }).await?)
}

async fn members_h(State(st): State<ApiState>, RawQuery(q): RawQuery) -> ApiResult {
    json(members(&st.node, &query(q)?)?)
}

async fn browse_h(State(st): State<ApiState>, RawQuery(q): RawQuery) -> ApiResult {
    json(browse(&st.node, &query(q)?)?)
}

async fn issue_h(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    json(issue_token(&st.node, &body(&b)?)?)
}

async fn set_token_h(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let t: SetTokenBody = body(&b)?;
    json(set_token(&st.node, &t).await?)
}

async fn strict_h(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    json(set_strict(&st.node, &body(&b)?)?)
}
