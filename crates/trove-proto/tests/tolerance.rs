//! The decoder tolerance table of SCP2P-WIRE.md §0.3, one test per row, on representative
//! types; plus trove's backward-compatible extension keys (a ShareHead with `share_pubkey`,
//! a HandshakeHello with `trove`, LAN packet ports), whose v1 forms must stay byte-identical
//! to the vectors. Inputs are written by hand with the raw CBOR helpers so every variation is
//! visible in the test.

mod common;

use common::raw::*;
use common::*;
use trove_proto::ids::{ContentId, DhtKey, NodeId, PubKey};
use trove_proto::wire::handshake::EXT_VERSION;
use trove_proto::wire::*;
use trove_proto::{Keypair, cbor};

// ---------------------------------------------------------------- canonical entries

/// The GET_CHUNK request envelope of the vectors (req_id 10000), as map entries.
fn envelope_entries() -> Vec<(&'static str, Vec<u8>)> {
    let e = entry("envelopes", "get_chunk_request");
    vec![
        ("type", uint(u(e, "type"))),
        ("req_id", uint(u(e, "req_id"))),
        ("flags", uint(u(e, "flags"))),
        ("payload", bstr(&x(e, "payload"))),
    ]
}

fn envelope_bytes() -> Vec<u8> {
    x(entry("envelopes", "get_chunk_request"), "envelope")
}

fn envelope_value() -> Envelope {
    Envelope::from_bytes(&envelope_bytes()).unwrap()
}

/// The conformance share head, as map entries, its vector bytes and typed value.
fn head_entries() -> Vec<(&'static str, Vec<u8>)> {
    let e = entry("share_heads", "conformance_head");
    let f = &e["fields"];
    vec![
        ("share_id", ints(&x(f, "share_id"))),
        ("latest_seq", uint(u(f, "latest_seq"))),
        ("latest_manifest_id", ints(&x(f, "latest_manifest_id"))),
        ("updated_at", uint(u(f, "updated_at"))),
        ("sig", ints(&x(e, "sig"))),
    ]
}

fn head_bytes() -> Vec<u8> {
    x(entry("share_heads", "conformance_head"), "cbor")
}

fn head_value() -> ShareHead {
    ShareHead::from_payload(&head_bytes()).unwrap()
}

/// The 10.0.0.5:7001 tcp PeerAddr as map entries.
fn peer_entries() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ip", tmap(&[("V4", ints(&[10, 0, 0, 5]))])),
        ("port", uint(7001)),
        ("transport", tstr("tcp")),
        ("pubkey_hint", null()),
    ]
}

fn peer_value() -> PeerAddr {
    peer_addr(&entry("peer_addrs", "v4_tcp_nohint")["fields"])
}

/// The ClientHello of the handshake vectors as map entries, bytes and value.
fn hello_msg() -> &'static serde_json::Value {
    &group("handshake")[0]["messages"][0]
}

fn hello_entries() -> Vec<(&'static str, Vec<u8>)> {
    let m = hello_msg();
    let f = &m["fields"];
    vec![
        ("node_pubkey", ints(&x(f, "node_pubkey"))),
        ("capabilities", cbor::to_vec(&capabilities(&f["capabilities"]))),
        ("nonce", ints(&x(f, "nonce"))),
        ("echoed_nonce", null()),
        ("timestamp_unix_secs", uint(u(f, "timestamp_unix_secs"))),
        ("protocol_version", uint(u(f, "protocol_version"))),
        ("ephemeral_pubkey", ints(&x(f, "ephemeral_pubkey"))),
        ("signature", ints(&x(m, "signature"))),
    ]
}

fn hello_bytes() -> Vec<u8> {
    x(hello_msg(), "cbor")
}

fn hello_value() -> HandshakeHello {
    hello(&hello_msg()["fields"], xa(hello_msg(), "signature"))
}

/// The m1 conformance manifest, signed, as entries (items pre-encoded), bytes and value.
fn manifest_entries() -> Vec<(&'static str, Vec<u8>)> {
    let m = manifest_value();
    let item = cbor::to_vec(&m.items[0]);
    vec![
        ("version", uint(1)),
        ("share_pubkey", ints(&m.share_pubkey.0)),
        ("share_id", ints(&m.share_id.0)),
        ("seq", uint(m.seq)),
        ("created_at", uint(m.created_at)),
        ("expires_at", uint(m.expires_at.unwrap())),
        ("title", tstr(m.title.as_deref().unwrap())),
        ("description", tstr(m.description.as_deref().unwrap())),
        ("visibility", tstr("private")),
        ("communities", array(&[])),
        ("items", array(&[item])),
        ("recommended_shares", array(&[ints(&m.recommended_shares[0].0)])),
        ("signature", bstr(&m.signature.unwrap())),
    ]
}

fn manifest_bytes() -> Vec<u8> {
    x(entry("manifests", "conformance_m1"), "transmitted_cbor")
}

fn manifest_value() -> Manifest {
    let e = entry("manifests", "conformance_m1");
    let mut m = manifest(&e["fields"]);
    m.signature = Some(xa(e, "signature"));
    m
}

/// Replaces the value of `key` in a list of entries.
fn with(mut entries: Vec<(&'static str, Vec<u8>)>, key: &str, value: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    let slot = entries.iter_mut().find(|(k, _)| *k == key).unwrap_or_else(|| panic!("no entry {key}"));
    slot.1 = value;
    entries
}

/// Removes `key` from a list of entries.
fn without(entries: &[(&'static str, Vec<u8>)], key: &str) -> Vec<(&'static str, Vec<u8>)> {
    let out: Vec<_> = entries.iter().filter(|(k, _)| *k != key).cloned().collect();
    assert_eq!(out.len() + 1, entries.len(), "no entry {key}");
    out
}

fn decode<T: for<'b> minicbor::Decode<'b, ()>>(bytes: &[u8]) -> Result<T, String> {
    cbor::from_slice(bytes).map_err(|e| e.to_string())
}

fn decode_err<T: for<'b> minicbor::Decode<'b, ()> + std::fmt::Debug>(bytes: &[u8]) -> String {
    match cbor::from_slice::<T>(bytes) {
        Ok(v) => panic!("expected an error, decoded {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn canonical_entries_reproduce_the_vectors() {
    assert_eq!(hexs(&tmap(&envelope_entries())), hexs(&envelope_bytes()));
    assert_eq!(hexs(&tmap(&head_entries())), hexs(&head_bytes()));
    assert_eq!(hexs(&tmap(&peer_entries())), hexs(&x(entry("peer_addrs", "v4_tcp_nohint"), "cbor")));
    assert_eq!(hexs(&tmap(&hello_entries())), hexs(&hello_bytes()));
    assert_eq!(hexs(&tmap(&manifest_entries())), hexs(&manifest_bytes()));
}

// ---------------------------------------------------------------- row: bstr ⇄ integer arrays

#[test]
fn byte_strings_and_integer_arrays_are_interchangeable_in_text_keyed_structs() {
    // A32/A64 given as byte strings: share head ids and signature.
    let f = &entry("share_heads", "conformance_head")["fields"];
    let mut e = with(head_entries(), "share_id", bstr(&x(f, "share_id")));
    e = with(e, "latest_manifest_id", bstr(&x(f, "latest_manifest_id")));
    e = with(e, "sig", bstr(&head_value().sig));
    let head: ShareHead = decode(&tmap(&e)).unwrap();
    assert_eq!(head, head_value());
    assert_eq!(hexs(&cbor::to_vec(&head)), hexs(&head_bytes()), "re-encoded in the v1 form");

    // Handshake keys, nonce and A64 signature as byte strings.
    let hv = hello_value();
    let mut e = with(hello_entries(), "node_pubkey", bstr(&hv.node_pubkey.0));
    e = with(e, "nonce", bstr(&hv.nonce));
    e = with(e, "ephemeral_pubkey", bstr(&hv.ephemeral_pubkey));
    e = with(e, "signature", bstr(&hv.signature));
    let h: HandshakeHello = decode(&tmap(&e)).unwrap();
    assert_eq!(h, hv);
    assert_eq!(hexs(&h.to_bytes()), hexs(&hello_bytes()));
    h.verify(h.timestamp_unix_secs).unwrap();

    // Vice versa: bstr fields given as integer arrays (manifest signature, envelope payload).
    let mv = manifest_value();
    let m: Manifest = decode(&tmap(&with(manifest_entries(), "signature", ints(&mv.signature.unwrap())))).unwrap();
    assert_eq!(m, mv);
    assert_eq!(hexs(&m.to_bytes()), hexs(&manifest_bytes()));
    let env: Envelope = decode(&tmap(&with(envelope_entries(), "payload", ints(&envelope_value().payload)))).unwrap();
    assert_eq!(env, envelope_value());
    assert_eq!(env.to_bytes(), envelope_bytes());

    // Token and relay announcement signatures (bstr in v1) as A64.
    let t = entry("membership_tokens", "token_77_88");
    let token = CommunityMembershipToken::from_payload(&x(t, "cbor")).unwrap();
    let mut bytes = x(t, "cbor");
    let sig_at = bytes.len() - 66;
    assert_eq!(&bytes[sig_at..sig_at + 2], &[0x58, 0x40]);
    bytes.truncate(sig_at);
    bytes.extend(ints(&token.signature));
    assert_eq!(decode::<CommunityMembershipToken>(&bytes).unwrap(), token);

    // PeerAddr: V4 octets and pubkey_hint as byte strings.
    let e = with(peer_entries(), "ip", tmap(&[("V4", bstr(&[10, 0, 0, 5]))]));
    assert_eq!(decode::<PeerAddr>(&tmap(&e)).unwrap(), peer_value());
    let e = with(e, "pubkey_hint", bstr(&[0xab; 32]));
    assert_eq!(decode::<PeerAddr>(&tmap(&e)).unwrap(), peer_value().with_hint(PubKey([0xab; 32])));

    // The v1 integer-array field `requester_membership_proof` as a byte string.
    let p = entry("payloads", "406_request_2");
    let want = ListCommunityPublicShares::from_payload(&x(p, "payload")).unwrap();
    let mut bytes = x(p, "payload");
    let tail = ints(&[0xde, 0xad]);
    assert!(bytes.ends_with(&tail));
    bytes.truncate(bytes.len() - tail.len());
    bytes.extend(bstr(&[0xde, 0xad]));
    assert_eq!(decode::<ListCommunityPublicShares>(&bytes).unwrap(), want);

    // Wrong lengths are still wrong in either form.
    let short = with(head_entries(), "share_id", ints(&[1; 31]));
    assert!(decode_err::<ShareHead>(&tmap(&short)).contains("share id must be 32 bytes, got 31"));
    let long = with(head_entries(), "sig", bstr(&[1; 65]));
    assert!(decode_err::<ShareHead>(&tmap(&long)).contains("sig is 65 bytes, limit 64"));
}

// ---------------------------------------------------------------- row: I-map byte fields

#[test]
fn integer_keyed_byte_fields_must_be_byte_strings() {
    // FIND_NODE key 0 as an array of 20 integers is rejected; as bstr(20) accepted.
    let err = decode_err::<FindNode>(&imap(&[(0, ints(&[0x11; 20]))]));
    assert!(err.contains("node id must be a byte string"), "{err}");
    assert_eq!(decode::<FindNode>(&imap(&[(0, bstr(&[0x11; 20]))])).unwrap().target, NodeId([0x11; 20]));
    // The exact length is required.
    let err = decode_err::<FindNode>(&imap(&[(0, bstr(&[0x11; 21]))]));
    assert!(err.contains("node id must be 20 bytes, got 21"), "{err}");
    // Every other hand-read byte field likewise.
    assert!(decode::<FindValue>(&imap(&[(0, ints(&[0x22; 32]))])).is_err());
    assert!(decode::<GetChunk>(&imap(&[(0, ints(&[1; 32])), (1, uint(0))])).is_err());
    assert!(decode::<GetChunkHashes>(&imap(&[(0, ints(&[1; 32]))])).is_err());
    assert!(decode::<Store>(&imap(&[(0, bstr(&[3; 32])), (1, ints(&[1, 2, 3])), (2, uint(5))])).is_err());
    let err = decode_err::<ChunkData>(&imap(&[(0, bstr(&[1; 32])), (1, uint(0)), (2, ints(&[6, 6, 6]))]));
    assert!(err.contains("chunk bytes must be a byte string"), "{err}");
    // Nested values keep their serde encoding: each chunk hash may be A32 or bstr.
    let list = imap(&[(0, bstr(&[0xe; 32])), (1, array(&[ints(&[1; 32]), bstr(&[2; 32])]))]);
    assert_eq!(decode::<ChunkHashList>(&list).unwrap().hashes, vec![[1; 32], [2; 32]]);
}

// ---------------------------------------------------------------- row: key order, unknown keys

#[test]
fn map_keys_in_another_order_are_accepted() {
    let mut e = envelope_entries();
    e.reverse();
    assert_eq!(decode::<Envelope>(&tmap(&e)).unwrap(), envelope_value());
    let mut e = manifest_entries();
    e.rotate_left(5);
    let m: Manifest = decode(&tmap(&e)).unwrap();
    assert_eq!(m, manifest_value());
    assert_eq!(m.to_bytes(), manifest_bytes(), "re-encoded in declaration order");
    let mut e = peer_entries();
    e.swap(0, 3);
    assert_eq!(decode::<PeerAddr>(&tmap(&e)).unwrap(), peer_value());
    // I-maps too.
    let want = ChunkData { content_id: ContentId([0xd; 32]), chunk_index: 2, bytes: vec![6, 6, 6].into() };
    let bytes = imap(&[(2, bstr(&[6, 6, 6])), (1, uint(2)), (0, bstr(&[0xd; 32]))]);
    assert_eq!(decode::<ChunkData>(&bytes).unwrap(), want);
}

#[test]
fn unknown_keys_are_ignored() {
    let mut e = envelope_entries();
    e.insert(1, ("zz_future", tmap(&[("a", array(&[uint(1), tstr("x"), null()]))])));
    e.push(("more", bstr(b"ignored")));
    assert_eq!(decode::<Envelope>(&tmap(&e)).unwrap(), envelope_value());
    // A non-text key in a text-keyed map is skipped with its value.
    let mut bytes = tmap(&envelope_entries());
    bytes[0] += 1;
    bytes.extend(uint(7));
    bytes.extend(array(&[uint(1)]));
    assert_eq!(decode::<Envelope>(&bytes).unwrap(), envelope_value());
    // Inside nested structures: a manifest item and capabilities.
    let mv = manifest_value();
    let mut item = cbor::to_vec(&mv.items[0]);
    item[0] += 1;
    item.extend(tstr("rating"));
    item.extend(uint(5));
    let m: Manifest = decode(&tmap(&with(manifest_entries(), "items", array(&[item])))).unwrap();
    assert_eq!(m, mv);
    // Verifiers re-serialise the decoded fields, so the dropped key does not disturb the id or
    // the signature.
    assert_eq!(m.manifest_id(), manifest_id(entry("manifests", "conformance_m1"), "manifest_id"));
    m.verify_at(m.created_at).unwrap();
    let mut caps = x(entry("capabilities", "all_false"), "cbor");
    caps[0] += 1;
    caps.extend(tstr("community_v2"));
    caps.extend(bool(true));
    assert_eq!(decode::<Capabilities>(&caps).unwrap(), Capabilities::default());
    // I-maps: other integer keys and text keys are skipped.
    let bytes = imap(&[(0, bstr(&[0x11; 20])), (9, tmap(&[("x", uint(1))]))]);
    let mut with_text = bytes.clone();
    with_text[0] += 1;
    with_text.extend(tstr("x"));
    with_text.extend(uint(1));
    assert_eq!(decode::<FindNode>(&with_text).unwrap().target, NodeId([0x11; 20]));
    // An unknown key may repeat (only known fields are checked for duplicates).
    let mut e = envelope_entries();
    e.push(("zz", uint(1)));
    e.push(("zz", uint(2)));
    assert_eq!(decode::<Envelope>(&tmap(&e)).unwrap(), envelope_value());
}

// ---------------------------------------------------------------- row: duplicate keys

#[test]
fn duplicate_text_keys_are_rejected() {
    let mut e = envelope_entries();
    e.push(("type", uint(500)));
    let err = Envelope::from_bytes(&tmap(&e)).unwrap_err().to_string();
    assert!(err.contains("duplicate field `type`"), "{err}");
    let mut e = manifest_entries();
    e.insert(4, ("seq", uint(8)));
    assert!(decode_err::<Manifest>(&tmap(&e)).contains("duplicate field `seq`"));
    let mut e = peer_entries();
    e.push(("port", uint(7001)));
    assert!(decode_err::<PeerAddr>(&tmap(&e)).contains("duplicate field `port`"));
    let mut e = head_entries();
    e.push(("sig", ints(&[0; 64])));
    assert!(decode_err::<ShareHead>(&tmap(&e)).contains("duplicate field `sig`"));
}

#[test]
fn duplicate_integer_keys_keep_the_first_occurrence() {
    let bytes = imap(&[(0, bstr(&[0xa; 32])), (1, uint(2)), (1, uint(7)), (0, bstr(&[0xb; 32]))]);
    assert_eq!(decode::<GetChunk>(&bytes).unwrap(), GetChunk { content_id: ContentId([0xa; 32]), chunk_index: 2 });
    // The later duplicate is skipped unread, even when it would not decode.
    let bytes = imap(&[(0, bstr(&[3; 32])), (1, bstr(&[1])), (2, uint(5)), (2, int(-1))]);
    assert_eq!(decode::<Store>(&bytes).unwrap().ttl_secs, 5);
    let bytes = imap(&[(0, null()), (1, array(&[])), (0, tstr("not a store"))]);
    assert_eq!(decode::<FindValueResult>(&bytes).unwrap(), FindValueResult::default());
}

// ---------------------------------------------------------------- row: missing keys

#[test]
fn missing_option_keys_are_none() {
    let want = peer_value();
    assert_eq!(decode::<PeerAddr>(&tmap(&without(&peer_entries(), "pubkey_hint"))).unwrap(), want);
    let h: HandshakeHello = decode(&tmap(&without(&hello_entries(), "echoed_nonce"))).unwrap();
    assert_eq!(h, hello_value());
    // Manifest: the Option fields, and the fields with serde defaults.
    let mut e = manifest_entries();
    for k in ["expires_at", "title", "description", "signature", "visibility", "communities"] {
        e = without(&e, k);
    }
    let m: Manifest = decode(&tmap(&e)).unwrap();
    let mut want = manifest_value();
    (want.expires_at, want.title, want.description, want.signature) = (None, None, None, None);
    assert_eq!(m, want);
    assert_eq!(m.visibility, Visibility::Private);
    let item = tmap(&[("content_id", ints(&[7; 32])), ("size", uint(1)), ("name", tstr("a")), ("tags", array(&[]))]);
    let it: Item = decode(&item).unwrap();
    assert_eq!((it.path, it.mime, it.chunk_count, it.chunk_list_hash), (None, None, 0, [0; 32]));
    assert_eq!(decode::<RelayRegister>(&[0xa0]).unwrap(), RelayRegister { relay_slot_id: None, tunnel: false });
    let stream = tmap(&[("relay_slot_id", uint(1)), ("stream_id", uint(0)), ("payload", bstr(b""))]);
    assert_eq!(decode::<RelayStream>(&stream).unwrap().kind, RelayKind::Control);
    let lan = tmap(&[("version", uint(1)), ("instance_id", ints(&[9; 16])), ("tcp_port", uint(7001))]);
    assert_eq!(decode::<LanPacket>(&lan).unwrap().capabilities, None);
    let status = tmap(&[("community_share_id", ints(&[4; 32])), ("joined", bool(false))]);
    let s: CommunityStatus = decode(&status).unwrap();
    assert_eq!((s.membership_proof, s.name), (None, None));
}

/// Removing each required key in turn gives an error that names it.
fn each_required<T: for<'b> minicbor::Decode<'b, ()> + std::fmt::Debug>(
    entries: &[(&'static str, Vec<u8>)],
    required: &[&str],
) {
    decode::<T>(&tmap(entries)).expect("the complete map decodes");
    for k in required {
        let err = decode_err::<T>(&tmap(&without(entries, k)));
        assert!(err.contains(&format!("missing field `{k}`")), "removing {k}: {err}");
    }
}

#[test]
fn missing_required_keys_are_errors_naming_the_field() {
    each_required::<Envelope>(&envelope_entries(), &["type", "req_id", "flags", "payload"]);
    each_required::<PeerAddr>(&peer_entries(), &["ip", "port", "transport"]);
    each_required::<ShareHead>(&head_entries(), &["share_id", "latest_seq", "latest_manifest_id", "updated_at", "sig"]);
    each_required::<HandshakeHello>(
        &hello_entries(),
        &[
            "node_pubkey",
            "capabilities",
            "nonce",
            "timestamp_unix_secs",
            "protocol_version",
            "ephemeral_pubkey",
            "signature",
        ],
    );
    each_required::<Manifest>(
        &manifest_entries(),
        &["version", "share_pubkey", "share_id", "seq", "created_at", "items", "recommended_shares"],
    );
    let caps: Vec<(&str, Vec<u8>)> =
        ["dht", "store", "relay", "content_seed", "mobile_light"].iter().map(|k| (*k, bool(false))).collect();
    each_required::<Capabilities>(&caps, &["dht", "store", "relay", "content_seed", "mobile_light"]);
    // The error travels up through the wrapper that names the structure.
    let err = Envelope::from_bytes(&tmap(&without(&envelope_entries(), "payload"))).unwrap_err().to_string();
    assert!(err.starts_with("cannot decode envelope: ") && err.ends_with("envelope: missing field `payload`"), "{err}");
    // I-maps name the integer key and its meaning.
    let err = decode_err::<FindNode>(&imap(&[]));
    assert!(err.contains("missing field `0 (target)`"), "{err}");
    let err = decode_err::<Store>(&imap(&[(0, bstr(&[3; 32])), (1, bstr(b""))]));
    assert!(err.contains("missing field `2 (ttl_secs)`"), "{err}");
}

// ---------------------------------------------------------------- row: indefinite lengths

#[test]
fn indefinite_length_maps_are_accepted() {
    assert_eq!(decode::<Envelope>(&tmap_indef(&envelope_entries())).unwrap(), envelope_value());
    let mv = manifest_value();
    let mut item = vec![0xbf];
    item.extend_from_slice(&cbor::to_vec(&mv.items[0])[1..]);
    item.push(0xff);
    let m: Manifest = decode(&tmap_indef(&with(manifest_entries(), "items", array(&[item])))).unwrap();
    assert_eq!(m, mv);
    assert_eq!(m.to_bytes(), manifest_bytes(), "re-encoded with definite lengths");
    let bytes = imap_indef(&[(0, bstr(&[0xc; 32])), (1, uint(2))]);
    assert_eq!(decode::<GetChunk>(&bytes).unwrap().chunk_index, 2);
    // Indefinite arrays are accepted too (the reference is untested there; trove never sends them).
    let peers = [0x9f].into_iter().chain(tmap(&peer_entries())).chain([0xff]).collect::<Vec<u8>>();
    assert_eq!(decode::<PexOffer>(&tmap(&[("peers", peers)])).unwrap().peers, vec![peer_value()]);
    // Indefinite byte strings are not accepted where bytes are expected.
    let chunked = vec![0x5f, 0x41, 0xa2, 0x41, 0x00, 0xff];
    assert!(decode::<Envelope>(&tmap(&with(envelope_entries(), "payload", chunked))).is_err());
}

// ---------------------------------------------------------------- row: non-shortest integers

#[test]
fn non_shortest_integers_are_accepted() {
    let e = with(envelope_entries(), "type", uint64(500));
    let e = with(e, "req_id", vec![0x1a, 0, 0, 0x27, 0x10]);
    let e = with(e, "flags", vec![0x18, 0]);
    let env: Envelope = decode(&tmap(&e)).unwrap();
    assert_eq!(env, envelope_value());
    assert_eq!(env.to_bytes(), envelope_bytes(), "re-encoded in shortest form");
    assert_eq!(decode::<PexRequest>(&tmap(&[("max_peers", uint64(64))])).unwrap().max_peers, 64);
    // Non-shortest map/array/string headers and integer map keys.
    let bytes = [0xb8, 0x01, 0x78, 0x09].iter().copied().chain(*b"max_peers").chain([0x18, 0x40]).collect::<Vec<_>>();
    assert_eq!(decode::<PexRequest>(&bytes).unwrap().max_peers, 64);
    let bytes = [vec![0xa1, 0x18, 0x00, 0x59, 0x00, 0x14], vec![0x11; 20]].concat();
    assert_eq!(decode::<FindNode>(&bytes).unwrap().target, NodeId([0x11; 20]));
    // A32 elements in 2-byte form.
    let wide: Vec<u8> = [0x98, 0x20].into_iter().chain((0..32).flat_map(|_| [0x19, 0x00, 0x44])).collect();
    let gm = decode::<GetManifest>(&tmap(&[("manifest_id", wide)])).unwrap();
    assert_eq!(gm.manifest_id.0, [0x44; 32]);
}

// ---------------------------------------------------------------- row: tags

#[test]
fn tags_are_skipped() {
    // Self-described CBOR (tag 55799) around the whole envelope, and tags on keys and values.
    let e: Vec<_> = envelope_entries().into_iter().map(|(k, v)| (k, tagged(24, v))).collect();
    let bytes = tagged(55799, tmap(&e));
    assert_eq!(decode::<Envelope>(&bytes).unwrap(), envelope_value());
    let mut keyed = vec![0xa1];
    keyed.extend(tagged(1, tstr("max_peers")));
    keyed.extend(tagged(2, tagged(3, uint(9))));
    assert_eq!(decode::<PexRequest>(&keyed).unwrap().max_peers, 9);
    // Tags inside an A32, before null, and on an integer key of an I-map.
    let a32: Vec<u8> = [0x98, 0x20].into_iter().chain((0..32).flat_map(|_| tagged(7, uint(0x44)))).collect();
    assert_eq!(decode::<GetManifest>(&tmap(&[("manifest_id", a32)])).unwrap().manifest_id.0, [0x44; 32]);
    let e = with(peer_entries(), "pubkey_hint", tagged(9, null()));
    assert_eq!(decode::<PeerAddr>(&tmap(&e)).unwrap(), peer_value());
    let mut find = vec![0xa1];
    find.extend(tagged(4, uint(0)));
    find.extend(tagged(5, bstr(&[0x22; 32])));
    assert_eq!(decode::<FindValue>(&find).unwrap().key, DhtKey([0x22; 32]));
}

// ---------------------------------------------------------------- row: trailing bytes

#[test]
fn trailing_bytes_after_the_item_are_ignored() {
    let mut bytes = envelope_bytes();
    bytes.extend([0xff, 0x00, 0xa4, 0x5b]);
    assert_eq!(Envelope::from_bytes(&bytes).unwrap(), envelope_value());
    let mut hello = hello_bytes();
    hello.extend(b"junk");
    assert_eq!(HandshakeHello::from_bytes(&hello).unwrap(), hello_value());
    let mut payload = imap(&[(0, bstr(&[0xe; 32]))]);
    payload.push(0x00);
    assert!(AnyRequest::decode(MsgType::GET_CHUNK_HASHES, &payload).is_ok());
}

// ---------------------------------------------------------------- row: integer ranges

#[test]
fn out_of_range_integers_are_rejected() {
    let err = PexRequest::from_payload(&tmap(&[("max_peers", uint(300))])).unwrap_err().to_string();
    assert!(err.contains("PEX_REQUEST"), "{err}");
    assert!(decode::<Envelope>(&tmap(&with(envelope_entries(), "type", uint(70_000)))).is_err());
    assert!(decode::<Envelope>(&tmap(&with(envelope_entries(), "req_id", uint(1 << 32)))).is_err());
    assert!(decode::<Envelope>(&tmap(&with(envelope_entries(), "flags", uint(65_536)))).is_err());
    assert!(decode::<GetChunk>(&imap(&[(0, bstr(&[1; 32])), (1, uint(1 << 32))])).is_err());
    assert!(decode::<PeerAddr>(&tmap(&with(peer_entries(), "port", uint(65_536)))).is_err());
    assert!(decode::<ListPublicShares>(&tmap(&[("max_entries", uint(65_536))])).is_err());
    assert!(decode::<Manifest>(&tmap(&with(manifest_entries(), "version", uint(256)))).is_err());
    assert!(decode::<HandshakeHello>(&tmap(&with(hello_entries(), "protocol_version", uint(65_536)))).is_err());
    // A byte above 255 inside an A32, and a negative integer for an unsigned field.
    let mut a32 = ints(&[1; 32]);
    a32.truncate(a32.len() - 1);
    a32.extend(uint(256));
    assert!(decode::<ShareHead>(&tmap(&with(head_entries(), "share_id", a32))).is_err());
    assert!(decode::<Manifest>(&tmap(&with(manifest_entries(), "seq", int(-1)))).is_err());
    // The largest in-range values are fine.
    assert_eq!(decode::<PexRequest>(&tmap(&[("max_peers", uint(255))])).unwrap().max_peers, 255);
    assert_eq!(
        decode::<Envelope>(&tmap(&with(envelope_entries(), "req_id", uint(u32::MAX as u64)))).unwrap().req_id,
        u32::MAX
    );
}

// ---------------------------------------------------------------- row: IP addresses

#[test]
fn ip_addresses_must_be_externally_tagged() {
    let as_text = with(peer_entries(), "ip", tstr("10.0.0.5"));
    let err = decode_err::<PeerAddr>(&tmap(&as_text));
    assert!(err.contains("ip: expected a map"), "{err}");
    assert!(decode::<PeerAddr>(&tmap(&with(peer_entries(), "ip", bstr(&[10, 0, 0, 5])))).is_err());
    assert!(decode::<PeerAddr>(&tmap(&with(peer_entries(), "ip", tmap(&[("V4", tstr("10.0.0.5"))])))).is_err());
    assert!(decode::<PeerAddr>(&tmap(&with(peer_entries(), "ip", tmap(&[("V4", ints(&[1; 16]))])))).is_err());
    assert!(decode::<PeerAddr>(&tmap(&with(peer_entries(), "ip", tmap(&[("V5", ints(&[1; 4]))])))).is_err());
    assert!(decode::<PeerAddr>(&tmap(&with(peer_entries(), "ip", tmap(&[])))).is_err());
    let both = tmap(&[("V4", ints(&[1; 4])), ("V6", ints(&[1; 16]))]);
    assert!(decode_err::<PeerAddr>(&tmap(&with(peer_entries(), "ip", both))).contains("more than one address family"));
    // The octets may be A4/A16 or byte strings.
    let v6 = tmap(&[("V6", bstr(&"2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets()))]);
    let p: PeerAddr = decode(&tmap(&with(peer_entries(), "ip", v6))).unwrap();
    assert_eq!(p.ip.to_string(), "2001:db8::1");
}

// ---------------------------------------------------------------- row: STORE ttl (§0.4)

#[test]
fn store_ttl_stays_a_non_negative_i64() {
    let s = Store { key: DhtKey([3; 32]), value: vec![1, 2, 3], ttl_secs: u64::MAX };
    let bytes = s.to_payload();
    let mut want = imap(&[(0, bstr(&[3; 32])), (1, bstr(&[1, 2, 3]))]);
    want[0] = 0xa3;
    want.extend([0x02, 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(hexs(&bytes), hexs(&want), "u64::MAX is written as i64::MAX, never as -1 (0x20)");
    assert_eq!(Store::from_payload(&bytes).unwrap().ttl_secs, i64::MAX as u64);
    let with_ttl = |ttl: Vec<u8>| imap(&[(0, bstr(&[3; 32])), (1, bstr(&[1])), (2, ttl)]);
    // What the reference writes for u64::MAX (−1), and other negative values, are rejected.
    for ttl in [int(-1), int(i64::MIN), vec![0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]] {
        let err = decode_err::<Store>(&with_ttl(ttl));
        assert!(err.contains("ttl_secs"), "{err}");
    }
    // Values that do not fit an i64 cannot be sent back and are rejected too.
    assert!(decode_err::<Store>(&with_ttl(uint(1 << 63))).contains("ttl_secs"));
    assert_eq!(decode::<Store>(&with_ttl(uint(i64::MAX as u64))).unwrap().ttl_secs, i64::MAX as u64);
    // Inside FIND_VALUE results too.
    let fv = imap(&[(0, with_ttl(int(-1))), (1, array(&[]))]);
    assert!(decode::<FindValueResult>(&fv).is_err());
}

// ---------------------------------------------------------------- trove extensions

#[test]
fn share_head_extension_round_trips_and_strips_to_the_v1_bytes() {
    let e = entry("share_heads", "conformance_head");
    let share = Keypair::from_seed(xa(e, "signing_seed"));
    let v1 = head_value();
    let ext = ShareHead::sign(&share, v1.latest_seq, v1.latest_manifest_id, v1.updated_at);
    assert_eq!(ext.share_pubkey, Some(share.public()));
    let bytes = ext.to_payload();
    // Exactly the v1 map with one more entry at the end.
    let mut want = head_entries();
    want.push(("share_pubkey", ints(&share.public().0)));
    assert_eq!(hexs(&bytes), hexs(&tmap(&want)));
    let decoded = ShareHead::from_payload(&bytes).unwrap();
    assert_eq!(decoded, ext);
    assert_eq!(decoded.to_payload(), bytes);
    assert_eq!(decoded.without_extension().to_payload(), head_bytes(), "v1 form is the vector");
    assert!(decoded.verify_self().unwrap());
    assert!(!v1.verify_self().unwrap(), "a v1 head cannot be checked on its own");
    // The key is not signed but self-certifying: another key fails.
    let other = ShareHead { share_pubkey: Some(Keypair::from_seed([9; 32]).public()), ..decoded };
    assert!(other.verify_self().is_err());
    // A null extension value decodes as absent.
    let mut nulled = head_entries();
    nulled.push(("share_pubkey", null()));
    assert_eq!(ShareHead::from_payload(&tmap(&nulled)).unwrap(), v1);
}

#[test]
fn handshake_extension_round_trips_and_strips_to_the_v1_bytes() {
    let v1 = hello_value();
    for binding in [Some([0x5a; 64]), None] {
        let ext = HelloExt {
            version: EXT_VERSION,
            features: vec!["channel-binding".into(), "pipelining".into()],
            binding,
            addrs: Vec::new(),
        };
        let hello = HandshakeHello { ext: Some(ext.clone()), ..v1.clone() };
        let bytes = hello.to_bytes();
        let mut ext_entries =
            vec![("v", uint(EXT_VERSION as u64)), ("features", array(&[tstr("channel-binding"), tstr("pipelining")]))];
        if let Some(b) = binding {
            ext_entries.push(("bind", bstr(&b)));
        }
        let mut want = hello_entries();
        want.push(("trove", tmap(&ext_entries)));
        assert_eq!(hexs(&bytes), hexs(&tmap(&want)), "the v1 map plus one `trove` entry");
        let decoded = HandshakeHello::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, hello);
        assert_eq!(decoded.to_bytes(), bytes);
        // The v1 signature does not cover the extension.
        decoded.verify(decoded.timestamp_unix_secs).unwrap();
        assert_eq!(HandshakeHello { ext: None, ..decoded }.to_bytes(), hello_bytes(), "v1 form is the vector");
    }
    // A malformed extension fails the hello instead of being ignored.
    let mut bad = hello_entries();
    bad.push(("trove", uint(5)));
    assert!(HandshakeHello::from_bytes(&tmap(&bad)).is_err());
    let mut no_version = hello_entries();
    no_version.push(("trove", tmap(&[("features", array(&[]))])));
    let err = HandshakeHello::from_bytes(&tmap(&no_version)).unwrap_err().to_string();
    assert!(err.contains("missing field `v`"), "{err}");
}

#[test]
fn lan_packet_extension_keys_round_trip() {
    let e = entry("lan_packets", "lan_v2_99");
    let v1 = lan_packet(&e["fields"]);
    let ext = LanPacket { quic_port: Some(7000), node_pubkey: Some(PubKey([0x42; 32])), ..v1.clone() };
    let bytes = ext.to_payload();
    assert_eq!(LanPacket::from_payload(&bytes).unwrap(), ext);
    assert_eq!(LanPacket::from_payload(&bytes).unwrap().to_payload(), bytes);
    assert_eq!(LanPacket { quic_port: None, node_pubkey: None, ..ext }.to_payload(), x(e, "cbor"));
}
