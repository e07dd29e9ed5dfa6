//! `trove-bench publish`: time to publish one large file (warm cache) or many small files.

use crate::fixture::{self, Listen};
use crate::report::{cpu_seconds, emit, peak_rss_mib};
use serde_json::json;
use std::path::Path;
use std::time::Instant;
use trove_node::PublishRequest;

pub async fn run(work: &Path, files: usize, size: u64) -> anyhow::Result<()> {
    let content = fixture::content(work, files, size)?;
    fixture::warm(&content);
    let data = tempfile::tempdir()?;
    let node = fixture::node(data.path(), Listen::Tcp, Vec::new()).await?;
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let r = node.publish(PublishRequest { paths: vec![content.clone()], ..Default::default() }).await?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let total = files as u64 * size;
    let extra = json!({"files": files, "file_bytes": size, "items": r.items, "seconds": secs, "cpu_cores": cpu / secs, "peak_rss_mib": peak_rss_mib()});
    emit("publish", "seconds", secs, "s", extra.clone());
    if files == 1 {
        emit("publish", "throughput", total as f64 / secs / 1e9, "GB/s", extra);
    } else {
        emit("publish", "files_per_second", files as f64 / secs, "files/s", extra);
    }
    node.shutdown().await;
    Ok(())
}
