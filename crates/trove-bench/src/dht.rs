//! `trove-bench dht`: head lookups in a network of N real nodes on loopback (TLS/TCP),
//! joined through one bootstrap node: lookup latency and hops.

use crate::fixture::{self, Listen};
use crate::report::emit;
use serde_json::json;
use std::time::{Duration, Instant};
use trove_node::PublishRequest;

pub async fn run(nodes: usize, lookups: usize) -> anyhow::Result<()> {
    let dirs: Vec<_> = (0..nodes).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let first = fixture::node(dirs[0].path(), Listen::Tcp, Vec::new()).await?;
    let boot = fixture::hints(&first);
    let mut all = vec![first];
    let start = Instant::now();
    for d in &dirs[1..] {
        all.push(fixture::node(d.path(), Listen::Tcp, boot.clone()).await?);
    }
    // Let every node finish joining (a lookup of its own id) and one maintenance pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let join_secs = start.elapsed().as_secs_f64();
    let content = tempfile::tempdir()?;
    std::fs::write(content.path().join("x.txt"), "x")?;
    let mut shares = Vec::new();
    for i in 0..10 {
        let n = &all[(i * 7 + 3) % nodes];
        let r = n
            .publish(PublishRequest {
                paths: vec![content.path().into()],
                name: Some(format!("s{i}")),
                ..Default::default()
            })
            .await?;
        shares.push(r.share_pubkey);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lat = Vec::new();
    let mut hops = Vec::new();
    let mut found = 0;
    for i in 0..lookups {
        let n = &all[(i * 13 + 5) % nodes];
        let key = shares[i % shares.len()];
        let t = Instant::now();
        let r = n.lookup_head(key).await;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        hops.push(r.hops as f64);
        if r.seq.is_some() {
            found += 1;
        }
    }
    lat.sort_by(f64::total_cmp);
    let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    let extra = json!({"nodes": nodes, "lookups": lookups, "found": found, "join_seconds": join_secs,
        "mean_hops": hops.iter().sum::<f64>() / hops.len() as f64});
    emit("dht", "head_lookup_p50", p(0.5), "ms", extra.clone());
    emit("dht", "head_lookup_p95", p(0.95), "ms", extra.clone());
    emit("dht", "found_ratio", found as f64 / lookups as f64, "ratio", extra);
    for n in all {
        n.shutdown().await;
    }
    Ok(())
}
