//! The chunk scheduler of one file download, as a pure state machine: which chunk to ask
//! which peer for next. Peers get a window of requests in flight that grows with their
//! throughput and shrinks on timeouts; failed chunks go back to the pool for other peers; a
//! peer that sends a chunk failing its hash is dropped at once; at the end, the last chunks
//! in flight are also asked of idle peers so one slow peer cannot stall the download. A peer
//! still connecting gets no requests: chunks never wait on a handshake that may not finish.

use std::time::{Duration, Instant};

/// Index of a peer inside one swarm.
pub type PeerIdx = usize;

/// Why a chunk request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No answer in time.
    Timeout,
    /// An error answer or a broken connection.
    Error,
    /// The data did not match the chunk hash: the peer is dropped.
    BadData,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Missing,
    InFlight(u8),
    Done,
}

/// What the swarm knows about a peer.
#[derive(Clone, Debug)]
pub struct PeerStats {
    /// Requests in flight.
    pub in_flight: usize,
    /// Requests allowed in flight.
    pub window: usize,
    /// Largest window this peer may reach (1 for peers that answer one request at a time).
    pub max_window: usize,
    /// Exponentially weighted throughput in bytes per second.
    pub rate: f64,
    /// Chunks delivered.
    pub delivered: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Consecutive failures.
    pub failures: u32,
    /// Connected: only these get requests.
    pub ready: bool,
    /// Dropped peers get no more requests.
    pub dropped: bool,
    /// Why it was dropped.
    pub drop_reason: Option<&'static str>,
}

/// Tuning knobs.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    pub initial_window: usize,
    pub max_window: usize,
    /// Consecutive failures (timeouts or errors) before a peer is dropped.
    pub max_failures: u32,
    /// Peers asked for the same chunk at most, in the endgame.
    pub max_duplicates: u8,
    /// Requests in flight over all peers: bounds the memory of one download (8 MiB of
    /// chunks by default, so `parallel_files` large downloads stay within the memory target)
    /// and the bursts a downloader's one UDP socket must absorb from many QUIC seeders.
    pub max_in_flight: usize,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        SwarmConfig { initial_window: 4, max_window: 32, max_failures: 4, max_duplicates: 2, max_in_flight: 32 }
    }
}

/// The scheduler.
#[derive(Debug)]
pub struct Swarm {
    cfg: SwarmConfig,
    chunks: Vec<Chunk>,
    /// Lowest index that may still be missing (scan start).
    cursor: usize,
    missing: usize,
    peers: Vec<PeerStats>,
    /// (peer, chunk) pairs in flight, to know who holds what.
    assigned: Vec<(PeerIdx, u32)>,
    started: Instant,
}

impl Swarm {
    /// A swarm for `chunk_count` chunks of which `done(i)` are already verified.
    pub fn new(chunk_count: u32, done: impl Fn(u32) -> bool, cfg: SwarmConfig) -> Self {
        let chunks: Vec<Chunk> = (0..chunk_count).map(|i| if done(i) { Chunk::Done } else { Chunk::Missing }).collect();
        let missing = chunks.iter().filter(|c| **c != Chunk::Done).count();
        Swarm { cfg, chunks, cursor: 0, missing, peers: Vec::new(), assigned: Vec::new(), started: Instant::now() }
    }

    /// Adds a connected peer; returns its index.
    pub fn add_peer(&mut self) -> PeerIdx {
        let p = self.add_connecting_peer();
        self.set_connected(p, self.cfg.max_window);
        p
    }

    /// Adds a peer that gets requests only after [`Swarm::set_connected`].
    pub fn add_connecting_peer(&mut self) -> PeerIdx {
        let max_window = self.cfg.max_window;
        self.peers.push(PeerStats {
            in_flight: 0,
            window: self.cfg.initial_window.min(max_window),
            max_window,
            rate: 0.0,
            delivered: 0,
            bytes: 0,
            failures: 0,
            ready: false,
            dropped: false,
            drop_reason: None,
        });
        self.peers.len() - 1
    }

    /// The peer is connected: it gets requests from now on, at most `max_window` at once
    /// (a v1 peer serves one request at a time).
    pub fn set_connected(&mut self, p: PeerIdx, max_window: usize) {
        let peer = &mut self.peers[p];
        peer.ready = true;
        peer.max_window = max_window.clamp(1, self.cfg.max_window);
        peer.window = peer.window.min(peer.max_window);
    }

    /// Statistics of a peer.
    pub fn peer(&self, p: PeerIdx) -> &PeerStats {
        &self.peers[p]
    }

    /// Number of peers that take requests: connected and not dropped (what progress reports
    /// as the download's peers; a provider still connecting, or unreachable, is not one).
    pub fn connected_peers(&self) -> usize {
        self.peers.iter().filter(|p| p.ready && !p.dropped).count()
    }

    /// Chunks not yet verified.
    pub fn missing(&self) -> usize {
        self.missing
    }

    /// Whether every chunk is verified.
    pub fn is_complete(&self) -> bool {
        self.missing == 0
    }

    /// Drops a peer (e.g. its connection failed for good); its chunks go back to the pool.
    pub fn drop_peer(&mut self, p: PeerIdx, reason: &'static str) {
        let peer = &mut self.peers[p];
        if !peer.dropped {
            peer.dropped = true;
            peer.drop_reason = Some(reason);
        }
    }

    /// The next requests to send: fills the live peers' free windows, first with missing
    /// chunks in order, then (endgame) with chunks already in flight elsewhere. The requests
    /// in flight over all peers are capped, so each goes to the peer furthest below its share
    /// of them, shares following the measured rates (a peer not measured yet counts as fast
    /// as the fastest, so it is tried at once). Filling one peer's window first would leave
    /// the others idle whenever the seeders' uplinks, not the downloader, set the pace.
    pub fn next_requests(&mut self) -> Vec<(PeerIdx, u32)> {
        let mut out = Vec::new();
        let mut open: Vec<PeerIdx> =
            (0..self.peers.len()).filter(|&p| self.peers[p].ready && !self.peers[p].dropped).collect();
        let fastest = self.peers.iter().map(|p| p.rate).fold(0.0, f64::max);
        let weight = |p: &PeerStats| if p.rate > 0.0 { p.rate } else { fastest.max(1.0) };
        let mut total: usize = self.peers.iter().map(|p| p.in_flight).sum();
        while total < self.cfg.max_in_flight {
            let peers = &self.peers;
            let load = |p: PeerIdx| (peers[p].in_flight + 1) as f64 / weight(&peers[p]);
            let next = open
                .iter()
                .enumerate()
                .filter(|&(_, &p)| peers[p].in_flight < peers[p].window)
                .min_by(|&(_, &a), &(_, &b)| load(a).total_cmp(&load(b)).then(peers[b].rate.total_cmp(&peers[a].rate)))
                .map(|(k, &p)| (k, p));
            let Some((k, p)) = next else { break };
            let Some(c) = self.pick(p) else {
                open.swap_remove(k);
                continue;
            };
            self.chunks[c as usize] = match self.chunks[c as usize] {
                Chunk::InFlight(n) => Chunk::InFlight(n + 1),
                _ => Chunk::InFlight(1),
            };
            self.peers[p].in_flight += 1;
            total += 1;
            self.assigned.push((p, c));
            out.push((p, c));
        }
        out
    }

    fn pick(&mut self, p: PeerIdx) -> Option<u32> {
        while self.cursor < self.chunks.len() && self.chunks[self.cursor] == Chunk::Done {
            self.cursor += 1;
        }
        if let Some(i) = (self.cursor..self.chunks.len()).find(|&i| self.chunks[i] == Chunk::Missing) {
            return Some(i as u32);
        }
        // Endgame: duplicate a chunk in flight at another peer, least duplicated first.
        let max = self.cfg.max_duplicates;
        let mine: Vec<u32> = self.assigned.iter().filter(|(q, _)| *q == p).map(|(_, c)| *c).collect();
        (self.cursor..self.chunks.len())
            .filter_map(|i| match self.chunks[i] {
                Chunk::InFlight(n) if n < max && !mine.contains(&(i as u32)) => Some((n, i as u32)),
                _ => None,
            })
            .min()
            .map(|(_, i)| i)
    }

    fn release(&mut self, p: PeerIdx, c: u32) -> bool {
        let Some(pos) = self.assigned.iter().position(|&(q, d)| q == p && d == c) else { return false };
        self.assigned.swap_remove(pos);
        self.peers[p].in_flight -= 1;
        if let Chunk::InFlight(n) = self.chunks[c as usize] {
            self.chunks[c as usize] = if n > 1 { Chunk::InFlight(n - 1) } else { Chunk::Missing };
        }
        true
    }

    /// A verified chunk arrived from `p` after `elapsed`. Returns true if it was new (write
    /// it), false if another peer already delivered it.
    pub fn on_success(&mut self, p: PeerIdx, c: u32, bytes: usize, elapsed: Duration) -> bool {
        self.release(p, c);
        let peer = &mut self.peers[p];
        peer.failures = 0;
        peer.delivered += 1;
        peer.bytes += bytes as u64;
        let secs = elapsed.as_secs_f64().max(1e-4);
        let sample = bytes as f64 / secs * peer.in_flight.max(1) as f64;
        peer.rate = if peer.rate == 0.0 { sample } else { 0.8 * peer.rate + 0.2 * sample };
        if peer.window < peer.max_window {
            peer.window += 1;
        }
        let slot = &mut self.chunks[c as usize];
        if *slot == Chunk::Done {
            return false;
        }
        *slot = Chunk::Done;
        self.missing -= 1;
        true
    }

    /// A request to `p` for chunk `c` failed.
    pub fn on_failure(&mut self, p: PeerIdx, c: u32, why: Failure) {
        self.release(p, c);
        let max_failures = self.cfg.max_failures;
        let peer = &mut self.peers[p];
        match why {
            Failure::BadData => {
                peer.dropped = true;
                peer.drop_reason = Some("sent data that failed verification");
            }
            Failure::Timeout | Failure::Error => {
                peer.failures += 1;
                peer.window = (peer.window / 2).max(1);
                if peer.failures >= max_failures {
                    peer.dropped = true;
                    peer.drop_reason = Some(if why == Failure::Timeout { "stopped answering" } else { "kept failing" });
                }
            }
        }
    }

    /// Chunks in flight at `p` (to cancel them when dropping the peer).
    pub fn in_flight_at(&self, p: PeerIdx) -> Vec<u32> {
        self.assigned.iter().filter(|(q, _)| *q == p).map(|(_, c)| *c).collect()
    }

    /// A deadline for one chunk request to `p`: generous for unknown peers, scaled to the
    /// measured rate otherwise, within [2 s, 30 s].
    pub fn request_timeout(&self, p: PeerIdx, chunk_bytes: usize) -> Duration {
        let peer = &self.peers[p];
        if peer.rate <= 0.0 {
            return Duration::from_secs(15);
        }
        let per_request = chunk_bytes as f64 * peer.window as f64 / peer.rate;
        Duration::from_secs_f64((4.0 * per_request).clamp(2.0, 30.0))
    }

    /// Time since the swarm started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn spreads_chunks_over_peers_and_completes() {
        let mut s = Swarm::new(20, |_| false, SwarmConfig::default());
        let a = s.add_peer();
        let b = s.add_peer();
        let reqs = s.next_requests();
        assert_eq!(reqs.len(), 8, "two windows of 4");
        assert!(reqs.iter().any(|r| r.0 == a) && reqs.iter().any(|r| r.0 == b));
        let mut pending = reqs;
        while !s.is_complete() {
            let (p, c) = pending.remove(0);
            s.on_success(p, c, 262_144, ms(10));
            pending.extend(s.next_requests());
        }
        assert_eq!(s.peer(a).delivered + s.peer(b).delivered, 20);
    }

    #[test]
    fn resumes_only_missing_chunks() {
        let mut s = Swarm::new(10, |i| i % 2 == 0, SwarmConfig::default());
        s.add_peer();
        let reqs: Vec<u32> = s.next_requests().into_iter().map(|r| r.1).collect();
        assert_eq!(reqs, vec![1, 3, 5, 7]);
        assert_eq!(s.missing(), 5);
    }

    #[test]
    fn bad_data_drops_the_peer_and_requeues_its_chunk() {
        let mut s = Swarm::new(3, |_| false, SwarmConfig { initial_window: 1, ..Default::default() });
        let bad = s.add_peer();
        let good = s.add_peer();
        let first = s.next_requests();
        let (p, c) = *first.iter().find(|r| r.0 == bad).unwrap();
        s.on_failure(p, c, Failure::BadData);
        assert!(s.peer(bad).dropped);
        // Only the good peer is asked from now on, and it gets the failed chunk back.
        let mut asked = Vec::new();
        let mut pending: Vec<_> = first.into_iter().filter(|r| r.0 == good).collect();
        pending.extend(s.next_requests());
        while let Some((p, c)) = pending.pop() {
            assert_eq!(p, good);
            asked.push(c);
            s.on_success(p, c, 10, ms(1));
            pending.extend(s.next_requests());
        }
        assert!(s.is_complete());
        assert!(asked.contains(&c));
    }

    #[test]
    fn timeouts_shrink_the_window_then_drop() {
        let mut s =
            Swarm::new(100, |_| false, SwarmConfig { initial_window: 8, max_failures: 3, ..Default::default() });
        let p = s.add_peer();
        let reqs = s.next_requests();
        for (q, c) in reqs.iter().take(3) {
            s.on_failure(*q, *c, Failure::Timeout);
        }
        assert!(s.peer(p).dropped);
        assert_eq!(s.peer(p).drop_reason, Some("stopped answering"));
        assert!(s.next_requests().is_empty());
    }

    #[test]
    fn a_connecting_peer_gets_requests_only_once_connected() {
        let mut s = Swarm::new(10, |_| false, SwarmConfig::default());
        let slow = s.add_connecting_peer();
        assert!(s.next_requests().is_empty(), "no chunk waits on a handshake");
        assert_eq!(s.connected_peers(), 0, "a provider still connecting is not counted");
        let fast = s.add_peer();
        assert_eq!(s.connected_peers(), 1);
        let first = s.next_requests();
        assert_eq!(first.len(), 4);
        assert!(first.iter().all(|r| r.0 == fast));
        s.set_connected(slow, 1);
        let more = s.next_requests();
        assert_eq!(more.len(), 1, "a window of one for a v1 peer");
        assert_eq!(more[0].0, slow);
        assert!(!first.iter().any(|r| r.1 == more[0].1), "a chunk not already asked for");
        assert_eq!(s.connected_peers(), 2);
        s.drop_peer(fast, "cannot be reached");
        assert_eq!(s.connected_peers(), 1, "a dropped peer is not counted");
    }

    #[test]
    fn requests_in_flight_over_all_peers_stay_within_the_cap() {
        let mut s = Swarm::new(1000, |_| false, SwarmConfig::default());
        let peers: Vec<_> = (0..4).map(|_| s.add_peer()).collect();
        let mut pending = s.next_requests();
        for _ in 0..400 {
            let (p, c) = pending.remove(0);
            s.on_success(p, c, 262_144, ms(5));
            pending.extend(s.next_requests());
            assert!(pending.len() <= SwarmConfig::default().max_in_flight);
        }
        assert_eq!(pending.len(), SwarmConfig::default().max_in_flight, "the cap is used fully");
        assert!(peers.iter().all(|&p| s.peer(p).delivered > 0), "every peer is asked");
    }

    #[test]
    fn endgame_duplicates_the_last_chunks_to_idle_peers() {
        let mut s = Swarm::new(2, |_| false, SwarmConfig { initial_window: 2, ..Default::default() });
        let slow = s.add_peer();
        let reqs = s.next_requests();
        assert_eq!(reqs.len(), 2);
        assert!(reqs.iter().all(|r| r.0 == slow));
        let fast = s.add_peer();
        let dup = s.next_requests();
        assert_eq!(dup.len(), 2, "both chunks duplicated to the idle peer");
        assert!(dup.iter().all(|r| r.0 == fast));
        assert!(s.on_success(fast, 0, 1, ms(1)));
        assert!(!s.on_success(slow, 0, 1, ms(1)), "second copy is not new");
        assert_eq!(s.missing(), 1);
    }

    /// Virtual time (µs) to download 400 chunks from peers that each serve one chunk per
    /// `services[p]` µs in turn (their uplinks set the pace), and the chunks each delivered.
    fn uplink_bound(services: &[u64]) -> (u64, Vec<u64>) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut s = Swarm::new(400, |_| false, SwarmConfig::default());
        let peers: Vec<_> = services.iter().map(|_| s.add_peer()).collect();
        let (mut now, mut free_at) = (0u64, vec![0u64; services.len()]);
        let mut done = BinaryHeap::new();
        while !s.is_complete() {
            for (p, c) in s.next_requests() {
                free_at[p] = free_at[p].max(now) + services[p];
                done.push(Reverse((free_at[p], p, c, now)));
            }
            let Reverse((t, p, c, asked)) = done.pop().expect("requests in flight");
            now = t;
            s.on_success(p, c, 262_144, Duration::from_micros(t - asked));
        }
        (now, peers.iter().map(|&p| s.peer(p).delivered).collect())
    }

    #[test]
    fn peers_whose_uplinks_set_the_pace_share_the_download() {
        let (one, _) = uplink_bound(&[2500]);
        let (four, delivered) = uplink_bound(&[2500; 4]);
        assert!(four * 3 < one, "four peers took {four} µs, one {one} µs");
        assert!(delivered.iter().all(|&d| d >= 80), "each of four delivers a fair part: {delivered:?}");
        // A peer twice as fast gets about twice the chunks.
        let (_, d) = uplink_bound(&[1250, 2500]);
        assert!(d[0] * 2 > d[1] * 3, "{d:?}");
    }
}
