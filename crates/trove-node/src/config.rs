//! The node's configuration: one typed struct with documented defaults, loadable from TOML
//! (`<data dir>/config.toml`), overridable by flags and environment in the CLI.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a node needs to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the database, index, keys and downloads in progress live.
    #[serde(skip)]
    pub data_dir: PathBuf,
    /// TLS-over-TCP listen address (SCP2P default 0.0.0.0:7001); None: no TCP listener.
    pub listen_tcp: Option<SocketAddr>,
    /// QUIC listen address (SCP2P default 0.0.0.0:7000); None: no QUIC listener.
    pub listen_quic: Option<SocketAddr>,
    /// Addresses to advertise to others (`tcp://ip:port`, `quic://ip:port`); empty: derived
    /// from the listen addresses.
    pub advertise: Vec<String>,
    /// Bootstrap peers (`tcp://ip:port`, `quic://ip:port`, `ip:port`, optional `@pubkey`,
    /// host names allowed).
    pub bootstrap: Vec<String>,
    /// LAN discovery.
    pub lan: LanSettings,
    /// trove protocol extensions (channel binding, multiplexing, paging, head push). Off:
    /// the node behaves exactly as an SCP2P v1 peer.
    pub extensions: bool,
    /// Refuse peers that do not bind the channel (v1-only peers).
    pub strict: bool,
    /// Seconds between full syncs of every subscription (pushes arrive sooner).
    pub sync_interval_secs: u64,
    /// Seconds between DHT maintenance passes (republish, refresh, expiry).
    pub dht_interval_secs: u64,
    /// Lift the per-/24 routing limits and the per-IP connection caps (needed when many test
    /// nodes share 127.0.0.1).
    pub dht_allow_loopback: bool,
    /// Request timeout in seconds.
    pub request_timeout_secs: u64,
    /// Files downloaded at the same time.
    pub parallel_files: usize,
    /// Free space (MiB) downloads always leave on the target disk.
    pub free_space_reserve_mib: u64,
    /// Seed what this node downloads (announce itself as a provider).
    pub seed_downloads: bool,
    /// Upload limit in KiB/s for serving chunks (0: unlimited).
    pub upload_limit_kib: u64,
    /// Download limit in KiB/s over all downloads (0: unlimited).
    pub download_limit_kib: u64,
    /// Relaying: offering it (`enabled`) and using a relay when unreachable.
    pub relay: crate::relay::RelaySettings,
    /// Seconds between refreshes of every joined community (members, records, v1 listings).
    pub community_refresh_secs: u64,
    /// Restart downloads an earlier run left unfinished (for long-running nodes).
    pub resume_downloads: bool,
    /// A node for a command that only reads or changes local state (set by the program, never
    /// read from `config.toml`): no LAN discovery and no background work (sync, DHT upkeep,
    /// relays, resumed downloads), so it contacts nobody and announces itself nowhere. Its
    /// listeners still bind, so the addresses it puts in links are the configured ones.
    #[serde(skip)]
    pub local_only: bool,
}

/// LAN discovery settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LanSettings {
    pub enabled: bool,
    /// UDP port (SCP2P: 46123).
    pub port: u16,
    /// Broadcast address: 255.255.255.255 on a LAN, 127.255.255.255 for one machine.
    pub broadcast: IpAddr,
    /// Milliseconds between announcements.
    pub interval_ms: u64,
}

impl Default for LanSettings {
    fn default() -> Self {
        LanSettings {
            enabled: true,
            port: trove_proto::wire::lan::LAN_PORT,
            broadcast: IpAddr::V4(Ipv4Addr::BROADCAST),
            interval_ms: 3000,
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: default_data_dir(),
            listen_tcp: Some(SocketAddr::from(([0, 0, 0, 0], 7001))),
            listen_quic: Some(SocketAddr::from(([0, 0, 0, 0], 7000))),
            advertise: Vec::new(),
            bootstrap: Vec::new(),
            lan: LanSettings::default(),
            extensions: true,
            strict: false,
            sync_interval_secs: 60,
            dht_interval_secs: 60,
            dht_allow_loopback: false,
            request_timeout_secs: 15,
            parallel_files: 4,
            free_space_reserve_mib: 500,
            seed_downloads: true,
            upload_limit_kib: 0,
            download_limit_kib: 0,
            relay: crate::relay::RelaySettings::default(),
            community_refresh_secs: 300,
            resume_downloads: false,
            local_only: false,
        }
    }
}

impl NodeConfig {
    /// Defaults for a data directory, with `config.toml` applied if present.
    pub fn load(data_dir: &Path) -> Result<NodeConfig, String> {
        let path = data_dir.join("config.toml");
        let mut cfg = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<NodeConfig>(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => NodeConfig::default(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        cfg.data_dir = data_dir.to_path_buf();
        Ok(cfg)
    }

    /// A configuration for tests and demos: loopback listeners on ephemeral ports, LAN
    /// discovery on the loopback broadcast address, loopback-friendly DHT limits.
    pub fn loopback(data_dir: &Path) -> NodeConfig {
        NodeConfig {
            data_dir: data_dir.to_path_buf(),
            listen_tcp: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            listen_quic: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            lan: LanSettings {
                enabled: false,
                broadcast: IpAddr::V4(Ipv4Addr::new(127, 255, 255, 255)),
                ..LanSettings::default()
            },
            dht_allow_loopback: true,
            free_space_reserve_mib: 0,
            ..NodeConfig::default()
        }
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}

/// The platform's default data directory: `$XDG_DATA_HOME/trove`, `~/.local/share/trove`,
/// `~/Library/Application Support/trove` on macOS, `%APPDATA%\trove` on Windows.
pub fn default_data_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(target_os = "windows") {
        return env("APPDATA").unwrap_or_else(|| PathBuf::from(".")).join("trove");
    }
    if cfg!(target_os = "macos")
        && let Some(h) = env("HOME")
    {
        return h.join("Library/Application Support/trove");
    }
    if let Some(x) = env("XDG_DATA_HOME") {
        return x.join("trove");
    }
    env("HOME").map(|h| h.join(".local/share/trove")).unwrap_or_else(|| PathBuf::from(".trove"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "bootstrap = [\"tcp://10.0.0.1:7001\"]\n[lan]\nenabled = false\n",
        )
        .unwrap();
        let c = NodeConfig::load(dir.path()).unwrap();
        assert_eq!(c.bootstrap, vec!["tcp://10.0.0.1:7001"]);
        assert!(!c.lan.enabled);
        assert_eq!(c.sync_interval_secs, 60);
        std::fs::write(dir.path().join("config.toml"), "bootstrapp = []\n").unwrap();
        let e = NodeConfig::load(dir.path()).unwrap_err();
        assert!(e.contains("bootstrapp"), "{e}");
    }
}
