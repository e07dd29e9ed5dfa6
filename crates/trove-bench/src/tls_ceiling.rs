//! `trove-bench tls-ceiling`: what TLS over TCP itself carries on this machine with trove's
//! TLS settings (rustls, AES-128-GCM, the 256 KiB socket read buffer the endpoint uses): one
//! connection on loopback, 1 MiB writes, reads into a 256 KiB buffer as they come, no framing,
//! hashing or disk. Both ends run in this process, on the same cores as a download's two ends.
//! It is the ceiling of any TLS/TCP transfer built on rustls's buffered API here.

use crate::report::{cpu_seconds, emit_ceiling};
use anyhow::anyhow;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use trove_net::endpoint::SOCKET_READ_BUFFER;

pub async fn run(bytes: u64) -> anyhow::Result<()> {
    let cert = trove_net::tls::SelfSigned::generate()?;
    let acceptor = tokio_rustls::TlsAcceptor::from(trove_net::tls::tcp_server_config(&cert)?);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(trove_net::tls::client_config(false)?));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;

    let receiver = tokio::spawn(async move {
        let (sock, _) = listener.accept().await?;
        sock.set_nodelay(true)?;
        let mut tls = acceptor.accept(BufReader::with_capacity(SOCKET_READ_BUFFER, sock)).await?;
        let mut buf = vec![0u8; SOCKET_READ_BUFFER];
        let mut got = 0u64;
        loop {
            match tls.read(&mut buf).await? {
                0 => break,
                n => got += n as u64,
            }
        }
        Ok::<u64, anyhow::Error>(got)
    });
    let sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let mut tls =
        connector.connect(trove_net::tls::server_name(), BufReader::with_capacity(SOCKET_READ_BUFFER, sock)).await?;
    let suite = tls.get_ref().1.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite()));
    let piece = vec![0x5a; 1 << 20];
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < bytes {
        tls.write_all(&piece).await?;
        sent += piece.len() as u64;
    }
    tls.shutdown().await?;
    let got = receiver.await??;
    let secs = start.elapsed().as_secs_f64();
    let suite = suite.ok_or_else(|| anyhow!("no cipher suite negotiated"))?;
    emit_ceiling("tls-ceiling", sent, got, secs, cpu_seconds() - cpu0, json!({"cipher_suite": suite}))
}
