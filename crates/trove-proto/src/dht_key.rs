//! DHT key derivations (SCP2P-WIRE.md §6): share heads, manifest locations, content
//! providers, community info and relay rendezvous keys.

use crate::ids::{ContentId, DhtKey, ManifestId, PubKey, ShareId};
use sha2::{Digest, Sha256};

fn prefixed(prefix: &[u8], id: &[u8]) -> DhtKey {
    let mut h = Sha256::new();
    h.update(prefix);
    h.update(id);
    DhtKey(h.finalize().into())
}

/// Key of a share's signed head.
pub fn share_head(share: &ShareId) -> DhtKey {
    prefixed(b"share:head:", &share.0)
}

/// Key at which the manifest itself is stored.
pub fn manifest_loc(manifest: &ManifestId) -> DhtKey {
    prefixed(b"manifest:loc:", &manifest.0)
}

/// Key of a content's provider list.
pub fn content_providers(content: &ContentId) -> DhtKey {
    prefixed(b"content:prov:", &content.0)
}

/// Key of a community's member list.
pub fn community_info(community: &ShareId) -> DhtKey {
    prefixed(b"community:info:", &community.0)
}

/// Number of rendezvous slots per hour bucket.
pub const RELAY_RENDEZVOUS_SLOTS: u64 = 16;

/// Hour bucket of a unix time.
pub fn relay_bucket(unix_secs: u64) -> u64 {
    unix_secs / 3600
}

/// Rendezvous slot index (0..16) of a relay key for a bucket and `which` ∈ {0, 1}.
pub fn relay_rendezvous_index(relay: &PubKey, bucket: u64, which: u8) -> u64 {
    let mut h = Sha256::new();
    h.update(relay.0);
    h.update(bucket.to_be_bytes());
    h.update([which]);
    let d = h.finalize();
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&d[24..32]);
    u64::from_be_bytes(tail) % RELAY_RENDEZVOUS_SLOTS
}

/// Rendezvous key for a bucket and slot index.
pub fn relay_rendezvous(bucket: u64, index: u64) -> DhtKey {
    let mut h = Sha256::new();
    h.update(b"scp2p:relay:rendezvous");
    h.update(bucket.to_be_bytes());
    h.update(index.to_be_bytes());
    DhtKey(h.finalize().into())
}

/// The two rendezvous keys a relay announces itself under in a bucket.
pub fn relay_rendezvous_keys(relay: &PubKey, bucket: u64) -> [DhtKey; 2] {
    [0u8, 1].map(|which| relay_rendezvous(bucket, relay_rendezvous_index(relay, bucket, which)))
}
