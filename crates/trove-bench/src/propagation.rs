//! `trove-bench propagation`: time from publishing revision N+1 to a subscriber holding it,
//! pushed directly (a subscriber connected to the publisher, as on a LAN) and through the
//! DHT alone (publisher and subscriber only share a storage node).

use crate::fixture::{self, Listen};
use crate::report::emit;
use serde_json::json;
use std::time::{Duration, Instant};
use trove_node::{Event, Node, PublishRequest};
use trove_store::db::Trust;

async fn rounds(publisher: &Node, subscriber: &Node, content: &std::path::Path, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::new();
    for i in 0..n {
        std::fs::write(content.join("rev.txt"), format!("revision {i}"))?;
        let mut events = subscriber.events();
        let start = Instant::now();
        let r = publisher
            .publish(PublishRequest {
                paths: vec![content.to_path_buf()],
                share: Some("p".into()),
                ..Default::default()
            })
            .await?;
        let want = r.seq;
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Ok(Event::ManifestUpdated { seq, .. }) = events.recv().await
                    && seq == want
                {
                    return;
                }
            }
        })
        .await?;
        out.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(out)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub async fn run(n: usize) -> anyhow::Result<()> {
    let content = tempfile::tempdir()?;
    std::fs::write(content.path().join("rev.txt"), "revision start")?;
    // Direct push.
    let (dp, du) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let p = fixture::node(dp.path(), Listen::Both, Vec::new()).await?;
    let u = fixture::node(du.path(), Listen::Both, Vec::new()).await?;
    let r = p
        .publish(PublishRequest { paths: vec![content.path().into()], name: Some("p".into()), ..Default::default() })
        .await?;
    u.subscribe(&r.link, None, Trust::Normal).await?;
    let mut v = rounds(&p, &u, content.path(), n).await?;
    emit("propagation", "push_p50", pct(&mut v, 0.5), "ms", json!({"rounds": n, "path": "direct"}));
    emit("propagation", "push_p95", pct(&mut v, 0.95), "ms", json!({"rounds": n, "path": "direct"}));
    // Through a DHT storage node only.
    let (ds, dp2, du2) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    let s = fixture::node(ds.path(), Listen::Both, Vec::new()).await?;
    let boot = fixture::hints(&s);
    let p2 = fixture::node(dp2.path(), Listen::Both, boot.clone()).await?;
    let u2 = fixture::node(du2.path(), Listen::Both, boot).await?;
    let r = p2
        .publish(PublishRequest { paths: vec![content.path().into()], name: Some("p".into()), ..Default::default() })
        .await?;
    let key = trove_proto::dht_key::share_head(&r.share_id);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.dht_has(&key) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    u2.subscribe(&r.share_id.to_hex(), Some(r.share_pubkey), Trust::Normal).await?;
    let mut v = rounds(&p2, &u2, content.path(), n).await?;
    emit("propagation", "dht_p50", pct(&mut v, 0.5), "ms", json!({"rounds": n, "path": "dht"}));
    emit("propagation", "dht_p95", pct(&mut v, 0.95), "ms", json!({"rounds": n, "path": "dht"}));
    for n in [p, u, s, p2, u2] {
        n.shutdown().await;
    }
    Ok(())
}
