//! Shared test fixtures: a handler that answers chunk requests and counts what it served,
//! and endpoint builders on loopback.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use trove_net::{Endpoint, Handler, MemoryPins, NetConfig, PeerInfo, Reply, ReplyFuture};
use trove_proto::Keypair;
use trove_proto::wire::{AnyRequest, ChunkData, Envelope, MsgType, Payload, PeerAddr, Transport};

/// Answers GET_CHUNK with `chunk_index` bytes of 0xAB (capped at 256 KiB), acks STORE,
/// errors on everything else; counts requests.
#[derive(Default)]
pub struct TestHandler {
    pub served: AtomicUsize,
    pub peers: AtomicUsize,
}

impl Handler for TestHandler {
    fn handle(&self, _peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture {
        self.served.fetch_add(1, Ordering::SeqCst);
        let resp = match AnyRequest::decode(req.msg_type, &req.payload) {
            Ok(AnyRequest::GetChunk(g)) => {
                let len = (g.chunk_index as usize).min(262_144);
                let data =
                    ChunkData { content_id: g.content_id, chunk_index: g.chunk_index, bytes: vec![0xab; len].into() };
                Envelope::response(MsgType::CHUNK_DATA, req.req_id, data.to_payload())
            }
            Ok(AnyRequest::Store(_)) => Envelope::response(MsgType::STORE, req.req_id, Vec::new()),
            Ok(AnyRequest::HaveContent(h)) if h.content_id.0[0] == 0xff => {
                // Slow request: answers after 200 ms (for concurrency tests).
                return Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Reply::Respond(Envelope::response(MsgType::HAVE_CONTENT, req.req_id, Vec::new()))
                });
            }
            Ok(AnyRequest::HaveContent(_)) => Envelope::response(MsgType::HAVE_CONTENT, req.req_id, Vec::new()),
            Ok(_) => Envelope::error(req.msg_type, req.req_id, "not served by the test handler"),
            Err(e) => Envelope::error(req.msg_type, req.req_id, &e.to_string()),
        };
        Box::pin(async move { Reply::Respond(resp) })
    }

    fn on_peer(&self, _peer: &Arc<PeerInfo>) {
        self.peers.fetch_add(1, Ordering::SeqCst);
    }
}

/// A config listening on both transports on 127.0.0.1 with ephemeral ports.
pub fn config(seed: u8, extensions: bool) -> NetConfig {
    let mut c = NetConfig::new(Keypair::from_seed([seed; 32]));
    c.listen_tcp = Some("127.0.0.1:0".parse().unwrap());
    c.listen_quic = Some("127.0.0.1:0".parse().unwrap());
    c.extensions = extensions;
    c
}

/// Binds an endpoint with a fresh [`TestHandler`].
pub async fn node(cfg: NetConfig) -> (Endpoint, Arc<TestHandler>) {
    let h = Arc::new(TestHandler::default());
    let ep = Endpoint::bind(cfg, h.clone(), Arc::new(MemoryPins::default())).await.unwrap();
    (ep, h)
}

/// The address of an endpoint's listener for a transport.
pub fn addr_of(ep: &Endpoint, t: Transport) -> PeerAddr {
    let sa: SocketAddr = match t {
        Transport::Tcp => ep.tcp_addr().unwrap(),
        Transport::Quic => ep.quic_addr().unwrap(),
    };
    PeerAddr::new(sa, t)
}

/// A client-only endpoint (no listeners).
pub async fn client(seed: u8, extensions: bool) -> Endpoint {
    let mut c = NetConfig::new(Keypair::from_seed([seed; 32]));
    c.extensions = extensions;
    node(c).await.0
}
