//! The `trove` binary: parses the command line and hands each command to the node.

use clap::Parser;

/// trove: publish, subscribe to, search and download shares on the SCP2P network.
#[derive(Parser)]
#[command(name = "trove", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
