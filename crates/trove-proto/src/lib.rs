//! `trove-proto`: the SCP2P v1 protocol as data. Identities and ids, keys and signatures,
//! content hashing and chunking, DHT key derivation, every wire structure with its
//! byte-exact CBOR codec, share links, and the protocol's limits. No I/O, no async.

pub mod cbor;
pub mod content;
pub mod content_tree;
pub mod dht_key;
pub mod error;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod link;
pub mod wire;

pub use error::{ProtoError, Result};
pub use ids::{ContentId, DhtKey, ManifestId, NodeId, PubKey, ShareId, Sig};
pub use keys::Keypair;
pub use link::ShareLink;
