//! Following shares: subscribing, finding the newest verified head (pushed by peers that
//! announced `head-push`, or looked up in the DHT and at the share's known peers), fetching
//! the manifest from any peer that has it (paged between trove peers), verifying it, and
//! storing and indexing it. One bad peer or bad head never blocks the others.

use crate::error::{NodeError, Result};
use crate::events::Event;
use crate::node::{Inner, Node};
use crate::publish::join_err;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;
use trove_dht::ValueTarget;
use trove_net::peer::features;
use trove_proto::wire::ext::MAX_PAGED_MANIFEST_BYTES;
use trove_proto::wire::{GetManifest, GetManifestPage, Manifest, PeerAddr, ShareHead, WatchHeads};
use trove_proto::{ManifestId, PubKey, ShareId, cbor, dht_key};
use trove_store::db::{PeerSource, SubscribeOptions, Subscription, SyncOutcome, Trust, unix_now};

/// What [`Node::update_subscription`] changes; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionChange {
    pub trust: Option<Trust>,
    /// Ranking weight in search (default 1.0; above 0, at most 100).
    pub weight: Option<f64>,
    pub blocklist: Option<bool>,
}

/// The result of syncing one share.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncReport {
    pub share_id: ShareId,
    /// The seq now held (None: nothing found yet).
    pub seq: Option<u64>,
    pub manifest_id: Option<ManifestId>,
    /// A new revision was applied in this sync.
    pub updated: bool,
    pub title: Option<String>,
    pub items: Option<usize>,
    pub error: Option<String>,
}

impl Node {
    /// Subscribes to a share (link, or id with an optional public key) and syncs it once.
    pub async fn subscribe(&self, target: &str, pubkey: Option<PubKey>, trust: Trust) -> Result<SyncReport> {
        let r = crate::share_ref::parse(target, None)?;
        let pubkey = match (r.pubkey, pubkey) {
            (Some(a), Some(b)) if a != b => {
                return Err(NodeError::Invalid("the --pubkey given differs from the key in the link".into()));
            }
            (a, b) => a.or(b),
        };
        if let Some(pk) = pubkey
            && pk.share_id() != r.share_id
        {
            return Err(NodeError::Invalid(format!(
                "public key {} does not belong to share {} (SHA-256 of the key must be the id)",
                pk.short(),
                r.share_id.short()
            )));
        }
        let existing = self.inner.db.subscription(&r.share_id)?;
        let mut opts = match &existing {
            Some(s) => SubscribeOptions {
                share_pubkey: s.share_pubkey,
                trust: s.trust,
                is_blocklist: s.is_blocklist,
                weight: s.weight,
                bootstrap: s.bootstrap.clone(),
            },
            None => SubscribeOptions::default(),
        };
        opts.share_pubkey = opts.share_pubkey.or(pubkey);
        opts.trust = trust;
        for h in r.hints {
            if !opts.bootstrap.contains(&h) && opts.bootstrap.len() < 16 {
                opts.bootstrap.push(h);
            }
        }
        let sub = self.inner.db.subscribe(&r.share_id, &opts)?;
        if existing.as_ref().is_some_and(|e| e.trust != sub.trust || e.weight != sub.weight) {
            crate::search_hooks::update_options(&self.inner, &sub).await;
        }
        for a in crate::node::resolve_bootstrap(&sub.bootstrap).await {
            self.inner.peers.hint(&a, PeerSource::Bootstrap, None, None);
        }
        self.inner.subs_changed.notify_waiters();
        Ok(self.inner.sync_one(sub).await)
    }

    /// Marks a followed share as a blocklist (its `blocklist` item hides the shares and
    /// contents it lists from search) or clears the mark.
    pub async fn set_blocklist(&self, target: &str, on: bool) -> Result<Subscription> {
        self.update_subscription(target, SubscriptionChange { blocklist: Some(on), ..Default::default() }).await
    }

    /// Changes how a followed share counts in search: its trust tier, its ranking weight,
    /// and whether it is a blocklist. Search reflects the change at once.
    pub async fn update_subscription(&self, target: &str, change: SubscriptionChange) -> Result<Subscription> {
        let r = crate::share_ref::parse(target, Some(&self.inner.db))?;
        let Some(s) = self.inner.db.subscription(&r.share_id)? else {
            return Err(NodeError::NotFound(format!("not subscribed to {}", r.share_id)));
        };
        if let Some(w) = change.weight
            && !(w.is_finite() && w > 0.0 && w <= 100.0)
        {
            return Err(NodeError::Invalid(format!("weight {w} is out of range: give a number above 0, at most 100")));
        }
        let opts = SubscribeOptions {
            share_pubkey: s.share_pubkey,
            trust: change.trust.unwrap_or(s.trust),
            is_blocklist: change.blocklist.unwrap_or(s.is_blocklist),
            weight: change.weight.unwrap_or(s.weight),
            bootstrap: s.bootstrap.clone(),
        };
        let sub = self.inner.db.subscribe(&r.share_id, &opts)?;
        if sub.trust != s.trust || sub.weight != s.weight {
            crate::search_hooks::update_options(&self.inner, &sub).await;
        }
        if s.is_blocklist && !sub.is_blocklist {
            crate::search_hooks::forget_blocklist(&self.inner, &r.share_id);
        } else if sub.is_blocklist
            && !s.is_blocklist
            && let Some(id) = sub.manifest_id
            && let Some(m) = crate::views::manifest(&self.inner.db, &id)?
        {
            // Fetched and applied before returning: a command may exit right after.
            self.inner.load_blocklist(&m).await;
        }
        Ok(sub)
    }

    /// Ends a subscription and removes its results from search. The highest seq seen is kept
    /// (a later resubscribe never goes backwards).
    pub async fn unsubscribe(&self, target: &str) -> Result<()> {
        let r = crate::share_ref::parse(target, Some(&self.inner.db))?;
        if !self.inner.db.unsubscribe(&r.share_id)? {
            return Err(NodeError::NotFound(format!("not subscribed to {}", r.share_id)));
        }
        crate::search_hooks::remove_share(&self.inner, &r.share_id);
        self.inner.subs_changed.notify_waiters();
        Ok(())
    }

    /// Syncs every subscription now.
    pub async fn sync_all(&self) -> Result<Vec<SyncReport>> {
        let subs = self.inner.db.subscriptions()?;
        let me = self.inner.clone();
        Ok(futures::future::join_all(subs.into_iter().map(|s| me.sync_one(s))).await)
    }
}

/// Peers tried for manifests and heads of one share, best first.
fn share_candidates(inner: &Inner, sub: &Subscription, hints: &[PeerAddr]) -> Vec<PeerAddr> {
    let mut out: Vec<PeerAddr> = hints.to_vec();
    out.extend(inner.peers.from_source(PeerSource::Lan).into_iter().map(|k| k.dial_addr()));
    out.extend(inner.bootstrap.iter().cloned());
    out.extend(inner.peers.best(16).into_iter().filter(|k| k.last_ok.is_some()).map(|k| k.dial_addr()));
    let _ = sub;
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.dedup_key()));
    out
}

impl Inner {
    /// Syncs one subscription; never fails as a whole (the report carries the error).
    pub(crate) async fn sync_one(self: &Arc<Self>, sub: Subscription) -> SyncReport {
        let id = sub.share_id;
        let r = self.sync_inner(&sub).await;
        let report = match r {
            Ok(rep) => rep,
            Err(e) => {
                let text = e.to_string();
                let _ = self.db.record_sync(&id, &SyncOutcome::Failed(text.clone()));
                self.emit(Event::SyncFailed { share_id: id.to_hex(), error: text.clone() });
                SyncReport {
                    share_id: id,
                    seq: sub.current_seq,
                    manifest_id: sub.manifest_id,
                    updated: false,
                    title: None,
                    items: None,
                    error: Some(text),
                }
            }
        };
        // Nothing new: write only to clear an old error or to refresh an hour-old sync time,
        // so an idle node does not write to disk every sync interval.
        let stale = sub.last_sync_at.is_none_or(|t| unix_now().saturating_sub(t) >= 3600);
        if report.error.is_none() && !report.updated && (sub.last_error.is_some() || stale) {
            let _ = self.db.record_sync(&id, &SyncOutcome::UpToDate);
        }
        report
    }

    async fn sync_inner(self: &Arc<Self>, sub: &Subscription) -> Result<SyncReport> {
        let hints = crate::node::resolve_bootstrap(&sub.bootstrap).await;
        let candidates = share_candidates(self, sub, &hints);
        let head = self.find_head(sub, &candidates).await;
        let Some((head, from)) = head else {
            if sub.current_seq.is_some() {
                return Ok(self.report_current(sub));
            }
            return Err(NodeError::Unavailable(format!(
                "no peer or DHT node knows share {} yet; check that the publisher is online or give a link with bootstrap addresses",
                sub.share_id.short()
            )));
        };
        if sub.current_seq.is_some_and(|c| c >= head.latest_seq) {
            return Ok(self.report_current(sub));
        }
        let mut tried = Vec::new();
        if let Some(f) = from {
            tried.push(f);
        }
        tried.extend(candidates);
        self.apply_head(sub, head, &tried).await
    }

    fn report_current(&self, sub: &Subscription) -> SyncReport {
        let manifest = sub.manifest_id.and_then(|m| crate::views::manifest(&self.db, &m).ok().flatten());
        SyncReport {
            share_id: sub.share_id,
            seq: sub.current_seq,
            manifest_id: sub.manifest_id,
            updated: false,
            title: manifest.as_ref().and_then(|m| m.title.clone()),
            items: manifest.as_ref().map(|m| m.items.len()),
            error: None,
        }
    }

    /// The freshest head for a subscription: the head board (pushed heads), the DHT, and the
    /// share's peers asked directly. Heads are verified when the key is known; otherwise the
    /// manifest they point to proves them later.
    async fn find_head(
        self: &Arc<Self>,
        sub: &Subscription,
        candidates: &[PeerAddr],
    ) -> Option<(ShareHead, Option<PeerAddr>)> {
        let key = sub.share_pubkey;
        let mut best: Option<(ShareHead, Option<PeerAddr>)> = self.heads.get(&sub.share_id).map(|h| (h, None));
        let target = match key {
            Some(pk) => ValueTarget::share_head(pk),
            None => ValueTarget::first(dht_key::share_head(&sub.share_id)),
        };
        let result = self.dht_lookup_with(target, candidates).await;
        // The nodes closest to the head key store it: remember them as places to watch.
        let closest: Vec<PeerAddr> = result.closest.iter().take(3).cloned().collect();
        self.rendezvous.lock().expect("rendezvous").insert(sub.share_id, closest);
        if let Some(f) = result.value
            && let Ok(h) = cbor::from_slice::<ShareHead>(&f.store.value)
            && h.share_id == sub.share_id
            && key.is_none_or(|k| h.verify(&k).is_ok())
            && best.as_ref().is_none_or(|(b, _)| h.freshness(b).is_gt())
        {
            best = Some((h, Some(f.from)));
        }
        best
    }

    /// Fetches, verifies and stores the manifest a head points to, then records the head.
    pub(crate) async fn apply_head(
        self: &Arc<Self>,
        sub: &Subscription,
        head: ShareHead,
        peers: &[PeerAddr],
    ) -> Result<SyncReport> {
        // One application per share at a time; a head another task applied meanwhile is not
        // fetched and reported again.
        let lock = self.apply_locks.lock().expect("apply locks").entry(sub.share_id).or_default().clone();
        let _g = lock.lock().await;
        if let Some(now) = self.db.subscription(&sub.share_id)?
            && now.current_seq.is_some_and(|c| c >= head.latest_seq)
        {
            // Applied by another task meanwhile: still news to this caller.
            let mut r = self.report_current(&now);
            r.updated = now.current_seq > sub.current_seq;
            return Ok(r);
        }
        if let Some(k) = sub.share_pubkey.or(head.share_pubkey.filter(|k| k.share_id() == head.share_id)) {
            head.verify(&k)?;
        }
        let (manifest, bytes) = self.fetch_manifest(&head.latest_manifest_id, Some(sub.share_id), peers).await?;
        if manifest.share_id != sub.share_id {
            return Err(NodeError::Invalid(format!(
                "manifest {} belongs to share {}, not {}",
                head.latest_manifest_id.short(),
                manifest.share_id.short(),
                sub.share_id.short()
            )));
        }
        if let Some(k) = sub.share_pubkey
            && k != manifest.share_pubkey
        {
            return Err(NodeError::Invalid(format!(
                "manifest {} is signed by another key",
                head.latest_manifest_id.short()
            )));
        }
        if manifest.seq != head.latest_seq {
            return Err(NodeError::Invalid(format!(
                "head says seq {} but manifest {} has seq {}",
                head.latest_seq,
                head.latest_manifest_id.short(),
                manifest.seq
            )));
        }
        // The manifest's verified key proves (or disproves) a head that arrived without one.
        head.verify(&manifest.share_pubkey)?;
        let head = ShareHead { share_pubkey: Some(manifest.share_pubkey), ..head };
        let manifest_id = head.latest_manifest_id;
        let seq = head.latest_seq;
        {
            let db = self.db.clone();
            let sid = sub.share_id;
            let h = head.clone();
            let mut opts = SubscribeOptions {
                share_pubkey: Some(manifest.share_pubkey),
                trust: sub.trust,
                is_blocklist: sub.is_blocklist,
                weight: sub.weight,
                bootstrap: sub.bootstrap.clone(),
            };
            opts.share_pubkey = Some(manifest.share_pubkey);
            tokio::task::spawn_blocking(move || -> Result<()> {
                db.put_manifest(&manifest_id, &sid, seq, &bytes)?;
                db.record_head(&h)?;
                if db.subscription(&sid)?.is_some() {
                    db.subscribe(&sid, &opts)?;
                    db.record_sync(&sid, &SyncOutcome::Applied { seq, manifest_id })?;
                }
                Ok(())
            })
            .await
            .map_err(join_err)??;
        }
        self.heads.offer(head.clone());
        if manifest.visibility == trove_proto::wire::Visibility::Public {
            // v1 subscribers of public shares keep their heads available in the DHT.
            let _ = self.dht.lock().expect("dht").publish(
                dht_key::share_head(&sub.share_id),
                cbor::to_vec(&head),
                unix_now(),
            );
        }
        crate::search_hooks::index_subscription(self, sub, &manifest).await;
        self.emit(Event::ManifestUpdated {
            share_id: sub.share_id.to_hex(),
            seq,
            manifest_id: manifest_id.to_hex(),
            items: manifest.items.len(),
        });
        if self.cfg.seed_downloads {
            let me = self.clone();
            let sid = sub.share_id;
            self.spawn(async move {
                me.announce_provider(trove_proto::ContentId(sid.0)).await;
                me.announce_provider(trove_proto::ContentId(manifest_id.0)).await;
            });
        }
        Ok(SyncReport {
            share_id: sub.share_id,
            seq: Some(seq),
            manifest_id: Some(manifest_id),
            updated: true,
            title: manifest.title.clone(),
            items: Some(manifest.items.len()),
            error: None,
        })
    }

    /// A manifest by id: from the local cache, from the given peers (first that answers with
    /// a valid one), else from the DHT (manifest location key).
    pub(crate) async fn fetch_manifest(
        self: &Arc<Self>,
        id: &ManifestId,
        share: Option<ShareId>,
        peers: &[PeerAddr],
    ) -> Result<(Manifest, Vec<u8>)> {
        if let Some(m) = self.db.manifest(id)? {
            let manifest = Manifest::from_bytes(&m.bytes)?;
            return Ok((manifest, m.bytes));
        }
        let mut errors = Vec::new();
        // Four peers asked at a time, the first good answer wins: a peer that never answers
        // (a publisher gone offline, whose QUIC address only a timeout ends) holds up nobody.
        let mut waiting = peers.iter();
        let mut tries = futures::stream::FuturesUnordered::new();
        loop {
            while tries.len() < 4
                && let Some(p) = waiting.next()
            {
                tries.push(async move { (p, self.manifest_from(p, id).await) });
            }
            let Some((p, r)) = futures::StreamExt::next(&mut tries).await else { break };
            match r {
                Ok(ok) => return Ok(ok),
                Err(e) => errors.push(format!("{p}: {e}")),
            }
        }
        // Peers that announced themselves as holding this manifest or share.
        let providers = self.providers_of(&trove_proto::ContentId(id.0), share, peers).await;
        let tried: std::collections::HashSet<String> = peers.iter().map(|p| p.dedup_key()).collect();
        for p in providers.iter().filter(|p| !tried.contains(&p.dedup_key())).take(8) {
            match self.manifest_from(p, id).await {
                Ok(ok) => return Ok(ok),
                Err(e) => errors.push(format!("{p}: {e}")),
            }
        }
        if let Some(f) = self.dht_get_with(ValueTarget::first(dht_key::manifest_loc(id)), peers).await {
            match check_manifest(id, &f.store.value) {
                Ok(m) => return Ok((m, f.store.value)),
                Err(e) => errors.push(format!("DHT: {e}")),
            }
        }
        let detail = if errors.is_empty() { "no peer to ask".to_string() } else { errors.join("; ") };
        Err(NodeError::Unavailable(format!("could not fetch manifest {}: {detail}", id.short())))
    }

    async fn manifest_from(self: &Arc<Self>, peer: &PeerAddr, id: &ManifestId) -> Result<(Manifest, Vec<u8>)> {
        let s = self.session(peer).await?;
        let bytes = if s.peer().has(features::PAGED_MANIFEST) {
            let mut buf: Vec<u8> = Vec::new();
            loop {
                let page = s
                    .call(&GetManifestPage {
                        manifest_id: *id,
                        offset: buf.len() as u64,
                        max_len: trove_proto::wire::ext::MAX_MANIFEST_PAGE,
                    })
                    .await?;
                if page.manifest_id != *id
                    || page.offset != buf.len() as u64
                    || page.total_len > MAX_PAGED_MANIFEST_BYTES
                {
                    return Err(NodeError::Invalid(format!("{peer} sent an inconsistent manifest page")));
                }
                buf.extend_from_slice(&page.bytes);
                if buf.len() as u64 >= page.total_len {
                    break;
                }
                if page.bytes.is_empty() {
                    return Err(NodeError::Invalid(format!("{peer} sent an empty manifest page")));
                }
            }
            buf
        } else {
            let d = s.call(&GetManifest { manifest_id: *id }).await?;
            if d.manifest_id != *id {
                return Err(NodeError::Invalid(format!("{peer} answered with another manifest")));
            }
            d.bytes
        };
        let m = check_manifest(id, &bytes)?;
        Ok((m, bytes))
    }

    /// [`Inner::dht_get`] with extra seed peers for this lookup.
    pub(crate) async fn dht_get_with(
        self: &Arc<Self>,
        target: ValueTarget,
        extra: &[PeerAddr],
    ) -> Option<trove_dht::FoundValue> {
        self.dht_lookup_with(target, extra).await.value
    }

    /// A value lookup with extra seed peers, returning the whole result.
    pub(crate) async fn dht_lookup_with(
        self: &Arc<Self>,
        target: ValueTarget,
        extra: &[PeerAddr],
    ) -> trove_dht::LookupResult {
        let mut seeds = extra.to_vec();
        seeds.extend(self.dht_seeds());
        let mut seen = std::collections::HashSet::new();
        seeds.retain(|p| seen.insert(p.dedup_key()));
        let lookup = self.dht.lock().expect("dht").find_value(target, &seeds, unix_now());
        self.run_lookup(lookup).await
    }
}

/// Decodes and verifies manifest bytes fetched for `id`: the recomputed ManifestId must match
/// and the signature must verify.
fn check_manifest(id: &ManifestId, bytes: &[u8]) -> Result<Manifest> {
    let m = Manifest::from_bytes(bytes)?;
    let got = m.manifest_id();
    if got != *id {
        return Err(NodeError::Invalid(format!("manifest bytes hash to {} instead of {}", got.short(), id.short())));
    }
    m.verify_at(unix_now())?;
    Ok(m)
}

/// Syncs every subscription periodically, and at once when woken.
pub(crate) async fn run_loop(weak: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let interval = Duration::from_secs(inner.cfg.sync_interval_secs.max(5));
        let subs = inner.db.subscriptions().unwrap_or_default();
        let me = inner.clone();
        futures::stream::iter(subs)
            .for_each_concurrent(4, |s| {
                let me = me.clone();
                async move {
                    me.sync_one(s).await;
                }
            })
            .await;
        let wake = inner.sync_now.clone();
        drop((inner, me));
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

use futures::StreamExt;

/// Keeps a WATCH_HEADS long poll open to each trove peer that may know our subscriptions,
/// applying pushed heads as they arrive.
pub(crate) async fn watch_loop(weak: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    let mut pollers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        pollers.retain(|_, h| !h.is_finished());
        let has_subs = inner.db.subscriptions().map(|s| !s.is_empty()).unwrap_or(false);
        if has_subs && inner.cfg.extensions {
            let mut peers: Vec<PeerAddr> =
                inner.peers.from_source(PeerSource::Lan).into_iter().map(|k| k.dial_addr()).collect();
            peers.extend(inner.bootstrap.iter().cloned());
            for s in inner.db.subscriptions().unwrap_or_default() {
                peers.extend(crate::node::resolve_bootstrap(&s.bootstrap).await);
                peers
                    .extend(inner.rendezvous.lock().expect("rendezvous").get(&s.share_id).cloned().unwrap_or_default());
            }
            peers.extend(
                inner.peers.best(16).into_iter().filter(|k| k.trove && k.last_ok.is_some()).map(|k| k.dial_addr()),
            );
            for p in peers.into_iter().take(32) {
                let key = p.dedup_key();
                if pollers.contains_key(&key) {
                    continue;
                }
                pollers.insert(key, tokio::spawn(poll_heads(weak.clone(), p)));
            }
        }
        let changed = inner.subs_changed.clone();
        drop(inner);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = changed.notified() => {}
            _ = shutdown.changed() => {
                for (_, h) in pollers { h.abort(); }
                return;
            }
        }
    }
}

/// One long poll after another to `peer` while it serves `head-push` and we have
/// subscriptions; ends on any failure (the watch loop restarts it later).
async fn poll_heads(weak: Weak<Inner>, peer: PeerAddr) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let subs = inner.db.subscriptions().unwrap_or_default();
        if subs.is_empty() {
            return;
        }
        let watched: Vec<(ShareId, u64)> = subs
            .iter()
            .map(|s| {
                (
                    s.share_id,
                    inner.db.highest_seq(&s.share_id).ok().flatten().unwrap_or(0).max(s.current_seq.unwrap_or(0)),
                )
            })
            .collect();
        let Ok(session) = inner.session(&peer).await else { return };
        if !session.peer().has(features::HEAD_PUSH) {
            return;
        }
        let changed = inner.subs_changed.clone();
        drop(inner);
        let req = WatchHeads { shares: watched, wait_ms: 25_000 };
        let heads = tokio::select! {
            r = session.call_timeout(&req, Duration::from_secs(40)) => match r {
                Ok(h) => h,
                Err(_) => return,
            },
            _ = changed.notified() => continue,
        };
        let Some(inner) = weak.upgrade() else { return };
        for bytes in heads.heads {
            let Ok(head) = cbor::from_slice::<ShareHead>(&bytes) else { continue };
            let Ok(Some(sub)) = inner.db.subscription(&head.share_id) else { continue };
            if sub.current_seq.is_some_and(|c| c >= head.latest_seq) {
                continue;
            }
            let report = inner.apply_head(&sub, head, std::slice::from_ref(&peer)).await;
            if let Err(e) = report {
                tracing::debug!("pushed head from {peer} not applied: {e}");
            }
        }
    }
}
