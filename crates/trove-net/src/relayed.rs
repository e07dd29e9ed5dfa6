//! Reaching a peer through a relay: a [`PeerAddr`] with `relay_via` becomes a [`Session`]
//! like any other, so callers never see the difference.
//!
//! - Between trove peers (the relay announced `relay-e2e`): a virtual stream
//!   (docs/PROTOCOL.md §7). The dialer opens a dedicated stream to the relay, sends
//!   RELAY_OPEN, and once the relay has spliced it to the firewalled node runs TLS and the
//!   channel-bound handshake through it. The relay forwards ciphertext it cannot read or
//!   alter undetected, and the firewalled node's key is checked against the address's hint.
//! - Otherwise (a v1 relay, or a v1 node behind the slot): SCP2P v1 tunnel forwarding
//!   (SCP2P-WIRE.md §10.3). Each request envelope travels whole inside a RELAY_STREAM to
//!   the relay; the answer comes back the same way. The session is served one request at a
//!   time and is not authenticated end to end (v1 has no way to).

use crate::endpoint::Endpoint;
use crate::error::NetError;
use crate::frame::{OutFrame, ReadOutcome, read_frame, write_out};
use crate::peer::{PeerInfo, features};
use crate::pool::Pool;
use crate::session::Session;
use crate::stream::Stream;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;
use trove_proto::limits::MAX_ENVELOPE_BYTES;
use trove_proto::wire::relay_ext::NO_E2E;
use trove_proto::wire::{
    Capabilities, Envelope, MsgType, PeerAddr, RelayKind, RelayOpen, RelayOpened, RelayStream, Request,
};
use trove_proto::{PubKey, cbor};

/// Sends one request on a stream nobody else uses and reads its answer (dedicated streams
/// before they are taken over: tunnel registration, RELAY_OPEN, RELAY_ACCEPT).
pub async fn request_on_stream(
    stream: &mut Stream,
    msg_type: MsgType,
    payload: Vec<u8>,
    timeout: Duration,
    addr: SocketAddr,
) -> Result<Envelope, NetError> {
    const REQ_ID: u32 = 1;
    let env = Envelope::request(msg_type, REQ_ID, payload);
    let work = async {
        write_out(&mut stream.write, &OutFrame::of(&env), MAX_ENVELOPE_BYTES).await.map_err(|e| e.into_net(addr))?;
        match read_frame(&mut stream.read, MAX_ENVELOPE_BYTES, None, timeout).await.map_err(|e| e.into_net(addr))? {
            ReadOutcome::Frame(b) => {
                let resp = Envelope::from_frame(Bytes::from(b))?;
                if resp.req_id != REQ_ID {
                    return Err(NetError::Protocol { addr, reason: format!("answer for req_id {}", resp.req_id) });
                }
                Ok(resp)
            }
            ReadOutcome::Eof => Err(NetError::Closed { addr, reason: "stream closed without an answer".into() }),
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(NetError::Timeout { stage: "request", addr, secs: timeout.as_secs() }),
    }
}

/// [`request_on_stream`] for a typed request.
pub async fn call_on_stream<R: Request>(
    stream: &mut Stream,
    req: &R,
    timeout: Duration,
    addr: SocketAddr,
) -> Result<R::Response, NetError> {
    let resp = request_on_stream(stream, R::TYPE, req.to_payload(), timeout, addr).await?;
    crate::session::typed_response::<R>(&resp, addr)
}

/// A session with the peer behind `addr.relay_via` (called by the pool).
pub(crate) async fn connect(pool: &Pool, addr: &PeerAddr) -> Result<Session, NetError> {
    let Some(route) = addr.relay_via.as_deref() else { return pool.endpoint().connect(addr).await };
    let relay_sa = route.relay_addr.socket_addr();
    if route.relay_addr.relay_via.is_some() {
        return Err(NetError::Connect { addr: relay_sa, reason: "chains of relays are not followed".into() });
    }
    let relay = Box::pin(pool.get(&route.relay_addr)).await?;
    let ep = pool.endpoint();
    if ep.config().extensions && relay.peer().has(features::RELAY_E2E) {
        match open_virtual(ep, &route.relay_addr, route.slot_id, addr.pubkey_hint).await {
            Ok(s) => return Ok(s),
            // A v1 node behind the slot: only envelope forwarding reaches it.
            Err(NetError::Remote { message, .. }) if message == NO_E2E => {}
            Err(e) => return Err(e),
        }
    }
    Ok(forwarding_session(relay, route.slot_id, addr.pubkey_hint, &route.relay_addr, ep))
}

/// Opens a virtual stream through the relay at `relay_addr` and runs the end-to-end session
/// over it.
async fn open_virtual(
    ep: &Endpoint,
    relay_addr: &PeerAddr,
    slot: u64,
    target: Option<PubKey>,
) -> Result<Session, NetError> {
    let (mut stream, relay) = ep.dial_stream(relay_addr).await?;
    let open = RelayOpen { relay_slot_id: slot, kind: RelayKind::Content, target };
    let timeout = ep.config().timeouts.request;
    let opened: RelayOpened = call_on_stream(&mut stream, &open, timeout, relay.addr).await?;
    tracing::debug!("virtual stream to slot {slot} at {} open ({:?})", relay.addr, opened.kind);
    ep.connect_over(stream, relay.addr, relay.transport, target).await
}

/// A session whose requests travel as v1 RELAY_STREAM envelopes through `relay`. The peer
/// is not authenticated: its key is the address's hint (or all zeros).
fn forwarding_session(
    relay: Session,
    slot: u64,
    hint: Option<PubKey>,
    relay_addr: &PeerAddr,
    ep: &Endpoint,
) -> Session {
    let key = hint.unwrap_or(PubKey([0; 32]));
    let peer = PeerInfo {
        node_pubkey: key,
        node_id: key.node_id(),
        capabilities: Capabilities::default(),
        addr: relay_addr.socket_addr(),
        transport: relay_addr.transport,
        features: Vec::new(),
        bound: false,
        listen_addrs: Vec::new(),
    };
    let (near, far) = tokio::io::duplex(64 * 1024);
    tokio::spawn(forward_loop(far, relay, slot));
    let t = &ep.config().timeouts;
    Session::start(Stream::from_io(near), peer, None, t.request, t.frame_body)
}

/// Carries each request written to `io` to the relay inside a RELAY_STREAM and writes the
/// answer back. Ends when the session is dropped or the relay session breaks.
async fn forward_loop(io: tokio::io::DuplexStream, relay: Session, slot: u64) {
    let (mut r, mut w) = tokio::io::split(io);
    let addr = relay.peer().addr;
    loop {
        let frame = match read_frame(&mut r, MAX_ENVELOPE_BYTES, None, Duration::from_secs(10)).await {
            Ok(ReadOutcome::Frame(b)) => b,
            _ => return,
        };
        let Ok(inner) = Envelope::from_frame(Bytes::from(frame)) else { return };
        let outer =
            RelayStream { relay_slot_id: slot, stream_id: 0, kind: RelayKind::Content, payload: cbor::to_vec(&inner) };
        let answer = match relay.call(&outer).await {
            Ok(back) => match Envelope::from_bytes(&back.payload) {
                Ok(env) if env.req_id == inner.req_id => env,
                Ok(env) => Envelope::error(
                    inner.msg_type,
                    inner.req_id,
                    &format!("relay {addr} answered request {} with one for {}", inner.req_id, env.req_id),
                ),
                Err(e) => Envelope::error(inner.msg_type, inner.req_id, &format!("relay {addr} sent garbage: {e}")),
            },
            Err(NetError::Remote { message, .. }) => Envelope::error(inner.msg_type, inner.req_id, &message),
            Err(e) => {
                tracing::debug!("relay {addr} forwarding to slot {slot} stopped: {e}");
                return;
            }
        };
        if write_out(&mut w, &OutFrame::of(&answer), MAX_ENVELOPE_BYTES).await.is_err() {
            return;
        }
    }
}
