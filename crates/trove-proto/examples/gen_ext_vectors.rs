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
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
