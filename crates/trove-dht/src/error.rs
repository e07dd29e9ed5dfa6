//! The error type of `trove-dht`. Each variant names what was wrong and with which input;
//! [`DhtError::wire_text`] gives the text sent back to the peer in an error envelope, in the
//! reference's wording where the reference has one (SCP2P-WIRE.md §8.2).

use thiserror::Error;
use trove_proto::{DhtKey, ShareId};

/// Why a DHT operation was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DhtError {
    /// A STORE value larger than 65,536 bytes.
    #[error("dht value exceeds 64KiB: key {key}: {len} bytes")]
    ValueTooLarge { key: DhtKey, len: usize },
    /// A value that does not decode as any keyspace type, or decodes but belongs at
    /// another key.
    #[error("DHT value does not match any recognized keyspace: key {key}: {reason}")]
    NoKeyspace { key: DhtKey, reason: String },
    /// A signed record that fails verification: its signature does not verify, its key
    /// belongs to another share, or (manifests) it has expired.
    #[error("DHT record at key {key} fails verification: {reason}")]
    Forged { key: DhtKey, reason: String },
    /// A verified share head older than the verified head already stored.
    #[error(
        "stale share head for share {share}: seq {seq} updated_at {updated_at} is older than the stored \
         seq {stored_seq} updated_at {stored_updated_at}"
    )]
    StaleHead { share: ShareId, seq: u64, updated_at: u64, stored_seq: u64, stored_updated_at: u64 },
    /// A head that cannot be verified offered in place of a verified one.
    #[error(
        "share head for share {share} seq {seq} is unverified and cannot replace the verified head seq {stored_seq}"
    )]
    UnverifiedHead { share: ShareId, seq: u64, stored_seq: u64 },
    /// A share head that cannot be verified, refused in strict mode.
    #[error("share head for share {share} seq {seq} cannot be verified: no share key is known and it carries none")]
    Unverifiable { share: ShareId, seq: u64 },
    /// A provider or member list in which no entry is admissible from this source.
    #[error("no acceptable entries in the {what} at key {key}: {reason}")]
    NoAcceptableEntries { what: &'static str, key: DhtKey, reason: String },
    /// The store is at its count or byte budget and the new record was the first to go.
    #[error("dht store is full: record at key {key} ({bytes} bytes) would be evicted first")]
    StoreFull { key: DhtKey, bytes: usize },
    /// The storing source is at its quota and the new record was its first to go.
    #[error("dht storage quota exceeded by source {source_id}: record at key {key} would be evicted first")]
    QuotaExceeded { key: DhtKey, source_id: String },
}

impl DhtError {
    /// The text for the error envelope sent back to the requesting peer: the reference's
    /// exact wording for the two errors it defines, a short stable text for trove's own.
    pub fn wire_text(&self) -> String {
        match self {
            DhtError::ValueTooLarge { .. } => "dht value exceeds 64KiB".into(),
            DhtError::NoKeyspace { .. } => "DHT value does not match any recognized keyspace".into(),
            DhtError::Forged { .. } => "dht record fails verification".into(),
            DhtError::StaleHead { .. } => "dht share head is older than the stored head".into(),
            DhtError::UnverifiedHead { .. } => "dht share head is unverified; a verified head is stored".into(),
            DhtError::Unverifiable { .. } => "dht share head cannot be verified".into(),
            DhtError::NoAcceptableEntries { what, .. } => format!("dht {what} has no acceptable entries"),
            DhtError::StoreFull { .. } => "dht store is full".into(),
            DhtError::QuotaExceeded { .. } => "dht storage quota exceeded".into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = DhtError> = std::result::Result<T, E>;
