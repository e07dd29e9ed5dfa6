//! The daemon's local HTTP API (axum): JSON endpoints for everything the CLI does, the
//! server-sent event stream of node events, and the token check in front of all of it.
//! Every endpoint is documented in `docs/API.md`; the handlers only decode, call
//! [`crate::ops`] and encode.

use crate::error::{CliError, CliResult, ErrorKind};
use crate::ops;
use crate::runfiles::DaemonInfo;
use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};
use trove_node::Node;
use trove_node::download::get::GetRequest;
use trove_node::publish::PublishRequest;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub node: Node,
    pub token: Arc<str>,
    pub daemon: Arc<DaemonInfo>,
    /// Becomes true when the daemon stops: event streams end, long requests give up.
    pub shutdown: watch::Receiver<bool>,
    /// The API was started with `--api-public`: the web UI answers to any host name.
    pub public: bool,
}

/// An error answer: the status of its kind and `{"error": {"kind", "message"}}`.
pub struct ApiError(pub CliError);

impl From<CliError> for ApiError {
    fn from(e: CliError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(serde_json::json!({ "error": self.0 }))).into_response()
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn json<T: Serialize>(v: T) -> ApiResult {
    Ok(Json(v).into_response())
}

/// The routes: the API behind the token check, and the web UI (static files, no token).
pub fn router(state: ApiState) -> Router {
    let public = state.public;
    Router::new()
        .route("/api/health", get(health))
        .route("/api/status", get(status))
        .route("/api/identity", get(identity))
        .route("/api/identity/export", post(identity_export))
        .route("/api/identity/import", post(identity_import))
        .route("/api/publish", post(publish))
        .route("/api/shares", get(shares))
        .route("/api/link", get(link))
        .route("/api/subscribe", post(subscribe))
        .route("/api/unsubscribe", post(unsubscribe))
        .route("/api/subscriptions", get(subscriptions))
        .route("/api/sync", post(sync))
        .route("/api/search", get(search))
        .route("/api/ls", get(ls))
        .route("/api/get", post(get_files))
        .route("/api/fetch", post(fetch))
        .route("/api/browse", get(browse))
        .route("/api/peers", get(peers))
        .route("/api/downloads", get(downloads))
        .route("/api/events", get(events))
        .merge(crate::api_ext::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .merge(crate::ui::routes(public))
        .with_state(state)
}

/// Refuses requests without the right token (401): `Authorization: Bearer <token>`, or
/// `?token=<token>` for clients that cannot set headers (a browser's EventSource).
async fn require_token(State(st): State<ApiState>, req: Request, next: Next) -> Response {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let from_query = req.uri().query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v)
    });
    let ok = [from_header, from_query].into_iter().flatten().any(|t| same(t.as_bytes(), st.token.as_bytes()));
    if !ok {
        let dir = &st.node.config().data_dir;
        return ApiError(CliError::new(
            ErrorKind::Unauthorized,
            format!(
                "missing or wrong API token: send the token from {} as 'Authorization: Bearer <token>'",
                dir.join(crate::runfiles::TOKEN_FILE).display()
            ),
        ))
        .into_response();
    }
    next.run(req).await
}

/// Constant-time comparison.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(req: Request) -> ApiError {
    ApiError(CliError::not_found(format!("no endpoint {} {}; docs/API.md lists them", req.method(), req.uri().path())))
}

async fn method_not_allowed(req: Request) -> Response {
    let e = CliError::invalid(format!(
        "{} is not allowed on {}; docs/API.md lists the methods",
        req.method(),
        req.uri().path()
    ));
    let mut r = ApiError(e).into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> CliResult<T> {
    serde_json::from_slice(bytes).map_err(|e| CliError::invalid(format!("the request body is not valid: {e}")))
}

/// A JSON body where absent fields take their defaults (the node's request types have
/// defaults for everything optional, but no serde defaults).
pub(crate) fn body_or_default<T: DeserializeOwned + Serialize + Default>(bytes: &Bytes) -> CliResult<T> {
    let given: serde_json::Value = body(bytes)?;
    let serde_json::Value::Object(given) = given else {
        return Err(CliError::invalid("the request body must be a JSON object"));
    };
    let mut merged = serde_json::to_value(T::default()).map_err(|e| CliError::internal(e.to_string()))?;
    if let Some(m) = merged.as_object_mut() {
        m.extend(given);
    }
    serde_json::from_value(merged).map_err(|e| CliError::invalid(format!("the request body is not valid: {e}")))
}

pub(crate) fn query<T: DeserializeOwned + Default>(q: Option<String>) -> CliResult<T> {
    match q {
        None => Ok(T::default()),
        Some(q) => {
            serde_urlencoded::from_str(&q).map_err(|e| CliError::invalid(format!("the query string is not valid: {e}")))
        }
    }
}

pub(crate) fn require(what: &str, value: &str) -> CliResult<()> {
    if value.trim().is_empty() {
        return Err(CliError::invalid(format!("'{what}' is required")));
    }
    Ok(())
}

pub(crate) fn absolute(what: &str, p: &Path) -> CliResult<()> {
    if !p.is_absolute() {
        return Err(CliError::invalid(format!(
            "{what} '{}' is not an absolute path (the daemon does not share your working directory)",
            p.display()
        )));
    }
    Ok(())
}

/// Runs a long job in its own task, so a client that goes away does not cancel it (the
/// daemon finishes the job); gives up when the daemon stops.
pub(crate) async fn long<T: Send + 'static>(
    st: &ApiState,
    job: impl Future<Output = CliResult<T>> + Send + 'static,
) -> CliResult<T> {
    let mut stop = st.shutdown.clone();
    let task = tokio::spawn(job);
    let abort = task.abort_handle();
    tokio::select! {
        r = task => r.map_err(|e| CliError::internal(format!("the job failed: {e}")))?,
        _ = stop.wait_for(|s| *s) => {
            abort.abort();
            Err(CliError::new(ErrorKind::Unavailable, "the daemon is stopping; run the command again when it is back (finished work is kept)"))
        }
    }
}

async fn health(State(st): State<ApiState>) -> ApiResult {
    json(ops::health(&st.node))
}

async fn status(State(st): State<ApiState>) -> ApiResult {
    json(ops::status(&st.node, Some(&st.daemon))?)
}

async fn identity(State(st): State<ApiState>) -> ApiResult {
    json(ops::identity(&st.node)?)
}

async fn identity_export(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let b: ops::ExportBody = body(&b)?;
    require("share", &b.share)?;
    json(ops::export_key(&st.node, &b)?)
}

async fn identity_import(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let b: ops::ImportBody = body(&b)?;
    json(ops::import_key(&st.node, &b)?)
}

async fn publish(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let req: PublishRequest = body_or_default(&b)?;
    for p in &req.paths {
        absolute("path", p)?;
    }
    let node = st.node.clone();
    json(long(&st, async move { ops::publish(&node, req).await }).await?)
}

async fn shares(State(st): State<ApiState>) -> ApiResult {
    json(ops::shares(&st.node)?)
}

async fn link(State(st): State<ApiState>, RawQuery(q): RawQuery) -> ApiResult {
    let p: ops::ShareParam = query(q)?;
    require("share", &p.share)?;
    json(ops::link(&st.node, &p.share)?)
}

async fn subscribe(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let b: ops::SubscribeBody = body(&b)?;
    require("target", &b.target)?;
    let node = st.node.clone();
    json(long(&st, async move { ops::subscribe(&node, b).await }).await?)
}

async fn unsubscribe(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let b: ops::ShareParam = body(&b)?;
    require("share", &b.share)?;
    json(ops::unsubscribe(&st.node, &b.share).await?)
}

async fn subscriptions(State(st): State<ApiState>) -> ApiResult {
    json(ops::subscriptions(&st.node)?)
}

async fn sync(State(st): State<ApiState>) -> ApiResult {
    let node = st.node.clone();
    json(long(&st, async move { ops::sync(&node).await }).await?)
}

async fn search(State(st): State<ApiState>, RawQuery(q): RawQuery) -> ApiResult {
    let p: ops::SearchParams = query(q)?;
    json(ops::search(&st.node, &p).await?)
}

async fn ls(State(st): State<ApiState>, RawQuery(q): RawQuery) -> ApiResult {
    let p: ops::LsParams = query(q)?;
    require("share", &p.share)?;
    let node = st.node.clone();
    json(long(&st, async move { ops::ls(&node, &p).await }).await?)
}

async fn get_files(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let req: GetRequest = body_or_default(&b)?;
    require("share", &req.share)?;
    absolute("out_dir", &req.out_dir)?;
    let node = st.node.clone();
    json(long(&st, async move { ops::get(&node, req).await }).await?)
}

async fn fetch(State(st): State<ApiState>, b: Bytes) -> ApiResult {
    let b: ops::FetchBody = body(&b)?;
    require("content_id", &b.content_id)?;
    absolute("out", &b.out)?;
    let node = st.node.clone();
    json(long(&st, async move { ops::fetch(&node, b).await }).await?)
}

async fn browse(State(st): State<ApiState>) -> ApiResult {
    let node = st.node.clone();
    json(long(&st, async move { ops::browse(&node).await }).await?)
}

async fn peers(State(st): State<ApiState>) -> ApiResult {
    json(ops::peers(&st.node))
}

async fn downloads(State(st): State<ApiState>) -> ApiResult {
    json(ops::downloads(&st.node)?)
}

/// `GET /api/events`: every node event as it happens, `event: <type>` and `data: <json>`;
/// a `lagged` event when a slow reader missed some. Ends when the daemon stops.
async fn events(State(st): State<ApiState>) -> impl IntoResponse {
    let rx = st.node.events();
    let stop = st.shutdown.clone();
    let stream = futures::stream::unfold((rx, stop), |(mut rx, mut stop)| async move {
        let ev = tokio::select! {
            r = rx.recv() => r,
            _ = stop.wait_for(|s| *s) => return None,
        };
        let (kind, data) = match ev {
            Ok(e) => {
                let kind = serde_json::to_value(&e).ok().and_then(|v| v["type"].as_str().map(String::from));
                (kind.unwrap_or_else(|| "event".into()), serde_json::to_string(&e).unwrap_or_default())
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                ("lagged".to_string(), serde_json::json!({ "type": "lagged", "missed": n }).to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        let sse = SseEvent::default().event(kind).data(data);
        Some((Ok::<_, Infallible>(sse), (rx, stop)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
