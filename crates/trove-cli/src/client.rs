//! The HTTP client of the local API (hyper, HTTP/1.1 over loopback TCP): finds the running
//! daemon of a data directory, sends JSON requests with the token, turns error bodies back
//! into [`CliError`]s, and reads the server-sent event stream.

use crate::error::{CliError, CliResult, ErrorKind};
use crate::ops::Health;
use crate::runfiles::{self, DaemonInfo};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpStream;

/// How long connecting to the daemon may take (it is on loopback).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the discovery health check may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body accepted.
const MAX_BODY: usize = 256 << 20;

/// A client of one daemon.
#[derive(Clone, Debug)]
pub struct ApiClient {
    addr: SocketAddr,
    token: Option<String>,
    daemon: Option<DaemonInfo>,
}

/// The error body of the API: `{"error": {"kind": …, "message": …}}`.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: CliError,
}

impl ApiClient {
    /// A client of the API at `addr`, sending `token` (None: no token, to test refusals).
    pub fn new(addr: SocketAddr, token: Option<String>) -> ApiClient {
        ApiClient { addr, token, daemon: None }
    }

    /// The daemon this client talks to, when found through [`ApiClient::discover`].
    pub fn daemon(&self) -> Option<&DaemonInfo> {
        self.daemon.as_ref()
    }

    /// The API address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running daemon of `data_dir`, if there is one: `daemon.json` names its API and
    /// pid, and the API must answer the health check with that pid. A file left by a daemon
    /// that died (nothing answers, or another process does) is ignored.
    pub async fn discover(data_dir: &Path) -> Option<ApiClient> {
        let info = runfiles::read_daemon(data_dir)?;
        let token = match runfiles::read_token(data_dir) {
            Ok(Some(t)) => t,
            _ => {
                tracing::debug!("daemon.json exists but no API token: ignoring it");
                return None;
            }
        };
        let mut client = ApiClient::new(info.api, Some(token));
        let health = tokio::time::timeout(HEALTH_TIMEOUT, client.get::<Health>("/api/health")).await;
        match health {
            Ok(Ok(h)) if h.pid == info.pid => {
                client.daemon = Some(info);
                Some(client)
            }
            Ok(Ok(h)) => {
                tracing::debug!("daemon.json names pid {} but pid {} answers: stale", info.pid, h.pid);
                None
            }
            Ok(Err(e)) => {
                tracing::debug!("daemon at {} does not answer: {e}", info.api);
                None
            }
            Err(_) => {
                tracing::debug!("daemon at {} did not answer in time", info.api);
                None
            }
        }
    }

    /// `GET path` (with its query string), decoded from JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        let (status, body) = self.send(Method::GET, path, None).await?;
        decode(status, &body)
    }

    /// `GET path?query` with `query` form-encoded.
    pub async fn get_query<Q: Serialize, T: DeserializeOwned>(&self, path: &str, query: &Q) -> CliResult<T> {
        let q = serde_urlencoded::to_string(query).map_err(|e| CliError::internal(format!("encoding a query: {e}")))?;
        let full = if q.is_empty() { path.to_string() } else { format!("{path}?{q}") };
        self.get(&full).await
    }

    /// `POST path` with a JSON body, decoded from JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> CliResult<T> {
        let bytes = serde_json::to_vec(body).map_err(|e| CliError::internal(format!("encoding a request: {e}")))?;
        let (status, body) = self.send(Method::POST, path, Some(bytes)).await?;
        decode(status, &body)
    }

    /// One request; returns the status and the whole body.
    pub async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> CliResult<(StatusCode, Bytes)> {
        let resp = self.start(method, path, body, None).await?;
        let status = resp.status();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| self.lost(&e.to_string()))?
            .to_bytes();
        Ok((status, body))
    }

    fn lost(&self, why: &str) -> CliError {
        CliError::internal(format!("lost the connection to the trove daemon at {}: {why}", self.addr))
    }

    /// Sends a request and returns the response with its body still streaming.
    async fn start(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        accept: Option<&str>,
    ) -> CliResult<Response<Incoming>> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .map_err(|_| {
                CliError::new(ErrorKind::Unavailable, format!("the trove daemon at {} does not answer", self.addr))
            })?
            .map_err(|e| {
                CliError::new(ErrorKind::Unavailable, format!("cannot reach the trove daemon at {}: {e}", self.addr))
            })?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| self.lost(&e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("API connection: {e}");
            }
        });
        let mut req = Request::builder().method(method).uri(path).header(HOST, self.addr.to_string());
        if let Some(t) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(a) = accept {
            req = req.header(ACCEPT, a);
        }
        let req = match body {
            Some(b) => req.header(CONTENT_TYPE, "application/json").body(Full::new(Bytes::from(b))),
            None => req.body(Full::new(Bytes::new())),
        }
        .map_err(|e| CliError::invalid(format!("bad request {path}: {e}")))?;
        sender.send_request(req).await.map_err(|e| self.lost(&e.to_string()))
    }

    /// Opens the event stream (`GET /api/events`). Events that happen after this returns
    /// are delivered.
    pub async fn events(&self) -> CliResult<EventStream> {
        let resp = self.start(Method::GET, "/api/events", None, Some("text/event-stream")).await?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.into_body().collect().await.map_err(|e| self.lost(&e.to_string()))?.to_bytes();
            return Err(decode::<serde_json::Value>(status, &body)
                .err()
                .unwrap_or_else(|| CliError::internal(format!("the event stream answered {status}"))));
        }
        Ok(EventStream { body: resp.into_body(), buf: Vec::new() })
    }
}

/// Decodes a JSON answer, or the error it carries.
fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> CliResult<T> {
    if status.is_success() {
        return serde_json::from_slice(body)
            .map_err(|e| CliError::internal(format!("the daemon sent an answer this trove does not understand: {e}")));
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => Err(e.error),
        Err(_) => Err(CliError::new(
            if status == StatusCode::UNAUTHORIZED { ErrorKind::Unauthorized } else { ErrorKind::Internal },
            format!("the daemon answered {status}: {}", String::from_utf8_lossy(body).trim()),
        )),
    }
}

/// The server-sent event stream: each event's `data` is one JSON object (a
/// `trove_node::Event`, tagged by `type`).
pub struct EventStream {
    body: Incoming,
    buf: Vec<u8>,
}

impl EventStream {
    /// The next event; None when the stream ends (the daemon stopped).
    pub async fn next(&mut self) -> Option<serde_json::Value> {
        loop {
            if let Some(ev) = self.take_event() {
                match ev {
                    Some(v) => return Some(v),
                    None => continue,
                }
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buf.extend_from_slice(&data);
                if self.buf.len() > MAX_BODY {
                    return None;
                }
            }
        }
    }

    /// Takes one complete event out of the buffer: Some(Some(v)) an event with JSON data,
    /// Some(None) a block without data (a keep-alive comment), None no complete block yet.
    fn take_event(&mut self) -> Option<Option<serde_json::Value>> {
        let text = std::str::from_utf8(&self.buf).ok();
        let (end, sep) = match text {
            Some(t) => {
                let a = t.find("\n\n").map(|i| (i, 2));
                let b = t.find("\r\n\r\n").map(|i| (i, 4));
                match (a, b) {
                    (Some(x), Some(y)) => Some(if x.0 < y.0 { x } else { y }),
                    (x, y) => x.or(y),
                }
            }
            None => {
                // Incomplete UTF-8 at the end of the buffer: parse up to the last blank line.
                let i = self.buf.windows(2).position(|w| w == b"\n\n")?;
                Some((i, 2))
            }
        }?;
        let block: Vec<u8> = self.buf.drain(..end + sep).collect();
        let block = String::from_utf8_lossy(&block[..end]);
        let data: Vec<&str> =
            block.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
        if data.is_empty() {
            return Some(None);
        }
        Some(serde_json::from_str(&data.join("\n")).ok())
    }
}
