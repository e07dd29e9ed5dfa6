//! The running node: opens the data directory, binds the endpoint, and runs the background
//! work (LAN discovery, DHT maintenance, subscription sync, head watching). Everything the
//! front ends call is a method of [`Node`]; the pieces live in the sibling modules.

use crate::config::NodeConfig;
use crate::content::ContentServer;
use crate::error::{NodeError, Result};
use crate::events::Event;
use crate::heads::HeadBoard;
use crate::peers::PeerBook;
use crate::serve::NodeHandler;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use trove_dht::{Dht, DhtConfig};
use trove_net::{Endpoint, MemoryPins, NetConfig, Pool, peer::features};
use trove_proto::wire::{Capabilities, PeerAddr, Transport};
use trove_proto::{Keypair, PubKey};
use trove_store::db::{DataDirLock, Db, PeerSource};

/// Shared state of a running node.
pub(crate) struct Inner {
    pub cfg: NodeConfig,
    pub db: Db,
    pub key: Keypair,
    pub endpoint: Endpoint,
    pub pool: Pool,
    pub dht: Mutex<Dht>,
    pub events: broadcast::Sender<Event>,
    pub heads: HeadBoard,
    /// DHT nodes that store each followed share's head (watched for pushes).
    pub rendezvous: Mutex<std::collections::HashMap<trove_proto::ShareId, Vec<PeerAddr>>>,
    pub peers: PeerBook,
    pub content: ContentServer,
    /// Chunk bytes held for peers at once (read, not yet written).
    pub serve_buffers: crate::serve_buffers::ServeBuffers,
    /// Optional limits on chunk bytes served and received.
    pub upload_throttle: Option<crate::throttle::Throttle>,
    pub download_throttle: Option<crate::throttle::Throttle>,
    /// Addresses others can reach this node at.
    pub advertised: Vec<PeerAddr>,
    /// Bootstrap peers from the configuration.
    pub bootstrap: Vec<PeerAddr>,
    pub instance_id: [u8; 16],
    pub shutdown: watch::Sender<bool>,
    pub tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Contents to announce as provided by this node (finished downloads), worked off by
    /// [`crate::publish::run_announcer`].
    pub announce_queue: tokio::sync::mpsc::UnboundedSender<trove_proto::ContentId>,
    /// Background downloads.
    pub downloads: crate::download::manager::Downloads,
    /// The search index over own shares and subscriptions.
    pub search: trove_store::search::SearchIndex,
    /// Rules of blocklist subscriptions, applied to search results.
    pub blocklists: Mutex<std::collections::HashMap<trove_proto::ShareId, trove_proto::wire::BlocklistRules>>,
    /// One head application per followed share at a time.
    pub apply_locks: Mutex<std::collections::HashMap<trove_proto::ShareId, Arc<tokio::sync::Mutex<()>>>>,
    /// Serialises publishes of the same node (seq reservation, head updates).
    pub publish_lock: tokio::sync::Mutex<()>,
    /// Wakes the sync loop early (new subscription, pushed head, manual sync).
    pub sync_now: Arc<tokio::sync::Notify>,
    /// Wakes head watchers when the set of subscriptions (or of known peers) changes.
    pub subs_changed: Arc<tokio::sync::Notify>,
    /// Communities: cursor secret, v1 members seen, refresh serialisation.
    pub community: crate::community::State,
    /// Relaying: the relay role, the firewalled side, known relays.
    pub relay: crate::relay::RelayState,
    lock: Mutex<Option<DataDirLock>>,
}

/// A running trove node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<Inner>,
}

/// Features this node announces when extensions are on.
pub fn trove_features() -> Vec<String> {
    [
        features::BIND,
        features::MUX,
        features::PAGED_MANIFEST,
        features::PAGED_HASHES,
        features::HEAD_PUSH,
        features::RELAY_E2E,
        features::COMMUNITY,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Node {
    /// Opens the data directory (exclusively), binds the listeners and starts the background
    /// work.
    pub async fn start(cfg: NodeConfig) -> Result<Node> {
        let dir = cfg.data_dir.clone();
        let (lock, db) = tokio::task::spawn_blocking(move || -> Result<(DataDirLock, Db)> {
            std::fs::create_dir_all(&dir)
                .map_err(NodeError::io(format!("creating data directory {}", dir.display())))?;
            let lock = DataDirLock::acquire(&dir)?;
            let db = Db::open(&dir)?;
            Ok((lock, db))
        })
        .await
        .map_err(|e| NodeError::Invalid(format!("startup task failed: {e}")))??;
        if let Some(r) = db.recovery() {
            tracing::warn!(
                "the database was damaged and has been rebuilt; the damaged file is at {}",
                r.moved_to.display()
            );
        }
        let key = db.node_key()?;
        let handler = Arc::new(NodeHandler { inner: OnceLock::new() });

        let mut net = NetConfig::new(key.clone());
        net.listen_tcp = cfg.listen_tcp;
        net.listen_quic = cfg.listen_quic;
        net.extensions = cfg.extensions;
        net.strict = cfg.strict;
        net.features = if cfg.extensions { trove_features() } else { Vec::new() };
        net.capabilities =
            Capabilities { dht: true, store: true, relay: false, content_seed: true, mobile_light: false };
        if !cfg.extensions {
            // A v1-shaped node advertises what the deployed apps advertise.
            net.capabilities = Capabilities::default();
        }
        if cfg.relay.enabled {
            // What v1 relays advertise.
            net.capabilities.dht = true;
            net.capabilities.relay = true;
        }
        net.timeouts.request = cfg.request_timeout();
        if cfg.dht_allow_loopback {
            // Many nodes of one test network share 127.0.0.1: per-IP caps would turn them away.
            net.limits.max_per_ip = net.limits.max_connections;
            net.limits.max_pending_per_ip = net.limits.max_pending;
        }
        let endpoint = Endpoint::bind(net, handler.clone(), Arc::new(MemoryPins::default())).await?;
        let pool = Pool::new(endpoint.clone(), 256, Duration::from_secs(240));

        let dht_cfg = if cfg.dht_allow_loopback { DhtConfig::loopback() } else { DhtConfig::default() };
        let dht = Dht::new(key.public(), dht_cfg);
        let advertised = advertised_addrs(&cfg, &endpoint, key.public());
        endpoint.set_advertised(advertised.clone());
        let bootstrap = resolve_addrs(&cfg.bootstrap, true).await;
        let (events, _) = broadcast::channel(4096);
        let (shutdown, _) = watch::channel(false);
        let community = crate::community::State::load(&db)?;
        let relay = crate::relay::RelayState::new(&cfg.relay, &key, events.clone());
        let cfg_parallel = cfg.parallel_files;
        let index_dir = cfg.data_dir.join("index");
        let (search, index_state) =
            tokio::task::spawn_blocking(move || trove_store::search::SearchIndex::open(&index_dir))
                .await
                .map_err(|e| NodeError::Invalid(format!("startup task failed: {e}")))??;
        if let trove_store::search::OpenState::Recreated { reason, moved_to } = &index_state {
            tracing::warn!(
                "the search index was damaged ({reason}); it was moved to {} and is rebuilt",
                moved_to.display()
            );
        }
        let (announce_queue, announce_rx) = tokio::sync::mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            content: ContentServer::new(db.clone()),
            serve_buffers: Default::default(),
            upload_throttle: (cfg.upload_limit_kib > 0)
                .then(|| crate::throttle::Throttle::new(cfg.upload_limit_kib << 10)),
            download_throttle: (cfg.download_limit_kib > 0)
                .then(|| crate::throttle::Throttle::new(cfg.download_limit_kib << 10)),
            announce_queue,
            cfg,
            db,
            key,
            endpoint,
            pool,
            dht: Mutex::new(dht),
            events,
            heads: HeadBoard::default(),
            rendezvous: Mutex::default(),
            peers: PeerBook::default(),
            advertised,
            bootstrap,
            instance_id: trove_proto::keys::random_bytes(),
            shutdown,
            tasks: Mutex::new(Vec::new()),
            publish_lock: tokio::sync::Mutex::new(()),
            apply_locks: Mutex::default(),
            downloads: crate::download::manager::Downloads::new(cfg_parallel),
            search,
            blocklists: Mutex::default(),
            sync_now: Arc::default(),
            subs_changed: Arc::default(),
            community,
            relay,
            lock: Mutex::new(Some(lock)),
        });
        let _ = handler.inner.set(Arc::downgrade(&inner));
        for b in &inner.bootstrap {
            inner.peers.hint(b, PeerSource::Bootstrap, None, None);
        }
        // Peers from earlier runs: good places to rejoin the network from.
        for r in inner.db.best_peers(512).unwrap_or_default() {
            inner.peers.restore(&r);
        }
        inner.load_state()?;
        node_index_start(&inner, &index_state);
        let node = Node { inner };
        if node.inner.cfg.local_only {
            return Ok(node);
        }
        node.spawn_background(announce_rx);
        if node.inner.cfg.resume_downloads {
            let inner = node.inner.clone();
            node.inner.spawn(async move { inner.resume_interrupted().await });
        }
        crate::relay::start(&node.inner);
        Ok(node)
    }

    fn spawn_background(&self, announce_rx: tokio::sync::mpsc::UnboundedReceiver<trove_proto::ContentId>) {
        let mut tasks = Vec::new();
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tasks.push(tokio::spawn(crate::maintenance::run(weak.clone(), self.inner.shutdown.subscribe())));
        tasks.push(tokio::spawn(crate::sync::run_loop(weak.clone(), self.inner.shutdown.subscribe())));
        tasks.push(tokio::spawn(crate::sync::watch_loop(weak.clone(), self.inner.shutdown.subscribe())));
        tasks.push(tokio::spawn(crate::community::run_loop(weak.clone(), self.inner.shutdown.subscribe())));
        tasks.push(tokio::spawn(crate::publish::run_announcer(
            weak.clone(),
            announce_rx,
            self.inner.shutdown.subscribe(),
        )));
        if self.inner.cfg.lan.enabled {
            tasks.push(tokio::spawn(crate::discovery::run_lan(weak, self.inner.shutdown.subscribe())));
        }
        self.inner.tasks.lock().expect("tasks").extend(tasks);
    }

    /// Stops the background work and the listeners, flushing what needs saving.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        self.inner.heads.close();
        let tasks: Vec<_> = self.inner.tasks.lock().expect("tasks").drain(..).collect();
        for t in tasks {
            t.abort();
        }
        self.inner.flush_peers();
        self.inner.endpoint.close().await;
        self.inner.relay.shutdown();
        // Let aborted tasks drop their references before the data directory is released.
        tokio::task::yield_now().await;
        // Tasks still finishing may hold the node a little longer: the index lets go now.
        let me = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || me.search.close()).await;
        self.inner.lock.lock().expect("lock").take();
    }

    /// Events from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// This node's public key.
    pub fn node_pubkey(&self) -> PubKey {
        self.inner.key.public()
    }

    /// Addresses this node advertises.
    pub fn advertised(&self) -> &[PeerAddr] {
        &self.inner.advertised
    }

    /// The bound TCP listener.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.inner.endpoint.tcp_addr()
    }

    /// The bound QUIC listener.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.inner.endpoint.quic_addr()
    }

    /// The configuration in use.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.cfg
    }

    /// The database (for front ends that show raw state).
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Adds a peer address to try (as if it came from the configuration).
    pub fn add_peer(&self, addr: &PeerAddr) {
        self.inner.peers.hint(addr, PeerSource::Bootstrap, None, None);
    }
}

impl Inner {
    /// Runs background work owned by the node: aborted at shutdown.
    pub(crate) fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(&self, f: F) {
        let mut tasks = self.tasks.lock().expect("tasks");
        if tasks.len() >= 64 {
            tasks.retain(|t| !t.is_finished());
        }
        tasks.push(tokio::spawn(f));
    }

    /// Emits an event (nobody listening is fine).
    pub fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    /// Loads heads of own shares and subscriptions into the head board and the local DHT
    /// store, so they are served from the first second.
    fn load_state(&self) -> Result<()> {
        let now = trove_store::db::unix_now();
        let mut ids: Vec<trove_proto::ShareId> = self.db.shares()?.into_iter().map(|s| s.share_id).collect();
        ids.extend(self.db.subscriptions()?.into_iter().map(|s| s.share_id));
        for id in ids {
            let Some(stored) = self.db.head(&id)? else { continue };
            let head = stored.head;
            if head.verify_self().unwrap_or(false) {
                self.heads.offer(head.clone());
                let mut dht = self.dht.lock().expect("dht");
                let _ = dht.publish(trove_proto::dht_key::share_head(&id), trove_proto::cbor::to_vec(&head), now);
            }
        }
        Ok(())
    }

    /// Saves the peers seen since the last flush.
    pub fn flush_peers(&self) {
        let dirty = self.peers.take_dirty();
        if dirty.is_empty() {
            return;
        }
        if let Ok(limits) = trove_store::db::PeerLimits::new(10_000, 256) {
            let _ = self.db.save_peers(&dirty, &limits);
        }
    }
}

/// Loads blocklist rules and rebuilds the search index in the background when it was
/// missing or damaged.
fn node_index_start(inner: &Arc<Inner>, state: &trove_store::search::OpenState) {
    inner.load_saved_blocklists();
    let rebuild = !matches!(state, trove_store::search::OpenState::Opened);
    let me = inner.clone();
    inner.spawn(async move {
        let me2 = me.clone();
        let r = tokio::task::spawn_blocking(move || {
            if rebuild { me2.rebuild_index().map(|n| n as usize) } else { me2.reconcile_index() }
        })
        .await;
        match r {
            Ok(Ok(n)) if n > 0 => tracing::info!("search index brought up to date ({n} changes)"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("updating the search index: {e}"),
            Err(e) => tracing::warn!("updating the search index: {e}"),
        }
    });
}

/// The addresses to advertise: configured ones, else the listen addresses with an
/// unspecified IP replaced by the local address of the default route.
fn advertised_addrs(cfg: &NodeConfig, ep: &Endpoint, key: PubKey) -> Vec<PeerAddr> {
    let mut out: Vec<PeerAddr> = cfg.advertise.iter().filter_map(|s| PeerAddr::parse_bootstrap(s).ok()).collect();
    if out.is_empty() {
        for (addr, t) in [(ep.tcp_addr(), Transport::Tcp), (ep.quic_addr(), Transport::Quic)] {
            if let Some(mut a) = addr {
                if a.ip().is_unspecified() {
                    a.set_ip(local_ip().unwrap_or(a.ip()));
                }
                out.push(PeerAddr::new(a, t));
            }
        }
    }
    for a in &mut out {
        a.pubkey_hint = Some(key);
    }
    out
}

/// The local address used to reach the outside (no packet is sent: a UDP socket is only
/// connected to pick a route).
fn local_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    s.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified())
}

/// Parses addresses from a link's hints or a subscription, resolving host names.
pub async fn resolve_bootstrap(list: &[String]) -> Vec<PeerAddr> {
    resolve_addrs(list, false).await
}

/// Parses configured bootstrap strings, resolving host names; with `paired`, each address
/// is also tried on the other transport at the paired port (QUIC = TCP − 1), as v1 nodes do
/// with their bootstrap lists.
pub async fn resolve_addrs(list: &[String], paired: bool) -> Vec<PeerAddr> {
    let mut out = Vec::new();
    for s in list {
        let parsed = match PeerAddr::parse_bootstrap(s) {
            Ok(p) => vec![p],
            Err(_) => resolve_host(s).await,
        };
        for p in parsed {
            // Pair only hosts given with a single transport (the v1 convention); an explicit
            // second transport for the same host wins over a guessed port.
            let both_given = list
                .iter()
                .filter_map(|x| PeerAddr::parse_bootstrap(x).ok())
                .any(|q| q.ip == p.ip && q.transport != p.transport);
            if !paired || both_given {
                out.push(p);
                continue;
            }
            let paired = match p.transport {
                Transport::Tcp => {
                    p.port.checked_sub(1).map(|port| PeerAddr { port, transport: Transport::Quic, ..p.clone() })
                }
                Transport::Quic => {
                    p.port.checked_add(1).map(|port| PeerAddr { port, transport: Transport::Tcp, ..p.clone() })
                }
            };
            out.push(p);
            out.extend(paired);
        }
    }
    out.sort_by_key(|p| p.transport != Transport::Tcp);
    out.dedup_by_key(|p| p.dedup_key());
    out
}

async fn resolve_host(s: &str) -> Vec<PeerAddr> {
    let (rest, hint) = match s.trim().rsplit_once('@') {
        Some((a, k)) => (a, trove_proto::PubKey::from_hex(k).ok()),
        None => (s.trim(), None),
    };
    let Ok((transport, hostport)) = trove_proto::wire::peer_addr::split_scheme(rest) else { return Vec::new() };
    match tokio::net::lookup_host(hostport).await {
        Ok(addrs) => addrs
            .map(|a| {
                let mut p = PeerAddr::new(a, transport);
                p.pubkey_hint = hint;
                p
            })
            .collect(),
        Err(e) => {
            tracing::warn!("cannot resolve bootstrap address {s}: {e}");
            Vec::new()
        }
    }
}
