//! Every vector of `testdata/vectors.json` (the machine-readable form of SCP2P-WIRE.md), in
//! both directions: typed value → exact bytes, bytes → equal typed value → same bytes again;
//! signatures re-made from the seeds (Ed25519 is deterministic) and verified. One test per
//! group; each refuses entries or keys it does not understand, so the file cannot grow
//! unnoticed.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use trove_proto::content::{self, ContentHasher};
use trove_proto::keys::{self, EphemeralSecret};
use trove_proto::limits::CHUNK_SIZE;
use trove_proto::wire::handshake::{SESSION_SECRET_CONTEXT, session_secret};
use trove_proto::wire::*;
use trove_proto::{Keypair, ShareLink, dht_key};

/// Keys every entry may carry besides its data.
const META: [&str; 5] = ["name", "note", "source", "verified", "computed_fields"];

/// Checks an entry's keys: the metadata keys plus `data`.
fn entry_keys<'a>(e: &'a Value, data: &[&str]) -> &'a Value {
    let known: Vec<&str> = META.iter().chain(data).copied().collect();
    obj(e, &known);
    e
}

fn name(e: &Value) -> &str {
    s(e, "name")
}

#[test]
fn top_level_groups_are_exactly_the_known_set() {
    let v = vectors();
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let known: BTreeSet<&str> = [
        "format",
        "description",
        "conventions",
        "ids",
        "dht_keys",
        "chunking",
        "manifests",
        "share_heads",
        "handshake",
        "payloads",
        "envelopes",
        "peer_addrs",
        "relay_announcements",
        "membership_tokens",
        "community_members",
        "lan_packets",
        "capabilities",
        "frames",
        "dropped",
        "share_links",
        "blocklist_rules",
    ]
    .into();
    assert_eq!(keys, known);
    assert_eq!(v["format"], 1, "a new vectors format needs new tests");
    assert_eq!(u(&v["conventions"], "chunk_size"), CHUNK_SIZE as u64);
    let generators: BTreeSet<&str> =
        v["conventions"]["content_generators"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(generators, ["byte_i", "hex"].into(), "content generators handled by `chunking`");
    // Vectors the generator dropped would need a decision here.
    assert!(group("dropped").is_empty(), "vectors.json lists dropped vectors: {}", v["dropped"]);
}

#[test]
fn ids() {
    let mut handled = 0;
    for e in group("ids") {
        entry_keys(e, &["seed", "pubkey", "node_id", "share_id"]);
        let pk = pubkey(e, "pubkey");
        if let Some(seed) = opt(e, "seed") {
            let kp = Keypair::from_seed(ha(seed.as_str().unwrap()));
            assert_eq!(kp.public(), pk, "{}: public key of the seed", name(e));
            assert_eq!(kp.seed(), ha::<32>(seed.as_str().unwrap()));
        }
        if opt(e, "node_id").is_some() {
            assert_eq!(pk.node_id(), node_id(e, "node_id"), "{}: NodeId", name(e));
        }
        if opt(e, "share_id").is_some() {
            assert_eq!(pk.share_id(), share_id(e, "share_id"), "{}: ShareId", name(e));
        }
        handled += 1;
    }
    assert_eq!(handled, group("ids").len());
}

#[test]
fn dht_keys() {
    let mut by_kind = std::collections::BTreeMap::<&str, usize>::new();
    for e in group("dht_keys") {
        entry_keys(
            e,
            &[
                "kind",
                "prefix",
                "input",
                "key",
                "relay_pubkey",
                "unix_secs",
                "bucket",
                "which",
                "index",
                "index_digest",
            ],
        );
        let kind = s(e, "kind");
        let key = dht_key(e, "key");
        let (prefix, got) = match kind {
            "share_head" => ("share:head:", dht_key::share_head(&share_id(e, "input"))),
            "manifest_loc" => ("manifest:loc:", dht_key::manifest_loc(&manifest_id(e, "input"))),
            "content_prov" => ("content:prov:", dht_key::content_providers(&content_id(e, "input"))),
            "community_info" => ("community:info:", dht_key::community_info(&share_id(e, "input"))),
            "relay_rendezvous" => {
                let relay = pubkey(e, "relay_pubkey");
                let bucket = dht_key::relay_bucket(u(e, "unix_secs"));
                assert_eq!(bucket, u(e, "bucket"), "{}: bucket", name(e));
                let which = u(e, "which") as u8;
                // The index digest, recomputed from its definition.
                let mut pre = relay.0.to_vec();
                pre.extend(bucket.to_be_bytes());
                pre.push(which);
                let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&pre).into();
                assert_eq!(hexs(&digest), s(e, "index_digest"), "{}: index digest", name(e));
                let index = dht_key::relay_rendezvous_index(&relay, bucket, which);
                assert_eq!(index, u(e, "index"), "{}: index", name(e));
                assert_eq!(index, u64::from_be_bytes(digest[24..].try_into().unwrap()) % 16);
                assert_eq!(dht_key::relay_rendezvous_keys(&relay, bucket)[which as usize], key, "{}", name(e));
                ("scp2p:relay:rendezvous", dht_key::relay_rendezvous(bucket, index))
            }
            other => panic!("dht_keys: unhandled kind {other} in {}", name(e)),
        };
        assert_eq!(s(e, "prefix"), prefix, "{}: prefix", name(e));
        assert_eq!(got, key, "{}: key", name(e));
        *by_kind.entry(kind).or_default() += 1;
    }
    assert_eq!(by_kind.values().sum::<usize>(), group("dht_keys").len());
    assert_eq!(by_kind.len(), 5, "every key kind has a vector: {by_kind:?}");
}

/// Builds a chunking vector's content from its generator.
fn content_bytes(c: &Value) -> Vec<u8> {
    obj(c, &["len", "byte_i", "hex"]);
    let len = u(c, "len") as usize;
    let data = match (opt(c, "byte_i"), opt(c, "hex")) {
        (Some(g), None) => {
            assert_eq!(g, "i mod 251", "unknown byte_i generator");
            (0..len).map(|i| (i % 251) as u8).collect()
        }
        (None, Some(_)) => x(c, "hex"),
        _ => panic!("content needs exactly one generator: {c}"),
    };
    assert_eq!(data.len(), len);
    data
}

#[test]
fn chunking() {
    let mut handled = 0;
    for e in group("chunking") {
        entry_keys(e, &["content", "chunk_size", "content_id", "chunk_count", "chunk_hashes", "chunk_list_hash"]);
        let hashes = hex_list::<32>(e, "chunk_hashes");
        let list_hash: [u8; 32] = xa(e, "chunk_list_hash");
        assert_eq!(content::chunk_list_hash(&hashes), list_hash, "{}: chunk_list_hash", name(e));
        if let Some(c) = opt(e, "content") {
            assert_eq!(u(e, "chunk_size"), CHUNK_SIZE as u64);
            let data = content_bytes(c);
            assert_eq!(content::content_id(&data), content_id(e, "content_id"), "{}: ContentId", name(e));
            let count = u(e, "chunk_count");
            assert_eq!(content::chunk_count(data.len() as u64), count, "{}: chunk count", name(e));
            let per_chunk: Vec<[u8; 32]> = data.chunks(CHUNK_SIZE).map(content::chunk_hash).collect();
            assert_eq!(per_chunk, hashes, "{}: chunk hashes", name(e));
            // The streaming hasher, fed in odd slices, agrees.
            let mut hasher = ContentHasher::new();
            data.chunks(100_003).for_each(|c| hasher.update(c));
            let digest = hasher.finish();
            assert_eq!(digest.content_id, content_id(e, "content_id"));
            assert_eq!(
                (digest.size, digest.chunk_hashes.clone(), digest.chunk_list_hash),
                (data.len() as u64, hashes.clone(), list_hash)
            );
            assert!(content::verify_chunk_list(&hashes, count, &list_hash));
            assert!(!content::verify_chunk_list(&hashes, count + 1, &list_hash));
        } else {
            obj(e, &["name", "note", "source", "verified", "chunk_hashes", "chunk_list_hash"]);
        }
        handled += 1;
    }
    assert_eq!(handled, group("chunking").len());
}

#[test]
fn manifests() {
    let mut handled = 0;
    for e in group("manifests") {
        entry_keys(
            e,
            &[
                "signing_seed",
                "fields",
                "signing_bytes",
                "signature",
                "manifest_id_preimage",
                "manifest_id",
                "manifest_id_unsigned",
                "transmitted_cbor",
                "blake3_of_transmitted_cbor",
                "share_head_key",
                "manifest_loc_key",
            ],
        );
        let n = name(e);
        let mut m = manifest(&e["fields"]);
        assert_eq!(hexs(&m.signing_bytes()), s(e, "signing_bytes"), "{n}: signing bytes");
        if opt(e, "manifest_id_unsigned").is_some() {
            assert_eq!(m.manifest_id(), manifest_id(e, "manifest_id_unsigned"), "{n}: unsigned ManifestId");
        }
        let share = Keypair::from_seed(xa(e, "signing_seed"));
        assert_eq!(share.public(), m.share_pubkey, "{n}: the seed is the share key");
        m.sign(&share);
        assert_eq!(hexs(&m.signature.unwrap()), s(e, "signature"), "{n}: signature");
        m.verify_at(m.created_at).unwrap_or_else(|err| panic!("{n}: {err}"));
        m.check_v1_limits().unwrap();
        assert_eq!(hexs(&m.id_preimage()), s(e, "manifest_id_preimage"), "{n}: ManifestId preimage");
        let id = manifest_id(e, "manifest_id");
        assert_eq!(m.manifest_id(), id, "{n}: ManifestId");
        assert_eq!(*blake3::hash(&m.id_preimage()).as_bytes(), id.0);
        let transmitted = x(e, "transmitted_cbor");
        assert_codec(n, &m, &transmitted);
        assert_eq!(Manifest::from_bytes(&transmitted).unwrap(), m);
        assert_eq!(<Manifest as Payload>::from_payload(&transmitted).unwrap().to_payload(), transmitted);
        if opt(e, "blake3_of_transmitted_cbor").is_some() {
            let b3: [u8; 32] = xa(e, "blake3_of_transmitted_cbor");
            assert_eq!(*blake3::hash(&transmitted).as_bytes(), b3, "{n}: BLAKE3 of the transmitted bytes");
            assert_ne!(b3, id.0, "{n}: the id is not the hash of the transmitted bytes");
        }
        if opt(e, "share_head_key").is_some() {
            assert_eq!(dht_key::share_head(&m.share_id), dht_key(e, "share_head_key"), "{n}: head key");
        }
        if opt(e, "manifest_loc_key").is_some() {
            assert_eq!(dht_key::manifest_loc(&id), dht_key(e, "manifest_loc_key"), "{n}: loc key");
        }
        handled += 1;
    }
    assert_eq!(handled, group("manifests").len());
}

#[test]
fn share_heads() {
    let mut handled = 0;
    for e in group("share_heads") {
        entry_keys(e, &["signing_seed", "share_pubkey", "fields", "signing_bytes", "sig", "cbor", "share_head_key"]);
        let n = name(e);
        let fields = &e["fields"];
        obj(fields, &["share_id", "latest_seq", "latest_manifest_id", "updated_at"]);
        let head = ShareHead {
            share_id: share_id(fields, "share_id"),
            latest_seq: u(fields, "latest_seq"),
            latest_manifest_id: manifest_id(fields, "latest_manifest_id"),
            updated_at: u(fields, "updated_at"),
            sig: xa(e, "sig"),
            share_pubkey: None,
        };
        assert_eq!(hexs(&head.signing_bytes()), s(e, "signing_bytes"), "{n}: signing bytes");
        let share = Keypair::from_seed(xa(e, "signing_seed"));
        assert_eq!(share.public(), pubkey(e, "share_pubkey"));
        let signed = ShareHead::sign(&share, head.latest_seq, head.latest_manifest_id, head.updated_at);
        assert_eq!(signed.without_extension(), head, "{n}: signature re-made from the seed");
        head.verify(&share.public()).unwrap_or_else(|err| panic!("{n}: {err}"));
        assert_codec(n, &head, &x(e, "cbor"));
        assert_eq!(dht_key::share_head(&head.share_id), dht_key(e, "share_head_key"), "{n}: head key");
        handled += 1;
    }
    assert_eq!(handled, group("share_heads").len());
}

#[test]
fn handshake() {
    let mut handled = 0;
    for e in group("handshake") {
        entry_keys(
            e,
            &[
                "inputs",
                "client_pubkey",
                "server_pubkey",
                "client_x25519_pub",
                "server_x25519_pub",
                "x25519_shared",
                "session_secret_context",
                "session_secret_key_material",
                "session_secret",
                "messages",
            ],
        );
        let i = &e["inputs"];
        obj(
            i,
            &[
                "client_seed",
                "server_seed",
                "client_x25519_secret",
                "server_x25519_secret",
                "initiator_nonce",
                "responder_nonce",
                "timestamp_unix_secs",
                "client_ack_timestamp_unix_secs",
                "client_capabilities",
                "server_capabilities",
                "protocol_version",
            ],
        );
        let client = Keypair::from_seed(xa(i, "client_seed"));
        let server = Keypair::from_seed(xa(i, "server_seed"));
        assert_eq!(client.public(), pubkey(e, "client_pubkey"));
        assert_eq!(server.public(), pubkey(e, "server_pubkey"));
        let client_eph = EphemeralSecret::from_bytes(xa(i, "client_x25519_secret"));
        let server_eph = EphemeralSecret::from_bytes(xa(i, "server_x25519_secret"));
        assert_eq!(hexs(&client_eph.public()), s(e, "client_x25519_pub"));
        assert_eq!(hexs(&server_eph.public()), s(e, "server_x25519_pub"));
        let shared = client_eph.agree(&server_eph.public()).unwrap();
        assert_eq!(shared, server_eph.agree(&client_eph.public()).unwrap(), "both sides agree");
        assert_eq!(hexs(&shared), s(e, "x25519_shared"));
        let (nc, ns): ([u8; 32], [u8; 32]) = (xa(i, "initiator_nonce"), xa(i, "responder_nonce"));
        assert_eq!(s(e, "session_secret_context"), SESSION_SECRET_CONTEXT);
        assert_eq!(s(e, "session_secret_key_material"), hexs(&[&shared[..], &nc, &ns].concat()));
        assert_eq!(hexs(&session_secret(&shared, &nc, &ns)), s(e, "session_secret"));
        assert_eq!(u(i, "protocol_version"), trove_proto::limits::PROTOCOL_VERSION as u64);

        let ts = u(i, "timestamp_unix_secs");
        let messages = e["messages"].as_array().unwrap();
        let names: Vec<&str> = messages.iter().map(name).collect();
        assert_eq!(names, ["ClientHello", "ServerHello", "ClientAck"]);
        // What each message must carry, from the inputs.
        let client_caps = capabilities(&i["client_capabilities"]);
        let server_caps = capabilities(&i["server_capabilities"]);
        let expected = [
            (&client, client_caps, nc, None, ts, client_eph.public()),
            (&server, server_caps, ns, Some(nc), ts, server_eph.public()),
            (&client, client_caps, nc, Some(ns), u(i, "client_ack_timestamp_unix_secs"), client_eph.public()),
        ];
        for (msg, (key, caps, nonce, echo, at, eph)) in messages.iter().zip(expected) {
            obj(msg, &["name", "sender", "fields", "signed_tuple", "signature", "cbor", "frame", "frame_len_prefix"]);
            let n = name(msg);
            let sender = if key.public() == client.public() { "client" } else { "server" };
            assert_eq!(s(msg, "sender"), sender, "{n}: sender");
            let signed = HandshakeHello::sign(key, caps, nonce, echo, at, eph);
            let hello = hello(&msg["fields"], xa(msg, "signature"));
            assert_eq!(signed, hello, "{n}: fields and signature re-made from the inputs");
            assert_eq!(hexs(&hello.signed_tuple()), s(msg, "signed_tuple"), "{n}: signed tuple");
            hello.verify(at).unwrap_or_else(|err| panic!("{n}: {err}"));
            let body = x(msg, "cbor");
            assert_codec(n, &hello, &body);
            assert_eq!(HandshakeHello::from_bytes(&body).unwrap(), hello);
            assert_eq!(hexs(&frame(&body)), s(msg, "frame"), "{n}: frame");
            if let Some(p) = opt(msg, "frame_len_prefix") {
                assert_eq!(p.as_str().unwrap(), hexs(&(body.len() as u32).to_be_bytes()), "{n}: length prefix");
            }
        }
        handled += 1;
    }
    assert_eq!(handled, group("handshake").len());
}

/// The top-level keys of a CBOR map, integers written in decimal.
fn map_keys(bytes: &[u8]) -> Vec<String> {
    let mut d = minicbor::Decoder::new(bytes);
    let n = d.map().unwrap().expect("definite map");
    (0..n)
        .map(|_| {
            let k = match d.datatype().unwrap() {
                minicbor::data::Type::String => d.str().unwrap().to_owned(),
                _ => d.u64().unwrap().to_string(),
            };
            d.skip().unwrap();
            k
        })
        .collect()
}

/// Checks the payload's map keys against the vector's `encoding`, `fields` and `imap_keys`.
fn check_payload_keys(e: &Value) {
    let keys = map_keys(&x(e, "payload"));
    let fields = e["fields"].as_object().unwrap();
    match s(e, "encoding") {
        "T-map" => {
            assert!(opt(e, "imap_keys").is_none());
            for k in &keys {
                assert!(fields.contains_key(k), "{}: key {k} is not a field", name(e));
            }
            for (k, v) in fields {
                assert!(v.is_null() || keys.contains(k), "{}: field {k} is not encoded", name(e));
            }
        }
        "I-map" => {
            let imap = e["imap_keys"].as_object().unwrap();
            let declared: Vec<&String> = imap.keys().collect();
            assert_eq!(keys.iter().collect::<Vec<_>>(), declared, "{}: integer keys", name(e));
            let named: BTreeSet<&str> = imap.values().map(|v| v.as_str().unwrap()).collect();
            assert_eq!(named, fields.keys().map(String::as_str).collect(), "{}: imap_keys name the fields", name(e));
        }
        other => panic!("{}: unknown encoding {other}", name(e)),
    }
}

/// A payload vector: exact bytes both ways, through the codec and the `Payload` trait.
fn check_payload<T>(e: &Value, value: &T)
where
    T: Payload + minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + std::fmt::Debug,
{
    let expected = x(e, "payload");
    assert_codec(name(e), value, &expected);
    assert_eq!(hexs(&value.to_payload()), hexs(&expected), "{}", name(e));
    assert_eq!(&T::from_payload(&expected).unwrap(), value, "{}", name(e));
    check_payload_keys(e);
}

/// A request vector: its type code, its bytes, and server-side dispatch.
fn check_request<T>(e: &Value, value: T, wrap: fn(T) -> AnyRequest)
where
    T: Request + minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + std::fmt::Debug + Clone,
{
    assert_eq!(s(e, "role"), "request", "{}", name(e));
    assert_eq!(T::TYPE.0 as u64, u(e, "type"), "{}: type code", name(e));
    assert_eq!(T::TYPE.name(), Some(s(e, "message")), "{}: message name", name(e));
    assert_eq!(T::TYPE.response_type(), Some(T::RESPONSE_TYPE));
    check_payload(e, &value);
    let decoded = AnyRequest::decode(T::TYPE, &x(e, "payload")).unwrap();
    assert_eq!(decoded.msg_type(), T::TYPE);
    assert_eq!(decoded, wrap(value), "{}: dispatch", name(e));
}

/// A response vector for request type `R`: the response type code and its bytes.
fn check_response<R: Request>(e: &Value, value: R::Response)
where
    R::Response: minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + std::fmt::Debug,
{
    assert_eq!(s(e, "role"), "response", "{}", name(e));
    assert_eq!(R::RESPONSE_TYPE.0 as u64, u(e, "type"), "{}: response type code", name(e));
    let message = s(e, "message");
    if message.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        assert_eq!(R::RESPONSE_TYPE.name(), Some(message), "{}", name(e));
    }
    check_payload(e, &value);
    // Responses are not requests a node serves.
    if R::RESPONSE_TYPE != R::TYPE {
        assert_eq!(AnyRequest::decode(R::RESPONSE_TYPE, &x(e, "payload")), Err(RequestError::Unsupported));
    }
}

fn summaries(v: &Value) -> Vec<PublicShareSummary> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            obj(s, &["share_id", "share_pubkey", "latest_seq", "latest_manifest_id", "title", "description"]);
            PublicShareSummary {
                share_id: share_id(s, "share_id"),
                share_pubkey: pubkey(s, "share_pubkey"),
                latest_seq: u(s, "latest_seq"),
                latest_manifest_id: manifest_id(s, "latest_manifest_id"),
                title: opt(s, "title").map(|t| t.as_str().unwrap().to_owned()),
                description: opt(s, "description").map(|t| t.as_str().unwrap().to_owned()),
            }
        })
        .collect()
}

fn store(v: &Value) -> Store {
    obj(v, &["key", "value", "ttl_secs"]);
    Store { key: dht_key(v, "key"), value: x(v, "value"), ttl_secs: u(v, "ttl_secs") }
}

fn relay_stream(f: &Value) -> RelayStream {
    RelayStream {
        relay_slot_id: u(f, "relay_slot_id"),
        stream_id: u(f, "stream_id") as u32,
        kind: match s(f, "kind") {
            "control" => RelayKind::Control,
            "content" => RelayKind::Content,
            k => panic!("unknown relay kind {k}"),
        },
        payload: x(f, "payload"),
    }
}

#[test]
fn payloads() {
    let mut codes = BTreeSet::new();
    let mut handled = 0;
    for e in group("payloads") {
        entry_keys(e, &["type", "message", "role", "encoding", "imap_keys", "fields", "payload"]);
        let f = &e["fields"];
        let keys = |k: &[&str]| obj(f, k);
        match (u(e, "type"), s(e, "role")) {
            (100, "request") => {
                keys(&["peers"]);
                check_request(e, PexOffer { peers: peer_list(f, "peers") }, AnyRequest::PexOffer);
                // The same payload answers PEX_REQUEST.
                check_payload(e, &<PexRequest as Request>::Response::from_payload(&x(e, "payload")).unwrap());
            }
            (101, "request") => {
                keys(&["max_peers"]);
                check_request(e, PexRequest { max_peers: u(f, "max_peers") as u8 }, AnyRequest::PexRequest);
            }
            (200, "request") => {
                keys(&["target"]);
                check_request(e, FindNode { target: node_id(f, "target") }, AnyRequest::FindNode);
            }
            (200, "response") => {
                keys(&["peers"]);
                check_response::<FindNode>(e, FindNodeResult { peers: peer_list(f, "peers") });
            }
            (201, "request") => {
                keys(&["key"]);
                check_request(e, FindValue { key: dht_key(f, "key") }, AnyRequest::FindValue);
            }
            (201, "response") => {
                keys(&["value", "closer_peers"]);
                let value = opt(f, "value").map(store);
                check_response::<FindValue>(e, FindValueResult { value, closer_peers: peer_list(f, "closer_peers") });
            }
            (202, "request") => check_request(e, store(f), AnyRequest::Store),
            (400, "request") => {
                keys(&["manifest_id"]);
                check_request(e, GetManifest { manifest_id: manifest_id(f, "manifest_id") }, AnyRequest::GetManifest);
            }
            (401, "response") => {
                keys(&["manifest_id", "bytes"]);
                let v = ManifestData { manifest_id: manifest_id(f, "manifest_id"), bytes: x(f, "bytes") };
                check_response::<GetManifest>(e, v);
            }
            (402, "request") => {
                keys(&["max_entries"]);
                let v = ListPublicShares { max_entries: u(f, "max_entries") as u16 };
                check_request(e, v, AnyRequest::ListPublicShares);
            }
            (403, "response") => {
                keys(&["shares"]);
                check_response::<ListPublicShares>(e, PublicShareList { shares: summaries(&f["shares"]) });
            }
            (404, "request") => {
                keys(&["community_share_id", "community_share_pubkey"]);
                let v = GetCommunityStatus {
                    community_share_id: share_id(f, "community_share_id"),
                    community_share_pubkey: pubkey(f, "community_share_pubkey"),
                };
                check_request(e, v, AnyRequest::GetCommunityStatus);
            }
            (405, "response") => {
                keys(&["community_share_id", "joined", "membership_proof", "name"]);
                let v = CommunityStatus {
                    community_share_id: share_id(f, "community_share_id"),
                    joined: b(f, "joined"),
                    membership_proof: opt(f, "membership_proof").map(|_| x(f, "membership_proof")),
                    name: opt(f, "name").map(|n| n.as_str().unwrap().to_owned()),
                };
                check_response::<GetCommunityStatus>(e, v);
            }
            (406, "request") => {
                keys(&[
                    "community_share_id",
                    "community_share_pubkey",
                    "max_entries",
                    "requester_node_pubkey",
                    "requester_membership_proof",
                ]);
                let v = ListCommunityPublicShares {
                    community_share_id: share_id(f, "community_share_id"),
                    community_share_pubkey: pubkey(f, "community_share_pubkey"),
                    max_entries: u(f, "max_entries") as u16,
                    requester_node_pubkey: opt(f, "requester_node_pubkey").map(|_| pubkey(f, "requester_node_pubkey")),
                    requester_membership_proof: opt(f, "requester_membership_proof")
                        .map(|_| x(f, "requester_membership_proof")),
                };
                check_request(e, v, AnyRequest::ListCommunityPublicShares);
            }
            (407, "response") => {
                keys(&["community_share_id", "shares"]);
                let v = CommunityPublicShareList {
                    community_share_id: share_id(f, "community_share_id"),
                    shares: summaries(&f["shares"]),
                };
                check_response::<ListCommunityPublicShares>(e, v);
            }
            (450, "request") => {
                keys(&["relay_slot_id", "tunnel"]);
                let v = RelayRegister {
                    relay_slot_id: opt(f, "relay_slot_id").map(|s| s.as_u64().unwrap()),
                    tunnel: b(f, "tunnel"),
                };
                check_request(e, v, AnyRequest::RelayRegister);
            }
            (451, "response") => {
                keys(&["relay_slot_id", "expires_at"]);
                let v = RelayRegistered { relay_slot_id: u(f, "relay_slot_id"), expires_at: u(f, "expires_at") };
                check_response::<RelayRegister>(e, v);
            }
            (452, "request") => {
                keys(&["relay_slot_id"]);
                check_request(e, RelayConnect { relay_slot_id: u(f, "relay_slot_id") }, AnyRequest::RelayConnect);
            }
            (453, "request") => {
                keys(&["relay_slot_id", "stream_id", "kind", "payload"]);
                let v = relay_stream(f);
                if v.payload.first() == Some(&0xa4) {
                    // Tunnel mode: the payload is a whole inner envelope.
                    let inner = Envelope::from_bytes(&v.payload).unwrap();
                    assert_eq!(inner.to_bytes(), v.payload, "{}: inner envelope", name(e));
                }
                check_request(e, v, AnyRequest::RelayStream);
            }
            (460, "request") => {
                keys(&["max_count"]);
                let v = RelayListRequest { max_count: u(f, "max_count") as u16 };
                check_request(e, v, AnyRequest::RelayListRequest);
            }
            (461, "response") => {
                keys(&["announcements"]);
                let list = f["announcements"].as_array().unwrap();
                assert!(list.is_empty(), "{}: announcements in payload vectors are not handled", name(e));
                check_response::<RelayListRequest>(e, RelayListResponse { announcements: vec![] });
            }
            (498, "dht_value") => {
                keys(&["content_id", "providers", "updated_at"]);
                assert_eq!(MsgType::PROVIDERS.0, 498);
                assert_eq!(MsgType::PROVIDERS.name(), Some(s(e, "message")));
                let v = Providers {
                    content_id: content_id(f, "content_id"),
                    providers: peer_list(f, "providers"),
                    updated_at: u(f, "updated_at"),
                };
                check_payload(e, &v);
                // Never served as a request.
                assert_eq!(AnyRequest::decode(MsgType::PROVIDERS, &x(e, "payload")), Err(RequestError::Unsupported));
            }
            (499, "request") => {
                keys(&["content_id"]);
                check_request(e, HaveContent { content_id: content_id(f, "content_id") }, AnyRequest::HaveContent);
            }
            (500, "request") => {
                keys(&["content_id", "chunk_index"]);
                let v = GetChunk { content_id: content_id(f, "content_id"), chunk_index: u(f, "chunk_index") as u32 };
                check_request(e, v, AnyRequest::GetChunk);
            }
            (501, "response") => {
                keys(&["content_id", "chunk_index", "bytes"]);
                let v = ChunkData {
                    content_id: content_id(f, "content_id"),
                    chunk_index: u(f, "chunk_index") as u32,
                    bytes: x(f, "bytes").into(),
                };
                check_response::<GetChunk>(e, v);
            }
            (502, "request") => {
                keys(&["content_id"]);
                check_request(
                    e,
                    GetChunkHashes { content_id: content_id(f, "content_id") },
                    AnyRequest::GetChunkHashes,
                );
            }
            (503, "response") => {
                keys(&["content_id", "hashes"]);
                let v = ChunkHashList { content_id: content_id(f, "content_id"), hashes: hex_list(f, "hashes") };
                check_response::<GetChunkHashes>(e, v);
            }
            (t, role) => panic!("payloads: unhandled vector {} (type {t}, role {role})", name(e)),
        }
        codes.insert(u(e, "type") as u16);
        handled += 1;
    }
    assert_eq!(handled, group("payloads").len());
    let all: BTreeSet<u16> = MsgType::ALL_V1.iter().map(|t| t.0).collect();
    assert_eq!(codes, all, "every v1 message type has a payload vector");
}

/// Decodes a response payload of type `t` (successful responses only) and re-encodes it.
fn response_round_trip(t: u16, payload: &[u8]) -> Vec<u8> {
    fn rt<T: Payload>(b: &[u8]) -> Vec<u8> {
        T::from_payload(b).unwrap_or_else(|e| panic!("{}: {e}", T::NAME)).to_payload()
    }
    match MsgType(t) {
        MsgType::PEX_OFFER => rt::<PexOffer>(payload),
        MsgType::FIND_NODE => rt::<FindNodeResult>(payload),
        MsgType::FIND_VALUE => rt::<FindValueResult>(payload),
        MsgType::MANIFEST_DATA => rt::<ManifestData>(payload),
        MsgType::RELAY_STREAM => rt::<RelayStream>(payload),
        MsgType::CHUNK_DATA => rt::<ChunkData>(payload),
        MsgType::CHUNK_HASH_LIST => rt::<ChunkHashList>(payload),
        other => panic!("response type {other} not handled by the envelope vectors"),
    }
}

fn envelope(v: &Value) -> Envelope {
    Envelope {
        msg_type: MsgType(u(v, "type") as u16),
        req_id: u(v, "req_id") as u32,
        flags: u(v, "flags") as u16,
        payload: x(v, "payload").into(),
    }
}

#[test]
fn envelopes() {
    let mut handled = 0;
    for e in group("envelopes") {
        entry_keys(e, &["type", "req_id", "flags", "payload", "payload_is_cbor", "payload_utf8", "envelope"]);
        let n = name(e);
        let env = envelope(e);
        let bytes = x(e, "envelope");
        assert_codec(n, &env, &bytes);
        assert_eq!(Envelope::from_bytes(&bytes).unwrap(), env);
        assert_eq!(env.is_response(), env.flags & FLAG_RESPONSE != 0);
        if let Some(text) = opt(e, "payload_utf8") {
            let text = text.as_str().unwrap();
            assert_eq!(env.flags, FLAG_RESPONSE | FLAG_ERROR, "{n}: error flags");
            assert_eq!(env.error_text().as_deref(), Some(text), "{n}: error text");
            assert_eq!(Envelope::error(env.msg_type, env.req_id, text), env, "{n}: Envelope::error");
        } else {
            assert_eq!(env.error_text(), None);
        }
        match (opt(e, "payload_is_cbor").and_then(Value::as_bool).unwrap_or(false), env.is_response()) {
            (true, false) => {
                let req = AnyRequest::decode(env.msg_type, &env.payload).unwrap_or_else(|err| panic!("{n}: {err}"));
                assert_eq!(req.msg_type(), env.msg_type);
                assert_eq!(Envelope::request(env.msg_type, env.req_id, env.payload.clone()), env);
            }
            (true, true) => {
                assert_eq!(response_round_trip(env.msg_type.0, &env.payload), env.payload, "{n}: response payload");
                assert_eq!(Envelope::response(env.msg_type, env.req_id, env.payload.clone()), env);
            }
            (false, _) => assert!(env.payload.is_empty() || env.error_text().is_some(), "{n}: opaque payload"),
        }
        handled += 1;
    }
    assert_eq!(handled, group("envelopes").len());
    // The tunnel vectors nest: the outer RELAY_STREAM carries the inner envelope verbatim.
    let outer = envelope(entry("envelopes", "tunnel_outer_relay_stream"));
    let inner = x(entry("envelopes", "tunnel_inner_get_chunk_hashes"), "envelope");
    assert_eq!(RelayStream::from_payload(&outer.payload).unwrap().payload, inner);
    assert_eq!(Envelope::from_bytes(&inner).unwrap().req_id, outer.req_id, "outer req_id = inner req_id");
}

#[test]
fn peer_addrs() {
    let mut handled = 0;
    for e in group("peer_addrs") {
        entry_keys(e, &["fields", "cbor"]);
        assert_codec(name(e), &peer_addr(&e["fields"]), &x(e, "cbor"));
        handled += 1;
    }
    assert_eq!(handled, group("peer_addrs").len());
}

#[test]
fn relay_announcements() {
    let mut handled = 0;
    for e in group("relay_announcements") {
        entry_keys(e, &["signing_seed", "fields", "signing_bytes", "signature", "cbor", "rendezvous"]);
        let n = name(e);
        let f = &e["fields"];
        obj(f, &["relay_pubkey", "relay_addrs", "capabilities", "capacity", "issued_at", "expires_at"]);
        let relay = Keypair::from_seed(xa(e, "signing_seed"));
        assert_eq!(relay.public(), pubkey(f, "relay_pubkey"));
        let a = RelayAnnouncement::sign(
            &relay,
            peer_list(f, "relay_addrs"),
            capabilities(&f["capabilities"]),
            relay_capacity(&f["capacity"]),
            u(f, "issued_at"),
            u(f, "expires_at"),
        );
        assert_eq!(hexs(&a.signing_bytes()), s(e, "signing_bytes"), "{n}: signing bytes");
        assert_eq!(hexs(&a.signature), s(e, "signature"), "{n}: signature");
        a.validate().unwrap_or_else(|err| panic!("{n}: {err}"));
        assert_codec(n, &a, &x(e, "cbor"));
        for r in e["rendezvous"].as_array().unwrap() {
            obj(r, &["bucket", "which", "index", "key"]);
            let bucket = dht_key::relay_bucket(a.issued_at);
            assert_eq!(bucket, u(r, "bucket"), "{n}: bucket");
            let which = u(r, "which") as u8;
            assert_eq!(dht_key::relay_rendezvous_index(&a.relay_pubkey, bucket, which), u(r, "index"));
            let key = dht_key(r, "key");
            assert_eq!(dht_key::relay_rendezvous_keys(&a.relay_pubkey, bucket)[which as usize], key, "{n}");
            assert!(a.matches_rendezvous_key(&key), "{n}: announcement matches its rendezvous key");
        }
        handled += 1;
    }
    assert_eq!(handled, group("relay_announcements").len());
}

#[test]
fn membership_tokens() {
    let mut handled = 0;
    for e in group("membership_tokens") {
        entry_keys(e, &["signing_seed", "community_pubkey", "fields", "signing_bytes", "signature", "cbor"]);
        let n = name(e);
        let f = &e["fields"];
        obj(f, &["community_share_id", "member_node_pubkey", "issued_at", "expires_at"]);
        let community = Keypair::from_seed(xa(e, "signing_seed"));
        assert_eq!(community.public(), pubkey(e, "community_pubkey"));
        assert_eq!(community.share_id(), share_id(f, "community_share_id"));
        let t = CommunityMembershipToken::issue(
            &community,
            pubkey(f, "member_node_pubkey"),
            u(f, "issued_at"),
            u(f, "expires_at"),
        );
        assert_eq!(t.community_share_id, share_id(f, "community_share_id"));
        assert_eq!(hexs(&t.signing_bytes()), s(e, "signing_bytes"), "{n}: signing bytes");
        assert_eq!(hexs(&t.signature), s(e, "signature"), "{n}: signature");
        t.verify(&community.public(), Some(t.issued_at)).unwrap_or_else(|err| panic!("{n}: {err}"));
        assert_codec(n, &t, &x(e, "cbor"));
        handled += 1;
    }
    assert_eq!(handled, group("membership_tokens").len());
}

#[test]
fn community_members() {
    let mut handled = 0;
    for e in group("community_members") {
        entry_keys(e, &["fields", "cbor"]);
        assert_codec(name(e), &common::community_members(&e["fields"]), &x(e, "cbor"));
        handled += 1;
    }
    assert_eq!(handled, group("community_members").len());
}

#[test]
fn lan_packets() {
    let mut handled = 0;
    for e in group("lan_packets") {
        entry_keys(e, &["fields", "cbor"]);
        assert_codec(name(e), &lan_packet(&e["fields"]), &x(e, "cbor"));
        handled += 1;
    }
    assert_eq!(handled, group("lan_packets").len());
}

#[test]
fn capabilities_group() {
    let mut handled = 0;
    for e in group("capabilities") {
        entry_keys(e, &["fields", "cbor"]);
        assert_codec(name(e), &capabilities(&e["fields"]), &x(e, "cbor"));
        handled += 1;
    }
    assert_eq!(handled, group("capabilities").len());
}

#[test]
fn frames() {
    let mut handled = 0;
    for e in group("frames") {
        entry_keys(e, &["kind", "message", "frame", "length", "body", "envelope"]);
        let n = name(e);
        let body = x(e, "body");
        let fr = x(e, "frame");
        assert_eq!(fr, frame(&body), "{n}: frame = length ‖ body");
        assert_eq!(u(e, "length"), body.len() as u64, "{n}: length");
        assert_eq!(u32::from_be_bytes(fr[..4].try_into().unwrap()) as usize, fr.len() - 4);
        match s(e, "kind") {
            "envelope" => {
                let env = &e["envelope"];
                obj(env, &["type", "req_id", "flags", "payload"]);
                assert_codec(n, &envelope(env), &body);
                assert!(body.len() <= trove_proto::limits::MAX_ENVELOPE_BYTES);
            }
            "handshake" => {
                let hs = &group("handshake")[0]["messages"];
                let msg = hs.as_array().unwrap().iter().find(|m| m["name"] == e["message"]).expect("message");
                assert_eq!(hexs(&body), s(msg, "cbor"), "{n}: body is the handshake message");
                let hello = HandshakeHello::from_bytes(&body).unwrap();
                assert_eq!(hello.to_bytes(), body);
                assert!(body.len() <= trove_proto::limits::HANDSHAKE_MAX_BYTES);
            }
            other => panic!("frames: unhandled kind {other} in {n}"),
        }
        handled += 1;
    }
    assert_eq!(handled, group("frames").len());
}

#[test]
fn share_links() {
    let mut handled = 0;
    for e in group("share_links") {
        entry_keys(e, &["fields", "link"]);
        let n = name(e);
        let f = &e["fields"];
        obj(f, &["share_id", "share_pubkey", "bootstrap"]);
        let bootstrap: Vec<String> =
            f["bootstrap"].as_array().unwrap().iter().map(|b| b.as_str().unwrap().to_owned()).collect();
        let link = ShareLink { share_id: share_id(f, "share_id"), share_pubkey: pubkey(f, "share_pubkey"), bootstrap };
        assert_eq!(ShareLink::new(link.share_pubkey, link.bootstrap.clone()), link, "{n}: id is the key's hash");
        assert_eq!(link.to_string(), s(e, "link"), "{n}: printed link");
        assert_eq!(ShareLink::parse(s(e, "link")).unwrap(), link, "{n}: parsed link");
        assert_eq!(s(e, "link").parse::<ShareLink>().unwrap(), link);
        handled += 1;
    }
    assert_eq!(handled, group("share_links").len());
}

#[test]
fn blocklist_rules() {
    let mut handled = 0;
    for e in group("blocklist_rules") {
        entry_keys(e, &["fields", "cbor"]);
        assert_codec(name(e), &blocklist(&e["fields"]), &x(e, "cbor"));
        handled += 1;
    }
    assert_eq!(handled, group("blocklist_rules").len());
}

/// Every signature in the file verifies with strict verification against its key.
#[test]
fn signatures_verify_strictly() {
    let m = &group("manifests")[0];
    let mut man = manifest(&m["fields"]);
    man.signature = Some(xa(m, "signature"));
    keys::verify(&man.share_pubkey, &man.signing_bytes(), &man.signature.unwrap(), "manifest").unwrap();
    let h = &group("share_heads")[0];
    keys::verify(&pubkey(h, "share_pubkey"), &x(h, "signing_bytes"), &xa(h, "sig"), "head").unwrap();
    let t = &group("membership_tokens")[0];
    keys::verify(&pubkey(t, "community_pubkey"), &x(t, "signing_bytes"), &xa(t, "signature"), "token").unwrap();
    let r = &group("relay_announcements")[0];
    keys::verify(&pubkey(&r["fields"], "relay_pubkey"), &x(r, "signing_bytes"), &xa(r, "signature"), "relay").unwrap();
    for msg in group("handshake")[0]["messages"].as_array().unwrap() {
        let k = pubkey(&msg["fields"], "node_pubkey");
        keys::verify(&k, &x(msg, "signed_tuple"), &xa(msg, "signature"), "hello").unwrap();
    }
    // A signature checked against the wrong message fails.
    assert!(keys::verify(&pubkey(h, "share_pubkey"), &x(t, "signing_bytes"), &xa(h, "sig"), "head").is_err());
}
