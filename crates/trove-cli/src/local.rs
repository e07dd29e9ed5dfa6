//! Starting a node in this process: the configuration from `config.toml` with the command
//! line on top, and the fallback to ephemeral ports when the configured ones are taken (a
//! one-shot command must not fail because a daemon of another data directory uses 7001).

use crate::args::Global;
use crate::error::{CliError, CliResult, ErrorKind};
use std::path::PathBuf;
use trove_node::{Node, NodeConfig, NodeError};

/// The data directory: `--data-dir`, `TROVE_DATA_DIR`, else the platform default.
pub fn data_dir(g: &Global) -> PathBuf {
    let dir = g.data_dir.clone().unwrap_or_else(trove_node::config::default_data_dir);
    std::path::absolute(&dir).unwrap_or(dir)
}

/// The node configuration: `<data dir>/config.toml` (or the defaults), then the flags.
pub fn node_config(g: &Global) -> CliResult<NodeConfig> {
    let dir = data_dir(g);
    let mut cfg = NodeConfig::load(&dir)
        .map_err(|e| CliError::invalid(format!("configuration: {e}; fix the file or remove it to use the defaults")))?;
    if let Some(a) = g.net.listen_tcp {
        cfg.listen_tcp = Some(a);
    }
    if let Some(a) = g.net.listen_quic {
        cfg.listen_quic = Some(a);
    }
    for b in &g.net.bootstrap {
        if !cfg.bootstrap.contains(b) {
            cfg.bootstrap.push(b.clone());
        }
    }
    if g.net.no_lan {
        cfg.lan.enabled = false;
    }
    Ok(cfg)
}

/// Starts a node. With `fallback`, a listen address that cannot be bound is replaced by an
/// ephemeral port on the same IP, with a notice on stderr (unless `quiet`).
pub async fn start_node(mut cfg: NodeConfig, fallback: bool, quiet: bool) -> CliResult<Node> {
    for _ in 0..3 {
        match Node::start(cfg.clone()).await {
            Ok(n) => return Ok(n),
            Err(NodeError::Net(trove_net::NetError::Bind { addr, reason })) if fallback && addr.port() != 0 => {
                let slot = if cfg.listen_tcp == Some(addr) {
                    &mut cfg.listen_tcp
                } else if cfg.listen_quic == Some(addr) {
                    &mut cfg.listen_quic
                } else {
                    return Err(bind_error(addr, &reason));
                };
                if !quiet {
                    eprintln!(
                        "notice: cannot listen on {addr} ({reason}); this command uses an ephemeral port instead"
                    );
                }
                *slot = Some(std::net::SocketAddr::new(addr.ip(), 0));
            }
            Err(NodeError::Net(trove_net::NetError::Bind { addr, reason })) => return Err(bind_error(addr, &reason)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(CliError::internal("could not bind any listen address"))
}

fn bind_error(addr: std::net::SocketAddr, reason: &str) -> CliError {
    CliError::new(
        ErrorKind::Invalid,
        format!(
            "cannot listen on {addr}: {reason}; another program (perhaps another trove) uses it: choose another port with --listen-tcp/--listen-quic or in config.toml"
        ),
    )
}
