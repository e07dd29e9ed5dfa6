//! Opening the index directory. An empty or missing directory gets a fresh index. An index
//! that does not open cleanly — unreadable metadata, another schema, files failing their
//! checksums, a share table that does not decode, stray files without an index — is moved
//! aside to `<dir>.corrupt` (replacing an earlier one) and recreated empty; the caller then
//! rebuilds it from the manifests it keeps. Errors that moving aside would not fix (no
//! permission, full disk, the index in use by another process) are returned instead.

use super::error::{index_err, io_err};
use super::schema;
use super::shares::ShareTable;
use super::tokenizer;
use crate::error::{Result, StoreError};
use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use tantivy::directory::{INDEX_WRITER_LOCK, MmapDirectory};
use tantivy::indexer::IndexWriterOptions;
use tantivy::merge_policy::{LogMergePolicy, MergePolicy};
use tantivy::{Directory, Index, IndexReader, IndexWriter, ReloadPolicy};

/// Indexing threads at most (each with its own memory budget).
const MAX_WRITER_THREADS: usize = 2;
/// Indexing memory per thread; a thread writes a segment when it fills up.
const WRITER_MEMORY_PER_THREAD: usize = 32 << 20;
/// Segments of similar size merged together (tantivy's default is 8): searches pay per
/// segment, writes are rare.
const MERGE_MIN_SEGMENTS: usize = 4;
/// Segments with this share of deleted documents (replaced revisions) get merged.
const MERGE_DELETED_RATIO: f32 = 0.3;
/// Files tantivy may leave in an otherwise empty directory.
const LOCK_FILES: [&str; 2] = [".tantivy-writer.lock", ".tantivy-meta.lock"];

/// What [`super::SearchIndex::open`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenState {
    /// There was no index (new node, or the directory was deleted): a fresh empty one was
    /// made. Call [`super::SearchIndex::rebuild`].
    Created,
    /// The existing index was opened.
    Opened,
    /// The index was damaged: it was moved aside and a fresh empty one made. Call
    /// [`super::SearchIndex::rebuild`].
    Recreated { reason: String, moved_to: PathBuf },
}

impl OpenState {
    /// Whether the index is empty and must be rebuilt from stored manifests.
    pub fn needs_rebuild(&self) -> bool {
        !matches!(self, OpenState::Opened)
    }
}

/// An opened index, ready for use.
pub struct Parts {
    pub index: Index,
    pub reader: IndexReader,
    pub writer: IndexWriter,
    pub table: ShareTable,
    pub state: OpenState,
}

/// Opens or creates the index in `dir`, recovering from damage.
pub fn open_dir(dir: &Path) -> Result<Parts> {
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    probe_lock(dir)?;
    let found = catch_unwind(AssertUnwindSafe(|| existing(dir)))
        .unwrap_or_else(|_| Err(StoreError::Corrupt(format!("search index {}: reading it crashed", dir.display()))));
    match found {
        Ok(Some(parts)) => Ok(parts),
        Ok(None) => fresh(dir, OpenState::Created),
        Err(e) if is_damage(&e) => {
            let moved_to = move_aside(dir)?;
            std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
            fresh(dir, OpenState::Recreated { reason: e.to_string(), moved_to })
        }
        Err(e) => Err(e),
    }
}

/// Fails with [`StoreError::Locked`] if another process is writing the index, before
/// anything can be mistaken for damage and moved.
fn probe_lock(dir: &Path) -> Result<()> {
    let d = MmapDirectory::open(dir).map_err(|e| index_err(format!("opening {}", dir.display()))(e.into()))?;
    d.acquire_lock(&INDEX_WRITER_LOCK)
        .map(drop)
        .map_err(|e| index_err(format!("locking {}", dir.display()))(tantivy::TantivyError::LockFailure(e, None)))
}

/// Whether an error means the index files are damaged (rather than unreachable).
fn is_damage(e: &StoreError) -> bool {
    match e {
        StoreError::Corrupt(_) => true,
        StoreError::Io { source, .. } => {
            matches!(source.kind(), ErrorKind::NotFound | ErrorKind::InvalidData | ErrorKind::UnexpectedEof)
        }
        _ => false,
    }
}

/// Opens the index in `dir` if there is one; `None` for an empty directory.
fn existing(dir: &Path) -> Result<Option<Parts>> {
    let listing = std::fs::read_dir(dir).map_err(io_err(format!("listing {}", dir.display())))?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(io_err(format!("listing {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !LOCK_FILES.contains(&name.as_str()) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Ok(None);
    }
    if !names.iter().any(|n| n == "meta.json") {
        return Err(StoreError::Corrupt(format!(
            "search index {}: {} files but no meta.json",
            dir.display(),
            names.len()
        )));
    }
    let ctx = |what: &str| format!("{what} {}", dir.display());
    let index = Index::open_in_dir(dir).map_err(index_err(ctx("opening")))?;
    schema::check(&index.schema(), index.settings())?;
    let damaged = index.validate_checksum().map_err(index_err(ctx("checking")))?;
    if !damaged.is_empty() {
        let mut files: Vec<String> = damaged.iter().map(|p| p.display().to_string()).collect();
        files.sort();
        return Err(StoreError::Corrupt(format!(
            "search index {}: files fail their checksum: {}",
            dir.display(),
            files.join(", ")
        )));
    }
    let metas = index.load_metas().map_err(index_err(ctx("reading the metadata of")))?;
    let table = match metas.payload.as_deref() {
        Some(p) => ShareTable::from_payload(p)?,
        None if metas.segments.iter().all(|s| s.num_docs() == 0) => ShareTable::default(),
        None => {
            return Err(StoreError::Corrupt(format!(
                "search index {}: documents without a share table",
                dir.display()
            )));
        }
    };
    tokenizer::register(&index);
    let reader = reader(&index, dir)?;
    let writer = writer(&index, dir)?;
    Ok(Some(Parts { index, reader, writer, table, state: OpenState::Opened }))
}

/// Creates a fresh index in the (empty) directory.
fn fresh(dir: &Path, state: OpenState) -> Result<Parts> {
    let index = Index::builder()
        .schema(schema::schema())
        .settings(schema::settings())
        .create_in_dir(dir)
        .map_err(index_err(format!("creating an index in {}", dir.display())))?;
    tokenizer::register(&index);
    let reader = reader(&index, dir)?;
    let writer = writer(&index, dir)?;
    Ok(Parts { index, reader, writer, table: ShareTable::default(), state })
}

fn reader(index: &Index, dir: &Path) -> Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::OnCommitWithDelay)
        .try_into()
        .map_err(index_err(format!("opening a reader on {}", dir.display())))
}

fn writer(index: &Index, dir: &Path) -> Result<IndexWriter> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_WRITER_THREADS);
    let options = IndexWriterOptions::builder()
        .num_worker_threads(threads)
        .memory_budget_per_thread(WRITER_MEMORY_PER_THREAD)
        .num_merge_threads(1)
        .build();
    let writer: IndexWriter =
        index.writer_with_options(options).map_err(index_err(format!("opening a writer on {}", dir.display())))?;
    writer.set_merge_policy(merge_policy());
    Ok(writer)
}

/// The background merge policy of the writer.
pub fn merge_policy() -> Box<dyn MergePolicy> {
    let mut p = LogMergePolicy::default();
    p.set_min_num_segments(MERGE_MIN_SEGMENTS);
    p.set_del_docs_ratio_before_merge(MERGE_DELETED_RATIO);
    Box::new(p)
}

/// Moves a damaged index directory to `<dir>.corrupt`, replacing an earlier one.
fn move_aside(dir: &Path) -> Result<PathBuf> {
    let name = dir.file_name().map_or_else(|| "index".into(), |n| n.to_string_lossy().into_owned());
    let target = dir.with_file_name(format!("{name}.corrupt"));
    if target.is_dir() {
        std::fs::remove_dir_all(&target).map_err(io_err(format!("removing {}", target.display())))?;
    } else if target.exists() {
        std::fs::remove_file(&target).map_err(io_err(format!("removing {}", target.display())))?;
    }
    std::fs::rename(dir, &target).map_err(io_err(format!(
        "moving damaged index {} aside to {}",
        dir.display(),
        target.display()
    )))?;
    Ok(target)
}
