//! Relays between real nodes on loopback. The firewalled node has no listener at all, so
//! whatever reaches it comes through its tunnel: subscribe, sync and download through a trove
//! relay (end to end) and through v1-shaped relays and peers (envelope forwarding); relay
//! restart and failover; finding a relay through its DHT announcement.

mod common;
mod relay_support;

use common::*;
use relay_support::*;
use std::time::Duration;
use trove_node::{Event, NodeConfig};
use trove_store::db::Trust;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_sync_and_download_through_a_trove_relay() {
    let (dr, df, dd, content, out) = (tempdir(), tempdir(), tempdir(), tempdir(), tempdir());
    write_tree(content.path(), &[("film/part1.bin", 1_500_000), ("notes.txt", 300)]);
    let r = relay(dr.path(), |_| {}).await;
    let f = firewalled(df.path(), &[&r], |_| {}).await;
    let route = tunnel_up(&f).await;
    assert!(route.relay.contains(&r.node_pubkey().to_hex()), "{route:?}");
    let p = publish_at(&f, content.path(), &r).await;
    // The link names the relay, so a subscriber reaches the publisher at once.
    let link = trove_proto::ShareLink::parse(&p.link).unwrap();
    assert_eq!(link.bootstrap, vec![boot(&r)]);

    let d = node(dd.path()).await;
    let s = d.subscribe(&p.link, None, Trust::Normal).await.unwrap();
    assert_eq!((s.seq, s.items, s.error.as_deref()), (Some(1), Some(2), None), "{s:?}");
    let rep = get_all(&d, &p.link, out.path()).await;
    assert!(rep.ok(), "{rep:#?}");
    for rel in ["film/part1.bin", "notes.txt"] {
        assert_eq!(std::fs::read(out.path().join(rel)).unwrap(), std::fs::read(content.path().join(rel)).unwrap());
    }
    let st = r.relay_stats().unwrap();
    println!("relay: {st:?}");
    // End to end: a virtual stream carried the manifest and the chunks.
    assert!(st.streams_opened >= 1, "{st:?}");
    assert!(st.content_bytes >= 1_500_000, "the file's chunks crossed the relay: {st:?}");
    assert_eq!(st.tunnels, 1);
    assert!(r.relay_tunnels()[0].e2e);
    // The relay lists its own signed announcement.
    let a = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(a) = relay_list(&d, &r).await.into_iter().next() {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    a.validate().unwrap();
    assert_eq!(a.relay_pubkey, r.node_pubkey());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_shaped_firewalled_node_and_dialer_through_a_trove_relay() {
    let (dr, df, dd, content, out) = (tempdir(), tempdir(), tempdir(), tempdir(), tempdir());
    write_tree(content.path(), &[("a.bin", 700_000), ("b.txt", 50)]);
    let r = relay(dr.path(), |_| {}).await;
    let f = firewalled(df.path(), &[&r], |c| c.extensions = false).await;
    tunnel_up(&f).await;
    let p = publish_at(&f, content.path(), &r).await;
    let d = node_with(dd.path(), |c| c.extensions = false).await;
    subscribe_and_get_a_bin(&d, &p.link, content.path(), out.path()).await;
    let st = r.relay_stats().unwrap();
    println!("relay: {st:?}");
    // v1 tunnel mode: every request travelled as an envelope in a RELAY_STREAM.
    assert_eq!(st.streams_opened, 0, "{st:?}");
    assert!(st.forwarded >= 4, "{st:?}");
    assert!(st.content_bytes >= 700_000, "{st:?}");
    assert!(!r.relay_tunnels()[0].e2e);
}

/// Subscribes to `link` (revision 1) and downloads it; `a.bin` arrives identical.
async fn subscribe_and_get_a_bin(d: &trove_node::Node, link: &str, content: &std::path::Path, out: &std::path::Path) {
    let s = d.subscribe(link, None, Trust::Normal).await.unwrap();
    assert_eq!((s.seq, s.error.as_deref()), (Some(1), None), "{s:?}");
    let rep = get_all(d, link, out).await;
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(std::fs::read(out.join("a.bin")).unwrap(), std::fs::read(content.join("a.bin")).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trove_nodes_through_a_v1_shaped_relay() {
    let (dr, df, dd, content, out) = (tempdir(), tempdir(), tempdir(), tempdir(), tempdir());
    write_tree(content.path(), &[("a.bin", 600_000)]);
    let r = relay(dr.path(), |c| c.extensions = false).await;
    let f = firewalled(df.path(), &[&r], |_| {}).await;
    tunnel_up(&f).await;
    let p = publish_at(&f, content.path(), &r).await;
    let d = node(dd.path()).await;
    subscribe_and_get_a_bin(&d, &p.link, content.path(), out.path()).await;
    let st = r.relay_stats().unwrap();
    println!("relay: {st:?}");
    // A v1 relay knows nothing of virtual streams: the trove nodes fell back to forwarding.
    assert_eq!(st.streams_opened, 0, "{st:?}");
    assert!(st.forwarded >= 3, "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_restart_and_failover() {
    let (dr1, dr2, df, dd, content) = (tempdir(), tempdir(), tempdir(), tempdir(), tempdir());
    write_tree(content.path(), &[("a.bin", 800_000)]);
    // TCP only: a restarted relay binds the same port again.
    let tcp_only = |c: &mut NodeConfig| c.listen_quic = None;
    let r1 = relay(dr1.path(), tcp_only).await;
    let r2 = relay(dr2.path(), tcp_only).await;
    let r1_port = r1.tcp_addr().unwrap();
    let f = firewalled(df.path(), &[&r1, &r2], |c| c.relay.relays = vec![boot(&r1), boot(&r2)]).await;
    let mut fev = f.events();
    let first = tunnel_up(&f).await;
    assert!(first.relay.contains(&r1.node_pubkey().to_hex()), "{first:?}");
    let p = publish_at(&f, content.path(), &r1).await;
    let d = node_with(dd.path(), |c| c.bootstrap = vec![boot(&r1), boot(&r2)]).await;
    d.subscribe(&p.link, None, Trust::Normal).await.unwrap();
    let original = std::fs::read(content.path().join("a.bin")).unwrap();
    let download = |round: u32| {
        let d = d.clone();
        let link = p.link.clone();
        let original = original.clone();
        async move {
            let out = tempdir();
            let rep = get_all(&d, &link, out.path()).await;
            assert!(rep.ok(), "round {round}: {rep:#?}");
            assert_eq!(std::fs::read(out.path().join("a.bin")).unwrap(), original, "round {round}");
        }
    };
    download(1).await;

    // R1 goes down: F fails over to R2 and announces its new address.
    let r1_key = r1.node_pubkey();
    r1.shutdown().await;
    drop(r1);
    wait_for(&mut fev, |e| matches!(e, Event::RelayTunnelLost { .. })).await;
    let second = tunnel_up_at(&mut fev, &f, &r2).await;
    println!("failed over: {second:?}");
    provider_listed(&r2, trove_proto::ContentId(p.share_id.0), &second.address).await;
    // R1 comes back (same key, same port) while F is at R2.
    let r1 = restart(dr1.path(), |c| {
        c.relay = trove_node::relay::RelaySettings::server();
        c.listen_quic = None;
        c.listen_tcp = Some(r1_port);
    })
    .await;
    assert_eq!(r1.node_pubkey(), r1_key);
    download(2).await;

    // R2 goes away for good: F returns to the restarted R1 and gets its old slot back.
    r2.shutdown().await;
    let third = tunnel_up_at(&mut fev, &f, &r1).await;
    println!("back at the restarted relay: {third:?}");
    assert_eq!(third.slot, first.slot, "a restarted relay gives the node the same slot id");
    assert_eq!(third.address, first.address);
    provider_listed(&r1, trove_proto::ContentId(p.share_id.0), &third.address).await;
    download(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_is_found_through_its_dht_announcement() {
    let (dn, dr, df) = (tempdir(), tempdir(), tempdir());
    // N relays nothing; R announces itself in the DHT (at N, its bootstrap).
    let n = node(dn.path()).await;
    let r = relay(dr.path(), |c| c.bootstrap = vec![boot(&n)]).await;
    let keys = trove_proto::dht_key::relay_rendezvous_keys(&r.node_pubkey(), trove_proto::dht_key::relay_bucket(now()));
    tokio::time::timeout(Duration::from_secs(60), async {
        while !keys.iter().any(|k| n.dht_has(k)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the announcement was not stored");
    // F knows only N: N refuses a tunnel, so F looks the rendezvous keys up and finds R.
    let f = node_with(df.path(), |c| {
        c.listen_tcp = None;
        c.listen_quic = None;
        c.bootstrap = vec![format!("tcp://{}", n.tcp_addr().unwrap()), format!("quic://{}", n.quic_addr().unwrap())];
    })
    .await;
    let route = tunnel_up(&f).await;
    assert!(route.relay.contains(&r.node_pubkey().to_hex()), "{route:?}");
}
