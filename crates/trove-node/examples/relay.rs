//! A headless relay, until `trove relay` exists in the CLI:
//!
//! ```sh
//! cargo run --release -p trove-node --example relay -- --data-dir /var/lib/trove-relay \
//!     --listen-tcp 0.0.0.0:7001 --listen-quic 0.0.0.0:7000 --announce tcp://203.0.113.9:7001 \
//!     --max-tunnels 64 --bandwidth medium --content-quota-mib 1024 --control-quota-mib 64
//! ```
//!
//! It runs a node with the relay role on (content relaying on unless `--no-content`, never a
//! relay client itself), prints its bootstrap string, and reports its counters every minute
//! until Ctrl-C.

use std::time::Duration;
use trove_node::relay::{Bandwidth, RelaySettings};
use trove_node::{Node, NodeConfig};

fn usage() -> ! {
    eprintln!(
        "usage: relay --data-dir DIR [--listen-tcp ADDR] [--listen-quic ADDR|none] [--announce ADDR]... \
         [--bootstrap ADDR]... [--max-tunnels N] [--max-per-identity N] [--max-per-ip N] \
         [--bandwidth low|medium|high] [--no-content] [--content-quota-mib N] [--control-quota-mib N] [--lan]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut relay = RelaySettings::server();
    let mut tcp = "0.0.0.0:7001".parse().ok();
    let mut quic = "0.0.0.0:7000".parse().ok();
    let (mut bootstrap, mut lan) = (Vec::new(), false);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        let num = |s: String| s.parse::<u64>().unwrap_or_else(|_| usage());
        match a.as_str() {
            "--data-dir" => dir = Some(std::path::PathBuf::from(val())),
            "--listen-tcp" => tcp = Some(val().parse().unwrap_or_else(|_| usage())),
            "--listen-quic" => {
                let v = val();
                quic = if v == "none" { None } else { Some(v.parse().unwrap_or_else(|_| usage())) }
            }
            "--announce" => relay.announce.push(val()),
            "--bootstrap" => bootstrap.push(val()),
            "--max-tunnels" => relay.max_tunnels = num(val()).min(u16::MAX as u64) as u16,
            "--max-per-identity" => relay.max_per_identity = num(val()) as usize,
            "--max-per-ip" => relay.max_per_ip = num(val()) as usize,
            "--bandwidth" => {
                relay.bandwidth = match val().as_str() {
                    "low" => Bandwidth::Low,
                    "medium" => Bandwidth::Medium,
                    "high" => Bandwidth::High,
                    _ => usage(),
                }
            }
            "--no-content" => relay.content = false,
            "--content-quota-mib" => relay.content_quota_mib = num(val()),
            "--control-quota-mib" => relay.control_quota_mib = num(val()),
            "--lan" => lan = true,
            _ => usage(),
        }
    }
    let dir = dir.unwrap_or_else(|| usage());
    let mut cfg = NodeConfig::load(&dir).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    cfg.listen_tcp = tcp;
    cfg.listen_quic = quic;
    cfg.bootstrap.extend(bootstrap);
    cfg.lan.enabled = lan;
    cfg.relay = relay;
    let node = Node::start(cfg).await.unwrap_or_else(|e| {
        eprintln!("cannot start the relay: {e}");
        std::process::exit(1)
    });
    for a in node.advertised() {
        println!("relay at {}://{}@{}", a.transport.as_str(), a.socket_addr(), node.node_pubkey().to_hex());
    }
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => println!("{:?}", node.relay_stats().unwrap_or_default()),
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    node.shutdown().await;
}
