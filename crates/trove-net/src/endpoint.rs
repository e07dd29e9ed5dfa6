//! An endpoint: the TCP and QUIC listeners of a node and its dialer. Accepted connections
//! are admitted against the connection limits, then TLS and the SCP2P handshake run in their
//! own task under one deadline (never inside the accept loop), and the authenticated stream
//! is served. Dialing produces a [`Session`].

use crate::admission::{Admission, Slot};
use crate::config::NetConfig;
use crate::error::{HandshakeError, NetError};
use crate::handshake::{Authenticated, HandshakeConfig, HandshakeFailure, initiate, respond};
use crate::nonce_tracker::NonceTracker;
use crate::peer::{PeerInfo, features};
use crate::pins::BindingPins;
use crate::rate_limit::RateLimiter;
use crate::server::{Handler, ServeCtx, serve_stream};
use crate::session::Session;
use crate::stream::Stream;
use crate::{quic, tls};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use trove_proto::wire::{PeerAddr, Transport};

mod tunnel;
pub use tunnel::ServeFuture;

/// Socket reads under TLS go through a buffer this large: rustls reads in 4 KiB steps, and
/// without it every step would be a system call.
pub const SOCKET_READ_BUFFER: usize = 256 * 1024;

struct Inner {
    cfg: NetConfig,
    hs: HandshakeConfig,
    pins: Arc<dyn BindingPins>,
    serve: ServeCtx,
    admission: Admission,
    tcp_nonces: NonceTracker,
    quic_nonces: NonceTracker,
    tcp_addr: Option<SocketAddr>,
    quic_server: Option<quinn::Endpoint>,
    quic_v4: OnceLock<quinn::Endpoint>,
    quic_v6: OnceLock<quinn::Endpoint>,
    tls_acceptor: TlsAcceptor,
    tls_connector: TlsConnector,
    quic_client: quinn::ClientConfig,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Ends every served stream at shutdown.
    stop: tokio::sync::watch::Sender<bool>,
}

/// A node's network endpoint. Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

fn bind_err(addr: SocketAddr) -> impl FnOnce(std::io::Error) -> NetError {
    move |e| NetError::Bind { addr, reason: e.to_string() }
}

impl Endpoint {
    /// Binds the configured listeners and starts accepting. `handler` answers requests.
    pub async fn bind(
        cfg: NetConfig,
        handler: Arc<dyn Handler>,
        pins: Arc<dyn BindingPins>,
    ) -> Result<Endpoint, NetError> {
        let tls_err = |e: String| NetError::Limit(format!("TLS setup failed: {e}"));
        let cert = tls::SelfSigned::generate().map_err(|e| tls_err(e.to_string()))?;
        let tls_acceptor = TlsAcceptor::from(tls::tcp_server_config(&cert).map_err(|e| tls_err(e.to_string()))?);
        let tls_connector =
            TlsConnector::from(Arc::new(tls::client_config(false).map_err(|e| tls_err(e.to_string()))?));
        let quic_client = quic::client_config().map_err(tls_err)?;

        let tcp = match cfg.listen_tcp {
            Some(a) => Some(TcpListener::bind(a).await.map_err(bind_err(a))?),
            None => None,
        };
        let quic_server = match cfg.listen_quic {
            Some(a) => {
                let sc = quic::server_config(&cert).map_err(tls_err)?;
                Some(quic::endpoint(a, Some(sc)).map_err(bind_err(a))?)
            }
            None => None,
        };
        let tcp_addr = match &tcp {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let hs = HandshakeConfig {
            node: cfg.node.clone(),
            capabilities: cfg.capabilities,
            extensions: cfg.extensions,
            features: cfg.features.clone(),
            strict: cfg.strict,
            clock: cfg.clock.clone(),
            advertised: Default::default(),
        };
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let serve = ServeCtx {
            handler,
            rate: Arc::new(RateLimiter::default()),
            rate_limits: cfg.rate_limits,
            clock: cfg.clock.clone(),
            timeouts: cfg.timeouts.clone(),
            max_concurrent: cfg.limits.max_concurrent_requests,
            stop: stop_rx,
        };
        let inner = Arc::new(Inner {
            admission: Admission::new(cfg.limits.clone()),
            cfg,
            hs,
            pins,
            serve,
            tcp_nonces: NonceTracker::default(),
            quic_nonces: NonceTracker::default(),
            tcp_addr,
            quic_server,
            quic_v4: OnceLock::new(),
            quic_v6: OnceLock::new(),
            tls_acceptor,
            tls_connector,
            quic_client,
            tasks: Mutex::new(Vec::new()),
            stop,
        });
        let ep = Endpoint { inner };
        let mut tasks = Vec::new();
        if let Some(l) = tcp {
            tasks.push(tokio::spawn(tcp_accept_loop(Arc::downgrade(&ep.inner), l)));
        }
        if let Some(q) = ep.inner.quic_server.clone() {
            tasks.push(tokio::spawn(quic_accept_loop(Arc::downgrade(&ep.inner), q)));
        }
        *ep.inner.tasks.lock().expect("tasks lock") = tasks;
        Ok(ep)
    }

    /// Sets the listen addresses announced to trove peers in handshakes (with this node's
    /// key as hint); at most 8 are sent.
    pub fn set_advertised(&self, addrs: Vec<PeerAddr>) {
        let key = self.node_pubkey();
        let addrs =
            addrs.into_iter().take(8).map(|a| PeerAddr { pubkey_hint: Some(key), relay_via: None, ..a }).collect();
        *self.inner.hs.advertised.write().expect("advertised") = addrs;
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.inner.tcp_addr
    }

    /// The bound QUIC address.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.inner.quic_server.as_ref().and_then(|q| q.local_addr().ok())
    }

    /// This node's public key.
    pub fn node_pubkey(&self) -> trove_proto::PubKey {
        self.inner.cfg.node.public()
    }

    /// The configuration.
    pub fn config(&self) -> &NetConfig {
        &self.inner.cfg
    }

    /// (connections, pending handshakes) currently admitted inbound.
    pub fn inbound_load(&self) -> (usize, usize) {
        self.inner.admission.load()
    }

    /// Stops accepting, ends the streams it serves (at their next request) and closes the
    /// QUIC endpoints. Client sessions already handed out end when their peers or owners drop
    /// them.
    pub fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        for t in self.inner.tasks.lock().expect("tasks lock").drain(..) {
            t.abort();
        }
        for q in
            [self.inner.quic_server.as_ref(), self.inner.quic_v4.get(), self.inner.quic_v6.get()].into_iter().flatten()
        {
            q.close(0u32.into(), b"shutdown");
        }
    }

    /// [`Endpoint::shutdown`], returning once the listeners are closed (their ports can be
    /// bound again).
    pub async fn close(&self) {
        let tasks: Vec<_> = self.inner.tasks.lock().expect("tasks lock").drain(..).collect();
        self.shutdown();
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }

    /// Opens an authenticated session with `addr` (direct addresses; relayed ones are
    /// reached through a relay session by the caller).
    pub async fn connect(&self, addr: &PeerAddr) -> Result<Session, NetError> {
        let sa = addr.socket_addr();
        if addr.relay_via.is_some() {
            return Err(NetError::Connect { addr: sa, reason: "address is only reachable through a relay".into() });
        }
        match addr.transport {
            Transport::Tcp => self.connect_tcp(sa, addr.pubkey_hint).await,
            Transport::Quic => self.connect_quic(sa, addr.pubkey_hint).await,
        }
    }

    async fn connect_tcp(&self, sa: SocketAddr, expected: Option<trove_proto::PubKey>) -> Result<Session, NetError> {
        let t = &self.inner.cfg.timeouts;
        let (stream, auth) = self.open_tcp(sa, expected, &self.inner.hs).await?;
        Ok(Session::start(stream, peer_info(&auth, sa, Transport::Tcp), None, t.request, t.frame_body))
    }

    /// A TCP connection to `sa` with TLS and the initiator handshake (`hs`), each under its
    /// deadline.
    pub(crate) async fn open_tcp(
        &self,
        sa: SocketAddr,
        expected: Option<trove_proto::PubKey>,
        hs: &HandshakeConfig,
    ) -> Result<(Stream, Authenticated), NetError> {
        let t = &self.inner.cfg.timeouts;
        let sock = match tokio::time::timeout(t.connect, TcpStream::connect(sa)).await {
            Err(_) => return Err(NetError::Timeout { stage: "TCP connect", addr: sa, secs: t.connect.as_secs() }),
            Ok(Err(e)) => return Err(NetError::Connect { addr: sa, reason: e.to_string() }),
            Ok(Ok(s)) => s,
        };
        let _ = sock.set_nodelay(true);
        let sock = tokio::io::BufReader::with_capacity(SOCKET_READ_BUFFER, sock);
        let (tls, auth) = self.client_handshake(sock, sa, expected, hs).await?;
        Ok((Stream::from_io(tls), auth))
    }

    fn quic_endpoint_for(&self, sa: SocketAddr) -> Result<quinn::Endpoint, NetError> {
        if let Some(q) = &self.inner.quic_server
            && let Ok(local) = q.local_addr()
            && local.is_ipv4() == sa.is_ipv4()
        {
            return Ok(q.clone());
        }
        let (cell, any) = if sa.is_ipv4() {
            (&self.inner.quic_v4, SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
        } else {
            (&self.inner.quic_v6, SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0))
        };
        if let Some(q) = cell.get() {
            return Ok(q.clone());
        }
        let q = quic::endpoint(any, None).map_err(bind_err(any))?;
        Ok(cell.get_or_init(|| q).clone())
    }

    async fn connect_quic(&self, sa: SocketAddr, expected: Option<trove_proto::PubKey>) -> Result<Session, NetError> {
        let t = &self.inner.cfg.timeouts;
        let (conn, stream, auth) = self.open_quic(sa, expected, &self.inner.hs).await?;
        let peer = peer_info(&auth, sa, Transport::Quic);
        Ok(Session::start(stream, peer, Some(conn), t.request, t.frame_body))
    }

    /// A QUIC connection to `sa` with one bidirectional stream and the initiator handshake
    /// (`hs`) on it, each under its deadline. The stream keeps the connection open.
    pub(crate) async fn open_quic(
        &self,
        sa: SocketAddr,
        expected: Option<trove_proto::PubKey>,
        hs: &HandshakeConfig,
    ) -> Result<(quinn::Connection, Stream, Authenticated), NetError> {
        let t = &self.inner.cfg.timeouts;
        let ep = self.quic_endpoint_for(sa)?;
        let connecting = ep
            .connect_with(self.inner.quic_client.clone(), sa, tls::SERVER_NAME)
            .map_err(|e| NetError::Connect { addr: sa, reason: e.to_string() })?;
        let conn = match tokio::time::timeout(t.connect, connecting).await {
            Err(_) => return Err(NetError::Timeout { stage: "QUIC connect", addr: sa, secs: t.connect.as_secs() }),
            Ok(Err(e)) => return Err(NetError::Connect { addr: sa, reason: e.to_string() }),
            Ok(Ok(c)) => c,
        };
        let inner = &self.inner;
        let work = async {
            let (send, recv) =
                conn.open_bi().await.map_err(|e| NetError::Connect { addr: sa, reason: e.to_string() })?;
            let exporter = exporter_quic(&conn, inner.cfg.extensions);
            let mut io = tokio::io::join(recv, send);
            let auth = initiate(&mut io, hs, exporter, expected, &*inner.pins).await.map_err(|e| hs_err(sa, e))?;
            Ok::<_, NetError>((io, auth))
        };
        let (io, auth) = match tokio::time::timeout(t.handshake, work).await {
            Err(_) => {
                conn.close(0u32.into(), b"handshake timeout");
                return Err(NetError::Timeout { stage: "handshake", addr: sa, secs: t.handshake.as_secs() });
            }
            Ok(Err(e)) => {
                conn.close(0u32.into(), b"handshake failed");
                return Err(e);
            }
            Ok(Ok(r)) => r,
        };
        let (recv, send) = io.into_inner();
        Ok((conn, Stream::from_quic(send, recv), auth))
    }
}

fn hs_err(addr: SocketAddr, e: HandshakeFailure) -> NetError {
    match e {
        HandshakeFailure::Refused(source) => NetError::Handshake { addr, source },
        HandshakeFailure::Frame(f) => match f.into_net(addr) {
            NetError::Closed { reason, .. } => NetError::Handshake {
                addr,
                source: HandshakeError::Malformed(format!("connection ended during the handshake ({reason})")),
            },
            other => other,
        },
    }
}

fn exporter_tcp<D>(conn: &rustls::ConnectionCommon<D>, on: bool) -> Option<[u8; 32]> {
    if !on {
        return None;
    }
    conn.export_keying_material([0u8; 32], tls::EXPORTER_LABEL, Some(b"")).ok()
}

fn exporter_quic(conn: &quinn::Connection, on: bool) -> Option<[u8; 32]> {
    if !on {
        return None;
    }
    let mut out = [0u8; 32];
    conn.export_keying_material(&mut out, tls::EXPORTER_LABEL, b"").ok().map(|_| out)
}

fn peer_info(auth: &Authenticated, addr: SocketAddr, transport: Transport) -> PeerInfo {
    PeerInfo {
        node_pubkey: auth.node_pubkey,
        node_id: auth.node_pubkey.node_id(),
        capabilities: auth.capabilities,
        addr,
        transport,
        features: auth.ext.as_ref().map(|e| e.features.clone()).unwrap_or_default(),
        listen_addrs: auth.ext.as_ref().map(|e| e.addrs.clone()).unwrap_or_default(),
        bound: auth.ext.is_some(),
    }
}

async fn tcp_accept_loop(inner: std::sync::Weak<Inner>, listener: TcpListener) {
    loop {
        let (sock, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("TCP accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(inner) = inner.upgrade() else { return };
        let slot = match inner.admission.admit(addr.ip()) {
            Ok(s) => s,
            Err(why) => {
                tracing::debug!("refusing TCP connection from {addr}: {why}");
                continue;
            }
        };
        tokio::spawn(serve_tcp(inner, sock, addr, slot));
    }
}

async fn serve_tcp(inner: Arc<Inner>, sock: TcpStream, addr: SocketAddr, mut slot: Slot) {
    let _ = sock.set_nodelay(true);
    let sock = tokio::io::BufReader::with_capacity(SOCKET_READ_BUFFER, sock);
    let hs = async {
        let mut tls = inner.tls_acceptor.accept(sock).await.map_err(|e| e.to_string())?;
        let exporter = exporter_tcp(tls.get_ref().1, inner.cfg.extensions);
        let auth =
            respond(&mut tls, &inner.hs, exporter, &inner.tcp_nonces, &*inner.pins).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((tls, auth))
    };
    let hs = tokio::time::timeout(inner.cfg.timeouts.handshake, hs);
    let r = tokio::select! {
        r = hs => r,
        _ = slot.wait_cancelled() => {
            tracing::debug!("inbound TCP handshake from {addr} cancelled to make room");
            return;
        }
    };
    let (tls, auth) = match r {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::debug!("inbound TCP handshake from {addr} failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("inbound TCP handshake from {addr} timed out");
            return;
        }
    };
    slot.established();
    let peer = Arc::new(peer_info(&auth, addr, Transport::Tcp));
    inner.serve.handler.on_peer(&peer);
    let concurrent = peer.has(features::MUX);
    let ctx = inner.serve.clone();
    drop(inner);
    serve_stream(Stream::from_io(tls), peer, ctx, concurrent, true).await;
    drop(slot);
}

async fn quic_accept_loop(inner: std::sync::Weak<Inner>, ep: quinn::Endpoint) {
    while let Some(incoming) = ep.accept().await {
        let Some(inner) = inner.upgrade() else { return };
        let addr = incoming.remote_address();
        let slot = match inner.admission.admit(addr.ip()) {
            Ok(s) => s,
            Err(why) => {
                tracing::debug!("refusing QUIC connection from {addr}: {why}");
                incoming.refuse();
                continue;
            }
        };
        tokio::spawn(serve_quic(inner, incoming, addr, slot));
    }
}

async fn quic_handshake(
    inner: &Inner,
    incoming: quinn::Incoming,
) -> Result<(quinn::Connection, tokio::io::Join<quinn::RecvStream, quinn::SendStream>, Authenticated), String> {
    let conn = incoming.await.map_err(|e| e.to_string())?;
    let (send, recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
    let exporter = exporter_quic(&conn, inner.cfg.extensions);
    let mut io = tokio::io::join(recv, send);
    let auth =
        respond(&mut io, &inner.hs, exporter, &inner.quic_nonces, &*inner.pins).await.map_err(|e| e.to_string())?;
    Ok((conn, io, auth))
}

async fn serve_quic(inner: Arc<Inner>, incoming: quinn::Incoming, addr: SocketAddr, mut slot: Slot) {
    let hs = tokio::time::timeout(inner.cfg.timeouts.handshake, quic_handshake(&inner, incoming));
    let r = tokio::select! {
        r = hs => r,
        _ = slot.wait_cancelled() => {
            tracing::debug!("inbound QUIC handshake from {addr} cancelled to make room");
            return;
        }
    };
    let (conn, io, auth) = match r {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::debug!("inbound QUIC handshake from {addr} failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("inbound QUIC handshake from {addr} timed out");
            return;
        }
    };
    slot.established();
    let peer = Arc::new(peer_info(&auth, addr, Transport::Quic));
    inner.serve.handler.on_peer(&peer);
    let ctx = inner.serve.clone();
    drop(inner);
    let (recv, send) = io.into_inner();
    let stream0 = serve_stream(Stream::from_quic(send, recv), peer.clone(), ctx.clone(), false, true);
    if peer.has(features::MUX) {
        // trove peers open a stream per request; each is served on its own task.
        let more = async {
            while let Ok((send, recv)) = conn.accept_bi().await {
                tokio::spawn(serve_stream(Stream::from_quic(send, recv), peer.clone(), ctx.clone(), false, true));
            }
        };
        tokio::join!(stream0, more);
    } else if !stream0.await {
        // A stream taken over (relay tunnel, virtual stream) keeps the connection open.
        conn.close(0u32.into(), b"done");
    }
    drop(slot);
}
