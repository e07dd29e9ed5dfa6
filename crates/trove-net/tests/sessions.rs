//! Sessions over real sockets on loopback: trove↔trove and trove↔v1-shaped peers over both
//! transports, typed calls, errors, concurrency, key hints, the pool.

mod common;

use common::*;
use std::sync::atomic::Ordering;
use std::time::Instant;
use trove_net::{HandshakeError, NetError, Pool};
use trove_proto::ContentId;
use trove_proto::wire::{GetChunk, HaveContent, MsgType, Transport};

async fn exercise(client_ext: bool, server_ext: bool, t: Transport) {
    let (server, handler) = node(config(2, server_ext)).await;
    let cl = client(1, client_ext).await;
    let s = cl.connect(&addr_of(&server, t)).await.unwrap();
    let bound = client_ext && server_ext;
    assert_eq!(s.peer().bound, bound, "binding only between two trove peers");
    assert_eq!(s.peer().node_pubkey, server.node_pubkey());
    assert_eq!(s.peer().transport, t);
    for i in [0u32, 1, 5000, 262_144] {
        let r = s.call(&GetChunk { content_id: ContentId([7; 32]), chunk_index: i }).await.unwrap();
        assert_eq!((r.chunk_index, r.bytes.len()), (i, i as usize));
    }
    // An unknown type gets the v1 error text and the session stays usable.
    let e = s.request(MsgType(999), vec![0xa0]).await.unwrap();
    assert_eq!(e.error_text().as_deref(), Some("unknown message type 999"));
    assert_eq!(e.flags, 3);
    let e = s.request(MsgType::CHUNK_DATA, vec![0xa0]).await.unwrap();
    assert_eq!(e.error_text().as_deref(), Some("unsupported message type"));
    s.call(&GetChunk { content_id: ContentId([7; 32]), chunk_index: 3 }).await.unwrap();
    assert_eq!(handler.served.load(Ordering::SeqCst), 7);
    assert_eq!(handler.peers.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn trove_to_trove_tcp() {
    exercise(true, true, Transport::Tcp).await;
}

#[tokio::test]
async fn trove_to_trove_quic() {
    exercise(true, true, Transport::Quic).await;
}

#[tokio::test]
async fn trove_client_v1_server_both_transports() {
    exercise(true, false, Transport::Tcp).await;
    exercise(true, false, Transport::Quic).await;
}

#[tokio::test]
async fn v1_client_trove_server_both_transports() {
    exercise(false, true, Transport::Tcp).await;
    exercise(false, true, Transport::Quic).await;
}

#[tokio::test]
async fn remote_errors_are_typed() {
    let (server, _) = node(config(2, true)).await;
    let s = client(1, true).await.connect(&addr_of(&server, Transport::Tcp)).await.unwrap();
    let e = s.call(&trove_proto::wire::PexRequest { max_peers: 3 }).await.unwrap_err();
    assert!(matches!(e, NetError::Remote { ref message, .. } if message == "not served by the test handler"), "{e}");
}

/// Slow requests overlap between trove peers (mux) but run one at a time towards v1 peers.
#[tokio::test]
async fn concurrency_follows_the_peer_kind() {
    for (t, ext) in [(Transport::Tcp, true), (Transport::Quic, true), (Transport::Tcp, false)] {
        let (server, _) = node(config(2, ext)).await;
        let s = client(1, true).await.connect(&addr_of(&server, t)).await.unwrap();
        let start = Instant::now();
        let calls = (0..5).map(|_| s.call(&HaveContent { content_id: ContentId([0xff; 32]) }));
        for r in futures::future::join_all(calls).await {
            r.unwrap();
        }
        let took = start.elapsed().as_millis();
        // Five 200 ms requests: about 200 ms when concurrent, at least 1000 ms when serial.
        if ext {
            assert!(took < 900, "{t:?}: concurrent requests took {took} ms");
        } else {
            assert!(took >= 1000, "v1 peer got concurrent requests ({took} ms)");
        }
    }
}

#[tokio::test]
async fn wrong_pubkey_hint_is_refused_with_both_keys_named() {
    let (server, _) = node(config(2, true)).await;
    let cl = client(1, true).await;
    let wrong = trove_proto::Keypair::from_seed([9; 32]).public();
    for t in [Transport::Tcp, Transport::Quic] {
        let e = cl.connect(&addr_of(&server, t).with_hint(wrong)).await.unwrap_err();
        match e {
            NetError::Handshake { source: HandshakeError::KeyMismatch { expected, got }, .. } => {
                assert_eq!(expected, wrong.to_hex());
                assert_eq!(got, server.node_pubkey().to_hex());
            }
            other => panic!("{other}"),
        }
        // The right hint works.
        cl.connect(&addr_of(&server, t).with_hint(server.node_pubkey())).await.unwrap();
    }
}

#[tokio::test]
async fn pool_reuses_and_redials() {
    let mut cfg = config(2, true);
    cfg.timeouts.idle = std::time::Duration::from_millis(300);
    let (server, handler) = node(cfg).await;
    let pool = Pool::new(client(1, true).await, 8, std::time::Duration::from_secs(60));
    let addr = addr_of(&server, Transport::Tcp);
    let (a, b) = tokio::join!(pool.get(&addr), pool.get(&addr));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    pool.call(&addr, &GetChunk { content_id: ContentId([1; 32]), chunk_index: 1 }).await.unwrap();
    assert_eq!(pool.len(), 1);
    // The server saw one handshake for two concurrent gets and a call.
    assert_eq!(handler.peers.load(Ordering::SeqCst), 1, "one dial");
    // The server closes the idle connection; the pool notices and redials transparently.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !a.is_closed() {
        assert!(Instant::now() < deadline, "server never closed the idle session");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop((a, b));
    pool.call(&addr, &GetChunk { content_id: ContentId([1; 32]), chunk_index: 2 }).await.unwrap();
    assert_eq!(handler.peers.load(Ordering::SeqCst), 2, "redialed once");
}

#[tokio::test]
async fn connecting_to_nothing_fails_clearly() {
    let cl = client(1, true).await;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let e = cl.connect(&trove_proto::wire::PeerAddr::new(addr, Transport::Tcp)).await.unwrap_err();
    assert!(matches!(e, NetError::Connect { .. }), "{e}");
}
