//! Downloading one file: finds providers, gets and verifies the chunk hash list, resumes the
//! `.part` file (re-verifying what is already there), runs the [`Swarm`] over pooled sessions
//! with requests to every provider in parallel, writes each verified chunk, reports progress,
//! and renames the file into place only after the whole-file hash matches.

use super::swarm::{Failure, PeerIdx, Swarm, SwarmConfig};
use crate::error::{NodeError, Result};
use crate::events::Event;
use crate::node::Inner;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trove_dht::ValueTarget;
use trove_net::peer::features;
use trove_proto::content::{Hash, chunk_count, chunk_len, verify_chunk_list};
use trove_proto::wire::ext::MAX_HASHES_PAGE;
use trove_proto::wire::{GetChunk, GetChunkHashes, GetChunkHashesPage, PeerAddr, Providers};
use trove_proto::{ContentId, ShareId, cbor, dht_key};
use trove_store::StoreError;
use trove_store::db::{Download, DownloadState, StoredList};
use trove_store::files::{ChunkHashes, FetchedList, PartFile, SpaceReserve};

/// How often progress is reported and the bitmap saved.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
const SAVE_EVERY: Duration = Duration::from_secs(2);
/// How long the known providers of a one-chunk file have before the DHT is asked for more.
const LATE_DISCOVERY: Duration = Duration::from_secs(1);
/// Rounds of provider discovery before giving up when every provider failed.
const DISCOVERY_ROUNDS: usize = 3;
/// How long a provider has to connect before it is dropped from the swarm.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The first hashes of a list from one provider.
enum FirstHashes {
    /// Its first page (a trove peer).
    Page(Vec<Hash>),
    /// The whole list, in one message (a v1 peer).
    Whole(Vec<Hash>),
}

/// The page of the list of `id` (of `count` hashes) from hash `start`: the page the request
/// asked for, with at least one hash and none past the end.
pub(super) async fn hash_page(
    p: &PeerAddr,
    s: &trove_net::Session,
    id: &ContentId,
    start: u64,
    count: u64,
) -> Result<Vec<Hash>> {
    let page = s.call(&GetChunkHashesPage { content_id: *id, start: start as u32, count: MAX_HASHES_PAGE }).await?;
    if page.content_id != *id
        || u64::from(page.start) != start
        || u64::from(page.total) != count
        || page.hashes.is_empty()
        || page.hashes.len() as u64 > count.saturating_sub(start)
    {
        return Err(NodeError::Invalid(format!("{p} sent an inconsistent hash page")));
    }
    Ok(page.hashes)
}

/// Outcome of one file download.
#[derive(Debug)]
pub struct FileOutcome {
    pub bytes: u64,
    /// Bytes that were already verified on disk when the download (re)started.
    pub resumed_bytes: u64,
    /// What each peer that delivered chunks delivered.
    pub delivered: Vec<super::get::Delivered>,
}

impl Inner {
    /// Providers of a content: the DHT record at its provider key and at its share's key,
    /// plus `extra` peers (the share's known peers), never this node itself.
    pub(crate) async fn providers_of(
        self: &Arc<Self>,
        id: &ContentId,
        share: Option<ShareId>,
        extra: &[PeerAddr],
    ) -> Vec<PeerAddr> {
        let mut out: Vec<PeerAddr> = extra.to_vec();
        let mut keys = vec![dht_key::content_providers(id)];
        if let Some(s) = share {
            keys.push(dht_key::content_providers(&ContentId(s.0)));
        }
        let found =
            futures::future::join_all(keys.into_iter().map(|k| self.dht_get_with(ValueTarget::first(k), extra))).await;
        for f in found.into_iter().flatten() {
            if let Ok(p) = cbor::from_slice::<Providers>(&f.store.value) {
                out.extend(p.providers);
            }
        }
        let not_me = self.not_me();
        let mut seen = HashSet::new();
        // Relayed providers are reached through their relay by the pool.
        out.retain(|p| not_me(p) && seen.insert(p.dedup_key()));
        out
    }

    /// Whether an address is not this node's (by its key hint or one of its own addresses).
    fn not_me(&self) -> impl Fn(&PeerAddr) -> bool + use<> {
        let own: HashSet<String> = self.advertised.iter().map(|a| a.dedup_key()).collect();
        let me = Some(self.key.public());
        move |p| p.pubkey_hint != me && !own.contains(&p.dedup_key())
    }

    /// The chunk hash list of download `dl` from the first provider whose list matches the
    /// manifest's chunk count and list hash. Up to eight providers at a time are asked for a
    /// first page; the list is then read from one of them a page at a time straight into the
    /// database (never held whole), and from the next on a failure or a wrong list.
    ///
    /// The known `providers` are asked while the DHT `discovery` runs (when it has not run
    /// yet): the providers it finds join the race and `providers`, and its result is kept in
    /// `discovered` for the swarm. A known provider that never answers (a publisher gone
    /// offline, whose QUIC address only a timeout ends) then costs nothing.
    async fn fetch_chunk_hashes(
        self: &Arc<Self>,
        dl: &Download,
        providers: &mut Vec<PeerAddr>,
        mut discovery: std::pin::Pin<&mut impl std::future::Future<Output = Vec<PeerAddr>>>,
        discovered: &mut Option<Vec<PeerAddr>>,
    ) -> Result<ChunkHashes> {
        const AT_ONCE: usize = 8;
        let count = chunk_count(dl.size);
        let mut errors = Vec::new();
        let mut waiting: std::collections::VecDeque<PeerAddr> = providers.iter().cloned().collect();
        let mut firsts = FuturesUnordered::new();
        let first = |p: PeerAddr| async move {
            let r = self.first_hashes(&p, &dl.content_id, count).await;
            (p, r)
        };
        let mut list: Option<FetchedList> = None;
        loop {
            while firsts.len() < AT_ONCE
                && let Some(p) = waiting.pop_front()
            {
                firsts.push(first(p));
            }
            let (p, first) = tokio::select! {
                Some(answer) = firsts.next(), if !firsts.is_empty() => answer,
                more = discovery.as_mut(), if discovered.is_none() => {
                    for p in &more {
                        if !providers.iter().any(|q| q.dedup_key() == p.dedup_key()) {
                            providers.push(p.clone());
                            waiting.push_back(p.clone());
                        }
                    }
                    *discovered = Some(more);
                    continue;
                }
                else => break,
            };
            let read = match first {
                Ok((s, first)) => {
                    let list = match &mut list {
                        Some(l) => {
                            l.restart();
                            l
                        }
                        None => list.insert(FetchedList::start(&self.db, dl.id, count, dl.chunk_list_hash)?),
                    };
                    self.read_hashes(&p, &s, &dl.content_id, first, list).await
                }
                Err(e) => Err(e),
            };
            match read {
                Ok(hashes) => return Ok(hashes),
                Err(e) => errors.push(format!("{p}: {e}")),
            }
        }
        Err(NodeError::Unavailable(format!(
            "no provider gave the chunk hashes of {}: {}",
            dl.content_id.short(),
            if errors.is_empty() { "no providers found".into() } else { errors.join("; ") }
        )))
    }

    /// A session to `p` and the first hashes of a list of `count`: a first page between
    /// trove peers, the whole list from a v1 peer.
    async fn first_hashes(
        self: &Arc<Self>,
        p: &PeerAddr,
        id: &ContentId,
        count: u64,
    ) -> Result<(trove_net::Session, FirstHashes)> {
        let s = self.session(p).await?;
        if s.peer().has(features::PAGED_HASHES) {
            let page = hash_page(p, &s, id, 0, count).await?;
            Ok((s, FirstHashes::Page(page)))
        } else {
            let l = s.call(&GetChunkHashes { content_id: *id }).await?;
            if l.content_id != *id {
                return Err(NodeError::Invalid(format!("{p} answered for another content")));
            }
            Ok((s, FirstHashes::Whole(l.hashes)))
        }
    }

    /// Reads the list into `list` from its first hashes on, page by page, and checks it.
    async fn read_hashes(
        &self,
        p: &PeerAddr,
        s: &trove_net::Session,
        id: &ContentId,
        first: FirstHashes,
        list: &mut FetchedList,
    ) -> Result<ChunkHashes> {
        let paged = matches!(first, FirstHashes::Page(_));
        let (FirstHashes::Page(h) | FirstHashes::Whole(h)) = first;
        list.push(&h)?;
        while paged && !list.is_full() {
            let page = hash_page(p, s, id, list.next(), list.len()).await?;
            list.push(&page)?;
        }
        Ok(list.finish()?)
    }

    /// The stored chunk hash list of download `dl` if it has one of `count` hashes that
    /// matches its list hash; a wrong one (cut short by a crash, or damaged) is dropped.
    async fn stored_hashes(&self, dl: &Download, count: u64) -> Result<Option<ChunkHashes>> {
        let (db, id, want) = (self.db.clone(), dl.id, dl.chunk_list_hash);
        tokio::task::spawn_blocking(move || -> Result<Option<ChunkHashes>> {
            match ChunkHashes::load(&db, StoredList::Download(id))? {
                Some(h) if h.len() == count && h.digest()? == want => Ok(Some(h)),
                Some(_) => {
                    db.drop_download_list(id)?;
                    Ok(None)
                }
                None => Ok(None),
            }
        })
        .await
        .map_err(crate::publish::join_err)?
    }

    /// Downloads one file described by a download row. Resumes whatever is on disk.
    pub(crate) async fn download_file(
        self: &Arc<Self>,
        dl: &Download,
        share_peers: &[PeerAddr],
        replace: bool,
    ) -> Result<FileOutcome> {
        let count = chunk_count(dl.size);
        let path_text = dl.target_path.display().to_string();
        self.db.set_download_state(dl.id, DownloadState::Running, None)?;
        // Start with the share's known peers at once; the DHT lookup for more providers runs
        // alongside and its results join the swarm when they arrive.
        let not_me = self.not_me();
        let mut providers: Vec<PeerAddr> = share_peers.iter().filter(|p| not_me(p)).cloned().collect();
        let mut discovery = Box::pin(self.providers_of(&dl.content_id, dl.share_id, share_peers));
        let mut discovered: Option<Vec<PeerAddr>> = None;
        // A file of one chunk cannot be spread over more providers: the DHT is asked only
        // when the known ones fail or are slow (for a share of many small files this saves a
        // lookup each).
        let late = count == 1 && !providers.is_empty();
        let discover_at = tokio::time::Instant::now() + if late { LATE_DISCOVERY } else { Duration::ZERO };
        let reserve = SpaceReserve::new(self.cfg.free_space_reserve_mib << 20);
        // A list stored by an earlier attempt (or by `fetch`) is read a page at a time, once
        // it is checked: a crash may have left one half written.
        let hashes: ChunkHashes = match self.stored_hashes(dl, count).await? {
            Some(h) => h,
            None if count == 0 => Vec::new().into(),
            // One chunk: its hash is the content id, so the list needs no provider.
            None if count == 1 && verify_chunk_list(&[dl.content_id.0], 1, &dl.chunk_list_hash) => {
                vec![dl.content_id.0].into()
            }
            // Room for the file first: its list (1/8192 of it) is stored before the file
            // is made, and a file that cannot fit needs none.
            None => {
                PartFile::check_room(&dl.target_path, dl.size, &reserve)?;
                match self.fetch_chunk_hashes(dl, &mut providers, discovery.as_mut(), &mut discovered).await {
                    Ok(h) => h,
                    // Everyone known and found failed: ask them all once more (a peer may
                    // have come back meanwhile).
                    Err(_) => self.fetch_chunk_hashes(dl, &mut providers, discovery.as_mut(), &mut discovered).await?,
                }
            }
        };
        let target = dl.target_path.clone();
        let size = dl.size;
        let part = tokio::task::spawn_blocking(move || -> Result<PartFile> {
            let part = PartFile::create_or_open(&target, size, hashes, &reserve)?;
            // Only a part file left by an earlier run can hold chunks already.
            if part.was_existing() {
                part.recover()?;
            }
            Ok(part)
        })
        .await
        .map_err(crate::publish::join_err)??;
        let part = Arc::new(part);
        let resumed_bytes = part.bitmap().present().map(|i| chunk_len(size, i).unwrap_or(0) as u64).sum::<u64>();

        let mut swarm = Swarm::new(count as u32, |i| part.is_verified(i as u64), SwarmConfig::default());
        let mut addrs: Vec<PeerAddr> = Vec::new();
        // Providers get requests once connected (see `Swarm::set_connected`).
        let mut connecting = FuturesUnordered::new();
        let key_of = |a: &PeerAddr| a.pubkey_hint.or_else(|| self.peers.get(a).and_then(|k| k.verified_key));
        let add = |swarm: &mut Swarm,
                   addrs: &mut Vec<PeerAddr>,
                   connecting: &mut FuturesUnordered<_>,
                   list: Vec<PeerAddr>| {
            for p in list {
                // One address per node: the same node over its other transport adds nothing.
                let pk = key_of(&p);
                // (A relayed address with another route is a new way in: the old route may be
                // gone after the node moved to another relay.)
                let same_node = |a: &PeerAddr| pk.is_some() && key_of(a) == pk && a.relay_via == p.relay_via;
                if !addrs.iter().any(|a| a.dedup_key() == p.dedup_key() || same_node(a)) {
                    connecting.push(self.connect_provider(swarm.add_connecting_peer(), p.clone()));
                    addrs.push(p);
                }
            }
        };
        add(&mut swarm, &mut addrs, &mut connecting, std::mem::take(&mut providers));
        let mut inflight = FuturesUnordered::new();
        let mut last_progress = Instant::now();
        let mut last_save = Instant::now();
        let mut rounds = 0usize;
        let started = Instant::now();
        let mut done_bytes = resumed_bytes;

        while !swarm.is_complete() {
            for (p, c) in swarm.next_requests() {
                let timeout = swarm.request_timeout(p, chunk_len(size, c as u64).unwrap_or(0));
                inflight.push(self.fetch_chunk(p, addrs[p].clone(), dl.content_id, c, part.clone(), timeout));
            }
            let waiting = !inflight.is_empty() || !connecting.is_empty();
            if !waiting && discovered.is_none() && count > 0 {
                let more = discovery.as_mut().await;
                add(&mut swarm, &mut addrs, &mut connecting, more.clone());
                discovered = Some(more);
                continue;
            }
            if !waiting {
                // Every provider failed or none was found: look again a few times.
                if rounds >= DISCOVERY_ROUNDS {
                    let reasons: Vec<String> = (0..addrs.len())
                        .map(|p| format!("{}: {}", addrs[p], swarm.peer(p).drop_reason.unwrap_or("no answer")))
                        .collect();
                    let msg = if addrs.is_empty() {
                        format!("no provider of {} could be found", dl.item_path)
                    } else {
                        format!(
                            "every provider of {} failed ({} chunks still missing): {}",
                            dl.item_path,
                            swarm.missing(),
                            reasons.join("; ")
                        )
                    };
                    self.save_bitmap(dl, &part);
                    return Err(NodeError::Unavailable(msg));
                }
                rounds += 1;
                tokio::time::sleep(Duration::from_millis(500 * rounds as u64)).await;
                let found = self.providers_of(&dl.content_id, dl.share_id, share_peers).await;
                let known: HashSet<String> = addrs.iter().map(|a| a.dedup_key()).collect();
                let fresh: Vec<PeerAddr> = found.into_iter().filter(|p| !known.contains(&p.dedup_key())).collect();
                // Peers already tried get another chance after a pause.
                if fresh.is_empty() {
                    let retry: Vec<PeerAddr> = addrs.clone();
                    addrs.clear();
                    swarm = Swarm::new(count as u32, |i| part.is_verified(i as u64), SwarmConfig::default());
                    add(&mut swarm, &mut addrs, &mut connecting, retry);
                } else {
                    add(&mut swarm, &mut addrs, &mut connecting, fresh);
                }
                continue;
            }
            let discovering = discovered.is_none() && count > 0;
            let due = tokio::time::Instant::now() >= discover_at;
            let r = tokio::select! {
                Some((peer, connected)) = connecting.next(), if !connecting.is_empty() => {
                    match connected {
                        // A v1 peer answers one request at a time.
                        Ok(v1) => swarm.set_connected(peer, if v1 { 1 } else { usize::MAX }),
                        Err(why) => {
                            tracing::debug!("cannot reach {}: {why}", addrs[peer]);
                            swarm.drop_peer(peer, "cannot be reached");
                        }
                    }
                    continue;
                }
                Some(r) = inflight.next(), if !inflight.is_empty() => r,
                more = discovery.as_mut(), if discovering && due => {
                    add(&mut swarm, &mut addrs, &mut connecting, more.clone());
                    discovered = Some(more);
                    continue;
                }
                _ = tokio::time::sleep_until(discover_at), if discovering && !due => continue,
                else => continue,
            };
            let ChunkResult { peer, chunk, outcome, elapsed } = r;
            match outcome {
                Ok(len) => {
                    if swarm.on_success(peer, chunk, len, elapsed) {
                        done_bytes += len as u64;
                    }
                }
                Err(ChunkError::DiskFull(msg)) => {
                    self.save_bitmap(dl, &part);
                    self.db.set_download_state(dl.id, DownloadState::DiskFull, Some(&msg))?;
                    return Err(NodeError::Store(StoreError::DiskFull(msg)));
                }
                Err(ChunkError::Local(e)) => {
                    self.save_bitmap(dl, &part);
                    self.db.set_download_state(dl.id, DownloadState::Failed, Some(&e.to_string()))?;
                    return Err(e.into());
                }
                Err(ChunkError::Peer(f, why)) => {
                    tracing::debug!("chunk {chunk} from {}: {why}", addrs[peer]);
                    if f == Failure::BadData {
                        tracing::warn!("{} sent a corrupted chunk of {}; dropping it", addrs[peer], dl.item_path);
                        self.pool.remove(&addrs[peer]);
                    }
                    swarm.on_failure(peer, chunk, f);
                }
                Err(ChunkError::Connect(why)) => {
                    tracing::debug!("cannot reach {}: {why}", addrs[peer]);
                    swarm.on_failure(peer, chunk, Failure::Error);
                    if swarm.peer(peer).failures >= 2 {
                        swarm.drop_peer(peer, "cannot be reached");
                    }
                }
            }
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                self.emit(Event::DownloadProgress {
                    download_id: dl.id.0,
                    path: path_text.clone(),
                    bytes_done: done_bytes,
                    bytes_total: size,
                    rate_bps: ((done_bytes - resumed_bytes) as f64 / secs) as u64,
                    peers: swarm.connected_peers(),
                });
            }
            if last_save.elapsed() >= SAVE_EVERY {
                last_save = Instant::now();
                self.save_bitmap(dl, &part);
            }
        }
        // Duplicates still in flight (endgame) are abandoned: any late write carries the
        // same verified bytes.
        drop(inflight);
        let delivered: Vec<super::get::Delivered> = (0..addrs.len())
            .filter(|&p| swarm.peer(p).delivered > 0)
            .map(|p| super::get::Delivered { peer: addrs[p].to_string(), bytes: swarm.peer(p).bytes })
            .collect();
        let p2 = part.clone();
        let cid = dl.content_id;
        let finished =
            tokio::task::spawn_blocking(move || p2.finish(&cid, replace)).await.map_err(crate::publish::join_err)?;
        let finished = match finished {
            Ok(f) => f,
            Err(e) => {
                self.save_bitmap(dl, &part);
                return Err(e.into());
            }
        };
        self.db.complete_download(dl.id, &part.bitmap().to_bytes(), &finished.path, finished.mtime_ns)?;
        self.emit(Event::DownloadComplete {
            download_id: dl.id.0,
            path: finished.path.display().to_string(),
            bytes: size,
        });
        if self.cfg.seed_downloads && count > 0 {
            // Queued: finishing many files must not flood the DHT (and the CPU) while the
            // next files are downloading.
            let _ = self.announce_queue.send(dl.content_id);
        }
        Ok(FileOutcome { bytes: size, resumed_bytes, delivered })
    }

    /// Connects to provider `peer` of a swarm (its requests then use the pooled session);
    /// `Ok(true)` for a v1 peer.
    async fn connect_provider(
        self: &Arc<Self>,
        peer: PeerIdx,
        addr: PeerAddr,
    ) -> (PeerIdx, std::result::Result<bool, String>) {
        (peer, self.session_within(&addr, CONNECT_TIMEOUT).await.map(|s| s.peer().is_v1()))
    }

    /// The pooled session to `addr`, connecting if needed within `limit`.
    async fn session_within(
        self: &Arc<Self>,
        addr: &PeerAddr,
        limit: Duration,
    ) -> std::result::Result<trove_net::Session, String> {
        match tokio::time::timeout(limit, self.session(addr)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("connect timed out".into()),
        }
    }

    fn save_bitmap(&self, dl: &Download, part: &PartFile) {
        if let Err(e) = self.db.set_download_bitmap(dl.id, &part.bitmap().to_bytes()) {
            tracing::warn!("saving progress of {}: {e}", dl.item_path);
        }
    }

    /// One chunk request to one peer, written to the part file when it verifies.
    async fn fetch_chunk(
        self: &Arc<Self>,
        peer: PeerIdx,
        addr: PeerAddr,
        content_id: ContentId,
        chunk: u32,
        part: Arc<PartFile>,
        timeout: Duration,
    ) -> ChunkResult {
        let start = Instant::now();
        let outcome = async {
            let s = self.session_within(&addr, timeout).await.map_err(ChunkError::Connect)?;
            let data = s.call_timeout(&GetChunk { content_id, chunk_index: chunk }, timeout).await.map_err(|e| {
                let f =
                    if matches!(e, trove_net::NetError::Timeout { .. }) { Failure::Timeout } else { Failure::Error };
                ChunkError::Peer(f, e.to_string())
            })?;
            if data.content_id != content_id || data.chunk_index != chunk {
                return Err(ChunkError::Peer(Failure::BadData, "answered with another chunk".into()));
            }
            let len = data.bytes.len();
            if let Some(t) = &self.download_throttle {
                t.take(len).await;
            }
            let r = tokio::task::spawn_blocking(move || part.write_chunk(chunk as u64, &data.bytes)).await;
            match r {
                Ok(Ok(_)) => Ok(len),
                Ok(Err(StoreError::DiskFull(m))) => Err(ChunkError::DiskFull(m)),
                Ok(Err(StoreError::Invalid(m))) => Err(ChunkError::Peer(Failure::BadData, m)),
                Ok(Err(e)) => Err(ChunkError::Local(e)),
                Err(e) => Err(ChunkError::Peer(Failure::Error, e.to_string())),
            }
        }
        .await;
        ChunkResult { peer, chunk, outcome, elapsed: start.elapsed() }
    }
}

enum ChunkError {
    Connect(String),
    Peer(Failure, String),
    DiskFull(String),
    /// Writing locally failed for another reason: the download stops with it.
    Local(StoreError),
}

struct ChunkResult {
    peer: PeerIdx,
    chunk: u32,
    outcome: std::result::Result<usize, ChunkError>,
    elapsed: Duration,
}
