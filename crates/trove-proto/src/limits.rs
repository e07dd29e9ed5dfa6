//! Hard limits of SCP2P v1 (SCP2P-WIRE.md §1.5, §7, §8) and trove's own caps. Decoders check
//! them before allocating.

/// Largest handshake frame body.
pub const HANDSHAKE_MAX_BYTES: usize = 65_536;
/// Largest envelope frame body.
pub const MAX_ENVELOPE_BYTES: usize = 2_097_152;
/// Largest envelope payload after decoding.
pub const MAX_ENVELOPE_PAYLOAD_BYTES: usize = 1_048_576;
/// Largest DHT value.
pub const MAX_DHT_VALUE_BYTES: usize = 65_536;
/// Items a v1 manifest may carry (publish and GET_MANIFEST checks).
pub const MAX_MANIFEST_ITEMS_V1: usize = 3_000;
/// Sum of chunk counts a v1 manifest may carry.
pub const MAX_MANIFEST_CHUNKS_V1: u64 = 100_000;
/// Items a manifest may carry between trove peers (paged manifests).
pub const MAX_MANIFEST_ITEMS: usize = 1_000_000;
/// Size of one content chunk.
pub const CHUNK_SIZE: usize = 262_144;
/// Largest number of PeerAddr entries accepted in any one list.
pub const MAX_PEERS_PER_LIST: usize = 4_096;
/// Largest number of tags on one item.
pub const MAX_TAGS_PER_ITEM: usize = 256;
/// Longest text field (titles, names, paths, tags, descriptions).
pub const MAX_TEXT_BYTES: usize = 65_536;
/// Most community ids or recommended shares in one manifest.
pub const MAX_ID_LIST: usize = 4_096;
/// Most entries in listing responses (public shares, relay announcements).
pub const MAX_LIST_ENTRIES: usize = 65_535;
/// Allowed clock difference for handshake timestamps.
pub const HANDSHAKE_MAX_SKEW_SECS: u64 = 300;
/// The only protocol version of SCP2P v1.
pub const PROTOCOL_VERSION: u16 = 1;
/// Most chunk hashes one v1 CHUNK_HASH_LIST can carry (an A32 takes at least 34 bytes).
pub const MAX_CHUNK_HASHES_V1: usize = MAX_ENVELOPE_PAYLOAD_BYTES / 34;
/// Longest relay announcement validity.
pub const RELAY_ANNOUNCEMENT_MAX_TTL_SECS: u64 = 21_600;
/// DHT TTL bounds applied on STORE.
pub const DHT_DEFAULT_TTL_SECS: u64 = 86_400;
/// Longest DHT TTL.
pub const DHT_MAX_TTL_SECS: u64 = 604_800;
