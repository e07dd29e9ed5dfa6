//! trove's extension vectors (testdata/ext_vectors.json, documented in docs/PROTOCOL.md),
//! checked in both directions: encoding gives the bytes, decoding and re-encoding gives them
//! back, signatures verify, and the v1 forms stay what v1 peers expect.

use serde_json::Value;
use trove_proto::cbor;
use trove_proto::keys::{EphemeralSecret, Keypair};
use trove_proto::wire::handshake::{binding_message, is_marked_nonce, marked_nonce_from};
use trove_proto::wire::*;

fn v() -> Value {
    serde_json::from_str(include_str!("../../../testdata/ext_vectors.json")).unwrap()
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    hx(v).try_into().unwrap()
}

#[test]
fn nonce_marker() {
    let v = v();
    let n = marked_nonce_from(arr(&v["nonce_marker"]["random16"]));
    assert_eq!(n.to_vec(), hx(&v["nonce_marker"]["nonce"]));
    assert!(is_marked_nonce(&n));
    let mut other = n;
    other[31] ^= 1;
    assert!(!is_marked_nonce(&other));
    assert!(!is_marked_nonce(&[0x01; 32]), "v1 vector nonce is unmarked");
}

#[test]
fn binding_signature() {
    let v = v();
    let b = &v["binding"];
    let msg = binding_message(Role::Initiator, &arr(&b["exporter"]), &arr(&b["nonce"]));
    assert_eq!(msg, hx(&b["message"]));
    let key = Keypair::from_seed(arr(&b["signing_seed"]));
    let sig = key.sign(&msg);
    assert_eq!(sig.to_vec(), hx(&b["signature"]));
    trove_proto::keys::verify(&key.public(), &msg, &sig, "binding").unwrap();
    // The responder's message differs (role byte), so a reflected signature fails.
    let resp = binding_message(Role::Responder, &arr(&b["exporter"]), &arr(&b["nonce"]));
    assert!(trove_proto::keys::verify(&key.public(), &resp, &sig, "binding").is_err());
}

#[test]
fn hello_with_extension_both_directions() {
    let v = v();
    let c = &v["client_hello_with_extension"];
    let bytes = hx(&c["cbor"]);
    let hello = HandshakeHello::from_bytes(&bytes).unwrap();
    assert_eq!(hello.to_bytes(), bytes);
    assert_eq!(hello.signed_tuple(), hx(&c["signed_tuple"]));
    hello.verify(1_700_000_000).unwrap();
    let ext = hello.ext.clone().unwrap();
    assert_eq!(ext.version, 1);
    assert!(ext.has("bind") && ext.has("mux") && ext.has("head-push"));
    // Rebuilding from inputs gives the same bytes.
    let key = Keypair::from_seed(arr(&c["signing_seed"]));
    let eph = EphemeralSecret::from_bytes(arr(&c["x25519_secret"]));
    let mut rebuilt = HandshakeHello::sign(&key, hello.capabilities, hello.nonce, None, 1_700_000_000, eph.public());
    rebuilt.ext = Some(ext);
    assert_eq!(rebuilt.to_bytes(), bytes);
    // Without the key it is exactly a v1 hello, and the v1 signature still verifies.
    let v1 = HandshakeHello { ext: None, ..hello };
    assert_eq!(v1.to_bytes(), hx(&c["v1_form_cbor"]));
    v1.verify(1_700_000_000).unwrap();
}

#[test]
fn share_head_with_pubkey_both_directions() {
    let v = v();
    let s = &v["share_head_with_pubkey"];
    let bytes = hx(&s["cbor"]);
    let head: ShareHead = cbor::from_slice(&bytes).unwrap();
    assert_eq!(cbor::to_vec(&head), bytes);
    assert_eq!(head.share_pubkey.unwrap().0.to_vec(), hx(&s["share_pubkey"]));
    assert!(head.verify_self().unwrap());
    let v1 = cbor::to_vec(&head.without_extension());
    assert_eq!(v1, hx(&s["v1_form_cbor"]));
    // The v1 form is the conformance head of SCP2P-WIRE.md §11.2.
    let wire: Value = serde_json::from_str(include_str!("../../../testdata/vectors.json")).unwrap();
    assert_eq!(v1, hx(&wire["share_heads"][0]["cbor"]));
    let key = Keypair::from_seed(arr(&s["signing_seed"]));
    assert_eq!(ShareHead::sign(&key, head.latest_seq, head.latest_manifest_id, head.updated_at), head);
}

#[test]
fn lan_packet_with_extension() {
    let v = v();
    let bytes = hx(&v["lan_packet_with_extension"]["cbor"]);
    let p: LanPacket = cbor::from_slice(&bytes).unwrap();
    assert_eq!((p.quic_port, p.tcp_port), (Some(7000), 7001));
    assert_eq!(cbor::to_vec(&p), bytes);
}

#[test]
fn extension_payloads_both_directions() {
    let v = v();
    let list = v["payloads"].as_array().unwrap();
    assert_eq!(list.len(), 6);
    for p in list {
        let t = MsgType(p["type"].as_u64().unwrap() as u16);
        let bytes = hx(&p["payload"]);
        let reencoded = match t {
            MsgType::GET_MANIFEST_PAGE => cbor::to_vec(&cbor::from_slice::<GetManifestPage>(&bytes).unwrap()),
            MsgType::MANIFEST_PAGE => cbor::to_vec(&cbor::from_slice::<ManifestPage>(&bytes).unwrap()),
            MsgType::GET_CHUNK_HASHES_PAGE => cbor::to_vec(&cbor::from_slice::<GetChunkHashesPage>(&bytes).unwrap()),
            MsgType::CHUNK_HASHES_PAGE => cbor::to_vec(&cbor::from_slice::<ChunkHashesPage>(&bytes).unwrap()),
            MsgType::WATCH_HEADS => cbor::to_vec(&cbor::from_slice::<WatchHeads>(&bytes).unwrap()),
            MsgType::HEADS => cbor::to_vec(&cbor::from_slice::<Heads>(&bytes).unwrap()),
            other => panic!("unexpected type {other}"),
        };
        assert_eq!(reencoded, bytes, "{}", p["name"]);
        // Requests decode through the server dispatch only on bound sessions.
        if matches!(t, MsgType::GET_MANIFEST_PAGE | MsgType::GET_CHUNK_HASHES_PAGE | MsgType::WATCH_HEADS) {
            assert!(AnyRequest::decode_ext(t, &bytes, true).is_ok());
            assert_eq!(
                AnyRequest::decode_ext(t, &bytes, false).unwrap_err().to_string(),
                format!("unknown message type {}", t.0)
            );
        }
    }
}

#[test]
fn hello_with_listen_addresses_both_directions() {
    let v = v();
    let bytes = hx(&v["client_hello_with_addrs"]["cbor"]);
    let hello = HandshakeHello::from_bytes(&bytes).unwrap();
    assert_eq!(hello.to_bytes(), bytes);
    let ext = hello.ext.clone().unwrap();
    assert_eq!(ext.addrs.len(), 2);
    assert_eq!(ext.addrs[0].port, 7001);
    assert_eq!(ext.addrs[1].transport, Transport::Quic);
    assert_eq!(ext.addrs[0].pubkey_hint, Some(hello.node_pubkey));
    // The addresses ride in the unsigned extension: the v1 signature still verifies.
    hello.verify(1_700_000_000).unwrap();
    // More than 8 addresses are refused.
    let mut big = hello.clone();
    big.ext.as_mut().unwrap().addrs = vec![ext.addrs[0].clone(); 9];
    assert!(HandshakeHello::from_bytes(&big.to_bytes()).is_err());
}
