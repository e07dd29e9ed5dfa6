//! Abuse of relays (TEST-MATRIX RL-1 … RL-4) with real relay nodes on loopback, bare
//! endpoints playing third parties, and fake firewalled nodes.

mod common;
mod relay_support;

use common::*;
use relay_support::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use trove_net::{Handler, NetError, PeerInfo, Reply, ReplyFuture};
use trove_node::relay::CONTROL_ONLY;
use trove_node::{Event, NodeConfig};
use trove_proto::wire::*;
use trove_store::db::Trust;

fn remote_text(r: Result<impl std::fmt::Debug, NetError>) -> String {
    match r {
        Err(NetError::Remote { message, .. }) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A fake firewalled node that speaks relay-e2e but never claims its virtual streams: it
/// hands the tokens it is told about to the test.
struct TokenSink(mpsc::UnboundedSender<[u8; 16]>);

impl Handler for TokenSink {
    fn handle(&self, _peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture {
        let resp = match AnyRequest::decode_ext(req.msg_type, &req.payload, true) {
            Ok(AnyRequest::RelayIncoming(n)) => {
                let _ = self.0.send(n.token);
                Envelope::response(MsgType::RELAY_INCOMING, req.req_id, Vec::new())
            }
            _ => Envelope::response(req.msg_type, req.req_id, Vec::new()),
        };
        Box::pin(async move { Reply::Respond(resp) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rl1_a_slot_id_grants_nothing_to_a_third_party() {
    let (dr, df, dd, content) = (tempdir(), tempdir(), tempdir(), tempdir());
    write_tree(content.path(), &[("a.txt", 1000)]);
    let r = relay(dr.path(), |c| c.relay.forward_timeout_secs = 3).await;
    let f = firewalled(df.path(), &[&r], |_| {}).await;
    let slot = tunnel_up(&f).await.slot;
    let p = publish_at(&f, content.path(), &r).await;
    let d = node(dd.path()).await;
    assert_eq!(d.subscribe(&p.link, None, Trust::Normal).await.unwrap().seq, Some(1));
    let refused_before = r.relay_stats().unwrap().refused;

    // A third party that learned the slot id (it is in F's provider records).
    let x = raw_endpoint(true).await;
    let (mut stream, info) = x.dial_stream(&addr_of(&r)).await.unwrap();
    let to = Duration::from_secs(5);
    let take_over = RelayRegister { relay_slot_id: Some(slot), tunnel: true };
    let e = remote_text(trove_net::relayed::call_on_stream(&mut stream, &take_over, to, info.addr).await);
    assert_eq!(e, "relay slot owner mismatch");
    let s = x.connect(&addr_of(&r)).await.unwrap();
    let renew = RelayRegister { relay_slot_id: Some(slot), tunnel: false };
    assert_eq!(remote_text(s.call(&renew).await), "relay slot owner mismatch");
    assert_eq!(remote_text(s.call(&RelayConnect { relay_slot_id: slot }).await), "relay slot owner mismatch");
    // Claiming a virtual stream needs a token, and the token is for the slot's owner only.
    let (mut stream, info) = x.dial_stream(&addr_of(&r)).await.unwrap();
    let guess = RelayAccept { token: trove_proto::keys::random_bytes() };
    let e = remote_text(trove_net::relayed::call_on_stream(&mut stream, &guess, to, info.addr).await);
    assert_eq!(e, "unknown or expired relay token");
    let (tx, mut tokens) = mpsc::unbounded_channel();
    let (_owner, sink_slot, _sink) = fake_firewalled(&r, true, Arc::new(TokenSink(tx))).await;
    let opener = {
        let y = raw_endpoint(true).await;
        let relay = addr_of(&r);
        tokio::spawn(async move {
            let (mut s, i) = y.dial_stream(&relay).await.unwrap();
            let open = RelayOpen { relay_slot_id: sink_slot, kind: RelayKind::Content, target: None };
            trove_net::relayed::call_on_stream(&mut s, &open, Duration::from_secs(10), i.addr).await
        })
    };
    let leaked = tokio::time::timeout(Duration::from_secs(20), tokens.recv()).await.unwrap().unwrap();
    let (mut stream, info) = x.dial_stream(&addr_of(&r)).await.unwrap();
    let steal = RelayAccept { token: leaked };
    let e = remote_text(trove_net::relayed::call_on_stream(&mut stream, &steal, to, info.addr).await);
    assert_eq!(e, "relay token belongs to another node");
    let e = remote_text(opener.await.unwrap());
    assert_eq!(e, "the firewalled node did not take the stream");
    // An answer injected as if it came from F goes in as a request and comes back to the
    // sender: nobody else's request is answered by it.
    let forged = ChunkData { content_id: trove_proto::ContentId([9; 32]), chunk_index: 0, bytes: vec![1, 2, 3].into() };
    let inject = enveloped(slot, MsgType::CHUNK_DATA, forged.to_payload(), FLAG_RESPONSE);
    let back = s.call(&inject).await.unwrap();
    let env = Envelope::from_bytes(&back.payload).unwrap();
    assert_eq!(env.error_text().as_deref(), Some("unsupported message type"));

    let st = r.relay_stats().unwrap();
    assert!(st.refused >= refused_before + 6, "{st:?}");
    // The node's tunnel and the existing session are unaffected.
    let route = f.relay_route().unwrap();
    assert!(route.up && route.slot == slot, "{route:?}");
    let out = tempdir();
    let rep = get_all(&d, &p.link, out.path()).await;
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(std::fs::read(out.path().join("a.txt")).unwrap(), std::fs::read(content.path().join("a.txt")).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rl2_reservation_floods_are_capped() {
    let (d1, d2) = (tempdir(), tempdir());
    let r = relay(d1.path(), |c| {
        c.relay.max_per_identity = 2;
        c.relay.max_per_ip = 4;
    })
    .await;
    let x = raw_endpoint(true).await;
    let s = x.connect(&addr_of(&r)).await.unwrap();
    let before = rss();
    let req = RelayRegister { relay_slot_id: None, tunnel: false };
    let results: Vec<_> =
        futures::stream::iter(0..10_000).map(|_| s.call(&req)).buffer_unordered(64).collect::<Vec<_>>().await;
    let grown = rss().saturating_sub(before);
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let limited = results.iter().filter(|r| matches!(r, Err(e) if e.to_string().contains("reservation limit"))).count();
    println!("10,000 reservations from one identity: {ok} granted, {limited} over the limit, RSS +{} KiB", grown >> 10);
    assert_eq!(ok, 2, "per identity");
    assert_eq!(r.relay_reservations(&x.node_pubkey()), 2);
    assert!(grown < 16 << 20, "relay RSS grew by {grown} bytes");
    // Ten more identities from the same address: the per-IP cap holds.
    for _ in 0..10 {
        let y = raw_endpoint(true).await;
        let _ = y.connect(&addr_of(&r)).await.unwrap().call(&req).await;
    }
    assert_eq!(r.relay_stats().unwrap().slots, 4, "per IP");

    // The global cap.
    let g = relay(d2.path(), |c| {
        c.relay.max_tunnels = 8;
        c.relay.max_per_ip = 1000;
    })
    .await;
    let mut full = 0;
    for _ in 0..20 {
        let y = raw_endpoint(true).await;
        if let Err(e) = y.connect(&addr_of(&g)).await.unwrap().call(&req).await {
            assert!(e.to_string().contains("relay is full"), "{e}");
            full += 1;
        }
    }
    assert_eq!((g.relay_stats().unwrap().slots, full), (8, 12));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rl3_byte_quota_is_enforced_on_the_data_path() {
    let (dr, df, dd, content, out) = (tempdir(), tempdir(), tempdir(), tempdir(), tempdir());
    write_tree(content.path(), &[("big.bin", 3 << 20)]);
    let r = relay(dr.path(), |c| c.relay.content_quota_mib = 1).await;
    let f = firewalled(df.path(), &[&r], |_| {}).await;
    tunnel_up(&f).await;
    let p = publish_at(&f, content.path(), &r).await;
    let d = node(dd.path()).await;
    assert_eq!(d.subscribe(&p.link, None, Trust::Normal).await.unwrap().seq, Some(1));
    let rep = get_all(&d, &p.link, out.path()).await;
    assert!(!rep.ok(), "3 MiB cannot cross a relay with a 1 MiB quota: {rep:#?}");
    let st = r.relay_stats().unwrap();
    let (f_use, d_use) = (r.relay_usage(&f.node_pubkey()).unwrap(), r.relay_usage(&d.node_pubkey()).unwrap());
    println!("relay: {st:?}; charged to F {f_use:?}, to D {d_use:?}");
    assert!(f_use.1 <= 1 << 20 && d_use.1 <= 1 << 20, "content quota exceeded: {f_use:?} {d_use:?}");
    assert!(st.content_bytes <= 1 << 20 && st.content_bytes > 500_000, "{st:?}");
    assert!(!out.path().join("big.bin").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rl3_without_content_relaying_no_content_byte_is_relayed() {
    let (dr, df, dd, dv, content, out, out_v1) =
        (tempdir(), tempdir(), tempdir(), tempdir(), tempdir(), tempdir(), tempdir());
    write_tree(content.path(), &[("a.bin", 600_000)]);
    let r = relay(dr.path(), |c| c.relay.content = false).await;
    let f = firewalled(df.path(), &[&r], |_| {}).await;
    tunnel_up(&f).await;
    let p = publish_at(&f, content.path(), &r).await;
    // A trove dialer (virtual stream granted as control) and a v1 dialer (forwarding).
    let d = node(dd.path()).await;
    let v = node_with(dv.path(), |c| c.extensions = false).await;
    for (n, o) in [(&d, &out), (&v, &out_v1)] {
        let s = n.subscribe(&p.link, None, Trust::Normal).await.unwrap();
        assert_eq!((s.seq, s.error.as_deref()), (Some(1), None), "control traffic passes: {s:?}");
        let rep = get_all(n, &p.link, o.path()).await;
        assert!(!rep.ok(), "{rep:#?}");
    }
    let st = r.relay_stats().unwrap();
    println!("relay: {st:?}");
    assert_eq!(st.content_bytes, 0, "{st:?}");
    assert!(st.control_bytes > 0 && st.streams_opened >= 1 && st.forwarded >= 1, "{st:?}");
    // The firewalled node itself refuses chunks on a control stream.
    let x = raw_endpoint(true).await;
    let pool = trove_net::Pool::new(x.clone(), 8, Duration::from_secs(60));
    let route = f.reachable_addrs()[0].clone();
    let s = pool.get(&route).await.unwrap();
    let item = trove_proto::content::content_id(&std::fs::read(content.path().join("a.bin")).unwrap());
    let e = remote_text(s.call(&GetChunk { content_id: item, chunk_index: 0 }).await);
    assert_eq!(e, CONTROL_ONLY);
}

/// A fake firewalled node that never answers.
struct Silent(Arc<AtomicUsize>);

impl Handler for Silent {
    fn handle(&self, _peer: Arc<PeerInfo>, _req: Envelope) -> ReplyFuture {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::pending())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rl4_a_silent_node_fails_forwarders_and_loses_its_tunnel() {
    let (d1, d2) = (tempdir(), tempdir());
    // Deadline 2 s instead of 30 s to keep the test short; no keepalive during the flood.
    let r = relay(d1.path(), |c: &mut NodeConfig| {
        c.relay.forward_timeout_secs = 2;
        c.relay.queue_per_tunnel = 4;
        c.relay.keepalive_secs = 3600;
    })
    .await;
    let mut rev = r.events();
    let seen = Arc::new(AtomicUsize::new(0));
    let (_key, slot, task) = fake_firewalled(&r, false, Arc::new(Silent(seen.clone()))).await;
    // The relay records the tunnel just after answering the registration.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while r.relay_stats().unwrap().tunnels != 1 {
        assert!(std::time::Instant::now() < deadline, "tunnel never recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let x = raw_endpoint(true).await;
    let s = x.connect(&addr_of(&r)).await.unwrap();
    let ask = enveloped(slot, MsgType::LIST_PUBLIC_SHARES, ListPublicShares { max_entries: 8 }.to_payload(), 0);
    let results = futures::future::join_all((0..6).map(|_| s.call(&ask))).await;
    let texts: Vec<String> = results.into_iter().map(remote_text).collect();
    println!("{texts:?}");
    let full = texts.iter().filter(|t| *t == "relay tunnel queue is full").count();
    let timed_out = texts
        .iter()
        .filter(|t| *t == "the firewalled node did not answer within 2 s" || *t == "relay tunnel closed")
        .count();
    assert_eq!((full, timed_out), (2, 4), "{texts:?}");
    assert!(seen.load(Ordering::SeqCst) <= 4, "the queue bound holds");
    wait_for(&mut rev, |e| matches!(e, Event::RelayTunnelFreed { slot: s, .. } if *s == slot)).await;
    assert_eq!(r.relay_stats().unwrap().tunnels, 0);
    assert!(r.relay_tunnels().is_empty());
    task.abort();
    // The relay serves on.
    assert!(s.call(&RelayListRequest { max_count: 4 }).await.is_ok());

    // An idle silent tunnel is found by the keepalive and freed.
    let k = relay(d2.path(), |c: &mut NodeConfig| {
        c.relay.forward_timeout_secs = 2;
        c.relay.keepalive_secs = 1;
    })
    .await;
    let mut kev = k.events();
    let (_key, slot, _task) = fake_firewalled(&k, false, Arc::new(Silent(Arc::default()))).await;
    let e = wait_for(&mut kev, |e| matches!(e, Event::RelayTunnelFreed { slot: s, .. } if *s == slot)).await;
    println!("{e:?}");
    assert_eq!(k.relay_stats().unwrap().tunnels, 0);
}

use futures::StreamExt;
