//! `trove-cli`: the `trove` command. Subcommands for every job (publish, subscribe, search,
//! download, …), `serve` (the daemon with its local HTTP API and event stream), progress
//! bars and JSON output. No protocol logic lives here: every command ends in a
//! `trove_node::Node` method, in this process or in the daemon.
//!
//! Files: `args` (the command line), `commands` (one function per command and its output),
//! `backend` (daemon or in-process), `local` (starting an in-process node), `client` (the
//! HTTP client of the API), `api` (the API server), `ops` (the operations both sides share),
//! `api_ext` (the endpoints the web UI adds), `community` (community requests and
//! endpoints), `ui` (the embedded web UI), `daemon`
//! (`trove serve`), `runfiles` (token and daemon files), `progress`, `demo`, `error`.

pub mod api;
pub mod api_ext;
pub mod args;
pub mod backend;
pub mod client;
pub mod commands;
pub mod community;
pub mod daemon;
pub mod demo;
pub mod error;
pub mod local;
pub mod ops;
pub mod progress;
pub mod runfiles;
pub mod ui;

use args::{Cli, Command, Global};
use backend::Backend;
use clap::Parser;
use error::{CliError, ErrorKind};
use std::process::ExitCode;

/// Parses the command line, runs the command, reports errors; returns the exit code: 0
/// success, 1 failure, 2 bad arguments, 130 interrupted.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.global);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let global = cli.global.clone();
    let result = rt.block_on(run_command(cli));
    // Blocking work (hashing) of an interrupted command must not hold the exit.
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&global, &e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(g: &Global) {
    let level = if g.quiet {
        "error"
    } else {
        match g.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(g.verbose >= 2)
        .try_init();
}

/// Prints an error on stderr: text with a hint, or a JSON object with `--json`.
fn report(g: &Global, e: &CliError) {
    let hint = e.hint(&local::data_dir(g));
    if g.json {
        eprintln!("{}", serde_json::json!({ "error": { "kind": e.kind, "message": e.message, "hint": hint } }));
    } else {
        eprintln!("error: {}", e.message);
        if let Some(h) = hint {
            eprintln!("hint: {h}");
        }
    }
}

async fn run_command(cli: Cli) -> Result<(), CliError> {
    let g = cli.global;
    match cli.command {
        Command::Serve(a) => daemon::serve(&g, a).await,
        Command::Relay(a) => daemon::relay(&g, a).await,
        Command::Demo(a) => demo::run(&g, a).await,
        Command::Ui { no_open } => commands::open_ui(&g, no_open).await,
        Command::Events => {
            tokio::select! {
                r = commands::events(&g) => r,
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        cmd => {
            let backend = Backend::connect(&g, cmd.is_local_only()).await?;
            let remote = backend.is_remote();
            let r = tokio::select! {
                r = commands::execute(&backend, &g, cmd) => r,
                _ = tokio::signal::ctrl_c() => Err(CliError::new(
                    ErrorKind::Interrupted,
                    if remote {
                        "interrupted; the daemon carries on with the request (`trove downloads` shows downloads)"
                    } else {
                        "interrupted; what was verified so far is kept"
                    },
                )),
            };
            backend.close().await;
            r
        }
    }
}
