//! `trove-bench`: one subcommand per benchmark of DESIGN.md §7; each prints one JSON object
//! per line (`{"bench", "metric", "value", "unit"}`). Latest figures: docs/BENCHMARKS.md.

mod report;
mod session;

use clap::{Parser, Subcommand, ValueEnum};
use trove_proto::wire::Transport;

#[derive(Parser)]
#[command(name = "trove-bench", about = "trove benchmarks (JSON lines on stdout)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum TransportArg {
    Tcp,
    Quic,
    Both,
}

impl TransportArg {
    fn list(self) -> Vec<Transport> {
        match self {
            TransportArg::Tcp => vec![Transport::Tcp],
            TransportArg::Quic => vec![Transport::Quic],
            TransportArg::Both => vec![Transport::Tcp, Transport::Quic],
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Throughput of one session: 256 KiB request/response pairs, and small requests per second.
    Session {
        #[arg(long, value_enum, default_value = "both")]
        transport: TransportArg,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Requests kept in flight.
        #[arg(long, default_value_t = 16)]
        in_flight: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match cli.cmd {
            Cmd::Session { transport, seconds, in_flight } => session::run(&transport.list(), seconds, in_flight).await,
        }
    })
}
