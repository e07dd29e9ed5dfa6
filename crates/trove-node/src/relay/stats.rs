//! What a relay and a firewalled node report about relaying: counters measured on the data
//! path, for the API, the CLI and the abuse tests.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the relay role.
#[derive(Default)]
pub(crate) struct Counters {
    pub control_bytes: AtomicU64,
    pub content_bytes: AtomicU64,
    pub forwarded: AtomicU64,
    pub streams_opened: AtomicU64,
    pub refused: AtomicU64,
    pub tunnels_registered: AtomicU64,
    pub tunnels_freed: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// A snapshot of the relay role.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RelayStats {
    /// Reservations held (with or without a tunnel).
    pub slots: usize,
    /// Live tunnels.
    pub tunnels: usize,
    /// Virtual streams being spliced.
    pub streams: usize,
    /// Control bytes relayed (envelope forwarding and control virtual streams).
    pub control_bytes: u64,
    /// Content bytes relayed (chunk requests and answers, content virtual streams).
    pub content_bytes: u64,
    /// Requests forwarded into tunnels (v1 envelope forwarding).
    pub forwarded: u64,
    /// Virtual streams opened.
    pub streams_opened: u64,
    /// Requests refused (limits, quotas, authorization, content off).
    pub refused: u64,
    /// Tunnels registered since start.
    pub tunnels_registered: u64,
    /// Tunnels freed because their node stopped answering or left.
    pub tunnels_freed: u64,
}

impl RelayStats {
    pub(crate) fn from(c: &Counters, slots: usize, tunnels: usize, streams: usize) -> Self {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RelayStats {
            slots,
            tunnels,
            streams,
            control_bytes: g(&c.control_bytes),
            content_bytes: g(&c.content_bytes),
            forwarded: g(&c.forwarded),
            streams_opened: g(&c.streams_opened),
            refused: g(&c.refused),
            tunnels_registered: g(&c.tunnels_registered),
            tunnels_freed: g(&c.tunnels_freed),
        }
    }
}

/// The route a firewalled node is reachable by.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RelayRouteView {
    /// The relay (`tcp://ip:port@key`).
    pub relay: String,
    pub slot: u64,
    /// Whether the tunnel is up now (false: being re-registered).
    pub up: bool,
    /// The address published for this node (with `relay_via`).
    pub address: String,
}

/// A tunnel held by a relay.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TunnelView {
    /// The firewalled node's key (hex).
    pub node: String,
    pub slot: u64,
    /// Where its connection comes from, as the relay sees it (after any NAT).
    pub remote: String,
    /// It accepts end-to-end virtual streams.
    pub e2e: bool,
    /// Requests waiting or in flight.
    pub queued: usize,
}
