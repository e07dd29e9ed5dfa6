//! How a firewalled node answers what reaches it through its relay.
//!
//! - On the tunnel (the relay asks, this node answers): forwarded v1 envelopes are served
//!   like any request, under an anonymous identity derived from the relay's key (v1 gives
//!   them no identity of their own), so rate limits apply to them as a group; relay
//!   operations are refused; RELAY_INCOMING from a relay that announced `relay-e2e` makes
//!   this node claim the virtual stream on a new connection to the relay and run TLS and
//!   the channel-bound handshake over it as the responder.
//! - On a virtual stream: the dialer is authenticated end to end and served like a direct
//!   peer, except that a stream the relay granted as `control` carries no chunk data.

use super::forward::is_relay_op;
use crate::node::Inner;
use std::sync::{Arc, Weak};
use trove_net::relayed::call_on_stream;
use trove_net::{Handler, PeerInfo, Reply, ReplyFuture};
use trove_proto::PubKey;
use trove_proto::wire::{AnyRequest, Capabilities, Envelope, MsgType, PeerAddr, RelayAccept, RelayIncoming, RelayKind};

/// Error text for chunk requests on a control-only virtual stream.
pub const CONTROL_ONLY: &str = "this relayed session carries no content (the relay does not relay content)";

/// The identity requests arriving through a tunnel are served under: a pseudo key derived
/// from the relay's key, never a real node's.
pub(crate) fn anonymous(relay: &PeerInfo) -> PeerInfo {
    let mut m = b"trove anonymous tunnel requests via ".to_vec();
    m.extend_from_slice(&relay.node_pubkey.0);
    let key = PubKey(trove_proto::content::content_id(&m).0);
    let mut p = relay.clone();
    p.node_pubkey = key;
    p.node_id = key.node_id();
    p.capabilities = Capabilities::default();
    p.features.clear();
    p.bound = false;
    p
}

/// Serves the tunnel of this node at a relay.
pub(crate) struct TunnelHandler {
    pub inner: Weak<Inner>,
    /// The relay, with its verified key as hint (dialed to claim virtual streams).
    pub relay: PeerAddr,
    /// The relay announced `relay-e2e` on a bound session.
    pub e2e: bool,
}

impl Handler for TunnelHandler {
    fn handle(&self, peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture {
        let inner = self.inner.upgrade();
        let (relay, e2e) = (self.relay.clone(), self.e2e);
        Box::pin(async move {
            let Some(inner) = inner else {
                return Reply::Respond(Envelope::error(req.msg_type, req.req_id, "node is shutting down"));
            };
            if req.msg_type == MsgType::RELAY_INCOMING && e2e && inner.cfg.extensions {
                return match AnyRequest::decode_ext(req.msg_type, &req.payload, true) {
                    Ok(AnyRequest::RelayIncoming(n)) => {
                        let me = inner.clone();
                        inner.spawn(async move { claim(me, relay, n).await });
                        Reply::Respond(Envelope::response(MsgType::RELAY_INCOMING, req.req_id, bytes::Bytes::new()))
                    }
                    Ok(_) => Reply::Respond(Envelope::error(req.msg_type, req.req_id, "not a relay notice")),
                    Err(e) => Reply::Respond(Envelope::error(req.msg_type, req.req_id, &e.to_string())),
                };
            }
            if is_relay_op(req.msg_type) {
                // v1 wording: tunnelled requests have no remote identity.
                return Reply::Respond(Envelope::error(req.msg_type, req.req_id, "missing remote peer identity"));
            }
            Reply::Respond(inner.serve(&peer, req).await)
        })
    }
}

/// Serves one virtual stream.
pub(crate) struct VirtualHandler {
    pub inner: Weak<Inner>,
    pub kind: RelayKind,
}

impl Handler for VirtualHandler {
    fn handle(&self, peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture {
        let inner = self.inner.upgrade();
        let kind = self.kind;
        Box::pin(async move {
            let refuse = |text: &str| Reply::Respond(Envelope::error(req.msg_type, req.req_id, text));
            let Some(inner) = inner else { return refuse("node is shutting down") };
            if kind == RelayKind::Control && req.msg_type == MsgType::GET_CHUNK {
                return refuse(CONTROL_ONLY);
            }
            if is_relay_op(req.msg_type) {
                return refuse("relay operations are not served through a relay");
            }
            Reply::Respond(inner.serve(&peer, req).await)
        })
    }
}

/// Claims a virtual stream at the relay and serves the dialer over it.
async fn claim(inner: Arc<Inner>, relay: PeerAddr, n: RelayIncoming) {
    let ep = inner.endpoint.clone();
    let (mut stream, rinfo) = match ep.dial_stream(&relay).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!("cannot claim a virtual stream at {relay}: {e}");
            return;
        }
    };
    let timeout = ep.config().timeouts.request;
    if let Err(e) = call_on_stream(&mut stream, &RelayAccept { token: n.token }, timeout, rinfo.addr).await {
        tracing::debug!("relay {relay} refused our claim: {e}");
        return;
    }
    let handler = Arc::new(VirtualHandler { inner: Arc::downgrade(&inner), kind: n.kind });
    drop(inner);
    let (peer, serve) = match ep.accept_over(stream, rinfo.addr, rinfo.transport, handler).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!("end-to-end session through {relay} failed: {e}");
            return;
        }
    };
    if peer.node_pubkey != n.dialer {
        tracing::warn!(
            "relay {relay} announced {} but {} connected; dropping the stream",
            n.dialer.short(),
            peer.node_pubkey.short()
        );
        return;
    }
    serve.await;
}
