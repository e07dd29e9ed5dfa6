//! RL-5: a hostile relay that rewrites what it carries, or terminates TLS to read and alter
//! it, is detected by the end-to-end session between the dialer and the firewalled node:
//! no tampered answer is ever accepted. The same relay carrying bytes honestly works.

mod common;
mod relay_support;

use relay_support::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use trove_net::stream::Stream;
use trove_net::{Endpoint, Handler, MemoryPins, NetConfig, NetError, PeerInfo, Reply, ReplyFuture, Session};
use trove_proto::wire::*;
use trove_proto::{Keypair, cbor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Splices bytes as a trove relay does.
    Honest,
    /// Flips one byte of what the firewalled node sends, past the handshakes.
    FlipByte,
    /// Terminates TLS on both sides (a man in the middle) and copies the plaintext.
    TerminateTls,
}

#[derive(Default)]
struct Counters {
    tampered: AtomicUsize,
    terminated: AtomicUsize,
}

struct Hostile {
    mode: Mode,
    tunnel: Mutex<Option<Session>>,
    pending: Mutex<HashMap<[u8; 16], oneshot::Sender<Stream>>>,
    counters: Arc<Counters>,
}

struct HostileHandler(Arc<Hostile>);

fn err(req: &Envelope, t: &str) -> Reply {
    Reply::Respond(Envelope::error(req.msg_type, req.req_id, t))
}

impl Handler for HostileHandler {
    fn handle(&self, peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture {
        let h = self.0.clone();
        Box::pin(async move {
            let r = match AnyRequest::decode_ext(req.msg_type, &req.payload, true) {
                Ok(r) => r,
                Err(e) => return err(&req, &e.to_string()),
            };
            let ok = |t: MsgType, p: Vec<u8>| Envelope::response(t, req.req_id, p);
            match r {
                AnyRequest::RelayRegister(r) if r.tunnel => {
                    let resp = ok(
                        MsgType::RELAY_REGISTERED,
                        RelayRegistered { relay_slot_id: 7, expires_at: u64::MAX >> 1 }.to_payload(),
                    );
                    Reply::RespondAndTake(
                        resp,
                        Box::new(move |stream| {
                            let mut info = (*peer).clone();
                            info.features.push("mux".into());
                            let s =
                                Session::start(stream, info, None, Duration::from_secs(15), Duration::from_secs(10));
                            *h.tunnel.lock().unwrap() = Some(s);
                        }),
                    )
                }
                AnyRequest::RelayStream(rs) => {
                    // Forwarded honestly: the firewalled node's probes pass.
                    let Some(t) = h.tunnel.lock().unwrap().clone() else { return err(&req, "no tunnel") };
                    let inner = Envelope::from_bytes(&rs.payload).unwrap();
                    match t.request(inner.msg_type, inner.payload.to_vec()).await {
                        Ok(a) => {
                            let a = Envelope { req_id: inner.req_id, ..a };
                            Reply::Respond(ok(
                                MsgType::RELAY_STREAM,
                                RelayStream { payload: cbor::to_vec(&a), ..rs }.to_payload(),
                            ))
                        }
                        Err(e) => err(&req, &e.to_string()),
                    }
                }
                AnyRequest::RelayOpen(o) => {
                    let Some(t) = h.tunnel.lock().unwrap().clone() else { return err(&req, "no tunnel") };
                    let token: [u8; 16] = trove_proto::keys::random_bytes();
                    let (tx, rx) = oneshot::channel();
                    h.pending.lock().unwrap().insert(token, tx);
                    let notice = RelayIncoming { token, kind: RelayKind::Content, dialer: peer.node_pubkey };
                    if let Err(e) = t.call(&notice).await {
                        return err(&req, &e.to_string());
                    }
                    let Ok(Ok(node)) = tokio::time::timeout(Duration::from_secs(10), rx).await else {
                        return err(&req, "not claimed");
                    };
                    let resp = ok(
                        MsgType::RELAY_OPENED,
                        RelayOpened { relay_slot_id: o.relay_slot_id, kind: o.kind }.to_payload(),
                    );
                    let (mode, counters) = (h.mode, h.counters.clone());
                    Reply::RespondAndTake(
                        resp,
                        Box::new(move |dialer| {
                            tokio::spawn(splice(mode, dialer, node, counters));
                        }),
                    )
                }
                AnyRequest::RelayAccept(a) => {
                    let Some(tx) = h.pending.lock().unwrap().remove(&a.token) else {
                        return err(&req, "unknown token");
                    };
                    Reply::RespondAndTake(
                        ok(MsgType::RELAY_ACCEPT, Vec::new()),
                        Box::new(move |s| {
                            let _ = tx.send(s);
                        }),
                    )
                }
                AnyRequest::FindNode(_) => {
                    Reply::Respond(ok(MsgType::FIND_NODE, FindNodeResult::default().to_payload()))
                }
                AnyRequest::FindValue(_) => Reply::Respond(ok(
                    MsgType::FIND_VALUE,
                    FindValueResult { value: None, closer_peers: Vec::new() }.to_payload(),
                )),
                AnyRequest::Store(_) => Reply::Respond(ok(MsgType::STORE, Vec::new())),
                _ => err(&req, "unsupported message type"),
            }
        })
    }
}

/// Where the flip happens in what the firewalled node sends: past both handshakes.
const FLIP_AT: usize = 20_000;

async fn splice(mode: Mode, dialer: Stream, node: Stream, counters: Arc<Counters>) {
    let mut d = tokio::io::join(dialer.read, dialer.write);
    let mut f = tokio::io::join(node.read, node.write);
    match mode {
        Mode::Honest => {
            let _ = tokio::io::copy_bidirectional(&mut d, &mut f).await;
        }
        Mode::FlipByte => {
            let (mut dr, mut dw) = tokio::io::split(d);
            let (mut fr, mut fw) = tokio::io::split(f);
            let up = async { tokio::io::copy(&mut dr, &mut fw).await };
            let down = async {
                let (mut buf, mut passed) = (vec![0u8; 16 * 1024], 0usize);
                loop {
                    let n = fr.read(&mut buf).await?;
                    if n == 0 {
                        return dw.shutdown().await;
                    }
                    if passed <= FLIP_AT && passed + n > FLIP_AT {
                        buf[FLIP_AT - passed] ^= 0x01;
                        counters.tampered.fetch_add(1, Ordering::SeqCst);
                    }
                    passed += n;
                    dw.write_all(&buf[..n]).await?;
                }
            };
            let _ = tokio::join!(up, down);
        }
        Mode::TerminateTls => {
            let cert = trove_net::tls::SelfSigned::generate().unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(trove_net::tls::tcp_server_config(&cert).unwrap());
            let connector = tokio_rustls::TlsConnector::from(Arc::new(trove_net::tls::client_config(false).unwrap()));
            let (Ok(mut dt), Ok(mut ft)) =
                tokio::join!(acceptor.accept(d), connector.connect(trove_net::tls::server_name(), f))
            else {
                return;
            };
            counters.terminated.fetch_add(1, Ordering::SeqCst);
            let _ = tokio::io::copy_bidirectional(&mut dt, &mut ft).await;
        }
    }
}

/// A hostile relay on loopback.
async fn hostile(mode: Mode) -> (Endpoint, Arc<Counters>) {
    let mut c = NetConfig::new(Keypair::generate());
    c.listen_tcp = Some("127.0.0.1:0".parse().unwrap());
    c.features = trove_node::node::trove_features();
    c.capabilities.relay = true;
    let counters = Arc::new(Counters::default());
    let h = Arc::new(Hostile { mode, tunnel: Mutex::default(), pending: Mutex::default(), counters: counters.clone() });
    let ep = Endpoint::bind(c, Arc::new(HostileHandler(h)), Arc::new(MemoryPins::default())).await.unwrap();
    (ep, counters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rl5_a_hostile_relay_is_detected_end_to_end() {
    let data = common::pattern(600_000, 3);
    let item = trove_proto::content::content_id(&data);
    for mode in [Mode::Honest, Mode::FlipByte, Mode::TerminateTls] {
        let (df, content) = (tempdir(), tempdir());
        std::fs::write(content.path().join("x.bin"), &data).unwrap();
        let (relay, counters) = hostile(mode).await;
        let boot = format!("tcp://{}@{}", relay.tcp_addr().unwrap(), relay.node_pubkey().to_hex());
        let f = common::node_with(df.path(), |c| {
            c.listen_tcp = None;
            c.listen_quic = None;
            c.bootstrap = vec![boot.clone()];
            c.relay.relays = vec![boot.clone()];
        })
        .await;
        tunnel_up(&f).await;
        f.publish(publish_req(content.path())).await.unwrap();
        // The dialer asks the firewalled node for a chunk through the relay.
        let d = raw_endpoint(true).await;
        let pool = trove_net::Pool::new(d, 8, Duration::from_secs(60));
        let route = f.reachable_addrs()[0].clone();
        assert!(route.relay_via.is_some() && route.pubkey_hint == Some(f.node_pubkey()));
        let r = async { pool.get(&route).await?.call(&GetChunk { content_id: item, chunk_index: 1 }).await }.await;
        println!("{mode:?}: {:?}", r.as_ref().map(|c| c.bytes.len()));
        match mode {
            Mode::Honest => {
                let c = r.unwrap();
                assert_eq!(&c.bytes[..], &data[262_144..524_288]);
            }
            Mode::FlipByte => {
                // TLS refuses the altered record: the answer never reaches the caller.
                assert!(matches!(r, Err(NetError::Closed { .. } | NetError::Timeout { .. })), "{r:?}");
                assert_eq!(counters.tampered.load(Ordering::SeqCst), 1);
            }
            Mode::TerminateTls => {
                // The relay got both TLS sessions, but the handshake is bound to the channel.
                assert!(matches!(r, Err(NetError::Handshake { .. })), "{r:?}");
                assert!(counters.terminated.load(Ordering::SeqCst) >= 1);
            }
        }
        f.shutdown().await;
    }
}
