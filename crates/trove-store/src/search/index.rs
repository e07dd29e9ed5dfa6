//! [`SearchIndex`]: the index of subscribed and own shares in `<data_dir>/index`. Writing
//! replaces whole shares in one commit each (with the share table as the commit payload);
//! searching parses the text, builds the tier query, collects the best page with the
//! filters applied, and loads the stored fields of the hits. All methods take `&self`:
//! writes are serialized by a lock, searches run concurrently with them.

use super::collect::{Filter, Harvest, RankCollector};
use super::cursor;
use super::document::{content64, item_doc};
use super::error::index_err;
use super::hit::{Hit, SearchResults};
use super::mime;
use super::open::{self, OpenState};
use super::parse::parse;
use super::plan::{self, Plan};
use super::query::SearchQuery;
use super::schema::{self, Fields};
use super::shares::{IndexedShare, ShareMeta, ShareTable, check_weight};
use crate::db::Trust;
use crate::error::{Result, StoreError};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use tantivy::merge_policy::NoMergePolicy;
use tantivy::query::Query;
use tantivy::{Index, IndexReader, IndexWriter, Searcher, TantivyDocument, Term};
use trove_proto::ShareId;
use trove_proto::wire::{BlocklistRules, Manifest};

/// Matches up to this many are all ranked; beyond, names starting with the query are tried
/// first (see [`rank`]).
const RANK_ALL_BELOW: usize = 4096;

/// The error for a write after the writer was released (only possible while dropping).
fn closed() -> StoreError {
    StoreError::Invalid("search index: the index is closed".into())
}

/// What the blocklists hide.
#[derive(Default)]
struct Blocked {
    shares: HashSet<ShareId>,
    /// First 8 bytes of blocked content ids (a collision would only hide more).
    content: Arc<HashSet<u64>>,
}

/// The search index.
pub struct SearchIndex {
    dir: PathBuf,
    index: Index,
    fields: Fields,
    reader: IndexReader,
    /// `None` only while dropping.
    writer: Mutex<Option<IndexWriter>>,
    table: RwLock<Arc<ShareTable>>,
    blocked: RwLock<Arc<Blocked>>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Drop for SearchIndex {
    /// Waits for background merges, so nothing writes into the directory once the index is
    /// dropped (the node may delete or move it next).
    fn drop(&mut self) {
        self.close();
    }
}

impl SearchIndex {
    /// Opens the index in `dir` (the node uses `<data_dir>/index`), creating it if missing and
    /// recreating it empty if damaged. When [`OpenState::needs_rebuild`], call
    /// [`SearchIndex::rebuild`]. Blocklists are not stored: call
    /// [`SearchIndex::set_blocklist`] after opening.
    pub fn open(dir: &Path) -> Result<(SearchIndex, OpenState)> {
        let parts = open::open_dir(dir)?;
        let fields = schema::fields(&parts.index.schema())?;
        let index = SearchIndex {
            dir: dir.to_path_buf(),
            index: parts.index,
            fields,
            reader: parts.reader,
            writer: Mutex::new(Some(parts.writer)),
            table: RwLock::new(Arc::new(parts.table)),
            blocked: RwLock::new(Arc::new(Blocked::default())),
        };
        Ok((index, parts.state))
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Releases the writer now, and with it the index's lock (a node shutting down, while
    /// tasks still holding the index finish), after waiting for background merges. Searching
    /// still works; writes fail with "the index is closed".
    pub fn close(&self) {
        let writer = self.writer().take();
        if let Some(w) = writer {
            // Nothing to report to: a failed merge leaves files the next open collects.
            let _ = w.wait_merging_threads();
        }
    }

    fn writer(&self) -> MutexGuard<'_, Option<IndexWriter>> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn table(&self) -> Arc<ShareTable> {
        self.table.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Commits pending changes with `table` as the payload, publishes the table, and makes
    /// the changes visible to searches. On failure the pending changes are dropped.
    fn commit(&self, w: &mut IndexWriter, table: ShareTable, what: &str) -> Result<()> {
        let payload = table.to_payload();
        let done = w.prepare_commit().and_then(|mut c| {
            c.set_payload(&payload);
            c.commit()
        });
        if let Err(e) = done {
            // The commit error is what matters; a failed rollback leaves the writer to retry.
            let _ = w.rollback();
            return Err(index_err(what)(e));
        }
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
        self.reader.reload().map_err(index_err(format!("{what}: reloading")))
    }

    /// Queues the documents of one share (after deleting its old ones) into `table`.
    fn stage(&self, w: &IndexWriter, table: &mut ShareTable, meta: &ShareMeta, m: &Manifest) -> Result<()> {
        if m.share_id != meta.share_id {
            return Err(StoreError::Invalid(format!(
                "search index: the manifest of share {} was given for share {}",
                m.share_id.short(),
                meta.share_id.short()
            )));
        }
        check_weight(&meta.share_id, meta.weight)?;
        let no = table.upsert(IndexedShare { meta: meta.clone(), seq: m.seq, items: m.items.len() });
        w.delete_term(Term::from_field_u64(self.fields.share_no, no));
        for (i, item) in m.items.iter().enumerate() {
            w.add_document(item_doc(&self.fields, no, &meta.share_id, i, item))
                .map_err(index_err(format!("indexing item {i} of share {}", meta.share_id.short())))?;
        }
        Ok(())
    }

    /// Replaces every document of the manifest's share with its items (one commit). The
    /// share's title, description, trust and weight come from `meta`.
    pub fn index_share(&self, meta: &ShareMeta, manifest: &Manifest) -> Result<()> {
        let mut guard = self.writer();
        let Some(w) = guard.as_mut() else { return Err(closed()) };
        let mut table = (*self.table()).clone();
        if let Err(e) = self.stage(w, &mut table, meta, manifest) {
            let _ = w.rollback();
            return Err(e);
        }
        self.commit(w, table, &format!("indexing share {}", meta.share_id.short()))
    }

    /// Changes a share's trust tier and weight without re-indexing it. Returns false if the
    /// share is not indexed (the values then arrive with [`SearchIndex::index_share`]).
    pub fn set_share_options(&self, share_id: &ShareId, trust: Trust, weight: f32) -> Result<bool> {
        check_weight(share_id, weight)?;
        let mut guard = self.writer();
        let Some(w) = guard.as_mut() else { return Err(closed()) };
        let mut table = (*self.table()).clone();
        if !table.set_options(share_id, trust, weight) {
            return Ok(false);
        }
        self.commit(w, table, &format!("setting options of share {}", share_id.short()))?;
        Ok(true)
    }

    /// Removes a share's documents. Returns false if it was not indexed.
    pub fn remove_share(&self, share_id: &ShareId) -> Result<bool> {
        let mut guard = self.writer();
        let Some(w) = guard.as_mut() else { return Err(closed()) };
        let mut table = (*self.table()).clone();
        let Some(no) = table.remove(share_id) else { return Ok(false) };
        w.delete_term(Term::from_field_u64(self.fields.share_no, no));
        self.commit(w, table, &format!("removing share {}", share_id.short()))?;
        Ok(true)
    }

    /// Replaces the whole index with these shares (one commit: searches see the old index
    /// until it is done), then merges it into one segment. Returns the number of documents.
    pub fn rebuild<I>(&self, shares: I) -> Result<u64>
    where
        I: IntoIterator<Item = (ShareMeta, Manifest)>,
    {
        let mut guard = self.writer();
        let Some(w) = guard.as_mut() else { return Err(closed()) };
        // No background merges while rebuilding: the result is merged as a whole below.
        w.set_merge_policy(Box::new(NoMergePolicy));
        let mut table = ShareTable::default();
        let staged = w.delete_all_documents().map_err(index_err("rebuilding: clearing")).and_then(|_| {
            shares.into_iter().try_for_each(|(meta, manifest)| self.stage(w, &mut table, &meta, &manifest))
        });
        let done = match staged {
            Ok(()) => self.commit(w, table, "rebuilding").and_then(|()| self.merge_all(w)),
            Err(e) => {
                let _ = w.rollback();
                Err(e)
            }
        };
        w.set_merge_policy(open::merge_policy());
        done.map(|()| self.doc_count())
    }

    /// Merges every segment into one (searches pay per segment).
    fn merge_all(&self, w: &mut IndexWriter) -> Result<()> {
        let ids = self.index.searchable_segment_ids().map_err(index_err("merging: listing segments"))?;
        if ids.len() > 1 {
            w.merge(&ids).wait().map_err(index_err("merging segments"))?;
            self.reader.reload().map_err(index_err("merging: reloading"))?;
        }
        Ok(())
    }

    /// Sets the blocklists in force (SCP2P-WIRE.md §15): their shares and contents never
    /// appear in results. Replaces the previous set; not stored, so set it after opening.
    pub fn set_blocklist(&self, rules: &[BlocklistRules]) {
        let shares = rules.iter().flat_map(|r| r.blocked_share_ids.iter().copied()).collect();
        let content = rules.iter().flat_map(|r| r.blocked_content_ids.iter().map(|c| content64(&c.0))).collect();
        *self.blocked.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Blocked { shares, content: Arc::new(content) });
    }

    /// Documents (items) searchable now.
    pub fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The indexed shares with their revision and options.
    pub fn shares(&self) -> Vec<IndexedShare> {
        self.table().entries().iter().map(|e| e.info.clone()).collect()
    }

    /// Runs a search. Any text works (it is parsed leniently); errors are a malformed cursor
    /// or an unreadable index.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults> {
        let after = q.cursor.as_deref().filter(|c| !c.trim().is_empty()).map(cursor::decode).transpose()?;
        let table = self.table();
        let blocked = self.blocked.read().unwrap_or_else(PoisonError::into_inner).clone();
        let (weights, ids) = share_weights(&table, &blocked, q);
        if weights.iter().all(|w| *w < 0.0) {
            return Ok(SearchResults::default());
        }
        let share_nos: Option<Vec<u64>> = q.shares.as_ref().map(|_| {
            let allowed = |no: u64| usize::try_from(no).ok().and_then(|i| weights.get(i)).is_some_and(|w| *w >= 0.0);
            table.entries().iter().map(|e| e.no).filter(|&no| allowed(no)).collect()
        });
        let parsed = parse(&q.text);
        let class = q.mime_class.as_deref().and_then(mime::query_class);
        let plan = plan::build(&parsed, &self.fields, &table, share_nos.as_deref(), class.as_deref());
        let page = q.page_size();
        let size = match (q.min_size, q.max_size) {
            (None, None) => None,
            (min, max) => Some((min.unwrap_or(0), max.unwrap_or(u64::MAX))),
        };
        let heaviest = weights.iter().copied().fold(0.0f32, f32::max);
        let filter =
            Filter { weights, blocked: blocked.content.clone(), size, after, divisor: plan.divisor, exact: plan.exact };
        let searcher = self.reader.searcher();
        let harvest = rank(&searcher, &plan, Arc::new(filter), if page == 0 { 0 } else { page + 1 }, heaviest)?;
        let mut hits = Vec::with_capacity(page.min(harvest.top.len()));
        for c in harvest.top.iter().take(page) {
            let doc: TantivyDocument = searcher.doc(c.addr).map_err(index_err("loading a hit"))?;
            let Some(share_id) = usize::try_from(c.share).ok().and_then(|i| ids.get(i).copied().flatten()) else {
                continue;
            };
            hits.push(Hit::from_doc(&self.fields, &doc, share_id, c.rank.score, &parsed)?);
        }
        let next_cursor = match page.checked_sub(1).and_then(|i| harvest.top.get(i)) {
            Some(last) if harvest.top.len() > page => Some(cursor::encode(&last.rank)),
            _ => None,
        };
        Ok(SearchResults { total: harvest.total, hits, next_cursor })
    }
}

/// Per share number: the share's weight in this search (negative: filtered out by trust, the
/// share list or a blocklist) and its id.
fn share_weights(table: &ShareTable, blocked: &Blocked, q: &SearchQuery) -> (Vec<f32>, Vec<Option<ShareId>>) {
    let tiers = q.trust_tiers();
    let wanted: Option<HashSet<ShareId>> = q.shares.as_ref().map(|v| v.iter().copied().collect());
    let len = usize::try_from(table.no_limit()).unwrap_or(usize::MAX);
    let mut weights = vec![-1.0f32; len];
    let mut ids = vec![None; len];
    for e in table.entries() {
        let m = &e.info.meta;
        let Some(i) = usize::try_from(e.no).ok().filter(|&i| i < len) else { continue };
        ids[i] = Some(m.share_id);
        if !blocked.shares.contains(&m.share_id)
            && tiers.contains(&m.effective_trust())
            && wanted.as_ref().is_none_or(|w| w.contains(&m.share_id))
        {
            weights[i] = m.weight;
        }
    }
    (weights, ids)
}

/// Counts the matches and keeps the best `keep`. Ranking many matches costs, so when there
/// may be many (more than [`RANK_ALL_BELOW`]), names starting with the query are ranked
/// first; when `keep` of them outscore anything else can (the best tier without the
/// starts-with bonus times the `heaviest` weight), they are the page and the other matches are
/// only counted.
fn rank(searcher: &Searcher, plan: &Plan, filter: Arc<Filter>, keep: usize, heaviest: f32) -> Result<Harvest> {
    let pass = |query: &dyn Query, keep: usize| {
        searcher.search(query, &RankCollector { filter: filter.clone(), keep }).map_err(index_err("searching"))
    };
    let mut most: Option<usize> = None;
    for (term, extra) in &plan.bounds {
        let n = searcher.doc_freq(term).map_err(index_err("sizing a search"))?;
        let n = usize::try_from(n).unwrap_or(usize::MAX).saturating_add(*extra);
        most = Some(most.map_or(n, |m| m.min(n)));
    }
    if let (Some(starts), true) = (&plan.starts_only, keep > 0 && most.is_none_or(|n| n > RANK_ALL_BELOW)) {
        let first = pass(&**starts, keep)?;
        let bound = plan::MAX_PLAIN * heaviest;
        if first.top.len() == keep && first.top.last().is_some_and(|c| c.rank.score > bound) {
            return Ok(Harvest { total: pass(&*plan.query, 0)?.total, top: first.top });
        }
    }
    pass(&*plan.query, keep)
}
