//! `trove-bench`: one subcommand per benchmark of DESIGN.md §7; each prints one JSON object
//! per line (`{"bench", "metric", "value", "unit"}`). Latest figures: docs/BENCHMARKS.md.

mod community;
mod dht;
mod fixture;
mod idle;
mod propagation;
mod publish;
mod quic_ceiling;
mod report;
mod search;
mod session;
mod tls_ceiling;
mod transfer;

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
    /// What quinn itself carries on loopback with trove's QUIC settings (one stream, no framing).
    QuicCeiling {
        #[arg(long, default_value = "1GiB", value_parser = fixture::parse_size)]
        size: u64,
    },
    /// What TLS over TCP itself carries on loopback with trove's TLS settings (one connection, no framing).
    TlsCeiling {
        #[arg(long, default_value = "4GiB", value_parser = fixture::parse_size)]
        size: u64,
    },
    /// Download throughput from N seeders (1 GiB by default; `--files 10000 --size 4KiB` for small files).
    Transfer {
        #[arg(long, value_enum, default_value = "tcp")]
        transport: TransportArg,
        #[arg(long, default_value_t = 1)]
        seeders: usize,
        /// Size of each file (e.g. 1GiB, 4KiB).
        #[arg(long, default_value = "1GiB", value_parser = fixture::parse_size)]
        size: u64,
        #[arg(long, default_value_t = 1)]
        files: usize,
        /// One file of zeros made as a hole instead of random content, for sizes beyond the
        /// disk (put `--dir` on a compressing filesystem).
        #[arg(long)]
        zeros: bool,
        /// Upload limit of each seeder per second (e.g. 100MiB), as on links slower than the
        /// downloader's: shows how the download spreads over the seeders.
        #[arg(long, value_parser = fixture::parse_size)]
        seeder_upload_limit: Option<u64>,
        /// Where content files are made (reused between runs) and downloads are written.
        #[arg(long, default_value = "/var/tmp/trove-bench")]
        dir: std::path::PathBuf,
    },
    /// The downloader side of `transfer` (internal).
    #[command(hide = true)]
    TransferChild {
        #[arg(long)]
        spec: String,
    },
    /// Publishing time for one large file (warm cache) or many small files.
    Publish {
        #[arg(long, default_value = "1GiB", value_parser = fixture::parse_size)]
        size: u64,
        #[arg(long, default_value_t = 1)]
        files: usize,
        #[arg(long, default_value = "/var/tmp/trove-bench")]
        dir: std::path::PathBuf,
    },
    /// Time from a new revision to a subscriber, pushed directly and through the DHT alone.
    Propagation {
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Head lookups in a network of N loopback nodes.
    Dht {
        #[arg(long, default_value_t = 100)]
        nodes: usize,
        #[arg(long, default_value_t = 200)]
        lookups: usize,
    },
    /// CPU and disk writes of idle nodes.
    Idle {
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Community browse and refresh with N members and M public shares (records served by
    /// one node), first-page and incremental-refresh latency.
    Community {
        #[arg(long, default_value_t = 10_000)]
        members: usize,
        #[arg(long, default_value_t = 100_000)]
        shares: usize,
        #[arg(long, default_value_t = 50)]
        rounds: usize,
        /// Records per browsed page.
        #[arg(long, default_value_t = 256)]
        page: u32,
    },
    /// Local search: index build, size and query latency over synthetic manifests.
    Search {
        #[arg(long, default_value_t = 1_000_000)]
        items: usize,
        #[arg(long, default_value_t = 200)]
        shares: usize,
        /// Timed queries per kind.
        #[arg(long, default_value_t = 300)]
        queries: usize,
    },
}

fn main() -> anyhow::Result<()> {
    trove_node::alloc::tune_allocator();
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match cli.cmd {
            Cmd::Session { transport, seconds, in_flight } => session::run(&transport.list(), seconds, in_flight).await,
            Cmd::Transfer { transport, seeders, size, files, zeros, seeder_upload_limit, dir } => {
                std::fs::create_dir_all(&dir)?;
                if zeros && files != 1 {
                    anyhow::bail!("--zeros makes one file; leave out --files");
                }
                for t in transport.list() {
                    let spec = transfer::Spec { transport: t, seeders, files, size, zeros, seeder_upload_limit };
                    transfer::run(&dir, &spec).await?;
                }
                Ok(())
            }
            Cmd::QuicCeiling { size } => quic_ceiling::run(size).await,
            Cmd::TlsCeiling { size } => tls_ceiling::run(size).await,
            Cmd::TransferChild { spec } => transfer::child(&spec).await,
            Cmd::Publish { size, files, dir } => {
                std::fs::create_dir_all(&dir)?;
                publish::run(&dir, files, size).await
            }
            Cmd::Propagation { rounds } => propagation::run(rounds).await,
            Cmd::Dht { nodes, lookups } => dht::run(nodes, lookups).await,
            Cmd::Idle { seconds } => idle::run(seconds).await,
            Cmd::Search { items, shares, queries } => search::run(items, shares, queries),
            Cmd::Community { members, shares, rounds, page } => community::run(members, shares, rounds, page).await,
        }
    })
}
