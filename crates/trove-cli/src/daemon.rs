//! `trove serve`: the node in the foreground with the local HTTP API, until Ctrl-C or
//! SIGTERM. It writes the API token and `daemon.json` into the data directory so the CLI
//! and front ends find it, prints its addresses, and on the way out stops the API (event
//! streams end, long requests give up), shuts the node down and removes `daemon.json`.

use crate::args::{Global, RelayArgs, ServeArgs};
use crate::error::{CliError, CliResult};
use crate::runfiles::{self, DaemonInfo};
use crate::{api, local};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long in-flight API requests get to finish when the daemon stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Runs the daemon.
pub async fn serve(g: &Global, args: ServeArgs) -> CliResult<()> {
    let cfg = local::node_config(g)?;
    run(g, args, cfg).await
}

/// Runs a dedicated relay: the daemon with relaying on (the `[relay]` section of
/// config.toml with the flags on top), content relaying on unless `--no-content`, and never
/// a relay client itself.
pub async fn relay(g: &Global, a: RelayArgs) -> CliResult<()> {
    let mut cfg = local::node_config(g)?;
    relay_settings(&mut cfg.relay, &a)?;
    run(g, a.serve, cfg).await
}

/// Applies `trove relay`'s flags to the relay settings.
pub fn relay_settings(r: &mut trove_node::relay::RelaySettings, a: &RelayArgs) -> CliResult<()> {
    use trove_node::relay::{Bandwidth, RelayUse};
    r.enabled = true;
    r.client = RelayUse::Never;
    r.content = !a.no_content;
    for addr in &a.announce {
        trove_proto::wire::PeerAddr::parse_bootstrap(addr).map_err(|e| {
            CliError::invalid(format!("--announce '{addr}': {e} (give tcp://IP:PORT or quic://IP:PORT)"))
        })?;
    }
    if !a.announce.is_empty() {
        r.announce = a.announce.clone();
    }
    if let Some(n) = a.max_tunnels {
        r.max_tunnels = n;
    }
    if let Some(n) = a.max_per_identity {
        r.max_per_identity = n;
    }
    if let Some(n) = a.max_per_ip {
        r.max_per_ip = n;
    }
    if let Some(q) = a.control_quota {
        r.control_quota_mib = q;
    }
    if let Some(q) = a.content_quota {
        r.content_quota_mib = q;
    }
    r.bandwidth = match a.bandwidth.as_deref() {
        Some("low") => Bandwidth::Low,
        Some("high") => Bandwidth::High,
        Some(_) => Bandwidth::Medium,
        None => r.bandwidth,
    };
    if r.max_tunnels == 0 || r.max_per_identity == 0 || r.max_per_ip == 0 {
        return Err(CliError::invalid(
            "--max-tunnels, --max-per-identity and --max-per-ip must be at least 1 (a relay with no room relays nothing)",
        ));
    }
    Ok(())
}

/// A running daemon: the node, its API server and the files that let the CLI find it.
/// Front ends that run a node in-process (the desktop app) start one too.
pub struct Daemon {
    pub node: trove_node::Node,
    pub info: DaemonInfo,
    /// The API token (also in `<data dir>/api-token`).
    pub token: String,
    /// The data directory.
    pub dir: std::path::PathBuf,
    stop_tx: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    log_events: Option<tokio::task::JoinHandle<()>>,
}

/// How to start a [`Daemon`].
pub struct DaemonOptions {
    /// Where the API listens (port 0: a free one).
    pub api: std::net::SocketAddr,
    /// Allow an API address beyond loopback.
    pub api_public: bool,
    /// Replace the API token by a new one instead of reusing the saved one.
    pub fresh_token: bool,
    /// Listen on an ephemeral port when a configured one is taken (with a notice).
    pub fallback_ports: bool,
    /// Log every node event at info level.
    pub log_events: bool,
}

impl Daemon {
    /// Starts the node of `dir` with `cfg`, then the API; writes `api-token` and
    /// `daemon.json`. On any failure nothing keeps running.
    pub async fn start(dir: &Path, cfg: trove_node::NodeConfig, opts: DaemonOptions, quiet: bool) -> CliResult<Daemon> {
        if !opts.api.ip().is_loopback() && !opts.api_public {
            return Err(CliError::invalid(format!(
                "--api {} is not a loopback address: the API would be reachable from the network; use 127.0.0.1:PORT, or add --api-public if you really mean it",
                opts.api
            )));
        }
        let node = local::start_node(cfg, opts.fallback_ports, quiet).await?;
        let started = async {
            let token =
                if opts.fresh_token { runfiles::create_token(dir) } else { runfiles::load_or_create_token(dir) }
                    .map_err(|e| {
                        CliError::internal(format!("cannot write the API token into {}: {e}", dir.display()))
                    })?;
            let listener = tokio::net::TcpListener::bind(opts.api).await.map_err(|e| {
                CliError::invalid(format!(
                    "cannot listen on {} for the API: {e}; choose another address with --api (port 0 picks a free one)",
                    opts.api
                ))
            })?;
            let api_addr = listener.local_addr().map_err(|e| CliError::internal(e.to_string()))?;
            Ok::<_, CliError>((token, listener, api_addr))
        }
        .await;
        let (token, listener, api_addr) = match started {
            Ok(x) => x,
            Err(e) => {
                node.shutdown().await;
                return Err(e);
            }
        };
        let info = DaemonInfo {
            pid: std::process::id(),
            api: api_addr,
            node_id: node.node_pubkey().node_id().to_hex(),
            listen_tcp: node.tcp_addr().map(|a| a.to_string()),
            listen_quic: node.quic_addr().map(|a| a.to_string()),
            started_at: trove_store::db::unix_now(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = api::ApiState {
            node: node.clone(),
            token: token.clone().into(),
            daemon: Arc::new(info.clone()),
            shutdown: stop_rx.clone(),
            public: opts.api_public,
        };
        let app = api::router(state);
        let mut drain = stop_rx.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = drain.wait_for(|s| *s).await;
                })
                .await
        });
        if let Err(e) = runfiles::write_daemon(dir, &info) {
            let _ = stop_tx.send(true);
            node.shutdown().await;
            return Err(CliError::internal(format!("cannot write {}: {e}", dir.join(runfiles::DAEMON_FILE).display())));
        }
        let log_events = opts.log_events.then(|| {
            let mut rx = node.events();
            tokio::spawn(async move {
                while let Ok(e) = rx.recv().await {
                    tracing::info!(target: "trove::event", "{}", serde_json::to_string(&e).unwrap_or_default());
                }
            })
        });
        Ok(Daemon { node, info, token, dir: dir.to_path_buf(), stop_tx, server, log_events })
    }

    /// The API address.
    pub fn api_addr(&self) -> std::net::SocketAddr {
        self.info.api
    }

    /// Stops the API (event streams end; requests get [`DRAIN`] to finish), shuts the node
    /// down and removes `daemon.json`.
    pub async fn stop(self) {
        let _ = self.stop_tx.send(true);
        match tokio::time::timeout(DRAIN, self.server).await {
            Ok(Ok(Err(e))) => tracing::warn!("API server: {e}"),
            Err(_) => tracing::warn!("API requests did not finish in {} s; stopping anyway", DRAIN.as_secs()),
            _ => {}
        }
        if let Some(t) = self.log_events {
            t.abort();
        }
        self.node.shutdown().await;
        runfiles::remove_daemon(&self.dir, Some(self.info.pid));
    }
}

async fn run(g: &Global, args: ServeArgs, cfg: trove_node::NodeConfig) -> CliResult<()> {
    let dir = local::data_dir(g);
    let relay = cfg.relay.enabled.then(|| cfg.relay.clone());
    let opts = DaemonOptions {
        api: args.api,
        api_public: args.api_public,
        fresh_token: false,
        fallback_ports: false,
        log_events: !g.quiet && g.verbose > 0,
    };
    let d = Daemon::start(&dir, cfg, opts, g.quiet).await?;
    let (node, info, api_addr) = (&d.node, &d.info, d.api_addr());
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "node_id": info.node_id,
                "pid": info.pid,
                "listen_tcp": info.listen_tcp,
                "listen_quic": info.listen_quic,
                "advertised": node.advertised().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "api": format!("http://{api_addr}"),
                "ui": crate::ui::url(api_addr, None),
                "token_file": dir.join(runfiles::TOKEN_FILE),
                "data_dir": dir,
                "relay": relay.as_ref().map(|r| serde_json::json!({
                    "max_tunnels": r.max_tunnels,
                    "max_per_identity": r.max_per_identity,
                    "max_per_ip": r.max_per_ip,
                    "content": r.content,
                    "announce": r.announce,
                })),
            })
        );
    } else {
        println!("trove node {}", info.node_id);
        println!("data directory  {}", dir.display());
        if let Some(a) = &info.listen_tcp {
            println!("listening       tcp {a}");
        }
        if let Some(a) = &info.listen_quic {
            println!("listening       quic {a}");
        }
        let adv: Vec<String> = node.advertised().iter().map(|a| a.to_string()).collect();
        if !adv.is_empty() {
            println!("advertised      {}", adv.join(", "));
        }
        if let Some(r) = &relay {
            println!(
                "relaying        up to {} reservations ({} per node, {} per IP), {}",
                r.max_tunnels,
                r.max_per_identity,
                r.max_per_ip,
                if r.content { "content included" } else { "control traffic only" }
            );
        }
        println!("API             http://{api_addr} (token in {})", dir.join(runfiles::TOKEN_FILE).display());
        // The address with the token goes to a terminal only, never into a log file.
        if std::io::stdout().is_terminal() {
            println!("web UI          {}", crate::ui::url(api_addr, Some(&d.token)));
        } else {
            println!("web UI          {} (`trove ui` opens it with the token)", crate::ui::url(api_addr, None));
        }
        println!("press Ctrl-C to stop");
    }
    let why = wait_for_signal().await;
    if !g.quiet {
        eprintln!("{why}: stopping");
    }
    d.stop().await;
    if !g.quiet {
        eprintln!("stopped");
    }
    Ok(())
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM; returns which.
async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "terminated",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupted"
}
