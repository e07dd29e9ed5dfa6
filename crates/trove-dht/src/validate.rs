//! Keyspace validation of DHT values, exactly as SCP2P-WIRE.md §8.2 defines it (size cap,
//! trial decoding in a fixed order, key must match), and trove's signature checks on top of
//! it ("Beyond v1": heads, manifests and relay announcements are verified when the key
//! material is known).

use crate::error::DhtError;
use trove_proto::dht_key;
use trove_proto::limits::MAX_DHT_VALUE_BYTES;
use trove_proto::wire::{CommunityMembers, Manifest, Payload, Providers, RelayAnnouncement, ShareHead};
use trove_proto::{DhtKey, PubKey};

/// The five kinds of value the DHT holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Keyspace {
    /// A signed share head at the share head key.
    ShareHead,
    /// A content's provider list at the content provider key.
    Providers,
    /// A whole ManifestV1 at the manifest location key.
    Manifest,
    /// A relay announcement at one of its rendezvous keys.
    RelayAnnouncement,
    /// A community's member list at the community info key.
    CommunityMembers,
}

impl Keyspace {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Keyspace::ShareHead => "share head",
            Keyspace::Providers => "provider list",
            Keyspace::Manifest => "manifest",
            Keyspace::RelayAnnouncement => "relay announcement",
            Keyspace::CommunityMembers => "community member list",
        }
    }
}

/// A value that passed keyspace validation, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    ShareHead(ShareHead),
    Providers(Providers),
    Manifest(Box<Manifest>),
    RelayAnnouncement(Box<RelayAnnouncement>),
    CommunityMembers(CommunityMembers),
}

impl Record {
    /// Which keyspace the record belongs to.
    pub fn keyspace(&self) -> Keyspace {
        match self {
            Record::ShareHead(_) => Keyspace::ShareHead,
            Record::Providers(_) => Keyspace::Providers,
            Record::Manifest(_) => Keyspace::Manifest,
            Record::RelayAnnouncement(_) => Keyspace::RelayAnnouncement,
            Record::CommunityMembers(_) => Keyspace::CommunityMembers,
        }
    }
}

/// Validates `value` for `key` per SCP2P-WIRE.md §8.2: values over 65,536 bytes are refused;
/// otherwise the bytes are trial-decoded as ShareHead, Providers, ManifestV1,
/// RelayAnnouncement and CommunityMembers in that order, the first type that decodes decides,
/// and the key must be that record's key (relay announcements must also carry a valid
/// signature, as in v1). Signatures of heads and manifests are not checked here; see
/// [`authenticate`].
pub fn validate_value(key: &DhtKey, value: &[u8]) -> Result<Record, DhtError> {
    if value.len() > MAX_DHT_VALUE_BYTES {
        return Err(DhtError::ValueTooLarge { key: *key, len: value.len() });
    }
    let wrong = |what: Keyspace, expected: String| DhtError::NoKeyspace {
        key: *key,
        reason: format!("the value is a {} that belongs at {expected}", what.name()),
    };
    if let Ok(head) = ShareHead::from_payload(value) {
        let k = dht_key::share_head(&head.share_id);
        return if k == *key { Ok(Record::ShareHead(head)) } else { Err(wrong(Keyspace::ShareHead, k.to_hex())) };
    }
    if let Ok(p) = Providers::from_payload(value) {
        let k = dht_key::content_providers(&p.content_id);
        return if k == *key { Ok(Record::Providers(p)) } else { Err(wrong(Keyspace::Providers, k.to_hex())) };
    }
    if let Ok(m) = Manifest::from_bytes(value) {
        let k = dht_key::manifest_loc(&m.manifest_id());
        return if k == *key { Ok(Record::Manifest(Box::new(m))) } else { Err(wrong(Keyspace::Manifest, k.to_hex())) };
    }
    if let Ok(a) = RelayAnnouncement::from_payload(value) {
        if let Err(e) = a.validate() {
            return Err(DhtError::NoKeyspace { key: *key, reason: e.to_string() });
        }
        return if a.matches_rendezvous_key(key) {
            Ok(Record::RelayAnnouncement(Box::new(a)))
        } else {
            Err(DhtError::NoKeyspace {
                key: *key,
                reason: format!(
                    "the value is a relay announcement of {} whose rendezvous keys for bucket {} (±1) do not include this key",
                    a.relay_pubkey.short(),
                    dht_key::relay_bucket(a.issued_at)
                ),
            })
        };
    }
    if let Ok(c) = CommunityMembers::from_payload(value) {
        let k = dht_key::community_info(&c.community_share_id);
        return if k == *key {
            Ok(Record::CommunityMembers(c))
        } else {
            Err(wrong(Keyspace::CommunityMembers, k.to_hex()))
        };
    }
    Err(DhtError::NoKeyspace {
        key: *key,
        reason: format!("{} bytes that decode as none of the five value types", value.len()),
    })
}

/// How far a validated record could be authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authenticity {
    /// Signed, and the signature verifies with this key.
    Verified(PubKey),
    /// Unsigned by design (providers, members) or signed with a key nobody here knows (a v1
    /// head without the `share_pubkey` extension, and no known share key).
    Unverified,
}

impl Authenticity {
    /// Whether the record is verified.
    pub fn is_verified(&self) -> bool {
        matches!(self, Authenticity::Verified(_))
    }
}

/// Checks the signature of a validated record (trove's rules beyond v1). Share heads are
/// verified with `known_share_key` when given, else with their `share_pubkey` extension key
/// when present; either key must hash to the share id. Manifests are verified (signature,
/// key binding and expiry at `now`). Relay announcements were verified by
/// [`validate_value`]. Providers and member lists are unsigned. A record that fails its
/// check is [`DhtError::Forged`].
pub fn authenticate(
    key: &DhtKey,
    record: &Record,
    known_share_key: Option<&PubKey>,
    now: u64,
) -> Result<Authenticity, DhtError> {
    let forged = |reason: String| DhtError::Forged { key: *key, reason };
    match record {
        Record::ShareHead(h) => {
            let Some(pk) = known_share_key.or(h.share_pubkey.as_ref()) else {
                return Ok(Authenticity::Unverified);
            };
            h.verify(pk).map_err(|e| forged(e.to_string()))?;
            // The embedded key must be the share's key too; it hashes to the id or it lies.
            if let Some(ext) = &h.share_pubkey
                && ext != pk
            {
                return Err(forged(format!("head carries share_pubkey {} of another share", ext.short())));
            }
            Ok(Authenticity::Verified(*pk))
        }
        Record::Manifest(m) => {
            m.verify_at(now).map_err(|e| forged(e.to_string()))?;
            Ok(Authenticity::Verified(m.share_pubkey))
        }
        Record::RelayAnnouncement(a) => Ok(Authenticity::Verified(a.relay_pubkey)),
        Record::Providers(_) | Record::CommunityMembers(_) => Ok(Authenticity::Unverified),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use trove_proto::Keypair;
    use trove_proto::wire::{BandwidthClass, Capabilities, Item, PeerAddr, RelayCapacity, Transport, Visibility};
    use trove_proto::{ContentId, ManifestId, ShareId};

    fn addr(s: &str) -> PeerAddr {
        PeerAddr::new(s.parse::<SocketAddr>().unwrap(), Transport::Tcp)
    }

    pub(crate) fn manifest(share: &Keypair, seq: u64) -> Manifest {
        let mut m = Manifest {
            version: 1,
            share_pubkey: share.public(),
            share_id: share.share_id(),
            seq,
            created_at: 1_700_000_000,
            expires_at: None,
            title: Some("t".into()),
            description: None,
            visibility: Visibility::Public,
            communities: vec![],
            items: vec![Item {
                content_id: ContentId([7; 32]),
                size: 3,
                name: "a".into(),
                path: None,
                mime: None,
                tags: vec![],
                chunk_count: 1,
                chunk_list_hash: [8; 32],
            }],
            recommended_shares: vec![],
            signature: None,
        };
        m.sign(share);
        m
    }

    fn relay(key: &Keypair, issued: u64) -> RelayAnnouncement {
        RelayAnnouncement::sign(
            key,
            vec![addr("203.0.113.9:7001")],
            Capabilities { relay: true, ..Default::default() },
            RelayCapacity { max_tunnels: 64, bandwidth_class: BandwidthClass::Medium, max_bytes_per_tunnel: None },
            issued,
            issued + 3600,
        )
    }

    #[test]
    fn every_keyspace_validates_at_its_key_and_fails_elsewhere() {
        let share = Keypair::from_seed([1; 32]);
        let other = DhtKey([0xee; 32]);

        let head = ShareHead::sign(&share, 3, ManifestId([2; 32]), 10);
        let hk = dht_key::share_head(&share.share_id());
        assert_eq!(validate_value(&hk, &head.to_payload()).unwrap().keyspace(), Keyspace::ShareHead);
        let e = validate_value(&other, &head.to_payload()).unwrap_err();
        assert_eq!(e.wire_text(), "DHT value does not match any recognized keyspace");
        assert!(e.to_string().contains("share head"), "{e}");

        let prov = Providers { content_id: ContentId([3; 32]), providers: vec![addr("10.0.0.5:7001")], updated_at: 1 };
        let pk = dht_key::content_providers(&prov.content_id);
        assert_eq!(validate_value(&pk, &prov.to_payload()).unwrap().keyspace(), Keyspace::Providers);
        assert!(validate_value(&hk, &prov.to_payload()).is_err());

        let m = manifest(&share, 1);
        let mk = dht_key::manifest_loc(&m.manifest_id());
        assert_eq!(validate_value(&mk, &m.to_bytes()).unwrap().keyspace(), Keyspace::Manifest);
        assert!(validate_value(&pk, &m.to_bytes()).is_err());

        let rk = Keypair::from_seed([6; 32]);
        let a = relay(&rk, 1_700_000_000);
        let b = dht_key::relay_bucket(a.issued_at);
        for bucket in [b - 1, b, b + 1] {
            for k in dht_key::relay_rendezvous_keys(&rk.public(), bucket) {
                assert_eq!(validate_value(&k, &a.to_payload()).unwrap().keyspace(), Keyspace::RelayAnnouncement);
            }
        }
        let far = dht_key::relay_rendezvous_keys(&rk.public(), b + 2)[0];
        if !a.matches_rendezvous_key(&far) {
            assert!(validate_value(&far, &a.to_payload()).is_err());
        }
        let mut bad = a.clone();
        bad.issued_at += 1;
        let k = dht_key::relay_rendezvous_keys(&rk.public(), b)[0];
        assert!(validate_value(&k, &bad.to_payload()).unwrap_err().to_string().contains("relay announcement"));

        let c = CommunityMembers { community_share_id: ShareId([4; 32]), members: vec![], updated_at: 2 };
        let ck = dht_key::community_info(&c.community_share_id);
        assert_eq!(validate_value(&ck, &c.to_payload()).unwrap().keyspace(), Keyspace::CommunityMembers);
        assert!(validate_value(&hk, &c.to_payload()).is_err());
    }

    #[test]
    fn size_limit_and_garbage_use_the_v1_texts() {
        let k = DhtKey([1; 32]);
        let e = validate_value(&k, &vec![0u8; 65_537]).unwrap_err();
        assert_eq!(e.wire_text(), "dht value exceeds 64KiB");
        assert!(e.to_string().starts_with("dht value exceeds 64KiB") && e.to_string().contains("65537"));
        // Exactly 64 KiB is not "too large"; it is garbage here.
        let e = validate_value(&k, &vec![0u8; 65_536]).unwrap_err();
        assert_eq!(e.wire_text(), "DHT value does not match any recognized keyspace");
        assert!(matches!(validate_value(&k, &[]), Err(DhtError::NoKeyspace { .. })));
        assert!(matches!(validate_value(&k, &[0xa0]), Err(DhtError::NoKeyspace { .. })));
    }

    #[test]
    fn the_first_type_that_decodes_decides() {
        // A map that is both a head and a provider list is judged as a head, so it fails at
        // the provider key even though its provider part matches there.
        let share = Keypair::from_seed([1; 32]);
        let head = ShareHead::sign(&share, 3, ManifestId([2; 32]), 10);
        let content = ContentId([3; 32]);
        let mut bytes = head.without_extension().to_payload();
        // Append `content_id` and `providers` to the 5-entry head map (0xa5 → 0xa7); the
        // head's `updated_at` completes the provider list.
        assert_eq!(bytes[0], 0xa5);
        bytes[0] = 0xa7;
        bytes.extend(trove_proto::cbor::build(|e| {
            e.str("content_id")?;
            trove_proto::cbor::write_int_array(e, &content.0)?;
            e.str("providers")?.array(0)?;
            Ok(())
        }));
        assert!(Providers::from_payload(&bytes).is_ok());
        let e = validate_value(&dht_key::content_providers(&content), &bytes).unwrap_err();
        assert!(e.to_string().contains("share head"), "{e}");
        assert!(validate_value(&dht_key::share_head(&share.share_id()), &bytes).is_ok());
    }

    #[test]
    fn authentication_of_heads_and_manifests() {
        let share = Keypair::from_seed([1; 32]);
        let hk = dht_key::share_head(&share.share_id());
        let head = ShareHead::sign(&share, 3, ManifestId([2; 32]), 10);
        let rec = Record::ShareHead(head.clone());
        assert_eq!(authenticate(&hk, &rec, None, 0).unwrap(), Authenticity::Verified(share.public()));
        let v1 = Record::ShareHead(head.without_extension());
        assert_eq!(authenticate(&hk, &v1, None, 0).unwrap(), Authenticity::Unverified);
        assert!(authenticate(&hk, &v1, Some(&share.public()), 0).unwrap().is_verified());
        // Forged: seq raised to the maximum, signature unchanged.
        let mut forged = head.clone();
        forged.latest_seq = u64::MAX;
        assert!(matches!(authenticate(&hk, &Record::ShareHead(forged.clone()), None, 0), Err(DhtError::Forged { .. })));
        forged.share_pubkey = None;
        assert!(authenticate(&hk, &Record::ShareHead(forged), Some(&share.public()), 0).is_err());
        // A known key of another share is refused.
        let other = Keypair::from_seed([2; 32]);
        assert!(authenticate(&hk, &v1, Some(&other.public()), 0).is_err());

        let mut m = manifest(&share, 1);
        let mk = dht_key::manifest_loc(&m.manifest_id());
        assert!(authenticate(&mk, &Record::Manifest(Box::new(m.clone())), None, 0).unwrap().is_verified());
        m.title = Some("changed".into());
        assert!(authenticate(&mk, &Record::Manifest(Box::new(m)), None, 0).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), k in proptest::prelude::any::<[u8; 32]>()) {
            let key = DhtKey(k);
            if let Ok(r) = validate_value(&key, &bytes) {
                let _ = authenticate(&key, &r, None, 0);
            }
        }
    }
}
