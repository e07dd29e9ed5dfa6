//! A tunnel, relay side: the stream a firewalled node registered with RELAY_REGISTER
//! {tunnel: true}. After RELAY_REGISTERED the relay is the client on it (SCP2P-WIRE.md §10.3):
//! it sends requests (forwarded envelopes, RELAY_INCOMING notices, keepalives) and the
//! firewalled node answers. Toward a v1 node one request is in flight at a time, as v1
//! expects; toward a trove node that announced `relay-e2e` they are pipelined.
//!
//! Every request waits in a bounded queue and has a deadline (v1: 32 requests, 30 s). A node
//! that stops answering is declared dead after one deadline without any answer, and its
//! tunnel is freed (TEST-MATRIX RL-4).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trove_net::peer::features;
use trove_net::{NetError, PeerInfo, Session, stream::Stream};
use trove_proto::PubKey;
use trove_proto::wire::{Envelope, MsgType, Request};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One registered tunnel.
pub(crate) struct Tunnel {
    /// Unique per tunnel (a slot may get a newer tunnel).
    pub serial: u64,
    pub slot: u64,
    pub owner: PubKey,
    /// Where the firewalled node's connection comes from (after any NAT).
    pub remote: SocketAddr,
    /// The node accepts virtual streams (it announced `relay-e2e` on a bound session).
    pub e2e: bool,
    session: Session,
    queued: AtomicUsize,
    queue_cap: usize,
    timeout: Duration,
    last_answer: Mutex<Instant>,
    dead: AtomicBool,
}

/// Why a forwarded request failed; the text goes back to the requester.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TunnelError {
    #[error("relay tunnel queue is full")]
    QueueFull,
    #[error("the firewalled node did not answer within {0} s")]
    Timeout(u64),
    #[error("relay tunnel closed")]
    Closed,
    #[error("{0}")]
    Remote(String),
}

struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Tunnel {
    /// Starts the client side over a taken stream. `owner` is the registering session's peer.
    pub fn start(
        stream: Stream,
        owner: &PeerInfo,
        slot: u64,
        queue_cap: usize,
        timeout: Duration,
        frame_body: Duration,
    ) -> Arc<Tunnel> {
        let e2e = owner.has(features::RELAY_E2E);
        let mut info = owner.clone();
        if e2e && !info.features.iter().any(|f| f == features::MUX) {
            // Both ends speak relay-e2e: requests in the tunnel are pipelined.
            info.features.push(features::MUX.to_string());
        }
        let session = Session::start(stream, info, None, timeout, frame_body);
        Arc::new(Tunnel {
            serial: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            slot,
            owner: owner.node_pubkey,
            remote: owner.addr,
            e2e,
            session,
            queued: AtomicUsize::new(0),
            queue_cap: queue_cap.max(1),
            timeout,
            last_answer: Mutex::new(Instant::now()),
            dead: AtomicBool::new(false),
        })
    }

    /// Whether the tunnel can no longer carry requests.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst) || self.session.is_closed()
    }

    /// Time since the node last answered anything.
    pub fn silent_for(&self) -> Duration {
        self.last_answer.lock().expect("tunnel").elapsed()
    }

    /// Requests waiting or in flight.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    fn enter(&self) -> Result<QueueSlot<'_>, TunnelError> {
        if self.is_dead() {
            return Err(TunnelError::Closed);
        }
        let n = self.queued.fetch_add(1, Ordering::SeqCst);
        let slot = QueueSlot(&self.queued);
        if n >= self.queue_cap {
            return Err(TunnelError::QueueFull);
        }
        Ok(slot)
    }

    fn outcome<T>(&self, r: Result<T, NetError>) -> Result<T, TunnelError> {
        match r {
            Ok(v) => {
                *self.last_answer.lock().expect("tunnel") = Instant::now();
                Ok(v)
            }
            Err(NetError::Remote { message, .. }) => {
                *self.last_answer.lock().expect("tunnel") = Instant::now();
                Err(TunnelError::Remote(message))
            }
            Err(NetError::Timeout { .. }) => {
                if self.silent_for() >= self.timeout {
                    // Nothing answered for a whole deadline: the node is gone or stuck.
                    self.dead.store(true, Ordering::SeqCst);
                }
                Err(TunnelError::Timeout(self.timeout.as_secs()))
            }
            Err(_) => {
                self.dead.store(true, Ordering::SeqCst);
                Err(TunnelError::Closed)
            }
        }
    }

    /// Forwards a request envelope (its type and payload); returns the node's answer with
    /// the tunnel's own req_id (the caller puts back the original one).
    pub async fn forward(&self, msg_type: MsgType, payload: Vec<u8>) -> Result<Envelope, TunnelError> {
        let _q = self.enter()?;
        let r = self.session.request_timeout(msg_type, payload, self.timeout).await;
        self.outcome(r)
    }

    /// Sends a typed request (RELAY_INCOMING, keepalives) through the tunnel.
    pub async fn call<R: Request>(&self, req: &R) -> Result<R::Response, TunnelError> {
        let _q = self.enter()?;
        let r = self.session.call_timeout(req, self.timeout).await;
        self.outcome(r)
    }
}
