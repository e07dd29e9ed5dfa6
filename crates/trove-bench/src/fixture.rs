//! Shared setup for the node benchmarks: content files on disk (reused between runs), nodes
//! on loopback with chosen transports, and a child-process runner so a downloader's memory
//! and CPU are measured on their own.

use std::path::{Path, PathBuf};
use trove_node::{Node, NodeConfig};

/// Parses sizes like `1GiB`, `256KiB`, `4096`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.to_ascii_lowercase() {
        x if x.ends_with("gib") => (t[..t.len() - 3].to_string(), 1u64 << 30),
        x if x.ends_with("mib") => (t[..t.len() - 3].to_string(), 1 << 20),
        x if x.ends_with("kib") => (t[..t.len() - 3].to_string(), 1 << 10),
        x if x.ends_with("gb") => (t[..t.len() - 2].to_string(), 1_000_000_000),
        x if x.ends_with("mb") => (t[..t.len() - 2].to_string(), 1_000_000),
        x if x.ends_with("kb") => (t[..t.len() - 2].to_string(), 1000),
        _ => (t.to_string(), 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("not a size: {s}"))?;
    Ok((n * mult as f64) as u64)
}

/// A folder with `files` files of `size` bytes each (pseudo-random, incompressible), made
/// once under `root` and reused while the name matches.
pub fn content(root: &Path, files: usize, size: u64) -> std::io::Result<PathBuf> {
    let dir = root.join(format!("content-{files}x{size}"));
    let marker = dir.join(".complete");
    if marker.exists() {
        return Ok(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; (size.min(8 << 20)) as usize];
    for i in 0..files {
        let sub = dir.join(format!("d{:03}", i / 1000));
        std::fs::create_dir_all(&sub)?;
        let mut f = std::io::BufWriter::new(std::fs::File::create(sub.join(format!("f{i:06}.bin")))?);
        let mut left = size;
        while left > 0 {
            for b in block.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let bytes = state.to_le_bytes();
                b.copy_from_slice(&bytes[..b.len()]);
            }
            let n = left.min(block.len() as u64) as usize;
            std::io::Write::write_all(&mut f, &block[..n])?;
            left -= n as u64;
        }
    }
    std::fs::write(marker, b"")?;
    Ok(dir)
}

/// One file of `size` zero bytes made as a hole, so it takes no disk space: for files larger
/// than the disk (their download then needs a compressing filesystem; see BENCHMARKS.md).
pub fn zeros(root: &Path, size: u64) -> std::io::Result<PathBuf> {
    let dir = root.join(format!("zeros-{size}"));
    std::fs::create_dir_all(&dir)?;
    let f = std::fs::File::create(dir.join("zeros.bin"))?;
    f.set_len(size)?;
    Ok(dir)
}

/// Reads every file once so publishing measures warm-cache hashing.
pub fn warm(dir: &Path) {
    let mut buf = vec![0u8; 1 << 20];
    for e in walk(dir) {
        if let Ok(mut f) = std::fs::File::open(&e) {
            while matches!(std::io::Read::read(&mut f, &mut buf), Ok(n) if n > 0) {}
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Which transports a node listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    Tcp,
    Quic,
    Both,
}

/// A loopback node for benchmarks.
pub async fn node(dir: &Path, listen: Listen, bootstrap: Vec<String>) -> anyhow::Result<Node> {
    node_with(dir, listen, bootstrap, |_| {}).await
}

/// [`node`] with `f` applied to its configuration last.
pub async fn node_with(
    dir: &Path,
    listen: Listen,
    bootstrap: Vec<String>,
    f: impl FnOnce(&mut NodeConfig),
) -> anyhow::Result<Node> {
    let mut c = NodeConfig::loopback(dir);
    if listen == Listen::Quic {
        c.listen_tcp = None;
    }
    if listen == Listen::Tcp {
        c.listen_quic = None;
    }
    c.bootstrap = bootstrap;
    c.request_timeout_secs = 60;
    f(&mut c);
    Ok(Node::start(c).await?)
}

/// The `scheme://addr` strings of a node's listeners.
pub fn hints(n: &Node) -> Vec<String> {
    n.advertised().iter().map(|a| format!("{}://{}", a.transport.as_str(), a.socket_addr())).collect()
}
