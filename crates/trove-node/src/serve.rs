//! Answering peers: the [`trove_net::Handler`] of the node. Every v1 request is served as
//! SCP2P-WIRE.md §4 describes (DHT, manifests, listings, chunks, PEX), plus trove's extension
//! requests on bound sessions (paged manifests and hash lists, head watching).

use crate::content::ServeError;
use crate::events::Event;
use crate::node::Inner;
use bytes::Bytes;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use trove_dht::{DhtRequest, Source};
use trove_net::{Handler, PeerInfo, Reply, ReplyFuture};
use trove_proto::wire::ext::{MAX_HASHES_PAGE, MAX_MANIFEST_PAGE, MAX_WATCH_MS};
use trove_proto::wire::*;
use trove_proto::{ManifestId, ShareId, cbor, limits};
use trove_store::db::PeerSource;

/// The handler the endpoint calls; it holds the node weakly so dropping the node stops it.
pub struct NodeHandler {
    pub(crate) inner: OnceLock<Weak<Inner>>,
}

impl Handler for NodeHandler {
    fn handle(&self, peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture {
        let inner = self.inner.get().and_then(Weak::upgrade);
        if let Some(inner) = &inner
            && crate::relay::is_relay_request(req.msg_type)
        {
            // Relay requests may take their stream over (tunnels, virtual streams).
            return Box::pin(crate::relay::reply(inner.clone(), peer, req));
        }
        Box::pin(async move {
            let resp = match inner {
                Some(inner) => inner.serve(&peer, req).await,
                None => Envelope::error(req.msg_type, req.req_id, "node is shutting down"),
            };
            Reply::Respond(resp)
        })
    }

    fn on_peer(&self, peer: &Arc<PeerInfo>) {
        if let Some(inner) = self.inner.get().and_then(Weak::upgrade) {
            inner.learn_inbound(peer);
            inner.relay.client.note_inbound();
            inner.emit(Event::PeerConnected {
                node_id: peer.node_id.to_hex(),
                addr: peer.addr.to_string(),
                transport: peer.transport.as_str().into(),
                trove: peer.bound,
            });
        }
    }
}

fn ok<P: Payload>(t: MsgType, req: &Envelope, p: &P) -> Envelope {
    Envelope::response(t, req.req_id, p.to_payload())
}

fn err(req: &Envelope, text: &str) -> Envelope {
    Envelope::error(req.msg_type, req.req_id, text)
}

impl Inner {
    /// Answers one request.
    pub(crate) async fn serve(self: &Arc<Self>, peer: &Arc<PeerInfo>, req: Envelope) -> Envelope {
        let ext = self.cfg.extensions && peer.bound;
        let r = match AnyRequest::decode_ext(req.msg_type, &req.payload, ext) {
            Ok(r) => r,
            Err(e) => return err(&req, &e.to_string()),
        };
        match r {
            AnyRequest::FindNode(_) | AnyRequest::FindValue(_) | AnyRequest::Store(_) => self.serve_dht(peer, &req, r),
            AnyRequest::GetManifest(g) => self.serve_manifest(&req, &g.manifest_id).await,
            AnyRequest::GetManifestPage(g) => self.serve_manifest_page(&req, &g).await,
            AnyRequest::ListPublicShares(l) => self.serve_public_shares(peer, &req, l.max_entries).await,
            AnyRequest::GetCommunityStatus(g) => self.serve_community_status(&req, &g),
            AnyRequest::ListCommunityPublicShares(l) => self.serve_community_shares(peer, &req, &l).await,
            AnyRequest::GetCommunityRecords(g) => self.serve_community_records(peer, &req, g).await,
            AnyRequest::PutCommunityRecords(p) => self.serve_put_community_records(peer, &req, p).await,
            AnyRequest::PexRequest(p) => {
                let n = (p.max_peers as usize).min(64);
                let peers: Vec<PeerAddr> = self
                    .peers
                    .best(n * 2)
                    .into_iter()
                    .filter(|k| k.last_ok.is_some())
                    .map(|k| k.dial_addr())
                    .take(n)
                    .collect();
                ok(MsgType::PEX_OFFER, &req, &PexOffer { peers })
            }
            AnyRequest::PexOffer(o) => {
                // Hints only, capped: verified by a handshake before anything relies on them.
                for a in o.peers.iter().filter(|a| a.relay_via.is_none()).take(64) {
                    self.peers.hint(a, PeerSource::Pex, None, None);
                }
                Envelope::response(MsgType::PEX_OFFER, req.req_id, Bytes::new())
            }
            AnyRequest::HaveContent(_) => Envelope::response(MsgType::HAVE_CONTENT, req.req_id, Bytes::new()),
            AnyRequest::GetChunk(g) => self.serve_chunk(peer, &req, g).await,
            AnyRequest::GetChunkHashes(g) => self.serve_hashes(&req, g.content_id, None).await,
            AnyRequest::GetChunkHashesPage(g) => {
                let page = (g.start, g.count.min(MAX_HASHES_PAGE) as usize);
                self.serve_hashes(&req, g.content_id, Some(page)).await
            }
            AnyRequest::WatchHeads(w) => {
                let wait = Duration::from_millis(w.wait_ms.min(MAX_WATCH_MS) as u64);
                let heads = self.heads.wait_newer(&w.shares, wait).await;
                let heads = Heads { heads: heads.iter().map(cbor::to_vec).collect() };
                ok(MsgType::HEADS, &req, &heads)
            }
            AnyRequest::RelayListRequest(_) => {
                let list = RelayListResponse { announcements: self.relay.known.list(16) };
                ok(MsgType::RELAY_LIST_RESPONSE, &req, &list)
            }
            // Answered by the relay module (the handler routes them there).
            AnyRequest::RelayRegister(_)
            | AnyRequest::RelayConnect(_)
            | AnyRequest::RelayStream(_)
            | AnyRequest::RelayOpen(_)
            | AnyRequest::RelayIncoming(_)
            | AnyRequest::RelayAccept(_) => err(&req, "this node does not offer relaying"),
        }
    }

    fn serve_dht(&self, peer: &PeerInfo, req: &Envelope, r: AnyRequest) -> Envelope {
        let Some(dreq) = DhtRequest::from_any(r) else { return err(req, "not a DHT request") };
        let source = Source::new(peer.node_id, peer.addr.ip());
        let now = trove_store::db::unix_now();
        let result = self.dht.lock().expect("dht").handle(&dreq, &source, now);
        if result.is_ok()
            && let DhtRequest::Store(st) = &dreq
            && let Ok(head) = cbor::from_slice::<ShareHead>(&st.value)
            && st.key == trove_proto::dht_key::share_head(&head.share_id)
            && head.verify_self().unwrap_or(false)
        {
            // A storage node is a rendezvous for the heads stored at it: watchers there learn
            // of a new revision the moment the publisher stores it.
            self.heads.offer(head);
        }
        match result {
            Ok(resp) => Envelope::response(resp.msg_type(), req.req_id, resp.to_payload()),
            Err(e) => err(req, &e.wire_text()),
        }
    }

    async fn manifest_bytes(&self, id: &ManifestId) -> Option<Vec<u8>> {
        let db = self.db.clone();
        let id = *id;
        tokio::task::spawn_blocking(move || db.manifest(&id).ok().flatten().map(|m| m.bytes)).await.ok().flatten()
    }

    async fn serve_manifest(&self, req: &Envelope, id: &ManifestId) -> Envelope {
        match self.manifest_bytes(id).await {
            Some(bytes) if bytes.len() + 64 <= limits::MAX_ENVELOPE_PAYLOAD_BYTES => {
                ok(MsgType::MANIFEST_DATA, req, &ManifestData { manifest_id: *id, bytes })
            }
            Some(_) => err(req, "manifest too large for one message; use GET_MANIFEST_PAGE"),
            None => err(req, "manifest not found"),
        }
    }

    async fn serve_manifest_page(&self, req: &Envelope, g: &GetManifestPage) -> Envelope {
        let Some(bytes) = self.manifest_bytes(&g.manifest_id).await else { return err(req, "manifest not found") };
        let total = bytes.len() as u64;
        if g.offset > total {
            return err(req, "offset past the end of the manifest");
        }
        let start = g.offset as usize;
        let end = (start + g.max_len.min(MAX_MANIFEST_PAGE) as usize).min(bytes.len());
        let page = ManifestPage {
            manifest_id: g.manifest_id,
            total_len: total,
            offset: g.offset,
            bytes: bytes[start..end].to_vec(),
        };
        ok(MsgType::MANIFEST_PAGE, req, &page)
    }

    /// Own published shares whose current manifest is public (and, for a community listing,
    /// bound to `community`), newest first.
    async fn public_summaries(&self, community: Option<ShareId>, max: usize) -> Vec<PublicShareSummary> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || crate::views::public_summaries(&db, community, max).unwrap_or_default())
            .await
            .unwrap_or_default()
    }

    async fn serve_public_shares(&self, peer: &PeerInfo, req: &Envelope, max: u16) -> Envelope {
        // Public shares are listed on the LAN; beyond it only to community members (406).
        if !crate::community::visibility::is_lan(peer.addr.ip()) {
            return ok(MsgType::PUBLIC_SHARE_LIST, req, &PublicShareList::default());
        }
        let shares = self.public_summaries(None, max as usize).await;
        ok(MsgType::PUBLIC_SHARE_LIST, req, &PublicShareList { shares })
    }

    async fn serve_chunk(self: &Arc<Self>, peer: &PeerInfo, req: &Envelope, g: GetChunk) -> Envelope {
        let room = self.serve_buffers.reserve(&peer.node_pubkey).await;
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || me.content.chunk_payload(&g.content_id, g.chunk_index)).await;
        match r {
            Ok(Ok(payload)) => {
                if let Some(t) = &self.upload_throttle {
                    t.take(payload.len()).await;
                }
                Envelope::response(MsgType::CHUNK_DATA, req.req_id, room.hold(payload))
            }
            Ok(Err(e)) => {
                let what = format!("chunk {} of {}", g.chunk_index, g.content_id.short());
                self.not_served(req, &what, "chunk not found", e)
            }
            Err(_) => err(req, "chunk not found"),
        }
    }

    /// Answers GET_CHUNK_HASHES (`page` None: the whole list, if it fits one v1 message) or
    /// a GET_CHUNK_HASHES_PAGE (start, count), reading only what the answer holds.
    async fn serve_hashes(
        self: &Arc<Self>,
        req: &Envelope,
        id: trove_proto::ContentId,
        page: Option<(u32, usize)>,
    ) -> Envelope {
        let max = limits::MAX_CHUNK_HASHES_V1;
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || match page {
            None => me.content.chunk_hashes_page(&id, 0, max, max),
            Some((start, count)) => me.content.chunk_hashes_page(&id, start as usize, count, usize::MAX),
        })
        .await;
        match (r, page) {
            (Ok(Ok((total, _))), None) if total > max => {
                err(req, "chunk hash list too large for one message; use GET_CHUNK_HASHES_PAGE")
            }
            (Ok(Ok((_, hashes))), None) => ok(MsgType::CHUNK_HASH_LIST, req, &ChunkHashList { content_id: id, hashes }),
            (Ok(Ok((total, _))), Some((start, _))) if start as usize > total => {
                err(req, "start past the end of the chunk hash list")
            }
            (Ok(Ok((total, hashes))), Some((start, _))) => {
                let page = ChunkHashesPage { content_id: id, total: total as u32, start, hashes };
                ok(MsgType::CHUNK_HASHES_PAGE, req, &page)
            }
            (Ok(Err(e)), _) => {
                self.not_served(req, &format!("the chunk hashes of {}", id.short()), "chunk hashes not found", e)
            }
            (Err(_), _) => err(req, "chunk hashes not found"),
        }
    }

    /// The error `answer` when `what` cannot be served: files found changed are reported as
    /// withdrawn, storage errors logged.
    fn not_served(&self, req: &Envelope, what: &str, answer: &str, e: ServeError) -> Envelope {
        match e {
            ServeError::Withdrawn(why) => {
                for w in why {
                    tracing::warn!("withdrew a changed file: {w}");
                    self.emit(Event::ContentWithdrawn { path: w.clone(), reason: w });
                }
            }
            ServeError::Store(e) => tracing::warn!("serving {what}: {e}"),
            ServeError::NotFound => {}
        }
        err(req, answer)
    }
}
