//! Fixtures of the relay tests: relay and firewalled nodes, waiting for tunnels and
//! announcements, bare endpoints that play third parties and fake firewalled nodes.
#![allow(dead_code)]

use crate::common::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use trove_net::stream::Stream;
use trove_node::download::get::GetRequest;
use trove_node::relay::RelaySettings;
use trove_node::{Event, Node, NodeConfig, PublishRequest};
use trove_proto::wire::{PeerAddr, RelayRegister, RelayRegistered};

/// A relay node (content relaying on unless `f` says otherwise).
pub async fn relay(dir: &Path, f: impl FnOnce(&mut NodeConfig)) -> Node {
    node_with(dir, |c| {
        c.relay = RelaySettings::server();
        f(c)
    })
    .await
}

/// The bootstrap string of a node (its TCP address with its key).
pub fn boot(n: &Node) -> String {
    format!("tcp://{}@{}", n.tcp_addr().unwrap(), n.node_pubkey().to_hex())
}

/// A node that cannot be reached: no listener at all.
pub async fn firewalled(dir: &Path, relays: &[&Node], f: impl FnOnce(&mut NodeConfig)) -> Node {
    node_with(dir, |c| {
        c.listen_tcp = None;
        c.listen_quic = None;
        c.bootstrap = relays.iter().map(|r| boot(r)).collect();
        c.relay.probe_secs = 2;
        f(c)
    })
    .await
}

/// Waits until `n` is reachable through a relay (its route is up); returns the route.
pub async fn tunnel_up(n: &Node) -> trove_node::relay::RelayRouteView {
    let mut ev = n.events();
    if let Some(r) = n.relay_route().filter(|r| r.up) {
        return r;
    }
    wait_for(&mut ev, |e| matches!(e, Event::RelayTunnelUp { .. })).await;
    n.relay_route().expect("a route after the tunnel came up")
}

/// Waits until `holder` stores the provider record of `id` (a publish announces it in the
/// background; there is no event for it).
pub async fn stored(holder: &Node, id: trove_proto::ContentId) {
    let key = trove_proto::dht_key::content_providers(&id);
    tokio::time::timeout(Duration::from_secs(60), async {
        while !holder.dht_has(&key) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the provider record was not stored in time");
}

/// Publishes `dir` on `f` and waits until `holder` has the records a subscriber needs.
pub async fn publish_at(f: &Node, dir: &Path, holder: &Node) -> trove_node::PublishResult {
    let p = f.publish(publish_req(dir)).await.unwrap();
    stored(holder, trove_proto::ContentId(p.share_id.0)).await;
    stored(holder, trove_proto::ContentId(p.manifest_id.0)).await;
    p
}

/// The provider addresses `holder` stores for `id`.
pub async fn providers_at(holder: &Node, id: trove_proto::ContentId) -> Vec<trove_proto::wire::PeerAddr> {
    let ep = raw_endpoint(true).await;
    let addr = trove_proto::wire::PeerAddr::parse_bootstrap(&boot(holder)).unwrap();
    let s = ep.connect(&addr).await.unwrap();
    let key = trove_proto::dht_key::content_providers(&id);
    let r = s.call(&trove_proto::wire::FindValue { key }).await.unwrap();
    r.value
        .and_then(|v| trove_proto::cbor::from_slice::<trove_proto::wire::Providers>(&v.value).ok())
        .map(|p| p.providers)
        .unwrap_or_default()
}

/// Waits until `holder` lists `addr` among the providers of `id`.
pub async fn provider_listed(holder: &Node, id: trove_proto::ContentId, addr: &str) {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let list = providers_at(holder, id).await;
            if list.iter().any(|a| a.to_string() == addr) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{addr} was not announced in time"));
}

pub fn publish_req(dir: &Path) -> PublishRequest {
    PublishRequest { paths: vec![dir.to_path_buf()], title: Some("behind NAT".into()), ..Default::default() }
}

pub async fn get_all(n: &Node, link: &str, out: &Path) -> trove_node::download::get::GetReport {
    n.get(GetRequest { share: link.to_string(), out_dir: out.into(), ..Default::default() }).await.unwrap()
}

/// Waits for `n` to come up through the relay with key `relay`; returns the route.
pub async fn tunnel_up_at(
    ev: &mut tokio::sync::broadcast::Receiver<Event>,
    n: &Node,
    relay: &Node,
) -> trove_node::relay::RelayRouteView {
    let key = relay.node_pubkey().to_hex();
    wait_for(ev, |e| matches!(e, Event::RelayTunnelUp { relay, .. } if relay.contains(&key))).await;
    n.relay_route().unwrap()
}

/// Asks `relay` for its relay list from `from`'s network stack.
pub async fn relay_list(_from: &Node, relay: &Node) -> Vec<trove_proto::wire::RelayAnnouncement> {
    let ep = raw_endpoint(true).await;
    let addr = trove_proto::wire::PeerAddr::parse_bootstrap(&boot(relay)).unwrap();
    let s = ep.connect(&addr).await.unwrap();
    s.call(&trove_proto::wire::RelayListRequest { max_count: 16 }).await.unwrap().announcements
}

/// A bare endpoint (no node behind it) for playing third parties.
pub async fn raw_endpoint(extensions: bool) -> trove_net::Endpoint {
    let mut c = trove_net::NetConfig::new(trove_proto::Keypair::generate());
    c.extensions = extensions;
    if extensions {
        c.features = trove_node::node::trove_features();
    }
    trove_net::Endpoint::bind(c, Arc::new(NoServe), Arc::new(trove_net::MemoryPins::default())).await.unwrap()
}

pub struct NoServe;

impl trove_net::Handler for NoServe {
    fn handle(&self, _peer: Arc<trove_net::PeerInfo>, req: trove_proto::wire::Envelope) -> trove_net::ReplyFuture {
        let r = trove_proto::wire::Envelope::error(req.msg_type, req.req_id, "nothing here");
        Box::pin(async move { trove_net::Reply::Respond(r) })
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The bootstrap address of a node as a PeerAddr.
pub fn addr_of(n: &Node) -> PeerAddr {
    PeerAddr::parse_bootstrap(&boot(n)).unwrap()
}

/// A fake firewalled node: a bare endpoint that registers a tunnel at `relay` and answers
/// what arrives through it with `handler`. Returns its key, its slot and the task serving
/// the tunnel (it ends when the relay drops the tunnel).
pub async fn fake_firewalled(
    relay: &Node,
    extensions: bool,
    handler: Arc<dyn trove_net::Handler>,
) -> (trove_proto::PubKey, u64, tokio::task::JoinHandle<()>) {
    let ep = raw_endpoint(extensions).await;
    let (mut stream, info): (Stream, trove_net::PeerInfo) = ep.dial_stream(&addr_of(relay)).await.unwrap();
    let reg: RelayRegistered = trove_net::relayed::call_on_stream(
        &mut stream,
        &RelayRegister { relay_slot_id: None, tunnel: true },
        Duration::from_secs(10),
        info.addr,
    )
    .await
    .unwrap();
    let key = ep.node_pubkey();
    let concurrent = extensions && info.has(trove_net::peer::features::RELAY_E2E);
    let task = tokio::spawn(async move {
        ep.serve_inverted(stream, Arc::new(info), handler, concurrent, Duration::from_secs(600)).await;
    });
    (key, reg.relay_slot_id, task)
}

/// A v1 RELAY_STREAM carrying a request envelope of `t` with `payload`.
pub fn enveloped(
    slot: u64,
    t: trove_proto::wire::MsgType,
    payload: Vec<u8>,
    flags: u16,
) -> trove_proto::wire::RelayStream {
    let mut env = trove_proto::wire::Envelope::request(t, 7, payload);
    env.flags = flags;
    trove_proto::wire::RelayStream {
        relay_slot_id: slot,
        stream_id: 0,
        kind: trove_proto::wire::RelayKind::Content,
        payload: trove_proto::cbor::to_vec(&env),
    }
}

/// Resident memory of this process in bytes.
pub fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// Starts a node again in the data directory of one that was shut down in this process.
/// Requests it was answering when it stopped (a long poll lasts up to 25 s) keep its state,
/// and with it the search index lock, a little longer than the shutdown; a real restart is a
/// new process and does not wait.
pub async fn restart(dir: &Path, f: impl Fn(&mut NodeConfig)) -> Node {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let mut c = NodeConfig::loopback(dir);
            f(&mut c);
            match Node::start(c).await {
                Ok(n) => return n,
                Err(e) if e.to_string().contains("in use") => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => panic!("restart failed: {e}"),
            }
        }
    })
    .await
    .expect("the old node's state was not released in time")
}
