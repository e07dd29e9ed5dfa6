//! Prints the extension vectors of docs/PROTOCOL.md as JSON (regenerate with
//! `cargo run -p trove-proto --example gen_ext_vectors > testdata/ext_vectors.json`).

use trove_proto::cbor;
use trove_proto::ids::{ContentId, ManifestId, PubKey, ShareId};
use trove_proto::keys::{EphemeralSecret, Keypair};
use trove_proto::wire::handshake::{binding_message, marked_nonce_from};
use trove_proto::wire::*;

fn h(b: &[u8]) -> String {
    hex::encode(b)
}

fn main() {
    let client = Keypair::from_seed([0x11; 32]);
    let eph = EphemeralSecret::from_bytes([0x33; 32]);
    let nonce = marked_nonce_from([0x01; 16]);
    let exporter = [0x55u8; 32];
    let bind_msg = binding_message(Role::Initiator, &exporter, &nonce);
    let caps = Capabilities { dht: true, content_seed: true, ..Default::default() };
    let mut hello = HandshakeHello::sign(&client, caps, nonce, None, 1_700_000_000, eph.public());
    hello.ext = Some(HelloExt {
        version: 1,
        features: vec!["bind".into(), "mux".into(), "paged-manifest".into(), "paged-hashes".into(), "head-push".into()],
        binding: Some(client.sign(&bind_msg)),
        addrs: Vec::new(),
    });
    let mut with_addrs = hello.clone();
    if let Some(x) = with_addrs.ext.as_mut() {
        x.addrs = vec![
            PeerAddr::new("203.0.113.9:7001".parse().unwrap(), Transport::Tcp).with_hint(client.public()),
            PeerAddr::new("203.0.113.9:7000".parse().unwrap(), Transport::Quic).with_hint(client.public()),
        ];
    }
    let share = Keypair::from_seed(core::array::from_fn(|i| i as u8));
    let head = ShareHead::sign(
        &share,
        7,
        ManifestId::from_hex("a90a613c6ddd02449ad7548dc02e2a42f35810251cf5bca482aad4f3eda66f2b").unwrap(),
        1_700_000_010,
    );
    let lan = LanPacket {
        version: 2,
        instance_id: [0x99; 16],
        tcp_port: 7001,
        capabilities: Some(Capabilities::default()),
        quic_port: Some(7000),
        node_pubkey: Some(client.public()),
    };
    let payloads: Vec<(&str, u16, Vec<u8>)> = vec![
        (
            "get_manifest_page",
            4000,
            cbor::to_vec(&GetManifestPage { manifest_id: ManifestId([0x44; 32]), offset: 786_432, max_len: 786_432 }),
        ),
        (
            "manifest_page",
            4001,
            cbor::to_vec(&ManifestPage {
                manifest_id: ManifestId([0x44; 32]),
                total_len: 1_000_000,
                offset: 786_432,
                bytes: vec![1, 2, 3],
            }),
        ),
        (
            "get_chunk_hashes_page",
            4002,
            cbor::to_vec(&GetChunkHashesPage { content_id: ContentId([0x0e; 32]), start: 16_384, count: 16_384 }),
        ),
        (
            "chunk_hashes_page",
            4003,
            cbor::to_vec(&ChunkHashesPage {
                content_id: ContentId([0x0e; 32]),
                total: 40_000,
                start: 16_384,
                hashes: vec![[1; 32], [2; 32]],
            }),
        ),
        ("watch_heads", 4010, cbor::to_vec(&WatchHeads { shares: vec![(ShareId([0x21; 32]), 6)], wait_ms: 25_000 })),
        ("heads", 4011, cbor::to_vec(&Heads { heads: vec![cbor::to_vec(&head)] })),
    ];
    let mut out = serde_json::json!({
        "format": 1,
        "description": "trove extension vectors (docs/PROTOCOL.md); regenerate with cargo run -p trove-proto --example gen_ext_vectors",
        "nonce_marker": {"random16": h(&[0x01; 16]), "nonce": h(&nonce)},
        "binding": {
            "role": "initiator", "exporter": h(&exporter), "nonce": h(&nonce),
            "message": h(&bind_msg), "signing_seed": h(&[0x11; 32]),
            "signature": h(&client.sign(&bind_msg)),
        },
        "client_hello_with_extension": {
            "signing_seed": h(&[0x11; 32]), "x25519_secret": h(&[0x33; 32]), "timestamp": 1_700_000_000u64,
            "signed_tuple": h(&hello.signed_tuple()), "cbor": h(&hello.to_bytes()),
            "v1_form_cbor": h(&HandshakeHello { ext: None, ..hello.clone() }.to_bytes()),
        },
        "client_hello_with_addrs": {"cbor": h(&with_addrs.to_bytes())},
        "share_head_with_pubkey": {
            "signing_seed": h(&share.seed()), "share_pubkey": h(&share.public().0),
            "cbor": h(&cbor::to_vec(&head)), "v1_form_cbor": h(&cbor::to_vec(&head.without_extension())),
        },
        "lan_packet_with_extension": {"cbor": h(&cbor::to_vec(&lan))},
        "payloads": [],
    });
    for (name, t, p) in payloads {
        out["payloads"].as_array_mut().unwrap().push(serde_json::json!({"name": name, "type": t, "payload": h(&p)}));
    }
    let _ = PubKey([0; 32]);
    // End-to-end relaying (docs/PROTOCOL.md §7).
    let relay_e2e: Vec<(&str, u16, Vec<u8>)> = vec![
        (
            "relay_open",
            4020,
            cbor::to_vec(&RelayOpen { relay_slot_id: 77, kind: RelayKind::Content, target: Some(client.public()) }),
        ),
        ("relay_opened", 4021, cbor::to_vec(&RelayOpened { relay_slot_id: 77, kind: RelayKind::Control })),
        (
            "relay_incoming",
            4022,
            cbor::to_vec(&RelayIncoming { token: [0x3c; 16], kind: RelayKind::Content, dialer: client.public() }),
        ),
        ("relay_accept", 4023, cbor::to_vec(&RelayAccept { token: [0x3c; 16] })),
    ];
    let relayed = PeerAddr::new("0.0.0.0:0".parse().unwrap(), Transport::Tcp).with_hint(client.public()).via(
        PeerAddr::new("203.0.113.9:7001".parse().unwrap(), Transport::Tcp).with_hint(PubKey([0x01; 32])),
        0x0123_4567_89ab_cdef,
    );
    out["relay_e2e"] = serde_json::json!({
        "payloads": relay_e2e.iter().map(|(n, t, p)| serde_json::json!({"name": n, "type": t, "payload": h(p)})).collect::<Vec<_>>(),
        "firewalled_node_address": {"cbor": h(&cbor::to_vec(&relayed)), "dedup_key": relayed.dedup_key()},
    });
    out["community"] = community_vectors();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// Community records and messages (docs/PROTOCOL.md §6).
fn community_vectors() -> serde_json::Value {
    let community = Keypair::from_seed([0x77; 32]);
    let member = Keypair::from_seed([0x88; 32]);
    let share = Keypair::from_seed(core::array::from_fn(|i| i as u8));
    let token = CommunityMembershipToken::issue(&community, member.public(), 1_700_000_000, 1_800_000_000);
    let token_cbor = cbor::to_vec(&token);
    let addr = PeerAddr::new("203.0.113.9:7001".parse().unwrap(), Transport::Tcp).with_hint(member.public());
    let cid = community.share_id();
    let live =
        MemberRecord::sign(&member, cid, 7, 1_700_000_000, 1_700_604_800, false, vec![addr], Some(token_cbor.clone()));
    let tomb = MemberRecord::sign(&member, cid, 8, 1_700_000_100, 1_700_604_900, true, vec![], None);
    let rec = ShareRecord::sign(
        &share,
        cid,
        7,
        ManifestId::from_hex("a90a613c6ddd02449ad7548dc02e2a42f35810251cf5bca482aad4f3eda66f2b").unwrap(),
        1_700_000_010,
        1_700_604_810,
        false,
        Some("Conformance Catalog"),
        Some("fixed vectors"),
        Some(member.public()),
    );
    let secret = [0x42u8; 32];
    let cur = RecordCursor { kinds: 3, after_rev: 1000 }.seal(&secret, &cid);
    let next = RecordCursor { kinds: 3, after_rev: 1002 }.seal(&secret, &cid);
    let payloads: Vec<(&str, u16, Vec<u8>)> = vec![
        (
            "get_community_records",
            4030,
            cbor::to_vec(&GetCommunityRecords {
                community: cid,
                community_pubkey: community.public(),
                kinds: 3,
                cursor: Some(cur.clone()),
                limit: 1024,
                token: Some(token_cbor.clone()),
            }),
        ),
        (
            "community_records",
            4031,
            cbor::to_vec(&CommunityRecords {
                community: cid,
                members: vec![live.clone()],
                shares: vec![rec.clone()],
                next: next.clone(),
                more: false,
            }),
        ),
        (
            "put_community_records",
            4032,
            cbor::to_vec(&PutCommunityRecords {
                community: cid,
                community_pubkey: community.public(),
                members: vec![tomb.clone()],
                shares: vec![],
                token: None,
            }),
        ),
        ("community_records_accepted", 4033, cbor::to_vec(&CommunityRecordsAccepted { accepted: 1, rejected: 0 })),
    ];
    serde_json::json!({
        "community_seed": h(&[0x77; 32]), "community_id": h(&cid.0), "member_seed": h(&[0x88; 32]),
        "member_pubkey": h(&member.public().0), "share_seed": h(&share.seed()),
        "token": h(&token_cbor),
        "member_record": {"signing_bytes": h(&live.signing_bytes()), "cbor": h(&cbor::to_vec(&live))},
        "member_tombstone": {"signing_bytes": h(&tomb.signing_bytes()), "cbor": h(&cbor::to_vec(&tomb))},
        "share_record": {"signing_bytes": h(&rec.signing_bytes()), "cbor": h(&cbor::to_vec(&rec))},
        "cursor": {"secret": h(&secret), "kinds": 3, "after_rev": 1000, "sealed": h(&cur), "next_after_rev": 1002, "next_sealed": h(&next)},
        "payloads": payloads.iter().map(|(n, t, p)| serde_json::json!({"name": n, "type": t, "payload": h(p)})).collect::<Vec<_>>(),
    })
}
