//! Downloads in progress: what is being fetched to which target, its chunk hash list once
//! fetched, and a bitmap of verified chunks, so a download resumes after a crash losing at
//! most the chunks in flight. Each bitmap save rewrites the whole bitmap (≤ 1 bit per 256 KiB
//! chunk, 51 KiB for 100 GiB): callers batch their saves. A download can only be marked
//! complete when every chunk is verified. These rows commit without a sync of their own
//! ([`Db::write_relaxed`]): the part and target files are the truth they are rebuilt from.

use super::Db;
use super::sql::{Ctx, clip, col_fixed, col_opt_fixed, col_path, col_u64, conv_err, int, now_int, path_blob};
use crate::error::{Result, StoreError};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::path::{Path, PathBuf};
use trove_proto::content::{Hash, chunk_count, chunk_list_hash};
use trove_proto::{ContentId, ShareId};

/// Longest stored error text, in bytes.
pub const MAX_ERROR_BYTES: usize = 2048;
/// Longest item path stored, in bytes.
pub const MAX_ITEM_PATH_BYTES: usize = 4096;

/// Row id of a download.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DownloadId(pub i64);

impl std::fmt::Display for DownloadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a download stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownloadState {
    Queued,
    Running,
    Paused,
    Failed,
    Complete,
    /// Stopped because the disk (or the free-space reserve) is full; resumes when space frees.
    DiskFull,
}

impl DownloadState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DownloadState::Queued => "queued",
            DownloadState::Running => "running",
            DownloadState::Paused => "paused",
            DownloadState::Failed => "failed",
            DownloadState::Complete => "complete",
            DownloadState::DiskFull => "disk_full",
        }
    }

    fn parse(s: &str) -> Option<DownloadState> {
        Some(match s {
            "queued" => DownloadState::Queued,
            "running" => DownloadState::Running,
            "paused" => DownloadState::Paused,
            "failed" => DownloadState::Failed,
            "complete" => DownloadState::Complete,
            "disk_full" => DownloadState::DiskFull,
            _ => return None,
        })
    }
}

/// What to download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDownload {
    pub content_id: ContentId,
    /// The share the item came from, if any.
    pub share_id: Option<ShareId>,
    /// The item's path inside the share (for display).
    pub item_path: String,
    /// Where the finished file goes (unique among downloads).
    pub target_path: PathBuf,
    pub size: u64,
    /// From the manifest item; the chunk hash list is checked against it.
    pub chunk_list_hash: Hash,
}

/// A stored download (without its chunk hash list; see [`Db::hash_range`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    pub id: DownloadId,
    pub content_id: ContentId,
    pub share_id: Option<ShareId>,
    pub item_path: String,
    pub target_path: PathBuf,
    pub size: u64,
    pub chunk_count: u32,
    pub chunk_list_hash: Hash,
    pub has_chunk_hashes: bool,
    /// Bit `i % 8` of byte `i / 8` is set when chunk `i` is verified and written.
    pub bitmap: Vec<u8>,
    pub state: DownloadState,
    pub error: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
}

impl Download {
    /// Whether chunk `index` is verified.
    pub fn is_verified(&self, index: u32) -> bool {
        self.bitmap.get(index as usize / 8).is_some_and(|b| b & (1 << (index % 8)) != 0)
    }

    /// How many chunks are verified.
    pub fn verified_chunks(&self) -> u64 {
        self.bitmap.iter().map(|b| u64::from(b.count_ones())).sum()
    }
}

/// Bytes in the bitmap of `chunks` chunks.
pub fn bitmap_len(chunks: u32) -> usize {
    (chunks as usize).div_ceil(8)
}

/// Checks a bitmap's length and that no bit past the last chunk is set.
/// A download may only be complete when `bitmap` marks all of its `chunks`.
fn check_complete(id: DownloadId, bitmap: &[u8], chunks: u32) -> Result<()> {
    let verified: u64 = bitmap.iter().map(|b| u64::from(b.count_ones())).sum();
    if verified != u64::from(chunks) {
        return Err(StoreError::Invalid(format!(
            "download {id}: cannot be complete with {verified} of {chunks} chunks verified"
        )));
    }
    Ok(())
}

fn check_bitmap(id: DownloadId, chunks: u32, bitmap: &[u8]) -> Result<()> {
    if bitmap.len() != bitmap_len(chunks) {
        return Err(StoreError::Invalid(format!(
            "download {id}: bitmap of {} bytes for {chunks} chunks; expected {}",
            bitmap.len(),
            bitmap_len(chunks)
        )));
    }
    let tail_bits = chunks % 8;
    if tail_bits != 0 && bitmap.last().is_some_and(|b| b >> tail_bits != 0) {
        return Err(StoreError::Invalid(format!("download {id}: bitmap marks chunks past the last chunk {chunks}")));
    }
    Ok(())
}

const COLS: &str = "id, content_id, share_id, item_path, target_path, size, chunk_count, chunk_list_hash,
                    EXISTS (SELECT 1 FROM download_hashes WHERE download_id = downloads.id),
                    bitmap, state, error, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Download> {
    let state: String = r.get(10)?;
    let chunks = col_u64(r, 6)?;
    Ok(Download {
        id: DownloadId(r.get(0)?),
        content_id: ContentId(col_fixed(r, 1)?),
        share_id: col_opt_fixed(r, 2)?.map(ShareId),
        item_path: r.get(3)?,
        target_path: col_path(r, 4)?,
        size: col_u64(r, 5)?,
        chunk_count: u32::try_from(chunks).map_err(|_| conv_err(6, Type::Integer, format!("{chunks} chunks")))?,
        chunk_list_hash: col_fixed(r, 7)?,
        has_chunk_hashes: r.get(8)?,
        bitmap: r.get(9)?,
        state: DownloadState::parse(&state)
            .ok_or_else(|| conv_err(10, Type::Text, format!("unknown download state '{state}'")))?,
        error: r.get(11)?,
        created_at: col_u64(r, 12)?,
        updated_at: col_u64(r, 13)?,
    })
}

fn get(conn: &Connection, id: DownloadId) -> Result<Option<Download>> {
    conn.prepare_cached(&format!("SELECT {COLS} FROM downloads WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id.0], from_row).optional())
        .ctx(|| format!("reading download {id}"))
}

fn get_existing(conn: &Connection, id: DownloadId) -> Result<Download> {
    get(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("no download {id}")))
}

impl Db {
    /// Starts tracking a download (state Queued, nothing verified).
    pub fn create_download(&self, new: &NewDownload) -> Result<Download> {
        let bad = |why: String| StoreError::Invalid(format!("download to {}: {why}", new.target_path.display()));
        if !new.target_path.is_absolute() {
            return Err(bad("the target path is not absolute".into()));
        }
        if new.item_path.len() > MAX_ITEM_PATH_BYTES {
            return Err(bad(format!("item path longer than {MAX_ITEM_PATH_BYTES} bytes")));
        }
        let chunks = u32::try_from(chunk_count(new.size))
            .map_err(|_| bad(format!("{} bytes is more chunks than a u32 counts", new.size)))?;
        let size = int(new.size, "size")?;
        let target = path_blob(&new.target_path)?;
        let what = format!("saving download to {}", new.target_path.display());
        self.write_relaxed(&what, |tx| {
            let exists: bool = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM downloads WHERE target_path = ?1)")
                .and_then(|mut s| s.query_row([&target], |r| r.get(0)))
                .ctx(|| what.clone())?;
            if exists {
                return Err(bad("another download already writes there".into()));
            }
            let now = now_int();
            tx.prepare_cached(
                "INSERT INTO downloads (content_id, share_id, item_path, target_path, size, chunk_count,
                     chunk_list_hash, bitmap, state, error, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', NULL, ?9, ?9)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    &new.content_id.0[..],
                    new.share_id.as_ref().map(|s| &s.0[..]),
                    new.item_path,
                    target,
                    size,
                    chunks,
                    &new.chunk_list_hash[..],
                    vec![0u8; bitmap_len(chunks)],
                    now
                ])
            })
            .ctx(|| what.clone())?;
            get_existing(tx, DownloadId(tx.last_insert_rowid()))
        })
    }

    /// Stores the chunk hash list once fetched; it must match the chunk count and
    /// chunk_list_hash.
    pub fn set_download_chunk_hashes(&self, id: DownloadId, hashes: &[Hash]) -> Result<()> {
        let what = format!("saving the chunk hashes of download {id}");
        self.write_relaxed(&what, |tx| {
            let d = get_existing(tx, id)?;
            if hashes.len() as u64 != u64::from(d.chunk_count) || chunk_list_hash(hashes) != d.chunk_list_hash {
                return Err(StoreError::Invalid(format!(
                    "download {id}: {} chunk hashes do not match the item ({} chunks, list hash {})",
                    hashes.len(),
                    d.chunk_count,
                    hex::encode(&d.chunk_list_hash[..4])
                )));
            }
            super::hash_lists::write_download_list(tx, id, hashes).ctx(|| what.clone())?;
            tx.prepare_cached("UPDATE downloads SET updated_at = ?1 WHERE id = ?2")
                .and_then(|mut s| s.execute(params![now_int(), id.0]))
                .ctx(|| what.clone())?;
            Ok(())
        })
    }

    /// Saves the verified-chunk bitmap.
    pub fn set_download_bitmap(&self, id: DownloadId, bitmap: &[u8]) -> Result<()> {
        let what = format!("saving the progress of download {id}");
        self.write_relaxed(&what, |tx| {
            let chunks: Option<u64> = tx
                .prepare_cached("SELECT chunk_count FROM downloads WHERE id = ?1")
                .and_then(|mut s| s.query_row([id.0], |r| col_u64(r, 0)).optional())
                .ctx(|| what.clone())?;
            let chunks = chunks.ok_or_else(|| StoreError::NotFound(format!("no download {id}")))?;
            check_bitmap(id, u32::try_from(chunks).unwrap_or(u32::MAX), bitmap)?;
            tx.prepare_cached("UPDATE downloads SET bitmap = ?1, updated_at = ?2 WHERE id = ?3")
                .and_then(|mut s| s.execute(params![bitmap, now_int(), id.0]))
                .ctx(|| what.clone())?;
            Ok(())
        })
    }

    /// Finishes a download in one transaction (one disk sync where three separate writes
    /// took three): the final bitmap, which must mark every chunk; the state Complete; and the
    /// finished file at `path` (modified at `mtime_ns`) as a content source, with the chunk
    /// hash list stored with the download, so it is served from now on.
    pub fn complete_download(&self, id: DownloadId, bitmap: &[u8], path: &Path, mtime_ns: i64) -> Result<()> {
        let what = format!("completing download {id}");
        self.write_relaxed(&what, |tx| {
            let d = get_existing(tx, id)?;
            check_bitmap(id, d.chunk_count, bitmap)?;
            check_complete(id, bitmap, d.chunk_count)?;
            tx.prepare_cached(
                "UPDATE downloads SET bitmap = ?1, state = ?2, error = NULL, updated_at = ?3 WHERE id = ?4",
            )
            .and_then(|mut s| s.execute(params![bitmap, DownloadState::Complete.as_str(), now_int(), id.0]))
            .ctx(|| what.clone())?;
            super::content::insert_downloaded(tx, &d, path, mtime_ns)
        })
    }

    /// Sets the state and error text (cleared when `None`). Complete requires every chunk
    /// verified.
    pub fn set_download_state(&self, id: DownloadId, state: DownloadState, error: Option<&str>) -> Result<()> {
        let what = format!("saving the state of download {id}");
        self.write_relaxed(&what, |tx| {
            let d = get_existing(tx, id)?;
            if state == DownloadState::Complete {
                check_complete(id, &d.bitmap, d.chunk_count)?;
            }
            tx.prepare_cached("UPDATE downloads SET state = ?1, error = ?2, updated_at = ?3 WHERE id = ?4")
                .and_then(|mut s| {
                    s.execute(params![state.as_str(), error.map(|e| clip(e, MAX_ERROR_BYTES)), now_int(), id.0])
                })
                .ctx(|| what.clone())?;
            Ok(())
        })
    }

    /// One download.
    pub fn download(&self, id: DownloadId) -> Result<Option<Download>> {
        self.read(|c| get(c, id))
    }

    /// The download writing to `target`.
    pub fn download_by_target(&self, target: &Path) -> Result<Option<Download>> {
        let key = path_blob(target)?;
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {COLS} FROM downloads WHERE target_path = ?1"))
                .and_then(|mut s| s.query_row([&key], from_row).optional())
                .ctx(|| format!("reading the download to {}", target.display()))
        })
    }

    /// All downloads, oldest first.
    pub fn downloads(&self) -> Result<Vec<Download>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {COLS} FROM downloads ORDER BY id"))
                .ctx(|| "listing downloads".into())?;
            stmt.query_map([], from_row).and_then(|r| r.collect()).ctx(|| "listing downloads".into())
        })
    }

    /// Forgets a download; `false` when there was none.
    pub fn delete_download(&self, id: DownloadId) -> Result<bool> {
        let what = format!("deleting download {id}");
        self.write_relaxed(&what, |tx| {
            tx.execute("DELETE FROM downloads WHERE id = ?1", [id.0]).map(|n| n > 0).ctx(|| what.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::limits::CHUNK_SIZE;

    fn new(target: &str, chunks: u64) -> (NewDownload, Vec<Hash>) {
        let hashes: Vec<Hash> = (0..chunks).map(|i| [i as u8; 32]).collect();
        let d = NewDownload {
            content_id: ContentId([1; 32]),
            share_id: Some(ShareId([2; 32])),
            item_path: "dir/file.iso".into(),
            target_path: PathBuf::from(target),
            size: chunks * CHUNK_SIZE as u64 - 7,
            chunk_list_hash: chunk_list_hash(&hashes),
        };
        (d, hashes)
    }

    #[test]
    fn lifecycle_with_bitmap_and_hashes() {
        let db = Db::open_in_memory().unwrap();
        let (n, hashes) = new("/dl/file.iso", 10);
        let d = db.create_download(&n).unwrap();
        assert_eq!((d.chunk_count, d.bitmap.len(), d.state, d.has_chunk_hashes), (10, 2, DownloadState::Queued, false));
        assert!(db.create_download(&n).unwrap_err().to_string().contains("already"));
        assert!(db.set_download_chunk_hashes(d.id, &hashes[..9]).is_err());
        let mut wrong = hashes.clone();
        wrong[3][0] ^= 1;
        assert!(db.set_download_chunk_hashes(d.id, &wrong).is_err());
        db.set_download_chunk_hashes(d.id, &hashes).unwrap();
        assert_eq!(db.hash_range(crate::db::StoredList::Download(d.id), 0, usize::MAX).unwrap().unwrap(), hashes);
        assert!(db.set_download_bitmap(d.id, &[0xff]).is_err(), "wrong length");
        assert!(db.set_download_bitmap(d.id, &[0xff, 0x04]).is_err(), "bit past the end");
        db.set_download_bitmap(d.id, &[0xff, 0x01]).unwrap();
        let got = db.download(d.id).unwrap().unwrap();
        assert_eq!(got.verified_chunks(), 9);
        assert!(got.is_verified(8) && !got.is_verified(9) && !got.is_verified(100));
        assert!(db.set_download_state(d.id, DownloadState::Complete, None).is_err());
        db.set_download_state(d.id, DownloadState::DiskFull, Some("no space left")).unwrap();
        let got = db.download_by_target(Path::new("/dl/file.iso")).unwrap().unwrap();
        assert_eq!((got.state, got.error.as_deref()), (DownloadState::DiskFull, Some("no space left")));
        db.set_download_bitmap(d.id, &[0xff, 0x03]).unwrap();
        db.set_download_state(d.id, DownloadState::Complete, None).unwrap();
        assert_eq!(db.download(d.id).unwrap().unwrap().error, None);
        assert_eq!(db.downloads().unwrap().len(), 1);
        assert!(db.delete_download(d.id).unwrap());
        assert!(!db.delete_download(d.id).unwrap());
        assert!(matches!(db.set_download_bitmap(d.id, &[]), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn completion_is_one_transaction_that_needs_every_chunk() {
        let db = Db::open_in_memory().unwrap();
        let (n, hashes) = new("/dl/done.iso", 10);
        let d = db.create_download(&n).unwrap();
        db.set_download_chunk_hashes(d.id, &hashes).unwrap();
        let path = Path::new("/dl/done.iso");
        // A missing chunk refuses the whole completion: no state change, no content row.
        let e = db.complete_download(d.id, &[0xff, 0x01], path, 1).unwrap_err();
        assert!(e.to_string().contains("9 of 10"), "{e}");
        assert_eq!(db.download(d.id).unwrap().unwrap().state, DownloadState::Queued);
        assert!(db.content(&n.content_id).unwrap().is_none());
        db.complete_download(d.id, &[0xff, 0x03], path, 1).unwrap();
        // Download rows commit relaxed; everything else stays durable (FULL = 2).
        let sync: i64 = db.read(|c| Ok(c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap())).unwrap();
        assert_eq!(sync, 2);
        let got = db.download(d.id).unwrap().unwrap();
        assert_eq!((got.state, got.verified_chunks()), (DownloadState::Complete, 10));
        // The content row carries the download's own list, copied inside SQLite.
        let c = db.content(&n.content_id).unwrap().unwrap();
        assert_eq!((c.size, c.chunk_count, c.chunk_list_hash), (n.size, 10, n.chunk_list_hash));
        assert_eq!((c.paths.len(), c.paths[0].mtime_ns, c.paths[0].origin), (1, 1, crate::db::Origin::Downloaded));
        assert_eq!(
            db.hash_range(crate::db::StoredList::Content(n.content_id), 0, usize::MAX).unwrap().unwrap(),
            hashes
        );
    }

    #[test]
    fn completion_without_a_stored_list_needs_at_most_one_chunk() {
        let db = Db::open_in_memory().unwrap();
        // Many chunks and no stored list: refused, nothing changes.
        let (n, _) = new("/dl/many.iso", 3);
        let d = db.create_download(&n).unwrap();
        let e = db.complete_download(d.id, &[0x07], Path::new("/dl/many.iso"), 1).unwrap_err();
        assert!(e.to_string().contains("no chunk hash list"), "{e}");
        assert_eq!(db.download(d.id).unwrap().unwrap().state, DownloadState::Queued);
        assert!(db.content(&n.content_id).unwrap().is_none());
        // One chunk: the list is the content id itself.
        let one = NewDownload {
            content_id: ContentId([9; 32]),
            size: 100,
            chunk_list_hash: chunk_list_hash(&[[9; 32]]),
            target_path: PathBuf::from("/dl/one.txt"),
            ..n.clone()
        };
        let d1 = db.create_download(&one).unwrap();
        db.complete_download(d1.id, &[0x01], &one.target_path, 5).unwrap();
        assert_eq!(
            db.hash_range(crate::db::StoredList::Content(one.content_id), 0, usize::MAX).unwrap().unwrap(),
            vec![[9; 32]]
        );
        // A one-chunk download whose list hash does not follow from its content id is refused.
        let bad =
            NewDownload { content_id: ContentId([8; 32]), target_path: PathBuf::from("/dl/bad.txt"), ..one.clone() };
        let d2 = db.create_download(&bad).unwrap();
        assert!(db.complete_download(d2.id, &[0x01], &bad.target_path, 5).is_err());
        assert!(db.content(&bad.content_id).unwrap().is_none());
        assert_eq!(db.download(d2.id).unwrap().unwrap().state, DownloadState::Queued);
    }

    #[test]
    fn a_completed_download_replaces_what_its_path_held() {
        let db = Db::open_in_memory().unwrap();
        let (n, hashes) = new("/dl/file.iso", 2);
        let old = crate::db::ContentSource {
            content_id: ContentId([5; 32]),
            path: n.target_path.clone(),
            size: 10,
            mtime_ns: 1,
            chunk_hashes: vec![[5; 32]],
            chunk_list_hash: chunk_list_hash(&[[5; 32]]),
            origin: crate::db::Origin::Published,
        };
        db.add_content_batch(std::slice::from_ref(&old)).unwrap();
        let d = db.create_download(&n).unwrap();
        db.set_download_chunk_hashes(d.id, &hashes).unwrap();
        db.complete_download(d.id, &[0x03], &n.target_path, 2).unwrap();
        // No file holds the old content any more: it is forgotten.
        assert!(db.content(&old.content_id).unwrap().is_none());
        assert_eq!(db.content(&n.content_id).unwrap().unwrap().paths[0].path, n.target_path);
    }

    #[test]
    fn bad_requests_are_refused() {
        let db = Db::open_in_memory().unwrap();
        let (mut n, _) = new("relative/x", 1);
        assert!(db.create_download(&n).unwrap_err().to_string().contains("absolute"));
        n.target_path = PathBuf::from("/x");
        n.size = u64::MAX;
        assert!(db.create_download(&n).is_err());
        n.size = 0;
        n.chunk_list_hash = chunk_list_hash(&[]);
        let d = db.create_download(&n).unwrap();
        assert_eq!((d.chunk_count, d.bitmap.len()), (0, 0));
        db.set_download_state(d.id, DownloadState::Complete, None).unwrap();
    }
}
