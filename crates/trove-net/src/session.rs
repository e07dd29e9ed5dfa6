//! The client side of a session: sends requests and matches responses by req_id.
//!
//! Three modes, chosen from what the handshake proved about the peer:
//! - v1 peers: one stream, one request at a time, as v1 servers expect;
//! - trove peers over TCP: requests pipelined on the one stream, answers in any order;
//! - trove peers over QUIC: one new bidirectional stream per request (no head-of-line
//!   blocking between requests).

use crate::error::NetError;
use crate::frame::{FrameQueue, OutFrame, ReadOutcome, read_frame_prealloc, write_out};
use crate::peer::PeerInfo;
use crate::stream::{BoxRead, Stream};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::sync::{Semaphore, oneshot};
use trove_proto::limits::MAX_ENVELOPE_BYTES;
use trove_proto::wire::{Envelope, MsgType, Payload, Request};

type Pending = StdMutex<HashMap<u32, oneshot::Sender<Result<Envelope, NetError>>>>;

/// How requests travel.
enum Mode {
    /// v1: one in flight on the single stream.
    Serial,
    /// trove over TCP: pipelined on the single stream.
    Pipelined,
    /// trove over QUIC: a stream per request.
    QuicStreams(quinn::Connection),
}

struct Inner {
    peer: Arc<PeerInfo>,
    mode: Mode,
    writer: FrameQueue,
    pending: Arc<Pending>,
    next_req_id: AtomicU32,
    in_flight: Semaphore,
    closed: Arc<AtomicBool>,
    request_timeout: Duration,
    frame_body: Duration,
    reader: tokio::task::JoinHandle<()>,
    /// Keeps a QUIC connection open while the session lives.
    quic: Option<quinn::Connection>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(c) = &self.quic {
            c.close(0u32.into(), b"session closed");
        }
    }
}

/// A client session with an authenticated peer. Cheap to clone; the connection closes when
/// the last clone is dropped.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session({} {})", self.inner.peer.addr, self.inner.peer.node_pubkey.short())
    }
}

/// Answers up to this size (a whole chunk with its message head) are allocated at once: they
/// answer this side's own requests, at most one per request in flight.
const RESPONSE_PREALLOC: usize = trove_proto::limits::CHUNK_SIZE + 1024;

/// Requests a QUIC connection may carry at once from this side.
const QUIC_MAX_STREAMS: usize = 128;
/// Requests pipelined at once on a TCP session.
const PIPELINE_DEPTH: usize = 64;

impl Session {
    /// Starts a session over an authenticated stream. `quic` is the connection when the
    /// stream is QUIC stream 0.
    pub fn start(
        stream: Stream,
        peer: PeerInfo,
        quic: Option<quinn::Connection>,
        request_timeout: Duration,
        frame_body: Duration,
    ) -> Session {
        let mux = peer.has(crate::peer::features::MUX);
        let (mode, permits) = match (&quic, mux) {
            (Some(c), true) => (Mode::QuicStreams(c.clone()), QUIC_MAX_STREAMS),
            (None, true) => (Mode::Pipelined, PIPELINE_DEPTH),
            _ => (Mode::Serial, 1),
        };
        let pending: Arc<Pending> = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let addr = peer.addr;
        let reader = tokio::spawn(read_loop(stream.read, pending.clone(), closed.clone(), addr, frame_body));
        Session {
            inner: Arc::new(Inner {
                peer: Arc::new(peer),
                mode,
                writer: FrameQueue::spawn(stream.write, request_timeout),
                pending,
                next_req_id: AtomicU32::new(1),
                in_flight: Semaphore::new(permits),
                closed,
                request_timeout,
                frame_body,
                reader,
                quic,
            }),
        }
    }

    /// The authenticated peer.
    pub fn peer(&self) -> &Arc<PeerInfo> {
        &self.inner.peer
    }

    /// Whether the session can no longer carry requests.
    pub fn is_closed(&self) -> bool {
        if self.inner.closed.load(Ordering::Relaxed) {
            return true;
        }
        match &self.inner.quic {
            Some(c) => c.close_reason().is_some(),
            None => false,
        }
    }

    /// Sends a typed request and decodes the typed response.
    pub async fn call<R: Request>(&self, req: &R) -> Result<R::Response, NetError> {
        self.call_timeout(req, self.inner.request_timeout).await
    }

    /// [`Session::call`] with an explicit deadline.
    pub async fn call_timeout<R: Request>(&self, req: &R, timeout: Duration) -> Result<R::Response, NetError> {
        let resp = self.request_timeout(R::TYPE, req.to_payload(), timeout).await?;
        typed_response::<R>(&resp, self.inner.peer.addr)
    }

    /// Sends a raw request and returns the raw response envelope (errors included).
    pub async fn request(&self, msg_type: MsgType, payload: Vec<u8>) -> Result<Envelope, NetError> {
        self.request_timeout(msg_type, payload, self.inner.request_timeout).await
    }

    /// [`Session::request`] with an explicit deadline.
    pub async fn request_timeout(
        &self,
        msg_type: MsgType,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Envelope, NetError> {
        let addr = self.inner.peer.addr;
        let secs = timeout.as_secs();
        match tokio::time::timeout(timeout, self.exchange(msg_type, payload)).await {
            Ok(r) => r,
            Err(_) => Err(NetError::Timeout { stage: "request", addr, secs }),
        }
    }

    async fn exchange(&self, msg_type: MsgType, payload: Vec<u8>) -> Result<Envelope, NetError> {
        let inner = &self.inner;
        let addr = inner.peer.addr;
        if self.is_closed() {
            return Err(NetError::Closed { addr, reason: "session already closed".into() });
        }
        let _permit =
            inner.in_flight.acquire().await.map_err(|_| NetError::Closed { addr, reason: "closing".into() })?;
        let req_id = inner.next_req_id.fetch_add(1, Ordering::Relaxed);
        let env = Envelope::request(msg_type, req_id, payload);
        if env.encoded_len() > MAX_ENVELOPE_BYTES {
            return Err(NetError::FrameTooLarge { len: env.encoded_len(), limit: MAX_ENVELOPE_BYTES });
        }
        let frame = OutFrame::of(&env);
        if let Mode::QuicStreams(conn) = &inner.mode {
            return quic_exchange(conn, &frame, req_id, addr, inner.frame_body).await;
        }
        let (tx, rx) = oneshot::channel();
        inner.pending.lock().expect("pending lock").insert(req_id, tx);
        let guard = PendingGuard { pending: &inner.pending, req_id };
        if !inner.writer.send(frame).await {
            inner.closed.store(true, Ordering::Relaxed);
            return Err(NetError::Closed { addr, reason: "connection lost while sending".into() });
        }
        let r = rx.await.unwrap_or_else(|_| Err(NetError::Closed { addr, reason: "connection lost".into() }));
        drop(guard);
        r
    }
}

/// Removes a pending entry when the request is abandoned (timeout or cancellation).
struct PendingGuard<'a> {
    pending: &'a Pending,
    req_id: u32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending.lock().expect("pending lock").remove(&self.req_id);
    }
}

async fn quic_exchange(
    conn: &quinn::Connection,
    frame: &OutFrame,
    req_id: u32,
    addr: std::net::SocketAddr,
    frame_body: Duration,
) -> Result<Envelope, NetError> {
    let closed = |e: String| NetError::Closed { addr, reason: e };
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| closed(e.to_string()))?;
    write_out(&mut send, frame, MAX_ENVELOPE_BYTES).await.map_err(|e| e.into_net(addr))?;
    let _ = send.finish();
    match read_frame_prealloc(&mut recv, MAX_ENVELOPE_BYTES, RESPONSE_PREALLOC, None, frame_body)
        .await
        .map_err(|e| e.into_net(addr))?
    {
        ReadOutcome::Frame(b) => {
            let env = Envelope::from_frame(Bytes::from(b))?;
            if env.req_id != req_id {
                return Err(NetError::Protocol {
                    addr,
                    reason: format!("answer for req_id {} on a stream for {req_id}", env.req_id),
                });
            }
            Ok(env)
        }
        ReadOutcome::Eof => Err(closed("stream closed without an answer".into())),
    }
}

/// Reads responses from the single stream and completes the matching requests; on any
/// failure every waiting request fails and the session is marked closed.
async fn read_loop(
    mut read: BoxRead,
    pending: Arc<Pending>,
    closed: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    frame_body: Duration,
) {
    let reason = loop {
        match read_frame_prealloc(&mut read, MAX_ENVELOPE_BYTES, RESPONSE_PREALLOC, None, frame_body).await {
            Ok(ReadOutcome::Frame(b)) => match Envelope::from_frame(Bytes::from(b)) {
                Ok(env) => {
                    let tx = pending.lock().expect("pending lock").remove(&env.req_id);
                    if let Some(tx) = tx {
                        let _ = tx.send(Ok(env));
                    }
                }
                Err(e) => break format!("undecodable response: {e}"),
            },
            Ok(ReadOutcome::Eof) => break "peer closed the connection".to_string(),
            Err(e) => break e.to_string(),
        }
    };
    closed.store(true, Ordering::Relaxed);
    let waiting: Vec<_> = pending.lock().expect("pending lock").drain().collect();
    for (_, tx) in waiting {
        let _ = tx.send(Err(NetError::Closed { addr, reason: reason.clone() }));
    }
}

/// The typed answer to request `R` in `resp` from `addr`: an error envelope is
/// [`NetError::Remote`], another message type or a payload that does not decode is
/// [`NetError::Protocol`].
pub(crate) fn typed_response<R: Request>(resp: &Envelope, addr: std::net::SocketAddr) -> Result<R::Response, NetError> {
    if let Some(message) = resp.error_text() {
        return Err(NetError::Remote { addr, message });
    }
    if resp.msg_type != R::RESPONSE_TYPE {
        return Err(NetError::Protocol {
            addr,
            reason: format!("expected {} in answer to {}, got {}", R::RESPONSE_TYPE, R::TYPE, resp.msg_type),
        });
    }
    R::Response::from_shared(&resp.payload).map_err(|e| NetError::Protocol { addr, reason: e.to_string() })
}
