//! Properties of the community extension (docs/PROTOCOL.md §6), proptest:
//! - records and messages round-trip (encode → decode → equal → same bytes) and every strict
//!   prefix of an encoding fails to decode;
//! - no decoder panics on arbitrary bytes or on mutations of valid encodings, and whatever
//!   decodes re-encodes to something that decodes to the same value;
//! - flipping any bit of a signed record's encoding never yields a record that verifies
//!   with different contents (TEST-MATRIX IN-5);
//! - a sealed cursor opens only unchanged, for its community and server secret.

use proptest::collection::vec as pvec;
use proptest::option::of as popt;
use proptest::prelude::*;
use trove_proto::wire::*;
use trove_proto::{Keypair, ManifestId, ShareId, cbor};

fn addr() -> impl Strategy<Value = PeerAddr> {
    (any::<[u8; 4]>(), any::<u16>(), any::<bool>()).prop_map(|(ip, port, quic)| {
        PeerAddr::new((ip, port).into(), if quic { Transport::Quic } else { Transport::Tcp })
    })
}

fn member() -> impl Strategy<Value = MemberRecord> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        0u64..1 << 40,
        1u64..100_000,
        any::<bool>(),
        pvec(addr(), 0..4),
    )
        .prop_flat_map(|(seed, c, seq, at, life, left, addrs)| {
            popt(pvec(any::<u8>(), 0..40)).prop_map(move |token| {
                let k = Keypair::from_seed(seed);
                MemberRecord::sign(&k, ShareId(c), seq, at, at + life, left, addrs.clone(), token)
            })
        })
}

fn share() -> impl Strategy<Value = ShareRecord> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        0u64..1 << 40,
        1u64..100_000,
        any::<bool>(),
        popt("\\PC{0,12}"),
        popt("\\PC{0,12}"),
        popt(any::<[u8; 32]>()),
    )
        .prop_map(|(seed, c, seq, mid, at, life, w, title, desc, publisher)| {
            let k = Keypair::from_seed(seed);
            ShareRecord::sign(
                &k,
                ShareId(c),
                seq,
                ManifestId(mid),
                at,
                at + life,
                w,
                title.as_deref(),
                desc.as_deref(),
                publisher.map(trove_proto::PubKey),
            )
        })
}

fn check<T>(v: &T) -> Result<(), TestCaseError>
where
    T: minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + std::fmt::Debug,
{
    let bytes = cbor::to_vec(v);
    let back: T = cbor::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, v);
    prop_assert_eq!(cbor::to_vec(&back), bytes.clone());
    for cut in 0..bytes.len() {
        prop_assert!(cbor::from_slice::<T>(&bytes[..cut]).is_err(), "prefix of {} bytes decodes", cut);
    }
    Ok(())
}

/// Decodes `data` as every community type; what decodes must round-trip.
fn decode_all(data: &[u8]) {
    fn one<T>(data: &[u8])
    where
        T: minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + std::fmt::Debug,
    {
        if let Ok(v) = cbor::from_slice::<T>(data) {
            let again: T = cbor::from_slice(&cbor::to_vec(&v)).expect("re-encoding decodes");
            assert_eq!(again, v);
        }
    }
    one::<MemberRecord>(data);
    one::<ShareRecord>(data);
    one::<GetCommunityRecords>(data);
    one::<CommunityRecords>(data);
    one::<PutCommunityRecords>(data);
    one::<CommunityRecordsAccepted>(data);
    let _ = AnyRequest::decode_ext(MsgType::GET_COMMUNITY_RECORDS, data, true);
    let _ = AnyRequest::decode_ext(MsgType::PUT_COMMUNITY_RECORDS, data, true);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn member_records_round_trip(r in member()) {
        check(&r)?;
        prop_assert!(r.verify(None).is_ok());
    }

    #[test]
    fn share_records_round_trip(r in share()) {
        check(&r)?;
        prop_assert!(r.verify(None).is_ok());
    }

    #[test]
    fn messages_round_trip(
        m in pvec(member(), 0..3),
        s in pvec(share(), 0..3),
        c in any::<[u8; 32]>(),
        cursor in popt(pvec(any::<u8>(), 0..40)),
        token in popt(pvec(any::<u8>(), 0..40)),
        n in any::<(u8, u32, bool)>(),
    ) {
        let pk = Keypair::from_seed(c).public();
        check(&GetCommunityRecords { community: ShareId(c), community_pubkey: pk, kinds: n.0, cursor: cursor.clone(), limit: n.1, token: token.clone() })?;
        check(&CommunityRecords { community: ShareId(c), members: m.clone(), shares: s.clone(), next: cursor.unwrap_or_default(), more: n.2 })?;
        check(&PutCommunityRecords { community: ShareId(c), community_pubkey: pk, members: m, shares: s, token })?;
        check(&CommunityRecordsAccepted { accepted: n.1, rejected: n.1 / 2 })?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in pvec(any::<u8>(), 0..512)) {
        decode_all(&data);
    }

    #[test]
    fn mutations_never_panic_and_never_forge(r in member(), s in share(), flips in pvec((any::<usize>(), 0u8..8), 1..4)) {
        for bytes in [cbor::to_vec(&r), cbor::to_vec(&s)] {
            let mut m = bytes.clone();
            for (i, bit) in &flips {
                let i = i % m.len();
                m[i] ^= 1 << bit;
            }
            decode_all(&m);
            if let Ok(x) = cbor::from_slice::<MemberRecord>(&m) {
                prop_assert!(x == r || x.verify(None).is_err(), "a changed member record verifies");
            }
            if let Ok(x) = cbor::from_slice::<ShareRecord>(&m) {
                prop_assert!(x == s || x.verify(None).is_err(), "a changed share record verifies");
            }
        }
    }

    #[test]
    fn cursors_open_only_unchanged(secret in any::<[u8; 32]>(), c in any::<[u8; 32]>(), kinds in 1u8..4, rev in any::<u64>(), flip in any::<(usize, u8)>()) {
        let cur = RecordCursor { kinds, after_rev: rev };
        let sealed = cur.seal(&secret, &ShareId(c));
        prop_assert_eq!(RecordCursor::open(&sealed, &secret, &ShareId(c)).unwrap(), cur);
        let mut t = sealed.clone();
        let i = flip.0 % t.len();
        t[i] ^= 1 << (flip.1 % 8);
        prop_assert!(RecordCursor::open(&t, &secret, &ShareId(c)).is_err());
        let mut other = c;
        other[0] ^= 1;
        prop_assert!(RecordCursor::open(&sealed, &secret, &ShareId(other)).is_err());
    }
}
