//! The endpoint's side of relaying: streams that leave the request/response pattern.
//!
//! - [`Endpoint::dial_stream`]: a dedicated authenticated stream (a fresh connection whose
//!   handshake announces no multiplexing), for requests that take their stream over: tunnel
//!   registration (SCP2P-WIRE.md §10.3) and virtual streams (docs/PROTOCOL.md §7).
//! - [`Endpoint::serve_inverted`]: answering requests that arrive on a stream this node
//!   opened (a relay tunnel: after RELAY_REGISTERED the relay asks and this node answers).
//! - [`Endpoint::connect_over`] / [`Endpoint::accept_over`]: TLS and the channel-bound
//!   handshake run over any byte stream (a virtual stream spliced by a relay), so the two
//!   ends are authenticated to each other and the relay in between sees ciphertext only.

use super::*;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use trove_proto::PubKey;

/// A served stream, to be awaited (or spawned) by the caller.
pub type ServeFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Endpoint {
    /// Opens a dedicated authenticated stream to the direct address `addr`. The handshake
    /// announces every feature but `mux`, so the peer serves the stream one request at a time
    /// and a request may take it over. Not pooled: the caller owns the connection.
    pub async fn dial_stream(&self, addr: &PeerAddr) -> Result<(Stream, PeerInfo), NetError> {
        let sa = addr.socket_addr();
        if addr.relay_via.is_some() {
            return Err(NetError::Connect { addr: sa, reason: "a dedicated stream needs a direct address".into() });
        }
        let mut hs = self.inner.hs.clone();
        hs.features.retain(|f| f != features::MUX);
        match addr.transport {
            Transport::Tcp => {
                let (stream, auth) = self.open_tcp(sa, addr.pubkey_hint, &hs).await?;
                Ok((stream, peer_info(&auth, sa, Transport::Tcp)))
            }
            Transport::Quic => {
                // The stream keeps the connection open; dropping it closes the connection.
                let (_conn, stream, auth) = self.open_quic(sa, addr.pubkey_hint, &hs).await?;
                Ok((stream, peer_info(&auth, sa, Transport::Quic)))
            }
        }
    }

    /// TLS (client side) and the initiator handshake over `io`, under the handshake deadline.
    pub(super) async fn client_handshake<S>(
        &self,
        io: S,
        sa: SocketAddr,
        expected: Option<PubKey>,
        hs: &HandshakeConfig,
    ) -> Result<(tokio_rustls::client::TlsStream<S>, Authenticated), NetError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let inner = &self.inner;
        let work = async {
            let mut tls = inner
                .tls_connector
                .connect(tls::server_name(), io)
                .await
                .map_err(|e| NetError::Tls { addr: sa, reason: e.to_string() })?;
            let exporter = exporter_tcp(tls.get_ref().1, inner.cfg.extensions);
            let auth = initiate(&mut tls, hs, exporter, expected, &*inner.pins).await.map_err(|e| hs_err(sa, e))?;
            Ok::<_, NetError>((tls, auth))
        };
        let t = &inner.cfg.timeouts;
        match tokio::time::timeout(t.handshake, work).await {
            Err(_) => Err(NetError::Timeout { stage: "handshake", addr: sa, secs: t.handshake.as_secs() }),
            Ok(r) => r,
        }
    }

    /// Runs TLS (client side) and the handshake over a byte stream that reaches a peer
    /// through a relay at `via`, and starts a session on it. `expected` is the node key the
    /// peer must prove; channel binding makes a relay that terminates TLS itself fail.
    pub async fn connect_over(
        &self,
        stream: Stream,
        via: SocketAddr,
        transport: Transport,
        expected: Option<PubKey>,
    ) -> Result<Session, NetError> {
        let io = tokio::io::join(stream.read, stream.write);
        let (tls, auth) = self.client_handshake(io, via, expected, &self.inner.hs).await?;
        let t = &self.inner.cfg.timeouts;
        Ok(Session::start(Stream::from_io(tls), peer_info(&auth, via, transport), None, t.request, t.frame_body))
    }

    /// Runs TLS (server side) and the responder handshake over a byte stream that arrived
    /// through a relay at `via`. Returns the authenticated peer and the future that serves
    /// its requests with `handler` (rate-limited by the peer's key) until the stream ends.
    pub async fn accept_over(
        &self,
        stream: Stream,
        via: SocketAddr,
        transport: Transport,
        handler: Arc<dyn Handler>,
    ) -> Result<(Arc<PeerInfo>, ServeFuture), NetError> {
        let inner = self.inner.clone();
        let io = tokio::io::join(stream.read, stream.write);
        let work = async {
            let mut tls =
                inner.tls_acceptor.accept(io).await.map_err(|e| NetError::Tls { addr: via, reason: e.to_string() })?;
            let exporter = exporter_tcp(tls.get_ref().1, inner.cfg.extensions);
            let auth = respond(&mut tls, &inner.hs, exporter, &inner.tcp_nonces, &*inner.pins)
                .await
                .map_err(|e| hs_err(via, e))?;
            Ok::<_, NetError>((tls, auth))
        };
        let t = &inner.cfg.timeouts;
        let (tls, auth) = match tokio::time::timeout(t.handshake, work).await {
            Err(_) => return Err(NetError::Timeout { stage: "handshake", addr: via, secs: t.handshake.as_secs() }),
            Ok(r) => r?,
        };
        let peer = Arc::new(peer_info(&auth, via, transport));
        let ctx = ServeCtx { handler, ..inner.serve.clone() };
        let concurrent = peer.has(features::MUX);
        let p2 = peer.clone();
        let fut = Box::pin(async move {
            serve_stream(Stream::from_io(tls), p2, ctx, concurrent, true).await;
        });
        Ok((peer, fut))
    }

    /// Serves the requests that arrive on `stream` from `peer` with `handler`: the stream
    /// is one this node opened and registered as a relay tunnel, so the relay is the one
    /// asking. `concurrent`: answer in completion order (both sides announced `relay-e2e`);
    /// otherwise one at a time, as v1 relays expect. `idle`: how long the stream may carry no
    /// request before it is given up. Returns when the stream ends.
    pub async fn serve_inverted(
        &self,
        stream: Stream,
        peer: Arc<PeerInfo>,
        handler: Arc<dyn Handler>,
        concurrent: bool,
        idle: Duration,
    ) {
        let base = &self.inner.serve;
        let ctx =
            ServeCtx { handler, timeouts: crate::config::Timeouts { idle, ..base.timeouts.clone() }, ..base.clone() };
        serve_stream(stream, peer, ctx, concurrent, true).await;
    }
}
