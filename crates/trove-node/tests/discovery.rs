//! Discovery between real nodes on loopback: a 20-node DHT where every node finds what one
//! stored, a v1-shaped bootstrap node that never fills a routing table, and PEX and LAN
//! floods that stay capped (TEST-MATRIX DH-6).

mod common;

use common::*;
use std::time::{Duration, Instant};
use trove_node::PublishRequest;
use trove_proto::wire::{PeerAddr, PexOffer, Transport};

fn hints(n: &trove_node::Node) -> Vec<String> {
    n.advertised().iter().map(|a| format!("{}://{}", a.transport.as_str(), a.socket_addr())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_nodes_find_what_one_stored() {
    let dirs: Vec<_> = (0..20).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = node(dirs[0].path()).await;
    let boot = hints(&first);
    let mut nodes = vec![first];
    for d in &dirs[1..] {
        nodes.push(node_with(d.path(), |c| c.bootstrap = boot.clone()).await);
    }
    let content = tempfile::tempdir().unwrap();
    write_tree(content.path(), &[("x.txt", 5)]);
    let r =
        nodes[7].publish(PublishRequest { paths: vec![content.path().into()], ..Default::default() }).await.unwrap();
    // The head reaches the DHT in the background: wait until some node other than the
    // publisher stores it.
    let key = trove_proto::dht_key::share_head(&r.share_id);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !nodes.iter().enumerate().any(|(i, n)| i != 7 && n.dht_has(&key)) {
        assert!(Instant::now() < deadline, "head never stored in the DHT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut hops = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if i == 7 {
            continue;
        }
        let found = n.lookup_head(r.share_pubkey).await;
        assert_eq!(found.seq, Some(1), "node {i} did not find the head");
        hops.push(found.hops);
    }
    println!("19 lookups found the head; hops {hops:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_shaped_bootstrap_that_never_routes_still_works() {
    let boot = FakePeer::start(false).await;
    boot.state.store_values.store(true, std::sync::atomic::Ordering::SeqCst);
    let b = vec![boot.hint()];
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node_with(dirs[0].path(), |c| c.bootstrap = b.clone()).await;
    let u = node_with(dirs[1].path(), |c| c.bootstrap = b.clone()).await;
    let content = tempfile::tempdir().unwrap();
    write_tree(content.path(), &[("x.txt", 5)]);
    let r = a.publish(PublishRequest { paths: vec![content.path().into()], ..Default::default() }).await.unwrap();
    let key = trove_proto::dht_key::share_head(&r.share_id);
    let deadline = Instant::now() + Duration::from_secs(30);
    let providers = trove_proto::dht_key::content_providers(&trove_proto::ContentId(r.share_id.0));
    while !boot.state.values.lock().unwrap().contains_key(&key)
        || !boot.state.values.lock().unwrap().contains_key(&providers)
    {
        assert!(Instant::now() < deadline, "head never stored at the v1 bootstrap");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(u.lookup_head(r.share_pubkey).await.seq, Some(1));
    // Subscribing by id and key works through it too.
    let s = u.subscribe(&r.share_id.to_hex(), Some(r.share_pubkey), trove_store::db::Trust::Normal).await.unwrap();
    assert_eq!(s.seq, Some(1), "{s:?}");
}

fn fake_addr(i: u32) -> PeerAddr {
    PeerAddr::new(std::net::SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 7001)), Transport::Tcp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pex_and_lan_floods_stay_capped() {
    let dir = tempfile::tempdir().unwrap();
    let lan_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let n = node_with(dir.path(), |c| {
        c.lan.enabled = true;
        c.lan.port = lan_port;
        c.lan.interval_ms = 60_000;
    })
    .await;
    let before = n.peers().len();
    // A PEX offer of 4,000 peers (the decoder's cap is 4,096; 20,000 do not even decode).
    let client = trove_net::Endpoint::bind(
        trove_net::NetConfig::new(trove_proto::Keypair::generate()),
        std::sync::Arc::new(Nothing),
        std::sync::Arc::new(trove_net::MemoryPins::default()),
    )
    .await
    .unwrap();
    let s = client.connect(&n.advertised()[0]).await.unwrap();
    s.call(&PexOffer { peers: (0..4000).map(fake_addr).collect() }).await.unwrap();
    let huge = PexOffer { peers: (0..20_000).map(fake_addr).collect() };
    assert!(s.call(&huge).await.is_err(), "a 20,000-peer offer must be refused");
    let after_pex = n.peers().len();
    println!("PEX flood: {before} -> {after_pex} peers");
    assert!(after_pex - before <= 64, "PEX offer not capped: {}", after_pex - before);

    // 20,000 spoofed LAN packets from as many instances claiming relay capability.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20_000u32 {
        let p = trove_proto::wire::LanPacket {
            version: 2,
            instance_id: [(i >> 8) as u8, i as u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
            tcp_port: 10_000 + (i % 50_000) as u16,
            capabilities: Some(trove_proto::wire::Capabilities { relay: true, ..Default::default() }),
            quic_port: None,
            node_pubkey: None,
        };
        let _ = sock.send_to(&trove_proto::cbor::to_vec(&p), ("127.0.0.1", lan_port));
    }
    // Wait for the node to work through its socket buffer: the count stops growing.
    let mut last = n.peers().len();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = n.peers().len();
        if now == last {
            break;
        }
        last = now;
    }
    println!("LAN flood: {after_pex} -> {last} peers");
    assert!(last - after_pex <= 64, "LAN flood not capped: {}", last - after_pex);
}

struct Nothing;
impl trove_net::Handler for Nothing {
    fn handle(
        &self,
        _: std::sync::Arc<trove_net::PeerInfo>,
        req: trove_proto::wire::Envelope,
    ) -> trove_net::ReplyFuture {
        Box::pin(async move {
            trove_net::Reply::Respond(trove_proto::wire::Envelope::error(req.msg_type, req.req_id, "no"))
        })
    }
}
