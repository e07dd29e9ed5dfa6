//! The serve loop: reads request envelopes from a stream, applies rate limits, asks the
//! [`Handler`] for the reply and writes it back. Toward v1 peers it answers strictly in
//! order, one request at a time; toward trove peers that announced `mux` it serves requests
//! concurrently (bounded) and answers as they complete, matched by req_id. A handler may
//! answer and then take the stream over (relay tunnel registration, SCP2P-WIRE.md §10.3).

use crate::clock::Clock;
use crate::config::Timeouts;
use crate::frame::{FrameQueue, OutFrame, ReadOutcome, read_frame, write_out};
use crate::peer::PeerInfo;
use crate::rate_limit::{ClassLimits, RateLimiter};
use crate::stream::{BoxRead, Stream};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::Semaphore;
use trove_proto::limits::MAX_ENVELOPE_BYTES;
use trove_proto::wire::{Envelope, MsgType};

/// What the handler answers.
pub enum Reply {
    /// Send this response.
    Respond(Envelope),
    /// Send this response, then hand the stream to the closure and stop serving it.
    RespondAndTake(Envelope, Box<dyn FnOnce(Stream) + Send>),
}

/// A future returned by a handler.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// The node's request handler.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from `peer`.
    fn handle(&self, peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture;

    /// Called once per inbound session after its handshake (to learn peers).
    fn on_peer(&self, _peer: &Arc<PeerInfo>) {}
}

/// Shared serving state of an endpoint.
#[derive(Clone)]
pub struct ServeCtx {
    pub handler: Arc<dyn Handler>,
    pub rate: Arc<RateLimiter>,
    pub rate_limits: bool,
    pub clock: Clock,
    pub timeouts: Timeouts,
    pub max_concurrent: usize,
    /// Turns true when the endpoint shuts down: served streams end at their next request.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl ServeCtx {
    /// Rate limiting, then the handler.
    async fn reply(&self, peer: &Arc<PeerInfo>, req: Envelope, limited: bool) -> Reply {
        if limited && self.rate_limits {
            let limits = if peer.bound { &ClassLimits::TROVE } else { &ClassLimits::V1 };
            if let Err(text) = self.rate.check(&peer.node_pubkey, req.msg_type, limits, self.clock.now()) {
                return Reply::Respond(Envelope::error(req.msg_type, req.req_id, text));
            }
        }
        self.handler.handle(peer.clone(), req).await
    }
}

/// The frame of a response, replacing one that is too large with an error.
fn response_frame(resp: &Envelope) -> OutFrame {
    if resp.encoded_len() > MAX_ENVELOPE_BYTES {
        OutFrame::of(&Envelope::error(resp.msg_type, resp.req_id, "response too large"))
    } else {
        OutFrame::of(resp)
    }
}

async fn write_response(stream: &mut Stream, resp: &Envelope, ctx: &ServeCtx) -> bool {
    let frame = response_frame(resp);
    let w = write_out(&mut stream.write, &frame, MAX_ENVELOPE_BYTES);
    matches!(tokio::time::timeout(ctx.timeouts.request, w).await, Ok(Ok(())))
}

/// Serves one stream until the peer closes it, goes idle, misbehaves, or a handler takes it.
/// `limited`: apply rate limits (false for requests arriving through a relay tunnel).
/// Returns true when a handler took the stream over (its connection must stay open).
pub async fn serve_stream(
    mut stream: Stream,
    peer: Arc<PeerInfo>,
    ctx: ServeCtx,
    concurrent: bool,
    limited: bool,
) -> bool {
    if concurrent {
        serve_concurrent(stream, peer, ctx, limited).await;
        return false;
    }
    loop {
        let Some(req) = next_request_or_stop(&mut stream.read, &ctx).await else { return false };
        match ctx.reply(&peer, req, limited).await {
            Reply::Respond(resp) => {
                if !write_response(&mut stream, &resp, &ctx).await {
                    return false;
                }
            }
            Reply::RespondAndTake(resp, take) => {
                if write_response(&mut stream, &resp, &ctx).await {
                    take(stream);
                    return true;
                }
                return false;
            }
        }
    }
}

/// [`next_request`], or None once the endpoint shuts down (its streams must not outlive it).
async fn next_request_or_stop(read: &mut BoxRead, ctx: &ServeCtx) -> Option<Envelope> {
    let mut stop = ctx.stop.clone();
    tokio::select! {
        r = next_request(read, ctx) => r,
        _ = stop.wait_for(|s| *s) => None,
    }
}

/// Reads and decodes the next request; None ends the loop (EOF, idle, oversize, garbage).
async fn next_request(read: &mut BoxRead, ctx: &ServeCtx) -> Option<Envelope> {
    match read_frame(read, MAX_ENVELOPE_BYTES, Some(ctx.timeouts.idle), ctx.timeouts.frame_body).await {
        Ok(ReadOutcome::Frame(body)) => Envelope::from_frame(Bytes::from(body)).ok(),
        _ => None,
    }
}

/// Whether answering `req` would take its stream over (tunnel registration, virtual streams).
fn takes_stream(req: &Envelope) -> bool {
    use trove_proto::wire::{Payload, RelayRegister};
    match req.msg_type {
        MsgType::RELAY_REGISTER => RelayRegister::from_payload(&req.payload).map(|r| r.tunnel).unwrap_or(true),
        MsgType::RELAY_OPEN | MsgType::RELAY_ACCEPT => true,
        _ => false,
    }
}

async fn serve_concurrent(stream: Stream, peer: Arc<PeerInfo>, ctx: ServeCtx, limited: bool) {
    let Stream { mut read, write } = stream;
    let queue = FrameQueue::spawn(write, ctx.timeouts.request);
    let permits = Arc::new(Semaphore::new(ctx.max_concurrent));
    loop {
        let Some(req) = next_request_or_stop(&mut read, &ctx).await else { return };
        if takes_stream(&req) {
            // A tunnel or a virtual stream needs the stream to itself: refuse it on a
            // multiplexed stream (trove peers use a stream of their own, see
            // `Endpoint::dial_stream`).
            let resp = Envelope::error(req.msg_type, req.req_id, "relay tunnels need a dedicated stream");
            if !queue.send(response_frame(&resp)).await {
                return;
            }
            continue;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (ctx2, peer2, queue2) = (ctx.clone(), peer.clone(), queue.clone());
        tokio::spawn(async move {
            let resp = match ctx2.reply(&peer2, req, limited).await {
                Reply::Respond(r) | Reply::RespondAndTake(r, _) => r,
            };
            queue2.send(response_frame(&resp)).await;
            drop(permit);
        });
    }
}
