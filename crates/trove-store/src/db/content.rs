//! Local content sources: which files on disk hold which content, so the node can serve
//! chunks. One `content` row per content id (size, chunk hash list, chunk_list_hash) and one
//! `content_paths` row per file (absolute path, mtime, origin). Several files may hold the
//! same content; content whose last file is removed is forgotten. Publishing a large share
//! inserts all its files in one transaction with [`Db::add_content_batch`].

use super::Db;
use super::downloads::Download;
use super::sql::{Ctx, col_fixed, col_path, col_u64, conv_err, hashes_blob, int, now_int, path_blob};
use crate::error::{Result, StoreError};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use std::path::{Path, PathBuf};
use trove_proto::ContentId;
use trove_proto::content::{Hash, chunk_count, chunk_list_hash};

/// Where a local copy came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A file we published, served in place.
    Published,
    /// A file we downloaded and now seed.
    Downloaded,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Published => "published",
            Origin::Downloaded => "downloaded",
        }
    }

    fn parse(s: &str) -> Option<Origin> {
        match s {
            "published" => Some(Origin::Published),
            "downloaded" => Some(Origin::Downloaded),
            _ => None,
        }
    }
}

/// A file holding some content, as hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentSource {
    pub content_id: ContentId,
    /// Absolute path of the file.
    pub path: PathBuf,
    pub size: u64,
    /// Modification time when hashed, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    pub chunk_hashes: Vec<Hash>,
    pub chunk_list_hash: Hash,
    pub origin: Origin,
}

impl ContentSource {
    /// The file at `path` as just hashed.
    pub fn hashed(path: PathBuf, h: crate::files::HashedFile, origin: Origin) -> ContentSource {
        let d = h.digest;
        ContentSource {
            content_id: d.content_id,
            path,
            size: d.size,
            mtime_ns: h.mtime_ns,
            chunk_hashes: d.chunk_hashes,
            chunk_list_hash: d.chunk_list_hash,
            origin,
        }
    }
}

/// One stored file of some content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentPath {
    pub path: PathBuf,
    pub content_id: ContentId,
    /// Size of the content (the file must still have it to be served).
    pub size: u64,
    pub mtime_ns: i64,
    pub origin: Origin,
    pub added_at: u64,
}

/// Stored content and the files that hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentInfo {
    pub content_id: ContentId,
    pub size: u64,
    pub chunk_count: u64,
    pub chunk_list_hash: Hash,
    pub added_at: u64,
    pub paths: Vec<ContentPath>,
}

/// Checks a source's path and hash list against its size and list hash.
fn check_source(s: &ContentSource) -> Result<()> {
    let bad = |why: String| {
        Err(StoreError::Invalid(format!("content {} at {}: {why}", s.content_id.short(), s.path.display())))
    };
    if !s.path.is_absolute() {
        return bad("the path is not absolute".into());
    }
    int(s.size, "size")?;
    let expected = chunk_count(s.size);
    if s.chunk_hashes.len() as u64 != expected {
        return bad(format!("{} chunk hashes for {} bytes; expected {expected}", s.chunk_hashes.len(), s.size));
    }
    if chunk_list_hash(&s.chunk_hashes) != s.chunk_list_hash {
        return bad("the chunk hashes do not match chunk_list_hash".into());
    }
    Ok(())
}

const PATH_COLS: &str = "p.path, p.content_id, c.size, p.mtime_ns, p.origin, p.added_at";

fn path_from_row(r: &Row<'_>) -> rusqlite::Result<ContentPath> {
    let origin: String = r.get(4)?;
    Ok(ContentPath {
        path: col_path(r, 0)?,
        content_id: ContentId(col_fixed(r, 1)?),
        size: col_u64(r, 2)?,
        mtime_ns: r.get(3)?,
        origin: Origin::parse(&origin)
            .ok_or_else(|| conv_err(4, Type::Text, format!("unknown content origin '{origin}'")))?,
        added_at: col_u64(r, 5)?,
    })
}

/// Forgets content that no file holds any more.
fn drop_if_orphan(conn: &Connection, id: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM content WHERE content_id = ?1
             AND NOT EXISTS (SELECT 1 FROM content_paths WHERE content_id = ?1)",
    )?
    .execute([id])
    .map(|_| ())
}

impl Db {
    /// Adds (or updates) one file holding some content.
    pub fn add_content(&self, source: &ContentSource) -> Result<()> {
        self.add_content_batch(std::slice::from_ref(source))
    }

    /// Adds many files in one transaction (a 100,000-file publish). A path already stored is
    /// updated to its new content, mtime and origin. Every source is checked first; one bad
    /// source rejects the whole batch.
    pub fn add_content_batch(&self, sources: &[ContentSource]) -> Result<()> {
        let what = format!("saving {} content source(s)", sources.len());
        self.write(&what, |tx| insert_sources(tx, sources, &what))
    }

    /// Stored content with all its files.
    pub fn content(&self, content_id: &ContentId) -> Result<Option<ContentInfo>> {
        let what = || format!("reading content {}", content_id.short());
        self.read(|c| {
            let head = c
                .prepare_cached(
                    "SELECT c.size, coalesce(length(h.hashes), 0), c.chunk_list_hash, c.added_at
                     FROM content c LEFT JOIN content_hashes h ON h.content_id = c.content_id
                     WHERE c.content_id = ?1",
                )
                .and_then(|mut s| {
                    s.query_row([&content_id.0[..]], |r| {
                        Ok((col_u64(r, 0)?, col_u64(r, 1)? / 32, col_fixed::<32>(r, 2)?, col_u64(r, 3)?))
                    })
                    .optional()
                })
                .ctx(what)?;
            let Some((size, chunk_count, chunk_list_hash, added_at)) = head else { return Ok(None) };
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {PATH_COLS} FROM content_paths p JOIN content c ON c.content_id = p.content_id
                     WHERE p.content_id = ?1 ORDER BY p.path"
                ))
                .ctx(what)?;
            let paths = stmt.query_map([&content_id.0[..]], path_from_row).and_then(|r| r.collect()).ctx(what)?;
            Ok(Some(ContentInfo { content_id: *content_id, size, chunk_count, chunk_list_hash, added_at, paths }))
        })
    }

    /// The stored entry for a file, e.g. to skip re-hashing an unchanged file.
    pub fn content_path(&self, path: &Path) -> Result<Option<ContentPath>> {
        let key = path_blob(path)?;
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {PATH_COLS} FROM content_paths p JOIN content c ON c.content_id = p.content_id WHERE p.path = ?1"
            ))
            .and_then(|mut s| s.query_row([&key], path_from_row).optional())
            .ctx(|| format!("reading content source {}", path.display()))
        })
    }

    /// Every stored file, by path.
    pub fn content_paths(&self) -> Result<Vec<ContentPath>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {PATH_COLS} FROM content_paths p JOIN content c ON c.content_id = p.content_id ORDER BY p.path"
                ))
                .ctx(|| "listing content sources".into())?;
            stmt.query_map([], path_from_row).and_then(|r| r.collect()).ctx(|| "listing content sources".into())
        })
    }

    /// Forgets one file (changed or deleted on disk); content no other file holds is
    /// forgotten too. `false` when the path was not stored.
    pub fn remove_content_path(&self, path: &Path) -> Result<bool> {
        let key = path_blob(path)?;
        let what = format!("removing content source {}", path.display());
        self.write(&what, |tx| {
            let id: Option<Vec<u8>> = tx
                .prepare_cached("DELETE FROM content_paths WHERE path = ?1 RETURNING content_id")
                .and_then(|mut s| s.query_row([&key], |r| r.get(0)).optional())
                .ctx(|| what.clone())?;
            match id {
                None => Ok(false),
                Some(id) => {
                    drop_if_orphan(tx, &id).ctx(|| what.clone())?;
                    Ok(true)
                }
            }
        })
    }

    /// Every content id at least one local file holds, in id order.
    pub fn servable_content_ids(&self) -> Result<Vec<ContentId>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT content_id FROM content c
                     WHERE EXISTS (SELECT 1 FROM content_paths p WHERE p.content_id = c.content_id)
                     ORDER BY content_id",
                )
                .ctx(|| "listing servable content".into())?;
            stmt.query_map([], |r| Ok(ContentId(col_fixed(r, 0)?)))
                .and_then(|r| r.collect())
                .ctx(|| "listing servable content".into())
        })
    }
}

/// Inserts content sources in the caller's transaction (see [`Db::add_content_batch`]).
pub(crate) fn insert_sources(tx: &Transaction<'_>, sources: &[ContentSource], what: &str) -> Result<()> {
    for s in sources {
        check_source(s)?;
    }
    let now = now_int();
    let mut ins_content = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO content (content_id, size, chunk_list_hash, added_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .ctx(|| what.to_string())?;
    let mut ins_hashes = tx
        .prepare_cached("INSERT OR IGNORE INTO content_hashes (content_id, hashes) VALUES (?1, ?2)")
        .ctx(|| what.to_string())?;
    let mut replaced: Vec<Vec<u8>> = Vec::new();
    for s in sources {
        let ctx = || format!("saving content {} at {}", s.content_id.short(), s.path.display());
        ins_content
            .execute(params![&s.content_id.0[..], int(s.size, "size")?, &s.chunk_list_hash[..], now])
            .ctx(ctx)?;
        ins_hashes.execute(params![&s.content_id.0[..], hashes_blob(&s.chunk_hashes)]).ctx(ctx)?;
        replaced.extend(link_path(tx, &s.path, &s.content_id, s.mtime_ns, s.origin, now)?);
    }
    for id in replaced {
        drop_if_orphan(tx, &id).ctx(|| what.to_string())?;
    }
    Ok(())
}

/// Records a finished download as a content source in the caller's transaction. Its chunk
/// hash list is copied in pieces from the download's row, where it was stored when fetched
/// (for a 100 GiB file the list is 13 MB: no step holds it whole). A file of at most one chunk has no
/// stored list: its list follows from the content id and is checked like any source's.
pub(crate) fn insert_downloaded(tx: &Transaction<'_>, d: &Download, path: &Path, mtime_ns: i64) -> Result<()> {
    if !d.has_chunk_hashes {
        let chunk_hashes = match d.chunk_count {
            0 => Vec::new(),
            1 => vec![d.content_id.0],
            n => {
                return Err(StoreError::Invalid(format!(
                    "download {} of {n} chunks has no chunk hash list to keep",
                    d.id
                )));
            }
        };
        let source = ContentSource {
            content_id: d.content_id,
            path: path.to_path_buf(),
            size: d.size,
            mtime_ns,
            chunk_hashes,
            chunk_list_hash: d.chunk_list_hash,
            origin: Origin::Downloaded,
        };
        return insert_sources(tx, std::slice::from_ref(&source), &format!("completing download {}", d.id));
    }
    let ctx = || format!("saving content {} at {}", d.content_id.short(), path.display());
    if !path.is_absolute() {
        return Err(StoreError::Invalid(format!("{}: the path is not absolute", ctx())));
    }
    let now = now_int();
    // The list was checked against the chunk count and chunk_list_hash when it was stored;
    // the row gets a list of the right size, then the download's is copied into it.
    tx.prepare_cached(
        "INSERT OR IGNORE INTO content (content_id, size, chunk_list_hash, added_at)
             SELECT content_id, size, chunk_list_hash, ?2 FROM downloads WHERE id = ?1",
    )
    .and_then(|mut s| s.execute(params![d.id.0, now]))
    .ctx(ctx)?;
    let added = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO content_hashes (content_id, hashes)
                 SELECT ?2, zeroblob(length(hashes)) FROM download_hashes WHERE download_id = ?1",
        )
        .and_then(|mut s| s.execute(params![d.id.0, &d.content_id.0[..]]))
        .ctx(ctx)?;
    if added > 0 {
        super::hash_lists::copy_download_list(tx, d.id, &d.content_id)?;
    }
    if let Some(old) = link_path(tx, path, &d.content_id, mtime_ns, Origin::Downloaded, now)? {
        drop_if_orphan(tx, &old).ctx(ctx)?;
    }
    Ok(())
}

/// Points `path` at `content_id`; returns the content the path held before when it was
/// another one (forget it with [`drop_if_orphan`] once no file holds it).
fn link_path(
    tx: &Transaction<'_>,
    path: &Path,
    content_id: &ContentId,
    mtime_ns: i64,
    origin: Origin,
    now: i64,
) -> Result<Option<Vec<u8>>> {
    let ctx = || format!("saving content {} at {}", content_id.short(), path.display());
    let key = path_blob(path)?;
    let previous: Option<Vec<u8>> = tx
        .prepare_cached("SELECT content_id FROM content_paths WHERE path = ?1")
        .and_then(|mut s| s.query_row([&key], |r| r.get(0)).optional())
        .ctx(ctx)?;
    tx.prepare_cached(
        "INSERT INTO content_paths (path, content_id, mtime_ns, origin, added_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (path) DO UPDATE SET content_id = excluded.content_id,
                 mtime_ns = excluded.mtime_ns, origin = excluded.origin, added_at = excluded.added_at",
    )
    .and_then(|mut s| s.execute(params![key, &content_id.0[..], mtime_ns, origin.as_str(), now]))
    .ctx(ctx)?;
    Ok(previous.filter(|p| p[..] != content_id.0[..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::limits::CHUNK_SIZE;

    fn source(n: u8, path: &str, size: u64) -> ContentSource {
        let hashes: Vec<Hash> = (0..chunk_count(size)).map(|i| [n ^ i as u8; 32]).collect();
        ContentSource {
            content_id: ContentId([n; 32]),
            path: PathBuf::from(path),
            size,
            mtime_ns: 1_700_000_000_000_000_000 + n as i64,
            chunk_list_hash: chunk_list_hash(&hashes),
            chunk_hashes: hashes,
            origin: Origin::Published,
        }
    }

    #[test]
    fn several_paths_per_content_and_orphans_are_forgotten() {
        let db = Db::open_in_memory().unwrap();
        let a = source(1, "/data/a.bin", 3 * CHUNK_SIZE as u64 + 1);
        let mut a2 = a.clone();
        a2.path = PathBuf::from("/backup/a.bin");
        a2.origin = Origin::Downloaded;
        db.add_content_batch(&[a.clone(), a2.clone()]).unwrap();
        let info = db.content(&a.content_id).unwrap().unwrap();
        assert_eq!((info.size, info.chunk_count, info.paths.len()), (a.size, 4, 2));
        assert_eq!(
            db.hash_range(crate::db::StoredList::Content(a.content_id), 0, usize::MAX).unwrap().unwrap(),
            a.chunk_hashes
        );
        assert_eq!(db.content_path(&a2.path).unwrap().unwrap().origin, Origin::Downloaded);
        assert!(db.remove_content_path(&a.path).unwrap());
        assert!(!db.remove_content_path(&a.path).unwrap());
        assert_eq!(db.servable_content_ids().unwrap(), [a.content_id]);
        assert!(db.remove_content_path(&a2.path).unwrap());
        assert_eq!(db.content(&a.content_id).unwrap(), None);
        assert!(db.servable_content_ids().unwrap().is_empty());
    }

    #[test]
    fn a_path_that_changes_content_moves_and_the_old_content_goes() {
        let db = Db::open_in_memory().unwrap();
        db.add_content(&source(1, "/d/f", 10)).unwrap();
        let mut changed = source(2, "/d/f", 20);
        changed.mtime_ns += 5;
        db.add_content(&changed).unwrap();
        assert_eq!(db.content(&ContentId([1; 32])).unwrap(), None);
        let p = db.content_path(Path::new("/d/f")).unwrap().unwrap();
        assert_eq!((p.content_id, p.size, p.mtime_ns), (ContentId([2; 32]), 20, changed.mtime_ns));
        assert_eq!(db.content_paths().unwrap().len(), 1);
    }

    #[test]
    fn bad_sources_are_refused_whole_batch() {
        let db = Db::open_in_memory().unwrap();
        let good = source(1, "/d/ok", 5);
        let mut relative = source(2, "rel/x", 5);
        assert!(db.add_content_batch(&[good.clone(), relative.clone()]).unwrap_err().to_string().contains("absolute"));
        relative.path = PathBuf::from("/d/x");
        relative.chunk_hashes.push([0; 32]);
        assert!(db.add_content(&relative).unwrap_err().to_string().contains("expected 1"));
        let mut wrong_list = source(3, "/d/y", 5);
        wrong_list.chunk_list_hash = [0; 32];
        assert!(db.add_content(&wrong_list).unwrap_err().to_string().contains("chunk_list_hash"));
        assert!(db.content_paths().unwrap().is_empty());
        let empty = source(4, "/d/empty", 0);
        db.add_content(&empty).unwrap();
        assert_eq!(
            db.hash_range(crate::db::StoredList::Content(empty.content_id), 0, usize::MAX).unwrap().unwrap(),
            Vec::<Hash>::new()
        );
    }
}
