//! `trove-bench session`: throughput of one session on loopback. 256 KiB request/response
//! pairs (GET_CHUNK → CHUNK_DATA) kept in flight for a fixed time, and small requests per
//! second, over TLS/TCP and QUIC.

use crate::report::{cpu_seconds, emit, peak_rss_mib};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trove_net::{Endpoint, Handler, MemoryPins, NetConfig, PeerInfo, Reply, ReplyFuture};
use trove_proto::wire::{ChunkData, Envelope, GetChunk, HaveContent, MsgType, Payload, PeerAddr, Transport};
use trove_proto::{ContentId, Keypair};

/// Answers every GET_CHUNK with a prepared 256 KiB chunk and acknowledges HAVE_CONTENT.
struct Server {
    chunk: bytes::Bytes,
}

impl Handler for Server {
    fn handle(&self, _peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture {
        let resp = if req.msg_type == MsgType::GET_CHUNK {
            let g = GetChunk::from_payload(&req.payload).expect("bench request");
            let data = ChunkData { content_id: g.content_id, chunk_index: g.chunk_index, bytes: self.chunk.clone() };
            Envelope::response(MsgType::CHUNK_DATA, req.req_id, data.to_payload())
        } else {
            Envelope::response(req.msg_type, req.req_id, Vec::new())
        };
        Box::pin(async move { Reply::Respond(resp) })
    }
}

/// Runs the benchmark for each transport.
pub async fn run(transports: &[Transport], seconds: f64, in_flight: usize) -> anyhow::Result<()> {
    let mut cfg = NetConfig::new(Keypair::from_seed([1; 32]));
    cfg.listen_tcp = Some("127.0.0.1:0".parse()?);
    cfg.listen_quic = Some("127.0.0.1:0".parse()?);
    cfg.rate_limits = false;
    let server = Endpoint::bind(
        cfg,
        Arc::new(Server { chunk: bytes::Bytes::from(vec![0x5a; 262_144]) }),
        Arc::new(MemoryPins::default()),
    )
    .await?;
    let mut ccfg = NetConfig::new(Keypair::from_seed([2; 32]));
    ccfg.timeouts.request = Duration::from_secs(60);
    let client =
        Endpoint::bind(ccfg, Arc::new(Server { chunk: bytes::Bytes::new() }), Arc::new(MemoryPins::default())).await?;
    for &t in transports {
        let addr = match t {
            Transport::Tcp => PeerAddr::new(server.tcp_addr().expect("tcp"), t),
            Transport::Quic => PeerAddr::new(server.quic_addr().expect("quic"), t),
        };
        let s = client.connect(&addr).await?;
        let name = t.as_str();
        // Bulk: 256 KiB responses.
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        let workers = (0..in_flight).map(|w| {
            let s = s.clone();
            async move {
                let mut bytes = 0u64;
                let mut i = w as u32;
                while Instant::now() < deadline {
                    let r = s.call(&GetChunk { content_id: ContentId([7; 32]), chunk_index: i }).await?;
                    bytes += r.bytes.len() as u64;
                    i = i.wrapping_add(in_flight as u32);
                }
                anyhow::Ok(bytes)
            }
        });
        let total: u64 = futures::future::try_join_all(workers).await?.into_iter().sum();
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        emit(
            "session",
            "throughput",
            total as f64 / secs / (1u64 << 30) as f64,
            "GiB/s",
            json!({"transport": name, "message_bytes": 262_144, "in_flight": in_flight, "seconds": secs, "cpu_cores": cpu / secs, "peak_rss_mib": peak_rss_mib()}),
        );
        // Small requests.
        let deadline = Instant::now() + Duration::from_secs_f64(seconds.min(3.0));
        let start = Instant::now();
        let workers = (0..64).map(|_| {
            let s = s.clone();
            async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    s.call(&HaveContent { content_id: ContentId([1; 32]) }).await?;
                    n += 1;
                }
                anyhow::Ok(n)
            }
        });
        let n: u64 = futures::future::try_join_all(workers).await?.into_iter().sum();
        emit(
            "session",
            "small_requests",
            n as f64 / start.elapsed().as_secs_f64(),
            "req/s",
            json!({"transport": name, "in_flight": 64}),
        );
    }
    server.shutdown();
    client.shutdown();
    Ok(())
}
