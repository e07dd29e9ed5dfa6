//! Helpers shared by the integration tests: hex, the vectors file, builders that turn a
//! vector's `fields` object into typed values, and a tiny raw-CBOR writer for hand-made
//! (hostile or unusual) inputs. Every builder checks that it understood every key of the
//! object it was given, so a vector that gains a field fails loudly instead of being ignored.

#![allow(dead_code)]

use serde_json::{Map, Value};
use std::net::IpAddr;
use std::sync::OnceLock;
use trove_proto::cbor;
use trove_proto::ids::{ContentId, DhtKey, ManifestId, NodeId, PubKey, ShareId};
use trove_proto::wire::{
    BandwidthClass, BlocklistRules, Capabilities, CommunityMembers, HandshakeHello, Item, LanPacket, Manifest,
    PeerAddr, RelayCapacity, RelayRoute, Transport, Visibility,
};

// ---------------------------------------------------------------- hex

/// Decodes hex, naming the bad input on failure.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// Decodes hex into a fixed-size array.
pub fn ha<const N: usize>(s: &str) -> [u8; N] {
    h(s).try_into().unwrap_or_else(|v: Vec<u8>| panic!("{s:?}: expected {N} bytes, got {}", v.len()))
}

/// Lowercase hex.
pub fn hexs(b: &[u8]) -> String {
    hex::encode(b)
}

// ---------------------------------------------------------------- the vectors file

/// The parsed vectors file.
pub fn vectors() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| serde_json::from_str(include_str!("../../../../testdata/vectors.json")).expect("vectors.json"))
}

/// The entries of one top-level group.
pub fn group(name: &str) -> &'static [Value] {
    vectors()[name].as_array().unwrap_or_else(|| panic!("vectors.json: group {name} is not a list"))
}

/// One named entry of a group.
pub fn entry(group_name: &str, name: &str) -> &'static Value {
    group(group_name)
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("vectors.json: no entry {name} in {group_name}"))
}

/// The object at `v`, after checking that it has no key outside `known`.
pub fn obj<'a>(v: &'a Value, known: &[&str]) -> &'a Map<String, Value> {
    let m = v.as_object().unwrap_or_else(|| panic!("expected an object, got {v}"));
    for k in m.keys() {
        assert!(known.contains(&k.as_str()), "unhandled key `{k}` in {v}");
    }
    m
}

/// A required string.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

/// A required unsigned integer.
pub fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("`{key}` is not an unsigned integer in {v}"))
}

/// A required boolean.
pub fn b(v: &Value, key: &str) -> bool {
    v[key].as_bool().unwrap_or_else(|| panic!("`{key}` is not a boolean in {v}"))
}

/// Required hex bytes.
pub fn x(v: &Value, key: &str) -> Vec<u8> {
    h(s(v, key))
}

/// Required hex bytes of a fixed size.
pub fn xa<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    ha(s(v, key))
}

/// A value that may be null or absent.
pub fn opt<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// A list of hex strings as fixed-size arrays.
pub fn hex_list<const N: usize>(v: &Value, key: &str) -> Vec<[u8; N]> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` is not a list in {v}"))
        .iter()
        .map(|e| ha(e.as_str().expect("hex string")))
        .collect()
}

pub fn share_id(v: &Value, key: &str) -> ShareId {
    ShareId(xa(v, key))
}
pub fn pubkey(v: &Value, key: &str) -> PubKey {
    PubKey(xa(v, key))
}
pub fn content_id(v: &Value, key: &str) -> ContentId {
    ContentId(xa(v, key))
}
pub fn manifest_id(v: &Value, key: &str) -> ManifestId {
    ManifestId(xa(v, key))
}
pub fn dht_key(v: &Value, key: &str) -> DhtKey {
    DhtKey(xa(v, key))
}
pub fn node_id(v: &Value, key: &str) -> NodeId {
    NodeId(xa(v, key))
}

// ---------------------------------------------------------------- typed values from `fields`

/// Capabilities from `{dht, store, relay, content_seed, mobile_light}`.
pub fn capabilities(v: &Value) -> Capabilities {
    obj(v, &["dht", "store", "relay", "content_seed", "mobile_light"]);
    Capabilities {
        dht: b(v, "dht"),
        store: b(v, "store"),
        relay: b(v, "relay"),
        content_seed: b(v, "content_seed"),
        mobile_light: b(v, "mobile_light"),
    }
}

/// A PeerAddr from `{ip, port, transport, pubkey_hint, relay_via?}` (textual IP).
pub fn peer_addr(v: &Value) -> PeerAddr {
    obj(v, &["ip", "port", "transport", "pubkey_hint", "relay_via"]);
    let ip: IpAddr = s(v, "ip").parse().unwrap_or_else(|e| panic!("bad ip in {v}: {e}"));
    let transport = match s(v, "transport") {
        "tcp" => Transport::Tcp,
        "quic" => Transport::Quic,
        t => panic!("unknown transport {t}"),
    };
    let relay_via = opt(v, "relay_via").map(|r| {
        obj(r, &["relay_addr", "slot_id"]);
        Box::new(RelayRoute { relay_addr: peer_addr(&r["relay_addr"]), slot_id: u(r, "slot_id") })
    });
    PeerAddr {
        ip,
        port: u(v, "port") as u16,
        transport,
        pubkey_hint: opt(v, "pubkey_hint").map(|k| PubKey(ha(k.as_str().unwrap()))),
        relay_via,
    }
}

/// A list of PeerAddr.
pub fn peer_list(v: &Value, key: &str) -> Vec<PeerAddr> {
    v[key].as_array().unwrap_or_else(|| panic!("`{key}` is not a list in {v}")).iter().map(peer_addr).collect()
}

/// A manifest item from its fields.
pub fn item(v: &Value) -> Item {
    obj(v, &["content_id", "size", "name", "path", "mime", "tags", "chunk_count", "chunk_list_hash"]);
    Item {
        content_id: content_id(v, "content_id"),
        size: u(v, "size"),
        name: s(v, "name").to_owned(),
        path: opt(v, "path").map(|p| p.as_str().unwrap().to_owned()),
        mime: opt(v, "mime").map(|p| p.as_str().unwrap().to_owned()),
        tags: v["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect(),
        chunk_count: u(v, "chunk_count") as u32,
        chunk_list_hash: xa(v, "chunk_list_hash"),
    }
}

/// An unsigned manifest from its fields.
pub fn manifest(v: &Value) -> Manifest {
    obj(
        v,
        &[
            "version",
            "share_pubkey",
            "share_id",
            "seq",
            "created_at",
            "expires_at",
            "title",
            "description",
            "visibility",
            "communities",
            "items",
            "recommended_shares",
        ],
    );
    Manifest {
        version: u(v, "version") as u8,
        share_pubkey: pubkey(v, "share_pubkey"),
        share_id: share_id(v, "share_id"),
        seq: u(v, "seq"),
        created_at: u(v, "created_at"),
        expires_at: opt(v, "expires_at").map(|e| e.as_u64().unwrap()),
        title: opt(v, "title").map(|t| t.as_str().unwrap().to_owned()),
        description: opt(v, "description").map(|t| t.as_str().unwrap().to_owned()),
        visibility: match s(v, "visibility") {
            "private" => Visibility::Private,
            "public" => Visibility::Public,
            o => panic!("unknown visibility {o}"),
        },
        communities: hex_list(v, "communities").into_iter().map(ShareId).collect(),
        items: v["items"].as_array().unwrap().iter().map(item).collect(),
        recommended_shares: hex_list(v, "recommended_shares").into_iter().map(ShareId).collect(),
        signature: None,
    }
}

/// A handshake hello from its fields (without the signature, which the caller supplies).
pub fn hello(v: &Value, signature: [u8; 64]) -> HandshakeHello {
    obj(
        v,
        &[
            "node_pubkey",
            "capabilities",
            "nonce",
            "echoed_nonce",
            "timestamp_unix_secs",
            "protocol_version",
            "ephemeral_pubkey",
        ],
    );
    HandshakeHello {
        node_pubkey: pubkey(v, "node_pubkey"),
        capabilities: capabilities(&v["capabilities"]),
        nonce: xa(v, "nonce"),
        echoed_nonce: opt(v, "echoed_nonce").map(|n| ha(n.as_str().unwrap())),
        timestamp_unix_secs: u(v, "timestamp_unix_secs"),
        protocol_version: u(v, "protocol_version") as u16,
        ephemeral_pubkey: xa(v, "ephemeral_pubkey"),
        signature,
        ext: None,
    }
}

/// A relay capacity from its fields.
pub fn relay_capacity(v: &Value) -> RelayCapacity {
    obj(v, &["max_tunnels", "bandwidth_class", "max_bytes_per_tunnel"]);
    RelayCapacity {
        max_tunnels: u(v, "max_tunnels") as u16,
        bandwidth_class: match s(v, "bandwidth_class") {
            "Low" => BandwidthClass::Low,
            "Medium" => BandwidthClass::Medium,
            "High" => BandwidthClass::High,
            o => panic!("unknown bandwidth class {o}"),
        },
        max_bytes_per_tunnel: opt(v, "max_bytes_per_tunnel").map(|n| n.as_u64().unwrap()),
    }
}

/// CommunityMembers from its fields.
pub fn community_members(v: &Value) -> CommunityMembers {
    obj(v, &["community_share_id", "members", "updated_at"]);
    CommunityMembers {
        community_share_id: share_id(v, "community_share_id"),
        members: peer_list(v, "members"),
        updated_at: u(v, "updated_at"),
    }
}

/// A LAN packet from its fields (v1: no extension keys).
pub fn lan_packet(v: &Value) -> LanPacket {
    obj(v, &["version", "instance_id", "tcp_port", "capabilities"]);
    LanPacket {
        version: u(v, "version"),
        instance_id: xa(v, "instance_id"),
        tcp_port: u(v, "tcp_port") as u16,
        capabilities: opt(v, "capabilities").map(capabilities),
        quic_port: None,
        node_pubkey: None,
    }
}

/// Blocklist rules from their fields.
pub fn blocklist(v: &Value) -> BlocklistRules {
    obj(v, &["blocked_share_ids", "blocked_content_ids"]);
    BlocklistRules {
        blocked_share_ids: hex_list(v, "blocked_share_ids").into_iter().map(ShareId).collect(),
        blocked_content_ids: hex_list(v, "blocked_content_ids").into_iter().map(ContentId).collect(),
    }
}

// ---------------------------------------------------------------- framing

/// A frame: 4-byte big-endian length, then the body.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

// ---------------------------------------------------------------- round trips

/// Encodes `value`, checks the bytes, decodes them back, checks equality and that the
/// decoded value re-encodes to the same bytes.
pub fn assert_codec<T>(what: &str, value: &T, expected: &[u8])
where
    T: minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + std::fmt::Debug,
{
    let bytes = cbor::to_vec(value);
    assert_eq!(hexs(&bytes), hexs(expected), "{what}: encoding differs from the vector");
    let decoded: T = cbor::from_slice(expected).unwrap_or_else(|e| panic!("{what}: vector does not decode: {e}"));
    assert_eq!(&decoded, value, "{what}: decoded value differs");
    assert_eq!(hexs(&cbor::to_vec(&decoded)), hexs(expected), "{what}: re-encoding differs");
}

// ---------------------------------------------------------------- raw CBOR writer

/// Raw CBOR pieces for hand-made inputs.
pub mod raw {
    use trove_proto::cbor;

    /// Shortest unsigned integer.
    pub fn uint(n: u64) -> Vec<u8> {
        cbor::build(|e| e.u64(n).map(drop))
    }
    /// Unsigned integer with an explicit 8-byte argument (non-shortest form).
    pub fn uint64(n: u64) -> Vec<u8> {
        let mut v = vec![0x1b];
        v.extend_from_slice(&n.to_be_bytes());
        v
    }
    /// Negative integer.
    pub fn int(n: i64) -> Vec<u8> {
        cbor::build(|e| e.i64(n).map(drop))
    }
    /// Text string.
    pub fn tstr(s: &str) -> Vec<u8> {
        cbor::build(|e| e.str(s).map(drop))
    }
    /// Byte string.
    pub fn bstr(b: &[u8]) -> Vec<u8> {
        cbor::build(|e| e.bytes(b).map(drop))
    }
    /// Array of unsigned integers (A32 and friends).
    pub fn ints(b: &[u8]) -> Vec<u8> {
        cbor::build(|e| cbor::write_int_array(e, b))
    }
    /// `null`.
    pub fn null() -> Vec<u8> {
        vec![0xf6]
    }
    /// Boolean.
    pub fn bool(v: bool) -> Vec<u8> {
        vec![if v { 0xf5 } else { 0xf4 }]
    }
    /// Definite array of already-encoded items.
    pub fn array(items: &[Vec<u8>]) -> Vec<u8> {
        let mut v = cbor::build(|e| e.array(items.len() as u64).map(drop));
        items.iter().for_each(|i| v.extend_from_slice(i));
        v
    }
    /// Definite text-keyed map of already-encoded values.
    pub fn tmap(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut v = cbor::build(|e| e.map(entries.len() as u64).map(drop));
        for (k, val) in entries {
            v.extend(tstr(k));
            v.extend_from_slice(val);
        }
        v
    }
    /// Indefinite text-keyed map.
    pub fn tmap_indef(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut v = vec![0xbf];
        for (k, val) in entries {
            v.extend(tstr(k));
            v.extend_from_slice(val);
        }
        v.push(0xff);
        v
    }
    /// Definite integer-keyed map.
    pub fn imap(entries: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut v = cbor::build(|e| e.map(entries.len() as u64).map(drop));
        for (k, val) in entries {
            v.extend(uint(*k));
            v.extend_from_slice(val);
        }
        v
    }
    /// Indefinite integer-keyed map.
    pub fn imap_indef(entries: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut v = vec![0xbf];
        for (k, val) in entries {
            v.extend(uint(*k));
            v.extend_from_slice(val);
        }
        v.push(0xff);
        v
    }
    /// A value preceded by a tag.
    pub fn tagged(tag: u64, value: Vec<u8>) -> Vec<u8> {
        let mut v = cbor::build(|e| e.tag(minicbor::data::Tag::new(tag)).map(drop));
        v.extend(value);
        v
    }
}

// ---------------------------------------------------------------- every decoder

/// Re-encodes a request of any type (the inverse of `AnyRequest::decode`).
pub fn encode_request(r: &trove_proto::wire::AnyRequest) -> Vec<u8> {
    use trove_proto::wire::{AnyRequest as A, Payload};
    match r {
        A::PexOffer(v) => v.to_payload(),
        A::PexRequest(v) => v.to_payload(),
        A::FindNode(v) => v.to_payload(),
        A::FindValue(v) => v.to_payload(),
        A::Store(v) => v.to_payload(),
        A::GetManifest(v) => v.to_payload(),
        A::ListPublicShares(v) => v.to_payload(),
        A::GetCommunityStatus(v) => v.to_payload(),
        A::ListCommunityPublicShares(v) => v.to_payload(),
        A::RelayRegister(v) => v.to_payload(),
        A::RelayConnect(v) => v.to_payload(),
        A::RelayStream(v) => v.to_payload(),
        A::RelayListRequest(v) => v.to_payload(),
        A::HaveContent(v) => v.to_payload(),
        A::GetChunk(v) => v.to_payload(),
        A::GetChunkHashes(v) => v.to_payload(),
        A::GetManifestPage(v) => v.to_payload(),
        A::GetChunkHashesPage(v) => v.to_payload(),
        A::WatchHeads(v) => v.to_payload(),
        A::GetCommunityRecords(v) => v.to_payload(),
        A::PutCommunityRecords(v) => v.to_payload(),
        A::RelayOpen(v) => v.to_payload(),
        A::RelayIncoming(v) => v.to_payload(),
        A::RelayAccept(v) => v.to_payload(),
    }
}

/// A decoder under test: returns whether the input decoded. With `round_trip`, a value that
/// decodes is re-encoded and decoded again, and must come back equal with the same bytes.
pub type Decoder = Box<dyn Fn(&[u8]) -> bool>;

fn cbor_decoder<T>(round_trip: bool, after: fn(&T)) -> Decoder
where
    T: minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + std::fmt::Debug + 'static,
{
    Box::new(move |bytes: &[u8]| match cbor::from_slice::<T>(bytes) {
        Ok(v) => {
            if round_trip {
                let again = cbor::to_vec(&v);
                let back: T = cbor::from_slice(&again).unwrap_or_else(|e| {
                    panic!(
                        "{}: re-encoded value does not decode: {e}\ninput {}",
                        std::any::type_name::<T>(),
                        hexs(bytes)
                    )
                });
                assert_eq!(back, v, "{}: unstable round trip of {}", std::any::type_name::<T>(), hexs(bytes));
                assert_eq!(cbor::to_vec(&back), again, "{}: encoding not canonical", std::any::type_name::<T>());
                after(&v);
            }
            true
        }
        Err(_) => false,
    })
}

fn request_decoder(code: u16, round_trip: bool) -> Decoder {
    use trove_proto::wire::{AnyRequest, MsgType};
    Box::new(move |bytes: &[u8]| match AnyRequest::decode_ext(MsgType(code), bytes, true) {
        Ok(r) => {
            if round_trip {
                assert_eq!(r.msg_type(), MsgType(code));
                let again = encode_request(&r);
                assert_eq!(AnyRequest::decode_ext(MsgType(code), &again, true).as_ref(), Ok(&r), "request {code}");
            }
            true
        }
        Err(_) => false,
    })
}

/// Every decoder of the crate, by name: each wire type, server-side request dispatch for
/// every v1 code (and some unknown ones), and share-link parsing. With `round_trip`, decoded
/// values are also re-encoded and their checks (ids, signatures, limits) are run, which
/// must not panic either.
pub fn all_decoders(round_trip: bool) -> Vec<(String, Decoder)> {
    use trove_proto::wire::handshake::HelloExt;
    use trove_proto::wire::*;
    fn none<T>(_: &T) {}
    let mut v: Vec<(String, Decoder)> = vec![
        ("Envelope".into(), cbor_decoder::<Envelope>(round_trip, |e| drop(e.error_text()))),
        (
            "Manifest".into(),
            cbor_decoder::<Manifest>(round_trip, |m| {
                let _ = (m.verify_at(m.created_at), m.manifest_id(), m.check_v1_limits(), m.signing_bytes());
            }),
        ),
        ("Item".into(), cbor_decoder::<Item>(round_trip, none)),
        (
            "ShareHead".into(),
            cbor_decoder::<ShareHead>(round_trip, |h| {
                let _ = (h.verify_self(), h.verify(&PubKey([1; 32])));
            }),
        ),
        (
            "HandshakeHello".into(),
            cbor_decoder::<HandshakeHello>(round_trip, |h| drop(h.verify(h.timestamp_unix_secs))),
        ),
        ("HelloExt".into(), cbor_decoder::<HelloExt>(round_trip, none)),
        ("Capabilities".into(), cbor_decoder::<Capabilities>(round_trip, none)),
        ("PeerAddr".into(), cbor_decoder::<PeerAddr>(round_trip, |p| drop((p.to_string(), p.dedup_key())))),
        ("PexOffer".into(), cbor_decoder::<PexOffer>(round_trip, none)),
        ("PexRequest".into(), cbor_decoder::<PexRequest>(round_trip, none)),
        ("FindNode".into(), cbor_decoder::<FindNode>(round_trip, none)),
        ("FindNodeResult".into(), cbor_decoder::<FindNodeResult>(round_trip, none)),
        ("FindValue".into(), cbor_decoder::<FindValue>(round_trip, none)),
        ("FindValueResult".into(), cbor_decoder::<FindValueResult>(round_trip, none)),
        ("Store".into(), cbor_decoder::<Store>(round_trip, none)),
        ("GetManifest".into(), cbor_decoder::<GetManifest>(round_trip, none)),
        ("ManifestData".into(), cbor_decoder::<ManifestData>(round_trip, none)),
        ("ListPublicShares".into(), cbor_decoder::<ListPublicShares>(round_trip, none)),
        ("PublicShareList".into(), cbor_decoder::<PublicShareList>(round_trip, none)),
        ("PublicShareSummary".into(), cbor_decoder::<PublicShareSummary>(round_trip, none)),
        ("GetCommunityStatus".into(), cbor_decoder::<GetCommunityStatus>(round_trip, none)),
        ("CommunityStatus".into(), cbor_decoder::<CommunityStatus>(round_trip, none)),
        ("ListCommunityPublicShares".into(), cbor_decoder::<ListCommunityPublicShares>(round_trip, none)),
        ("CommunityPublicShareList".into(), cbor_decoder::<CommunityPublicShareList>(round_trip, none)),
        ("CommunityMembers".into(), cbor_decoder::<CommunityMembers>(round_trip, none)),
        (
            "CommunityMembershipToken".into(),
            cbor_decoder::<CommunityMembershipToken>(round_trip, |t| drop(t.verify(&t.member_node_pubkey, Some(0)))),
        ),
        ("RelayRegister".into(), cbor_decoder::<RelayRegister>(round_trip, none)),
        ("RelayRegistered".into(), cbor_decoder::<RelayRegistered>(round_trip, none)),
        ("RelayConnect".into(), cbor_decoder::<RelayConnect>(round_trip, none)),
        ("RelayStream".into(), cbor_decoder::<RelayStream>(round_trip, none)),
        ("RelayListRequest".into(), cbor_decoder::<RelayListRequest>(round_trip, none)),
        ("RelayListResponse".into(), cbor_decoder::<RelayListResponse>(round_trip, none)),
        ("RelayCapacity".into(), cbor_decoder::<RelayCapacity>(round_trip, none)),
        (
            "RelayAnnouncement".into(),
            cbor_decoder::<RelayAnnouncement>(round_trip, |a| {
                let _ = (a.validate(), a.matches_rendezvous_key(&DhtKey([0; 32])));
            }),
        ),
        ("Providers".into(), cbor_decoder::<Providers>(round_trip, none)),
        ("HaveContent".into(), cbor_decoder::<HaveContent>(round_trip, none)),
        ("GetChunk".into(), cbor_decoder::<GetChunk>(round_trip, none)),
        ("ChunkData".into(), cbor_decoder::<ChunkData>(round_trip, none)),
        ("GetChunkHashes".into(), cbor_decoder::<GetChunkHashes>(round_trip, none)),
        ("ChunkHashList".into(), cbor_decoder::<ChunkHashList>(round_trip, none)),
        ("LanPacket".into(), cbor_decoder::<LanPacket>(round_trip, none)),
        ("BlocklistRules".into(), cbor_decoder::<BlocklistRules>(round_trip, none)),
        // trove's extension messages.
        ("GetManifestPage".into(), cbor_decoder::<GetManifestPage>(round_trip, none)),
        ("ManifestPage".into(), cbor_decoder::<ManifestPage>(round_trip, none)),
        ("GetChunkHashesPage".into(), cbor_decoder::<GetChunkHashesPage>(round_trip, none)),
        ("ChunkHashesPage".into(), cbor_decoder::<ChunkHashesPage>(round_trip, none)),
        ("WatchHeads".into(), cbor_decoder::<WatchHeads>(round_trip, none)),
        ("Heads".into(), cbor_decoder::<Heads>(round_trip, none)),
        ("MemberRecord".into(), cbor_decoder::<MemberRecord>(round_trip, |r| drop(r.verify(Some(r.issued_at))))),
        ("ShareRecord".into(), cbor_decoder::<ShareRecord>(round_trip, |r| drop(r.verify(Some(r.updated_at))))),
        ("GetCommunityRecords".into(), cbor_decoder::<GetCommunityRecords>(round_trip, none)),
        ("CommunityRecords".into(), cbor_decoder::<CommunityRecords>(round_trip, none)),
        ("PutCommunityRecords".into(), cbor_decoder::<PutCommunityRecords>(round_trip, none)),
        ("CommunityRecordsAccepted".into(), cbor_decoder::<CommunityRecordsAccepted>(round_trip, none)),
        ("RelayOpen".into(), cbor_decoder::<RelayOpen>(round_trip, none)),
        ("RelayOpened".into(), cbor_decoder::<RelayOpened>(round_trip, none)),
        ("RelayIncoming".into(), cbor_decoder::<RelayIncoming>(round_trip, none)),
        ("RelayAccept".into(), cbor_decoder::<RelayAccept>(round_trip, none)),
    ];
    let v1 = MsgType::ALL_V1.iter().map(|t| t.0);
    let ext = MsgType::EXTENSIONS.iter().map(|(t, _)| t.0);
    for code in v1.chain(ext).chain([0, 999, u16::MAX]) {
        v.push((format!("AnyRequest({code})"), request_decoder(code, round_trip)));
    }
    v.push((
        "ShareLink".into(),
        Box::new(move |bytes: &[u8]| {
            let Ok(text) = std::str::from_utf8(bytes) else { return false };
            match trove_proto::ShareLink::parse(text) {
                Ok(link) => {
                    if round_trip {
                        let printed = link.to_string();
                        let back = trove_proto::ShareLink::parse(&printed).expect("a printed link parses");
                        assert_eq!(back, link, "share link round trip of {text:?}");
                        assert_eq!(back.to_string(), printed);
                    }
                    true
                }
                Err(_) => false,
            }
        }),
    ));
    v
}
