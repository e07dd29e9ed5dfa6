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

#[test]
fn relay_e2e_payloads_both_directions() {
    let v = v();
    let r = &v["relay_e2e"];
    let client = Keypair::from_seed([0x11; 32]).public();
    let expected: Vec<(u16, Vec<u8>)> = vec![
        (4020, cbor::to_vec(&RelayOpen { relay_slot_id: 77, kind: RelayKind::Content, target: Some(client) })),
        (4021, cbor::to_vec(&RelayOpened { relay_slot_id: 77, kind: RelayKind::Control })),
        (4022, cbor::to_vec(&RelayIncoming { token: [0x3c; 16], kind: RelayKind::Content, dialer: client })),
        (4023, cbor::to_vec(&RelayAccept { token: [0x3c; 16] })),
    ];
    let list = r["payloads"].as_array().unwrap();
    assert_eq!(list.len(), expected.len());
    for (p, (code, built)) in list.iter().zip(expected) {
        let t = MsgType(p["type"].as_u64().unwrap() as u16);
        assert_eq!(t.0, code);
        let bytes = hx(&p["payload"]);
        // Encoding the inputs gives the vector, decoding the vector and encoding again too.
        assert_eq!(built, bytes, "{}", p["name"]);
        let reencoded = match t {
            MsgType::RELAY_OPEN => cbor::to_vec(&cbor::from_slice::<RelayOpen>(&bytes).unwrap()),
            MsgType::RELAY_OPENED => cbor::to_vec(&cbor::from_slice::<RelayOpened>(&bytes).unwrap()),
            MsgType::RELAY_INCOMING => cbor::to_vec(&cbor::from_slice::<RelayIncoming>(&bytes).unwrap()),
            MsgType::RELAY_ACCEPT => cbor::to_vec(&cbor::from_slice::<RelayAccept>(&bytes).unwrap()),
            other => panic!("unexpected type {other}"),
        };
        assert_eq!(reencoded, bytes, "{}", p["name"]);
        // Requests are decoded only on bound sessions; a v1 peer gets the v1 answer.
        if t != MsgType::RELAY_OPENED {
            assert!(AnyRequest::decode_ext(t, &bytes, true).is_ok());
            assert_eq!(
                AnyRequest::decode_ext(t, &bytes, false).unwrap_err().to_string(),
                format!("unknown message type {}", t.0)
            );
        }
    }
    // A firewalled node without a listener publishes 0.0.0.0:0 with its key and its route;
    // the v1 PeerAddr encoding is unchanged (relay_via as in SCP2P-WIRE.md §5).
    let a = &r["firewalled_node_address"];
    let bytes = hx(&a["cbor"]);
    let addr: PeerAddr = cbor::from_slice(&bytes).unwrap();
    assert_eq!(cbor::to_vec(&addr), bytes);
    assert_eq!(addr.pubkey_hint, Some(client));
    let route = addr.relay_via.as_deref().unwrap();
    assert_eq!((route.slot_id, route.relay_addr.port), (0x0123_4567_89ab_cdef, 7001));
    assert_eq!(addr.dedup_key(), a["dedup_key"].as_str().unwrap());
}

#[test]
fn community_records_both_directions() {
    use trove_proto::wire::community_ext::check_token;
    let v = v();
    let c = &v["community"];
    let community = Keypair::from_seed(arr(&c["community_seed"]));
    let member = Keypair::from_seed(arr(&c["member_seed"]));
    let share = Keypair::from_seed(arr(&c["share_seed"]));
    assert_eq!(community.share_id().0.to_vec(), hx(&c["community_id"]));
    assert_eq!(member.public().0.to_vec(), hx(&c["member_pubkey"]));
    let token = hx(&c["token"]);
    check_token(&token, &community.public(), &community.share_id(), &member.public(), 1_700_000_001).unwrap();

    // Member record: decode → same bytes, the signed form, the signature, and the token.
    let bytes = hx(&c["member_record"]["cbor"]);
    let live: MemberRecord = cbor::from_slice(&bytes).unwrap();
    assert_eq!(cbor::to_vec(&live), bytes);
    assert_eq!(live.signing_bytes(), hx(&c["member_record"]["signing_bytes"]));
    live.verify(Some(1_700_000_001)).unwrap();
    live.verified_token(&community.public(), 1_700_000_001).unwrap();
    let rebuilt = MemberRecord::sign(
        &member,
        community.share_id(),
        live.seq,
        live.issued_at,
        live.expires_at,
        false,
        live.addrs.clone(),
        Some(token.clone()),
    );
    assert_eq!(cbor::to_vec(&rebuilt), bytes, "encoding from the inputs gives the vector");
    // The tombstone replaces it; the token of one member does not fit another.
    let tb = hx(&c["member_tombstone"]["cbor"]);
    let tomb: MemberRecord = cbor::from_slice(&tb).unwrap();
    assert_eq!(cbor::to_vec(&tomb), tb);
    assert_eq!(tomb.signing_bytes(), hx(&c["member_tombstone"]["signing_bytes"]));
    tomb.verify(Some(1_700_000_101)).unwrap();
    assert!(tomb.left && tomb.supersedes(&live) && !live.supersedes(&tomb));
    assert!(check_token(&token, &community.public(), &community.share_id(), &share.public(), 1_700_000_001).is_err());

    // Share record.
    let sb = hx(&c["share_record"]["cbor"]);
    let rec: ShareRecord = cbor::from_slice(&sb).unwrap();
    assert_eq!(cbor::to_vec(&rec), sb);
    assert_eq!(rec.signing_bytes(), hx(&c["share_record"]["signing_bytes"]));
    rec.verify(Some(1_700_000_011)).unwrap();
    let rebuilt = ShareRecord::sign(
        &share,
        community.share_id(),
        rec.seq,
        rec.manifest_id,
        rec.updated_at,
        rec.expires_at,
        false,
        rec.title.as_deref(),
        rec.description.as_deref(),
        Some(member.public()),
    );
    assert_eq!(cbor::to_vec(&rebuilt), sb);
    assert_eq!(rec.share_id(), share.share_id());
    let mut forged = rec.clone();
    forged.withdrawn = true;
    assert!(forged.verify(None).is_err(), "a tombstone cannot be made without the share key");

    // Cursors.
    let secret: [u8; 32] = arr(&c["cursor"]["secret"]);
    let cur = RecordCursor { kinds: 3, after_rev: 1000 };
    assert_eq!(cur.seal(&secret, &community.share_id()), hx(&c["cursor"]["sealed"]));
    assert_eq!(RecordCursor::open(&hx(&c["cursor"]["sealed"]), &secret, &community.share_id()).unwrap(), cur);
    let next = RecordCursor::open(&hx(&c["cursor"]["next_sealed"]), &secret, &community.share_id()).unwrap();
    assert_eq!(next.after_rev, 1002);

    // Messages: both directions; requests only through the extension dispatch.
    let list = c["payloads"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    for p in list {
        let t = MsgType(p["type"].as_u64().unwrap() as u16);
        let bytes = hx(&p["payload"]);
        let reencoded = match t {
            MsgType::GET_COMMUNITY_RECORDS => cbor::to_vec(&cbor::from_slice::<GetCommunityRecords>(&bytes).unwrap()),
            MsgType::COMMUNITY_RECORDS => {
                let r: CommunityRecords = cbor::from_slice(&bytes).unwrap();
                assert_eq!((r.members[0].clone(), r.shares[0].clone()), (live.clone(), rec.clone()));
                cbor::to_vec(&r)
            }
            MsgType::PUT_COMMUNITY_RECORDS => cbor::to_vec(&cbor::from_slice::<PutCommunityRecords>(&bytes).unwrap()),
            MsgType::COMMUNITY_RECORDS_ACCEPTED => {
                cbor::to_vec(&cbor::from_slice::<CommunityRecordsAccepted>(&bytes).unwrap())
            }
            other => panic!("unexpected type {other}"),
        };
        assert_eq!(reencoded, bytes, "{}", p["name"]);
        if matches!(t, MsgType::GET_COMMUNITY_RECORDS | MsgType::PUT_COMMUNITY_RECORDS) {
            assert!(AnyRequest::decode_ext(t, &bytes, true).is_ok());
            assert_eq!(
                AnyRequest::decode_ext(t, &bytes, false).unwrap_err().to_string(),
                format!("unknown message type {}", t.0)
            );
        }
    }
}
