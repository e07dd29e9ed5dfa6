//! `trove-bench quic-ceiling`: what quinn itself carries on this machine with trove's QUIC
//! settings (the "quinn ceiling" the QUIC download target is a share of): one connection on
//! loopback, one stream, 1 MiB pieces written and read as they come (zero-copy reads), no
//! framing, hashing or disk. Both ends run in this process.

use crate::report::{cpu_seconds, emit_ceiling};
use anyhow::anyhow;
use serde_json::json;
use std::time::Instant;

pub async fn run(bytes: u64) -> anyhow::Result<()> {
    let cert = trove_net::tls::SelfSigned::generate()?;
    let server_cfg = trove_net::quic::server_config(&cert).map_err(|e| anyhow!(e))?;
    let server = trove_net::quic::endpoint("127.0.0.1:0".parse()?, Some(server_cfg))?;
    let addr = server.local_addr()?;
    let mut client = trove_net::quic::endpoint("127.0.0.1:0".parse()?, None)?;
    client.set_default_client_config(trove_net::quic::client_config().map_err(|e| anyhow!(e))?);

    let receiver = tokio::spawn(async move {
        let conn = server.accept().await.ok_or_else(|| anyhow!("no connection"))?.await?;
        let (_send, mut recv) = conn.accept_bi().await?;
        let mut got = 0u64;
        while let Some(c) = recv.read_chunk(usize::MAX, true).await? {
            got += c.bytes.len() as u64;
        }
        Ok::<u64, anyhow::Error>(got)
    });
    let conn = client.connect(addr, trove_net::tls::SERVER_NAME)?.await?;
    let (mut send, _recv) = conn.open_bi().await?;
    let piece = bytes::Bytes::from(vec![0x5a; 1 << 20]);
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < bytes {
        send.write_chunk(piece.clone()).await?;
        sent += piece.len() as u64;
    }
    send.finish()?;
    let got = receiver.await??;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    conn.close(0u32.into(), b"done");
    emit_ceiling("quic-ceiling", sent, got, secs, cpu, json!({}))
}
