//! The peer database: addresses keyed by `PeerAddr::dedup_key()`, with the node key and
//! capabilities when known, where we heard of them, and how contacting them went. The table
//! is bounded: after each save the worst entries beyond the cap are evicted in a fixed order
//! (most consecutive failures, then never or longest ago successful, then least recently
//! seen, then key). A save writes at most `max_per_save` rows, so one flood of offered peers
//! costs a bounded number of bytes (TEST-MATRIX DH-6). Capabilities heard from unverified
//! sources never overwrite capabilities confirmed by a handshake.

use super::Db;
use super::sql::{Ctx, col_opt_fixed, col_opt_u64, col_u64, conv_err, now_int};
use crate::error::{Result, StoreError};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use trove_proto::PubKey;
use trove_proto::cbor;
use trove_proto::wire::{Capabilities, PeerAddr};

/// How we learned of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerSource {
    Bootstrap,
    Lan,
    Pex,
    Dht,
    /// It connected to us, or we had a session with it.
    Session,
}

impl PeerSource {
    fn as_str(self) -> &'static str {
        match self {
            PeerSource::Bootstrap => "bootstrap",
            PeerSource::Lan => "lan",
            PeerSource::Pex => "pex",
            PeerSource::Dht => "dht",
            PeerSource::Session => "session",
        }
    }

    fn parse(s: &str) -> Option<PeerSource> {
        Some(match s {
            "bootstrap" => PeerSource::Bootstrap,
            "lan" => PeerSource::Lan,
            "pex" => PeerSource::Pex,
            "dht" => PeerSource::Dht,
            "session" => PeerSource::Session,
            _ => return None,
        })
    }
}

/// Bounds on the peer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerLimits {
    /// Most peers kept.
    pub max_peers: usize,
    /// Most sightings written by one save; the rest are dropped.
    pub max_per_save: usize,
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits { max_peers: 10_000, max_per_save: 256 }
    }
}

impl PeerLimits {
    /// Limits with the given cap and per-save bound (both at least 1).
    pub fn new(max_peers: usize, max_per_save: usize) -> Result<PeerLimits> {
        if max_peers == 0 || max_per_save == 0 {
            return Err(StoreError::Invalid(format!(
                "peer limits: max_peers {max_peers} and max_per_save {max_per_save} must both be at least 1"
            )));
        }
        Ok(PeerLimits { max_peers, max_per_save })
    }
}

/// One observation of a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSighting {
    pub addr: PeerAddr,
    /// The node key, if the source claims one (not verified by saving it).
    pub node_pubkey: Option<PubKey>,
    pub capabilities: Option<Capabilities>,
    /// Whether `capabilities` come from a completed handshake.
    pub capabilities_verified: bool,
    pub source: PeerSource,
}

impl PeerSighting {
    /// A sighting with only an address.
    pub fn new(addr: PeerAddr, source: PeerSource) -> Self {
        PeerSighting { addr, node_pubkey: None, capabilities: None, capabilities_verified: false, source }
    }
}

/// A stored peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRecord {
    pub key: String,
    pub addr: PeerAddr,
    pub node_pubkey: Option<PubKey>,
    pub capabilities: Option<Capabilities>,
    pub capabilities_verified: bool,
    pub source: PeerSource,
    pub first_seen: u64,
    pub last_seen: u64,
    pub last_ok: Option<u64>,
    /// Consecutive failures since the last success.
    pub failures: u32,
}

/// What a save did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerSave {
    /// Sightings written (inserted or updated).
    pub written: usize,
    /// Sightings dropped because the save was over `max_per_save`.
    pub dropped: usize,
    /// Peers evicted to keep the table within `max_peers`.
    pub evicted: usize,
}

fn caps_bits(c: &Capabilities) -> i64 {
    [c.dht, c.store, c.relay, c.content_seed, c.mobile_light].iter().enumerate().map(|(i, b)| (*b as i64) << i).sum()
}

fn caps_from_bits(v: i64) -> Capabilities {
    let bit = |i: u32| v & (1 << i) != 0;
    Capabilities { dht: bit(0), store: bit(1), relay: bit(2), content_seed: bit(3), mobile_light: bit(4) }
}

/// Best first; eviction takes from the other end.
const RANK_BEST: &str = "failures ASC, last_ok DESC NULLS LAST, last_seen DESC, key ASC";
const RANK_WORST: &str = "failures DESC, last_ok ASC NULLS FIRST, last_seen ASC, key DESC";

const COLS: &str =
    "key, addr, node_pubkey, capabilities, caps_verified, source, first_seen, last_seen, last_ok, failures";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PeerRecord> {
    let addr_bytes = r.get_ref(1)?.as_blob()?;
    let addr: PeerAddr =
        cbor::from_slice(addr_bytes).map_err(|e| conv_err(1, Type::Blob, format!("peer address: {e}")))?;
    let source: String = r.get(5)?;
    Ok(PeerRecord {
        key: r.get(0)?,
        addr,
        node_pubkey: col_opt_fixed(r, 2)?.map(PubKey),
        capabilities: r.get::<_, Option<i64>>(3)?.map(caps_from_bits),
        capabilities_verified: r.get(4)?,
        source: PeerSource::parse(&source)
            .ok_or_else(|| conv_err(5, Type::Text, format!("unknown peer source '{source}'")))?,
        first_seen: col_u64(r, 6)?,
        last_seen: col_u64(r, 7)?,
        last_ok: col_opt_u64(r, 8)?,
        failures: u32::try_from(col_u64(r, 9)?).unwrap_or(u32::MAX),
    })
}

fn count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM peers")?.query_row([], |r| col_u64(r, 0))
}

impl Db {
    /// Saves up to `limits.max_per_save` sightings (the rest are dropped), then evicts the
    /// worst peers beyond `limits.max_peers`. One transaction.
    pub fn save_peers(&self, sightings: &[PeerSighting], limits: &PeerLimits) -> Result<PeerSave> {
        let take = sightings.len().min(limits.max_per_save);
        let what = format!("saving {take} peer(s)");
        self.write(&what, |tx| {
            let now = now_int();
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO peers (key, addr, node_pubkey, capabilities, caps_verified, source,
                         first_seen, last_seen, last_ok, failures)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, NULL, 0)
                     ON CONFLICT (key) DO UPDATE SET
                         addr = excluded.addr,
                         node_pubkey = COALESCE(peers.node_pubkey, excluded.node_pubkey),
                         capabilities = CASE WHEN excluded.capabilities IS NOT NULL
                                                  AND (excluded.caps_verified OR NOT peers.caps_verified)
                                             THEN excluded.capabilities ELSE peers.capabilities END,
                         caps_verified = CASE WHEN excluded.capabilities IS NOT NULL
                                                   AND (excluded.caps_verified OR NOT peers.caps_verified)
                                              THEN excluded.caps_verified ELSE peers.caps_verified END,
                         source = excluded.source,
                         last_seen = max(peers.last_seen, excluded.last_seen)",
                )
                .ctx(|| what.clone())?;
            for s in &sightings[..take] {
                let key = s.addr.dedup_key();
                upsert
                    .execute(params![
                        key,
                        cbor::to_vec(&s.addr),
                        s.node_pubkey.as_ref().map(|k| &k.0[..]),
                        s.capabilities.as_ref().map(caps_bits),
                        s.capabilities.is_some() && s.capabilities_verified,
                        s.source.as_str(),
                        now
                    ])
                    .ctx(|| format!("saving peer {key}"))?;
            }
            let total = count(tx).ctx(|| what.clone())?;
            let excess = total.saturating_sub(limits.max_peers as u64);
            let evicted = if excess > 0 {
                tx.prepare_cached(&format!(
                    "DELETE FROM peers WHERE key IN (SELECT key FROM peers ORDER BY {RANK_WORST} LIMIT ?1)"
                ))
                .and_then(|mut s| s.execute([i64::try_from(excess).unwrap_or(i64::MAX)]))
                .ctx(|| "evicting peers over the cap".into())?
            } else {
                0
            };
            Ok(PeerSave { written: take, dropped: sightings.len() - take, evicted })
        })
    }

    /// Records a successful session: failures reset, last_ok and last_seen now, and the
    /// handshake-verified node key and capabilities stored. `false` when the peer is unknown.
    pub fn record_peer_success(
        &self,
        addr: &PeerAddr,
        node_pubkey: Option<PubKey>,
        capabilities: Option<Capabilities>,
    ) -> Result<bool> {
        let key = addr.dedup_key();
        let what = format!("recording a successful contact with peer {key}");
        self.write(&what, |tx| {
            let now = now_int();
            tx.prepare_cached(
                "UPDATE peers SET failures = 0, last_ok = ?1, last_seen = max(last_seen, ?1),
                     node_pubkey = COALESCE(?2, node_pubkey),
                     capabilities = COALESCE(?3, capabilities),
                     caps_verified = CASE WHEN ?3 IS NOT NULL THEN 1 ELSE caps_verified END
                 WHERE key = ?4",
            )
            .and_then(|mut s| {
                s.execute(params![
                    now,
                    node_pubkey.as_ref().map(|k| &k.0[..]),
                    capabilities.as_ref().map(caps_bits),
                    key
                ])
            })
            .map(|n| n > 0)
            .ctx(|| what.clone())
        })
    }

    /// Records a failed contact. `false` when the peer is unknown.
    pub fn record_peer_failure(&self, addr: &PeerAddr) -> Result<bool> {
        let key = addr.dedup_key();
        let what = format!("recording a failed contact with peer {key}");
        self.write(&what, |tx| {
            tx.prepare_cached("UPDATE peers SET failures = min(failures + 1, 1000000) WHERE key = ?1")
                .and_then(|mut s| s.execute([&key]))
                .map(|n| n > 0)
                .ctx(|| what.clone())
        })
    }

    /// The best `n` peers (fewest consecutive failures, most recently successful, most
    /// recently seen).
    pub fn best_peers(&self, n: usize) -> Result<Vec<PeerRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {COLS} FROM peers ORDER BY {RANK_BEST} LIMIT ?1"))
                .ctx(|| "listing peers".into())?;
            stmt.query_map([i64::try_from(n).unwrap_or(i64::MAX)], from_row)
                .and_then(|r| r.collect())
                .ctx(|| "listing peers".into())
        })
    }

    /// One peer by address.
    pub fn peer(&self, addr: &PeerAddr) -> Result<Option<PeerRecord>> {
        let key = addr.dedup_key();
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {COLS} FROM peers WHERE key = ?1"))
                .and_then(|mut s| s.query_row([&key], from_row).optional())
                .ctx(|| format!("reading peer {key}"))
        })
    }

    /// How many peers are stored.
    pub fn peer_count(&self) -> Result<u64> {
        self.read(|c| count(c).ctx(|| "counting peers".into()))
    }

    /// Forgets a peer; `false` when it was not stored.
    pub fn remove_peer(&self, addr: &PeerAddr) -> Result<bool> {
        let key = addr.dedup_key();
        let what = format!("removing peer {key}");
        self.write(&what, |tx| {
            tx.execute("DELETE FROM peers WHERE key = ?1", [&key]).map(|n| n > 0).ctx(|| what.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::wire::Transport;

    fn addr(i: u32) -> PeerAddr {
        PeerAddr::new(std::net::SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 7001)), Transport::Tcp)
    }

    #[test]
    fn capabilities_round_trip_as_bits() {
        let c = Capabilities { dht: true, store: false, relay: true, content_seed: false, mobile_light: true };
        assert_eq!(caps_from_bits(caps_bits(&c)), c);
        assert_eq!(caps_bits(&Capabilities::default()), 0);
    }

    #[test]
    fn upsert_keeps_verified_capabilities_and_known_keys() {
        let db = Db::open_in_memory().unwrap();
        let a = addr(1);
        let relay = Capabilities { relay: true, ..Default::default() };
        let plain = Capabilities { dht: true, ..Default::default() };
        db.save_peers(&[PeerSighting::new(a.clone(), PeerSource::Lan)], &PeerLimits::default()).unwrap();
        assert!(db.record_peer_success(&a, Some(PubKey([1; 32])), Some(plain)).unwrap());
        let spoof = PeerSighting {
            node_pubkey: Some(PubKey([2; 32])),
            capabilities: Some(relay),
            capabilities_verified: false,
            ..PeerSighting::new(a.clone(), PeerSource::Pex)
        };
        db.save_peers(&[spoof], &PeerLimits::default()).unwrap();
        let p = db.peer(&a).unwrap().unwrap();
        assert_eq!(p.capabilities, Some(plain), "unverified relay claim ignored");
        assert!(p.capabilities_verified);
        assert_eq!(p.node_pubkey, Some(PubKey([1; 32])));
        assert_eq!(p.source, PeerSource::Pex);
        assert!(db.record_peer_failure(&a).unwrap());
        assert!(db.record_peer_failure(&a).unwrap());
        assert_eq!(db.peer(&a).unwrap().unwrap().failures, 2);
        assert!(!db.record_peer_failure(&addr(99)).unwrap());
        assert!(db.remove_peer(&a).unwrap());
        assert_eq!(db.peer_count().unwrap(), 0);
        assert!(PeerLimits::new(0, 1).is_err());
    }
}
