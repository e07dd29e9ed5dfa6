//! Test fixtures: real nodes in temp dirs, a scriptable fake peer (honest, corrupting, or
//! serving forged data) on real sockets, helpers to wait for events and to craft manifests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trove_net::{Endpoint, Handler, MemoryPins, NetConfig, PeerInfo, Reply, ReplyFuture};
use trove_node::{Event, Node, NodeConfig};
use trove_proto::content::hash_reader;
use trove_proto::limits::CHUNK_SIZE as CHUNK_SIZE_BYTES;
use trove_proto::wire::*;
use trove_proto::{ContentId, DhtKey, Keypair, ManifestId, cbor, dht_key};

pub fn write_tree(root: &Path, files: &[(&str, usize)]) {
    for (rel, len) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, pattern(*len, rel.len() as u8)).unwrap();
    }
}

pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| ((i % 251) as u8).wrapping_add(salt)).collect()
}

pub async fn node(dir: &Path) -> Node {
    Node::start(NodeConfig::loopback(dir)).await.unwrap()
}

pub async fn node_with(dir: &Path, f: impl FnOnce(&mut NodeConfig)) -> Node {
    let mut c = NodeConfig::loopback(dir);
    f(&mut c);
    Node::start(c).await.unwrap()
}

/// Waits for an event matching `f`.
pub async fn wait_for(rx: &mut tokio::sync::broadcast::Receiver<Event>, f: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match rx.recv().await {
                Ok(e) if f(&e) => return e,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .expect("event did not arrive in time")
}

/// A peer on real sockets that serves whatever the test puts in its tables.
pub struct FakePeer {
    pub endpoint: Endpoint,
    pub state: Arc<FakeState>,
}

#[derive(Default)]
pub struct FakeState {
    /// FIND_VALUE answers by key.
    pub values: Mutex<HashMap<DhtKey, Vec<u8>>>,
    /// GET_MANIFEST answers (raw bytes, possibly invalid).
    pub manifests: Mutex<HashMap<ManifestId, Vec<u8>>>,
    /// Content served by GET_CHUNK_HASHES / GET_CHUNK.
    pub files: Mutex<HashMap<ContentId, Vec<u8>>>,
    /// Serve chunks with one byte flipped.
    pub corrupt: AtomicBool,
    /// Never answer GET_CHUNK (the request stays open).
    pub stall_chunks: AtomicBool,
    /// Never answer GET_MANIFEST (the request stays open).
    pub stall_manifests: AtomicBool,
    /// Keep STOREd values (last writer wins, as a v1 node does).
    pub store_values: AtomicBool,
    /// Woken on every STORE kept.
    pub stored: tokio::sync::Notify,
    /// PEX_REQUEST answer.
    pub pex_offer: Mutex<Vec<PeerAddr>>,
    /// GET_CHUNK requests received.
    pub chunk_requests: AtomicUsize,
    /// GET_CHUNK_HASHES requests received.
    pub hash_requests: AtomicUsize,
    /// FIND_VALUE requests received.
    pub find_value_requests: AtomicUsize,
    /// GET_CHUNK_HASHES_PAGE requests answered.
    pub page_requests: AtomicUsize,
    /// At most this many hashes per CHUNK_HASHES_PAGE (0: as many as asked).
    pub page_limit: AtomicUsize,
    /// Flip a byte of the last hash of every list (a lying provider).
    pub lie_in_lists: AtomicBool,
    /// Add one made-up hash to every page (the last page then runs past the list).
    pub pad_pages: AtomicBool,
    /// When set, hash list answers wait for a permit of this gate (one each).
    pub hash_gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    /// Woken after every hash page answered.
    pub page_served: tokio::sync::Notify,
    /// GET_CHUNK requests received after the first corrupted chunk was sent.
    pub requests_after_corrupt: AtomicUsize,
    sent_corrupt: AtomicBool,
}

impl FakeState {
    /// The chunk hashes of a served file (the last one flipped when lying).
    fn hashes_of(&self, id: &ContentId) -> Option<Vec<trove_proto::content::Hash>> {
        let mut hashes = hash_reader(&self.files.lock().unwrap().get(id)?[..]).unwrap().chunk_hashes;
        if self.lie_in_lists.load(Ordering::SeqCst)
            && let Some(last) = hashes.last_mut()
        {
            last[0] ^= 1;
        }
        Some(hashes)
    }
}

struct FakeHandler(Arc<FakeState>);

impl Handler for FakeHandler {
    fn handle(&self, _peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture {
        let s = &self.0;
        let ok = |t: MsgType, p: Vec<u8>| Envelope::response(t, req.req_id, p);
        let resp = match AnyRequest::decode_ext(req.msg_type, &req.payload, true) {
            Ok(AnyRequest::FindValue(f)) => {
                s.find_value_requests.fetch_add(1, Ordering::SeqCst);
                let value = s.values.lock().unwrap().get(&f.key).cloned();
                let r = FindValueResult {
                    value: value.map(|v| Store { key: f.key, value: v, ttl_secs: 3600 }),
                    closer_peers: Vec::new(),
                };
                ok(MsgType::FIND_VALUE, r.to_payload())
            }
            Ok(AnyRequest::FindNode(_)) => ok(MsgType::FIND_NODE, FindNodeResult::default().to_payload()),
            Ok(AnyRequest::Store(st)) => {
                if s.store_values.load(Ordering::SeqCst) {
                    s.values.lock().unwrap().insert(st.key, st.value);
                    s.stored.notify_waiters();
                }
                ok(MsgType::STORE, Vec::new())
            }
            Ok(AnyRequest::PexRequest(_)) => {
                let peers = s.pex_offer.lock().unwrap().clone();
                ok(MsgType::PEX_OFFER, PexOffer { peers }.to_payload())
            }
            Ok(AnyRequest::GetManifest(_)) if s.stall_manifests.load(Ordering::SeqCst) => {
                return Box::pin(std::future::pending());
            }
            Ok(AnyRequest::GetManifest(g)) => match s.manifests.lock().unwrap().get(&g.manifest_id) {
                Some(b) => ok(
                    MsgType::MANIFEST_DATA,
                    ManifestData { manifest_id: g.manifest_id, bytes: b.clone() }.to_payload(),
                ),
                None => Envelope::error(req.msg_type, req.req_id, "manifest not found"),
            },
            Ok(AnyRequest::GetChunkHashes(g)) => {
                s.hash_requests.fetch_add(1, Ordering::SeqCst);
                match s.hashes_of(&g.content_id) {
                    Some(hashes) => {
                        ok(MsgType::CHUNK_HASH_LIST, ChunkHashList { content_id: g.content_id, hashes }.to_payload())
                    }
                    None => Envelope::error(req.msg_type, req.req_id, "chunk hashes not found"),
                }
            }
            Ok(AnyRequest::GetChunkHashesPage(g)) => {
                let resp = match s.hashes_of(&g.content_id) {
                    Some(hashes) => {
                        let limit = match s.page_limit.load(Ordering::SeqCst) {
                            0 => g.count as usize,
                            n => n.min(g.count as usize),
                        };
                        let start = (g.start as usize).min(hashes.len());
                        let mut page = ChunkHashesPage {
                            content_id: g.content_id,
                            total: hashes.len() as u32,
                            start: g.start,
                            hashes: hashes[start..(start + limit).min(hashes.len())].to_vec(),
                        };
                        if s.pad_pages.load(Ordering::SeqCst) {
                            page.hashes.push([0xaa; 32]);
                        }
                        ok(MsgType::CHUNK_HASHES_PAGE, page.to_payload())
                    }
                    None => Envelope::error(req.msg_type, req.req_id, "chunk hashes not found"),
                };
                let gate = s.hash_gate.lock().unwrap().clone();
                let state = self.0.clone();
                return Box::pin(async move {
                    if let Some(g) = gate {
                        g.acquire().await.unwrap().forget();
                    }
                    state.page_requests.fetch_add(1, Ordering::SeqCst);
                    state.page_served.notify_waiters();
                    Reply::Respond(resp)
                });
            }
            Ok(AnyRequest::GetChunk(_)) if s.stall_chunks.load(Ordering::SeqCst) => {
                return Box::pin(std::future::pending());
            }
            Ok(AnyRequest::GetChunk(g)) => {
                s.chunk_requests.fetch_add(1, Ordering::SeqCst);
                if s.sent_corrupt.load(Ordering::SeqCst) {
                    s.requests_after_corrupt.fetch_add(1, Ordering::SeqCst);
                }
                match s.files.lock().unwrap().get(&g.content_id) {
                    Some(b) => {
                        let start = g.chunk_index as usize * CHUNK_SIZE_BYTES;
                        if start >= b.len() {
                            Envelope::error(req.msg_type, req.req_id, "chunk not found")
                        } else {
                            let mut data = b[start..(start + CHUNK_SIZE_BYTES).min(b.len())].to_vec();
                            if s.corrupt.load(Ordering::SeqCst) {
                                data[0] ^= 0xff;
                                s.sent_corrupt.store(true, Ordering::SeqCst);
                            }
                            let d =
                                ChunkData { content_id: g.content_id, chunk_index: g.chunk_index, bytes: data.into() };
                            ok(MsgType::CHUNK_DATA, d.to_payload())
                        }
                    }
                    None => Envelope::error(req.msg_type, req.req_id, "chunk not found"),
                }
            }
            Ok(_) => Envelope::error(req.msg_type, req.req_id, "unsupported message type"),
            Err(e) => Envelope::error(req.msg_type, req.req_id, &e.to_string()),
        };
        Box::pin(async move { Reply::Respond(resp) })
    }
}

impl FakePeer {
    /// A fake peer listening on loopback; `extensions` false makes it v1-shaped, true makes
    /// it offer hash lists in pages.
    pub async fn start(extensions: bool) -> FakePeer {
        let mut c = NetConfig::new(Keypair::generate());
        c.listen_tcp = Some("127.0.0.1:0".parse().unwrap());
        c.extensions = extensions;
        if extensions {
            c.features.push(trove_net::peer::features::PAGED_HASHES.into());
        }
        c.rate_limits = false;
        let state = Arc::new(FakeState::default());
        let endpoint =
            Endpoint::bind(c, Arc::new(FakeHandler(state.clone())), Arc::new(MemoryPins::default())).await.unwrap();
        FakePeer { endpoint, state }
    }

    /// `tcp://addr` for links.
    pub fn hint(&self) -> String {
        format!("tcp://{}", self.endpoint.tcp_addr().unwrap())
    }

    /// Serves a signed manifest (and its head) for `key`, plus the files' bytes.
    pub fn serve_share(&self, key: &Keypair, manifest: &Manifest, files: &[Vec<u8>]) {
        let id = manifest.manifest_id();
        let head = ShareHead::sign(key, manifest.seq, id, manifest.created_at + 1);
        self.state.values.lock().unwrap().insert(dht_key::share_head(&key.share_id()), cbor::to_vec(&head));
        self.state.manifests.lock().unwrap().insert(id, manifest.to_bytes());
        for f in files {
            self.state.files.lock().unwrap().insert(trove_proto::content::content_id(f), f.clone());
        }
    }

    /// Signs and serves a share of `files` (path, bytes) for `key` (revision 1); returns its
    /// manifest and a link naming this peer.
    pub fn share_files(&self, key: &Keypair, files: &[(String, Vec<u8>)]) -> (Manifest, String) {
        let items: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
        let m = manifest_for(key, 1, &items, now(), None);
        let bytes: Vec<Vec<u8>> = files.iter().map(|(_, b)| b.clone()).collect();
        self.serve_share(key, &m, &bytes);
        (m, trove_proto::ShareLink::new(key.public(), vec![self.hint()]).to_string())
    }
}

/// A signed manifest for `key` with one item per (path, bytes).
pub fn manifest_for(
    key: &Keypair,
    seq: u64,
    items: &[(&str, &[u8])],
    created_at: u64,
    expires_at: Option<u64>,
) -> Manifest {
    let items = items
        .iter()
        .map(|(path, bytes)| {
            let d = hash_reader(*bytes).unwrap();
            let name = path.rsplit(['/', '\\']).next().unwrap_or(path).to_string();
            Item {
                content_id: d.content_id,
                size: d.size,
                name,
                path: Some(path.to_string()),
                mime: None,
                tags: vec![],
                chunk_count: d.chunk_hashes.len() as u32,
                chunk_list_hash: d.chunk_list_hash,
            }
        })
        .collect();
    let mut m = Manifest {
        version: 1,
        share_pubkey: key.public(),
        share_id: key.share_id(),
        seq,
        created_at,
        expires_at,
        title: Some("crafted".into()),
        description: None,
        visibility: Visibility::Private,
        communities: vec![],
        items,
        recommended_shares: vec![],
        signature: None,
    };
    m.sign(key);
    m
}

pub fn now() -> u64 {
    trove_store::db::unix_now()
}
