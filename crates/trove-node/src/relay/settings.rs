//! Relay settings, for both roles: offering relaying to firewalled nodes (the `[relay]`
//! section with `enabled = true`, what `trove relay` runs), and using a relay when this node
//! cannot be reached. Every field has a documented default; the section is loadable from
//! TOML like the rest of the node configuration.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use trove_proto::wire::BandwidthClass;

/// When this node registers a tunnel at a relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayUse {
    /// When it cannot be reached: it has no listener, or no peer opened a session to it
    /// within `reachability_secs` of starting. A node that relays for others never does.
    #[default]
    Auto,
    /// Always (the node is known to be behind NAT or a firewall).
    Always,
    /// Never.
    Never,
}

/// The bandwidth class a relay announces (SCP2P-WIRE.md §7.8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bandwidth {
    Low,
    #[default]
    Medium,
    High,
}

impl Bandwidth {
    /// The wire value.
    pub fn wire(self) -> BandwidthClass {
        match self {
            Bandwidth::Low => BandwidthClass::Low,
            Bandwidth::Medium => BandwidthClass::Medium,
            Bandwidth::High => BandwidthClass::High,
        }
    }
}

/// The `[relay]` section of the node configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    // --- offering relaying ---
    /// Relay for firewalled nodes (tunnels, forwarding, virtual streams, announcements).
    pub enabled: bool,
    /// Addresses put in the signed relay announcement (`tcp://ip:port`, `quic://ip:port`);
    /// empty: the node's advertised addresses.
    pub announce: Vec<String>,
    /// Reservations (slots, with or without a tunnel) held at once; announced as
    /// `max_tunnels`.
    pub max_tunnels: u16,
    /// Reservations one node identity may hold.
    pub max_per_identity: usize,
    /// Reservations that may come from one IP address (a NAT hides many nodes behind one).
    pub max_per_ip: usize,
    /// Virtual streams spliced at once, over all tunnels.
    pub max_streams: usize,
    /// Bandwidth class announced.
    pub bandwidth: Bandwidth,
    /// Relay content (chunk data). Off: only control traffic (DHT, manifests, listings)
    /// passes, and no chunk byte is relayed.
    pub content: bool,
    /// Control bytes relayed per identity per hour, in MiB (each identity at either end of
    /// the traffic is charged).
    pub control_quota_mib: u64,
    /// Content bytes relayed per identity per hour, in MiB, when `content` is on.
    pub content_quota_mib: u64,
    /// How long a request forwarded into a tunnel may wait for its answer (v1: 30 s).
    pub forward_timeout_secs: u64,
    /// Requests queued in one tunnel at most (v1: 32).
    pub queue_per_tunnel: usize,
    /// Seconds without traffic before the relay checks that a tunnel still answers.
    pub keepalive_secs: u64,
    /// Seconds between relay announcements at the DHT rendezvous keys (v1: 1800, min 60).
    pub announce_interval_secs: u64,

    // --- using a relay ---
    /// When to register a tunnel.
    pub client: RelayUse,
    /// Relays to try first (bootstrap syntax, `@<node key>` recommended).
    pub relays: Vec<String>,
    /// With `client = "auto"` and listeners: seconds without any inbound session after which
    /// the node considers itself unreachable.
    pub reachability_secs: u64,
    /// Seconds between checks that the tunnel still carries requests (a request sent to
    /// this node through its own relay slot).
    pub probe_secs: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            enabled: false,
            announce: Vec::new(),
            max_tunnels: 64,
            max_per_identity: 2,
            max_per_ip: 16,
            max_streams: 512,
            bandwidth: Bandwidth::Medium,
            content: false,
            control_quota_mib: 64,
            content_quota_mib: 1024,
            forward_timeout_secs: 30,
            queue_per_tunnel: 32,
            keepalive_secs: 60,
            announce_interval_secs: 1800,
            client: RelayUse::Auto,
            relays: Vec::new(),
            reachability_secs: 120,
            probe_secs: 30,
        }
    }
}

impl RelaySettings {
    /// The settings of a dedicated relay (`trove relay`): relaying on, content relaying on
    /// with its quota, never a relay client itself.
    pub fn server() -> RelaySettings {
        RelaySettings { enabled: true, content: true, client: RelayUse::Never, ..RelaySettings::default() }
    }

    pub(crate) fn forward_timeout(&self) -> Duration {
        Duration::from_secs(self.forward_timeout_secs.max(1))
    }

    pub(crate) fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs.max(1))
    }

    pub(crate) fn probe(&self) -> Duration {
        Duration::from_secs(self.probe_secs.max(1))
    }

    pub(crate) fn quota_bytes(&self) -> (u64, u64) {
        (self.control_quota_mib.saturating_mul(1 << 20), self.content_quota_mib.saturating_mul(1 << 20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_section() {
        let s: RelaySettings =
            toml::from_str("enabled = true\ncontent = true\nbandwidth = \"high\"\nclient = \"never\"\n").unwrap();
        assert!(s.enabled && s.content);
        assert_eq!((s.bandwidth, s.client), (Bandwidth::High, RelayUse::Never));
        assert_eq!(s.max_tunnels, 64);
        assert!(toml::from_str::<RelaySettings>("enable = true\n").is_err());
    }
}
