//! `trove-bench idle`: CPU use and disk writes of a node that has shares and subscriptions
//! but nothing to do.

use crate::fixture::{self, Listen};
use crate::report::{cpu_seconds, emit};
use serde_json::json;
use std::time::Duration;
use trove_node::PublishRequest;
use trove_store::db::Trust;

fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("write_bytes:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub async fn run(seconds: u64) -> anyhow::Result<()> {
    let (da, db, content) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    std::fs::write(content.path().join("a.txt"), "hello")?;
    let a = fixture::node(da.path(), Listen::Both, Vec::new()).await?;
    let b = fixture::node(db.path(), Listen::Both, fixture::hints(&a)).await?;
    let r = a.publish(PublishRequest { paths: vec![content.path().into()], ..Default::default() }).await?;
    b.subscribe(&r.link, None, Trust::Normal).await?;
    // Let start-up work settle, then measure.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu0, w0) = (cpu_seconds(), written_bytes());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds() - cpu0;
    let written = written_bytes() - w0;
    let extra = json!({"seconds": seconds, "nodes": 2});
    emit("idle", "cpu_percent_per_node", cpu / seconds as f64 * 100.0 / 2.0, "%", extra.clone());
    emit("idle", "disk_write_bytes", written as f64, "bytes", extra);
    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}
