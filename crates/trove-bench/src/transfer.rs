//! `trove-bench transfer`: download throughput from N seeders over TLS/TCP or QUIC, for one
//! large file or many small ones. Seeders run in this process; the downloader runs as a
//! child process (`transfer-child`) so its peak memory and CPU are its own. The seeders'
//! memory while serving is sampled during the download (their process also generated and
//! published the files before, which its all-time peak includes).
//!
//! Downloads of many files are not deleted when a run ends: for a few minutes after inodes
//! are freed, ext4 scans past them whenever it allocates new ones, which made the next run's
//! file creation up to three times slower and the results depend on the pause between runs.
//! They are moved to `<dir>/trash` and deleted by a run at least [`TRASH_AGE`] later.

use crate::fixture::{self, Listen};
use crate::report::{RssSampler, cpu_seconds, emit, peak_rss_mib, rss_mib};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use trove_node::PublishRequest;
use trove_node::download::get::GetRequest;
use trove_proto::wire::Transport;
use trove_store::db::Trust;

/// How long many-file downloads stay in the trash before a later run deletes them.
const TRASH_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes trashed downloads older than [`TRASH_AGE`].
fn empty_trash(work: &Path) {
    let Ok(entries) = std::fs::read_dir(work.join("trash")) else { return };
    for e in entries.flatten() {
        let old = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().unwrap_or_default() > TRASH_AGE);
        if old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Moves a many-file download to the trash (see the module doc); others are deleted.
fn retire(work: &Path, out: tempfile::TempDir, files: usize) -> anyhow::Result<()> {
    if files <= 1 {
        return Ok(out.close()?);
    }
    let trash = work.join("trash");
    std::fs::create_dir_all(&trash)?;
    let path = out.keep();
    let name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
    std::fs::rename(&path, trash.join(name))?;
    Ok(())
}

/// What one `transfer` run measures.
pub struct Spec {
    pub transport: Transport,
    pub seeders: usize,
    pub files: usize,
    pub size: u64,
    /// One file of zeros made as a hole (see [`fixture::zeros`]).
    pub zeros: bool,
    /// Bytes per second each seeder uploads at most.
    pub seeder_upload_limit: Option<u64>,
}

pub async fn run(work: &Path, spec: &Spec) -> anyhow::Result<()> {
    let &Spec { transport, seeders, files, size, zeros, seeder_upload_limit } = spec;
    empty_trash(work);
    let content = if zeros { fixture::zeros(work, size)? } else { fixture::content(work, files, size)? };
    if !zeros {
        fixture::warm(&content);
    }
    let listen = match transport {
        Transport::Tcp => Listen::Tcp,
        Transport::Quic => Listen::Quic,
    };
    let dirs: Vec<_> = (0..seeders.max(1)).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let mut nodes = Vec::new();
    let mut link = String::new();
    for (i, d) in dirs.iter().enumerate() {
        let n = fixture::node_with(d.path(), listen, Vec::new(), |c| {
            c.upload_limit_kib = seeder_upload_limit.map_or(0, |b| (b >> 10).max(1));
        })
        .await?;
        // Every seeder publishes the same files: the contents are the same, so each serves
        // every chunk of the download.
        let r = n
            .publish(PublishRequest {
                paths: vec![content.clone()],
                name: Some(format!("bench-{i}")),
                ..Default::default()
            })
            .await?;
        if i == 0 {
            link = r.link;
        }
        nodes.push(n);
    }
    let hints: Vec<String> = nodes.iter().flat_map(fixture::hints).collect();
    let out = tempfile::tempdir_in(work)?;
    let data = tempfile::tempdir()?;
    let child_spec = json!({"data": data.path(), "out": out.path(), "link": link, "bootstrap": hints, "listen": format!("{listen:?}")});
    let cpu0 = cpu_seconds();
    let rss_before = rss_mib();
    let sampler = RssSampler::start();
    let child =
        Command::new(std::env::current_exe()?).args(["transfer-child", "--spec", &child_spec.to_string()]).output()?;
    let rss_serving = sampler.stop();
    if !child.status.success() {
        anyhow::bail!("downloader failed: {}", String::from_utf8_lossy(&child.stderr));
    }
    let seeder_cpu = cpu_seconds() - cpu0;
    let r: Value = serde_json::from_slice(&child.stdout)?;
    let secs = r["seconds"].as_f64().unwrap_or(0.0);
    let bytes = files as u64 * size;
    let extra = json!({
        "transport": transport.as_str(), "seeders": seeders, "files": files, "file_bytes": size, "zeros": zeros,
        "seeder_upload_limit_mib_s": seeder_upload_limit.map(|b| b as f64 / (1u64 << 20) as f64), "seconds": secs,
        "downloader_peak_rss_mib": r["peak_rss_mib"], "downloader_cpu_cores": r["cpu_cores"],
        "seeders_cpu_cores": seeder_cpu / secs.max(1e-9), "seeders_peak_rss_mib": peak_rss_mib(),
        "seeders_rss_while_serving_mib": rss_serving, "seeders_rss_before_serving_mib": rss_before,
        "peers_used": r["peers_used"],
    });
    if files == 1 {
        emit("transfer", "throughput", bytes as f64 / secs / (1u64 << 20) as f64, "MiB/s", extra);
    } else {
        emit("transfer", "files_per_second", files as f64 / secs, "files/s", extra);
    }
    for n in nodes {
        n.shutdown().await;
    }
    retire(work, out, files)?;
    Ok(())
}

/// The downloader process: subscribes, downloads everything, prints one JSON object.
pub async fn child(spec: &str) -> anyhow::Result<()> {
    let s: Value = serde_json::from_str(spec)?;
    let listen = if s["listen"] == "Quic" { Listen::Quic } else { Listen::Tcp };
    let bootstrap: Vec<String> = s["bootstrap"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let node = fixture::node(Path::new(s["data"].as_str().unwrap_or(".")), listen, bootstrap).await?;
    let link = s["link"].as_str().unwrap_or_default().to_string();
    node.subscribe(&link, None, Trust::Normal).await?;
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let rep = node
        .get(GetRequest { share: link, out_dir: s["out"].as_str().unwrap_or(".").into(), ..Default::default() })
        .await?;
    let secs = start.elapsed().as_secs_f64();
    if !rep.ok() {
        anyhow::bail!("download failed: {:?}", rep.files.iter().find(|f| f.error.is_some()));
    }
    let peers = rep.files.iter().map(|f| f.peers).max().unwrap_or(0);
    println!(
        "{}",
        json!({"seconds": secs, "bytes": rep.bytes, "peak_rss_mib": peak_rss_mib(), "cpu_cores": (cpu_seconds() - cpu0) / secs, "peers_used": peers})
    );
    node.shutdown().await;
    Ok(())
}
