//! The node inside the app: which data directory, its configuration (`config.toml`, as for
//! `trove serve`), and a daemon (node + local HTTP API on a free loopback port with a fresh
//! token, `daemon.json` so the `trove` command works through it) started and stopped with
//! the app.

use std::path::PathBuf;
use trove_cli::args::Global;
use trove_cli::daemon::{Daemon, DaemonOptions};

/// `--data-dir DIR` on the command line, else `TROVE_DATA_DIR`, else the platform default.
pub fn data_dir(args: &[String]) -> PathBuf {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--data-dir"
            && let Some(d) = it.next()
        {
            return absolute(PathBuf::from(d));
        }
        if let Some(d) = a.strip_prefix("--data-dir=") {
            return absolute(PathBuf::from(d));
        }
    }
    let g = Global::default();
    let from_env = std::env::var_os("TROVE_DATA_DIR").map(PathBuf::from);
    absolute(from_env.or(g.data_dir).unwrap_or_else(trove_node::config::default_data_dir))
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

/// Starts the node and its API. The error is a sentence for the window.
pub async fn start(dir: PathBuf) -> Result<Daemon, String> {
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let g = Global { data_dir: Some(dir.clone()), quiet: true, ..Global::default() };
    let explain = |e: trove_cli::error::CliError| match e.hint(&dir) {
        Some(h) => format!("{}\n\n{h}", e.message),
        None => e.message,
    };
    let cfg = trove_cli::local::node_config(&g).map_err(explain)?;
    let opts = DaemonOptions {
        api: "127.0.0.1:0".parse().expect("a socket address"),
        api_public: false,
        fresh_token: true,
        fallback_ports: true,
        log_events: false,
    };
    Daemon::start(&dir, cfg, opts, true).await.map_err(explain)
}
