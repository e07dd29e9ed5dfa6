//! The command line: global options and one subcommand per job (clap derive).

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// trove: publish, subscribe to, search and download shares on the SCP2P network.
///
/// Every command works through the running daemon (`trove serve`) when there is one, and
/// in-process otherwise.
#[derive(Parser, Debug)]
#[command(name = "trove", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts (before or after the subcommand).
#[derive(Args, Clone, Debug, Default)]
pub struct Global {
    /// The data directory (database, keys, downloads in progress, config.toml) [default: the
    /// platform's data directory, e.g. ~/.local/share/trove]
    #[arg(long, global = true, env = "TROVE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Machine-readable output: stdout carries only JSON (errors go to stderr, as JSON too)
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace; RUST_LOG overrides)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only results and errors: no progress, notices or warnings
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Network options of the node a command starts (in-process or `serve`); ignored when a
/// command goes through a running daemon.
#[derive(Args, Clone, Debug, Default)]
pub struct NetArgs {
    /// TLS/TCP listen address [default: from config.toml, else 0.0.0.0:7001]
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen_tcp: Option<SocketAddr>,
    /// QUIC listen address [default: from config.toml, else 0.0.0.0:7000]
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen_quic: Option<SocketAddr>,
    /// A peer to contact (tcp://IP:PORT, quic://IP:PORT, IP:PORT, host names allowed);
    /// repeatable, added to the bootstrap list of config.toml
    #[arg(long = "bootstrap", global = true, value_name = "ADDR")]
    pub bootstrap: Vec<String>,
    /// Do not discover peers on the LAN (and do not announce this node there)
    #[arg(long, global = true)]
    pub no_lan: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the node in the foreground with the local HTTP API, until Ctrl-C
    Serve(ServeArgs),
    /// Publish files, folders or a text as a share (or a new revision of one) and print its link
    Publish(PublishArgs),
    /// List your shares
    Shares,
    /// Make one of your shares public or private (publishes a new revision)
    Visibility {
        /// The name or id of one of your shares
        share: String,
        /// public (listed to LAN peers and its communities) or private (reachable by link only)
        #[arg(value_parser = ["public", "private"])]
        visibility: String,
    },
    /// Print the link of a share
    Link {
        /// A share link, a hex share id, or the name of one of your shares
        share: String,
    },
    /// Follow a share: fetch its catalog now and every new revision from then on
    Subscribe {
        /// A share link (scp2p://s/…) or a 64-digit hex share id
        target: String,
        /// The share's public key (hex), when subscribing by id
        #[arg(long, value_name = "HEX")]
        pubkey: Option<String>,
        /// How far search trusts this share: trusted, normal or untrusted
        #[arg(long, default_value = "normal", value_name = "LEVEL")]
        trust: String,
    },
    /// Change how a followed share counts in search: trust tier, ranking weight, blocklist
    Subscription(SubscriptionArgs),
    /// Stop following a share
    Unsubscribe {
        /// A share link, a hex share id (or a unique prefix of it)
        share: String,
    },
    /// List the shares you follow
    Subscriptions,
    /// Fetch new revisions of every followed share now
    Sync,
    /// Search the shares you follow and your own (never the network)
    Search(SearchArgs),
    /// List the files and folders of a share
    Ls {
        /// A share link, a hex share id, or the name of one of your shares
        share: String,
        /// A folder inside the share (default: the top)
        path: Option<String>,
    },
    /// Download a whole share or selected files and folders, verified, resumable
    Get {
        /// A share link, a hex share id, or the name of one of your shares
        share: String,
        /// Files or folders inside the share (default: everything)
        paths: Vec<String>,
        /// The folder to download into
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: PathBuf,
        /// Replace files that already exist with different content
        #[arg(long)]
        overwrite: bool,
    },
    /// Download one file by its content id from whoever provides it
    Fetch {
        /// The content id (64 hex digits, BLAKE3 of the file)
        content_id: String,
        /// Where to write the file
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
        /// Replace the file if it exists
        #[arg(long)]
        overwrite: bool,
    },
    /// List the public shares of reachable peers (LAN, bootstrap and recently seen peers)
    Browse,
    /// List the peers this node knows
    Peers,
    /// Show the node at a glance
    Status,
    /// Show this node's identity, or export/import share keys
    Identity {
        #[command(subcommand)]
        action: Option<IdentityCmd>,
    },
    /// List downloads (running, finished, failed)
    Downloads,
    /// Print the daemon's event stream until Ctrl-C (needs `trove serve`)
    Events,
    /// Open the web UI of the running daemon in the default browser (needs `trove serve`)
    Ui {
        /// Only print the address (it carries the API token: keep it to yourself)
        #[arg(long)]
        no_open: bool,
    },
    /// Communities: join, create, leave, list, see members and browse their public shares
    Community {
        #[command(subcommand)]
        action: CommunityCmd,
    },
    /// Run a relay for firewalled nodes in the foreground (a node with relaying on, never a
    /// relay client itself), until Ctrl-C
    Relay(RelayArgs),
    /// Start two local nodes, publish, subscribe, search and download between them, and verify
    Demo(DemoArgs),
}

impl Command {
    /// Whether the command only reads this node's own state. Run without a daemon, its node
    /// contacts nobody and announces itself nowhere (`NodeConfig::local_only`): printing a
    /// link or listing shares must not broadcast on the LAN or start syncing.
    pub fn is_local_only(&self) -> bool {
        matches!(
            self,
            Command::Shares
                | Command::Link { .. }
                | Command::Subscriptions
                | Command::Search(_)
                | Command::Peers
                | Command::Downloads
                | Command::Identity { action: None | Some(IdentityCmd::Export { .. }) }
        )
    }
}

#[derive(Args, Debug)]
pub struct SubscriptionArgs {
    /// A share link, a hex share id (or a unique prefix of it)
    pub share: String,
    /// How far search trusts it: trusted, normal or untrusted
    #[arg(long, value_name = "LEVEL")]
    pub trust: Option<String>,
    /// Ranking weight in search (default 1; above 0, at most 100)
    #[arg(long, value_name = "W")]
    pub weight: Option<f64>,
    /// Treat the share as a blocklist: the shares and files it lists disappear from search
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub blocklist: Option<bool>,
}

/// `on`/`off` (also true/false, yes/no).
pub fn on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("'{s}' is neither on nor off")),
    }
}

#[derive(Subcommand, Debug)]
pub enum CommunityCmd {
    /// Create a community (a new key held by this node) and join it; prints its link
    Create {
        /// A name for it on this node
        name: Option<String>,
        /// Only members holding a token issued by you are answered (checked against their
        /// authenticated identity)
        #[arg(long)]
        strict: bool,
    },
    /// Join a community by its link, or by its id and public key
    Join {
        /// A community link (scp2p://s/…) or a 64-digit hex id
        target: String,
        /// The community's public key (hex), when joining by id
        #[arg(long, value_name = "HEX")]
        pubkey: Option<String>,
        /// A name for it on this node
        #[arg(long)]
        name: Option<String>,
        /// A membership token issued to this node (hex, from `trove community token issue`)
        #[arg(long, value_name = "HEX")]
        token: Option<String>,
        /// Answer only members that hold a valid token
        #[arg(long)]
        strict: bool,
    },
    /// Leave a community: others stop seeing you and your shares there
    Leave {
        /// The community's link, id, id prefix or name
        community: String,
    },
    /// List joined communities
    List,
    /// List the members of a community that this node knows
    Members {
        /// The community's link, id, id prefix or name
        community: String,
    },
    /// List the public shares bound to a community (subscribe with the printed links)
    Browse {
        /// The community's link, id, id prefix or name
        community: String,
        /// Entries per page
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after the page that printed this cursor
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Ask the members now for their members and shares (otherwise done periodically)
    Refresh {
        /// The community's link, id, id prefix or name
        community: String,
    },
    /// Membership tokens: issue one (community creator) or install one issued to you
    Token {
        #[command(subcommand)]
        action: TokenCmd,
    },
    /// Turn strict mode on or off: answer only members holding a valid token
    Strict {
        /// The community's link, id, id prefix or name
        community: String,
        #[arg(value_parser = on_off, value_name = "on|off", action = clap::ArgAction::Set)]
        on: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Issue a token for a member's node key (needs the community key)
    Issue {
        /// The community's link, id, id prefix or name
        community: String,
        /// The member's node public key (hex; `trove identity` shows it)
        member: String,
        /// Days the token is valid
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
    /// Install a token issued to this node
    Set {
        /// The community's link, id, id prefix or name
        community: String,
        /// The token (hex)
        token: String,
    },
}

#[derive(Args, Debug)]
pub struct RelayArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// An address to announce to clients (tcp://IP:PORT or quic://IP:PORT; repeatable)
    /// [default: the node's advertised addresses]
    #[arg(long = "announce", value_name = "ADDR")]
    pub announce: Vec<String>,
    /// Reservations held at once
    #[arg(long, value_name = "N")]
    pub max_tunnels: Option<u16>,
    /// Reservations one node identity may hold
    #[arg(long, value_name = "N")]
    pub max_per_identity: Option<usize>,
    /// Reservations from one IP address
    #[arg(long, value_name = "N")]
    pub max_per_ip: Option<usize>,
    /// Bandwidth class announced: low, medium or high
    #[arg(long, value_name = "CLASS", value_parser = ["low", "medium", "high"])]
    pub bandwidth: Option<String>,
    /// Relay only control traffic (DHT, manifests, listings), never file content
    #[arg(long)]
    pub no_content: bool,
    /// Control traffic relayed per identity per hour, in MiB
    #[arg(long, value_name = "MIB")]
    pub control_quota: Option<u64>,
    /// Content relayed per identity per hour, in MiB
    #[arg(long, value_name = "MIB")]
    pub content_quota: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address of the local HTTP API
    #[arg(long, default_value = "127.0.0.1:7080", value_name = "ADDR")]
    pub api: SocketAddr,
    /// Allow an --api address beyond loopback (anyone who can reach it and has the token
    /// controls the node)
    #[arg(long)]
    pub api_public: bool,
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Files and folders (one folder alone: its contents become the share)
    pub paths: Vec<PathBuf>,
    /// Title of the share
    #[arg(long)]
    pub title: Option<String>,
    /// Description of the share
    #[arg(long)]
    pub description: Option<String>,
    /// A tag for every item (repeatable)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Make the share public (listed to LAN peers and joined communities)
    #[arg(long, conflicts_with = "private")]
    pub public: bool,
    /// Make the share private (never listed; reachable by link or id). Without --public or
    /// --private a new revision keeps the visibility of the previous one
    #[arg(long)]
    pub private: bool,
    /// Publish a new revision of this existing share (name or id)
    #[arg(long, value_name = "NAME|ID")]
    pub share: Option<String>,
    /// Name of a new share (default: the title or the first path's name)
    #[arg(long, conflicts_with = "share")]
    pub name: Option<String>,
    /// A community (hex share id) the share is bound to (repeatable)
    #[arg(long = "community", value_name = "ID")]
    pub communities: Vec<String>,
    /// Publish a text as a file
    #[arg(long)]
    pub text: Option<String>,
    /// File name of --text [default: note.txt]
    #[arg(long, requires = "text", value_name = "NAME")]
    pub text_name: Option<String>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Words to look for (all must match; the last one also as a prefix); empty lists everything
    pub query: Vec<String>,
    /// Only this share (link, id or own share name; repeatable)
    #[arg(long = "share", value_name = "SHARE")]
    pub shares: Vec<String>,
    /// Trust tiers to include (trusted, normal, untrusted; repeatable) [default: trusted and normal]
    #[arg(long = "trust", value_name = "LEVEL")]
    pub trust: Vec<String>,
    /// Only items of this type: video, audio, image, text, application, … (or a mime type)
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Smallest size (bytes, or with a unit: 10k, 5M, 1G; binary units)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub min_size: Option<u64>,
    /// Largest size (bytes, or with a unit: 10k, 5M, 1G; binary units)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Hits per page
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Continue after the page that printed this cursor
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum IdentityCmd {
    /// Print a share's secret key (hex) to move it to another machine
    Export {
        /// The name or id of one of your shares
        share: String,
        /// The key passphrase, when keys are protected by one
        #[arg(long, env = "TROVE_PASSPHRASE", hide_env_values = true)]
        passphrase: Option<String>,
    },
    /// Import a share's secret key so this node can publish revisions of it
    Import {
        /// The key (64 hex digits) from `trove identity export`
        key: String,
        /// Name of the share on this node
        #[arg(long)]
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Size of the largest generated file, in MiB
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub size_mib: u64,
    /// Keep the temporary folders (printed at the end) instead of removing them
    #[arg(long)]
    pub keep: bool,
}

/// Parses a size: bytes, or a number with k, M, G or T (powers of 1024; "KiB", "MB" … too).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("'{s}' is not a size (examples: 4096, 10k, 5M, 1G)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("'{s}': unknown unit (use k, M, G or T)")),
    };
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10k"), Ok(10 << 10));
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5X").is_err());
    }

    #[test]
    fn global_options_go_anywhere() {
        let c = Cli::try_parse_from(["trove", "shares", "--json", "--listen-tcp", "127.0.0.1:0", "--no-lan"]).unwrap();
        assert!(c.global.json && c.global.net.no_lan);
        assert_eq!(c.global.net.listen_tcp, Some("127.0.0.1:0".parse().unwrap()));
        let c = Cli::try_parse_from(["trove", "--json", "get", "x", "-o", "d", "a/b", "c"]).unwrap();
        match c.command {
            Command::Get { paths, out, .. } => {
                assert_eq!(paths, vec!["a/b", "c"]);
                assert_eq!(out, PathBuf::from("d"));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["trove", "get", "x"]).is_err(), "-o is required");
    }

    /// Reads of local state run on a node that contacts nobody; anything that needs peers,
    /// announces, or changes what others see does not.
    #[test]
    fn only_local_reads_run_without_the_network() {
        let local = |args: &[&str]| {
            let mut argv = vec!["trove"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(argv).unwrap().command.is_local_only()
        };
        for args in [
            &["shares"][..],
            &["link", "x"],
            &["subscriptions"],
            &["search", "x"],
            &["peers"],
            &["downloads"],
            &["identity"],
            &["identity", "export", "x"],
        ] {
            assert!(local(args), "{args:?} reads local state only");
        }
        for args in [
            &["publish", "p"][..],
            &["visibility", "x", "public"],
            &["subscribe", "x"],
            &["subscription", "x", "--blocklist", "on"],
            &["unsubscribe", "x"],
            &["sync"],
            &["ls", "x"],
            &["get", "x", "-o", "d"],
            &["fetch", &"a".repeat(64), "-o", "f"],
            &["browse"],
            &["status"],
            &["identity", "import", "k", "--name", "n"],
        ] {
            assert!(!local(args), "{args:?} needs the network");
        }
    }
}
