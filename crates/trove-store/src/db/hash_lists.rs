//! Stored chunk hash lists, read and written a piece at a time. A list is a BLOB in
//! `content_hashes` (content this node holds) or `download_hashes` (fetched for a download):
//! 32 bytes per 256 KiB chunk, 13 MB for a 100 GiB file. Through SQLite's incremental BLOB I/O only the bytes asked for are read, and
//! a list is written or copied in pieces, so no caller needs the whole list in memory.

use super::Db;
use super::downloads::DownloadId;
use super::sql::Ctx;
use crate::error::{Result, StoreError};
use rusqlite::blob::ZeroBlob;
use rusqlite::{Connection, OptionalExtension, params};
use trove_proto::ContentId;
use trove_proto::content::Hash;

/// Bytes moved per step when a list is written or copied.
const PIECE: usize = 1 << 20;

/// Where a stored chunk hash list is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredList {
    /// The list of content this node holds.
    Content(ContentId),
    /// The list fetched for a download.
    Download(DownloadId),
}

impl std::fmt::Display for StoredList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredList::Content(id) => write!(f, "content {}", id.short()),
            StoredList::Download(id) => write!(f, "download {id}"),
        }
    }
}

impl StoredList {
    fn table(&self) -> &'static str {
        match self {
            StoredList::Content(_) => "content_hashes",
            StoredList::Download(_) => "download_hashes",
        }
    }

    /// `SELECT <cols> FROM <the list's table> WHERE <its key> = ?1`.
    fn select(&self, cols: &str) -> String {
        let key = match self {
            StoredList::Content(_) => "content_id",
            StoredList::Download(_) => "download_id",
        };
        format!("SELECT {cols} FROM {} WHERE {key} = ?1", self.table())
    }

    /// The key value bound to `?1` of [`StoredList::select`].
    fn key(&self) -> rusqlite::types::Value {
        match self {
            StoredList::Content(id) => rusqlite::types::Value::Blob(id.0.to_vec()),
            StoredList::Download(id) => rusqlite::types::Value::Integer(id.0),
        }
    }

    /// The row holding the list and the list's length in hashes; `None` when there is no
    /// such row. (`length()` of a BLOB does not read it.)
    fn locate(&self, c: &Connection) -> rusqlite::Result<Option<(i64, u64)>> {
        c.prepare_cached(&self.select("rowid, length(hashes)"))?
            .query_row([self.key()], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64 / 32)))
            .optional()
    }
}

/// A stored list as [`Db::hash_list`] finds it.
#[derive(Debug, PartialEq, Eq)]
pub enum FoundList {
    /// The whole list (it was short enough).
    Whole(Vec<Hash>),
    /// Only its length: read it with [`Db::hash_range`].
    Long(u64),
}

impl Db {
    /// A stored list in one query: whole when it has at most `whole_max` hashes, else its
    /// length; `None` when it is not stored.
    pub fn hash_list(&self, list: StoredList, whole_max: usize) -> Result<Option<FoundList>> {
        let what = || format!("reading the hash list of {list}");
        let sql = list.select("length(hashes), CASE WHEN length(hashes) <= ?2 THEN hashes END");
        let max_bytes = i64::try_from(whole_max.saturating_mul(32)).unwrap_or(i64::MAX);
        self.read(|c| {
            let row =
                c.prepare_cached(&sql).and_then(|mut s| s.query_row(params![list.key(), max_bytes], found).optional());
            row.ctx(what)
        })
    }

    /// Up to `count` hashes of a stored list from `first` (fewer at its end); `None` when
    /// the list is not stored.
    pub fn hash_range(&self, list: StoredList, first: u64, count: usize) -> Result<Option<Vec<Hash>>> {
        let what = || format!("reading the hash list of {list}");
        self.read(|c| {
            let Some((rowid, len)) = list.locate(c).ctx(what)? else { return Ok(None) };
            let first = first.min(len);
            let n = (len - first).min(count as u64) as usize;
            let mut out = vec![[0u8; 32]; n];
            if n > 0 {
                let blob = c.blob_open("main", list.table(), "hashes", rowid, true).ctx(what)?;
                blob.read_at_exact(out.as_flattened_mut(), first as usize * 32).ctx(what)?;
            }
            Ok(Some(out))
        })
    }
}

fn found(r: &rusqlite::Row<'_>) -> rusqlite::Result<FoundList> {
    let len: i64 = r.get(0)?;
    match r.get_ref(1)?.as_blob_or_null()? {
        Some(b) if b.len() % 32 == 0 => {
            Ok(FoundList::Whole(b.chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect()))
        }
        Some(b) => Err(rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Blob,
            format!("hash list of {} bytes is not a multiple of 32", b.len()).into(),
        )),
        None => Ok(FoundList::Long(len.max(0) as u64 / 32)),
    }
}

/// Stores `hashes` as the list of download `id`, written in pieces into a zero-filled BLOB
/// made first (the list is its table's last column, so SQLite writes the zeros straight to
/// its pages and never holds a copy of the whole list).
pub(crate) fn write_download_list(c: &Connection, id: DownloadId, hashes: &[Hash]) -> rusqlite::Result<()> {
    make_download_list(c, id, hashes.len() as u64)?;
    for (i, piece) in hashes.chunks(PIECE / 32).enumerate() {
        write_download_list_at(c, id, (i * PIECE / 32) as u64, piece)?;
    }
    Ok(())
}

/// Makes the list of download `id` `count` zero hashes (replacing any list it had).
fn make_download_list(c: &Connection, id: DownloadId, count: u64) -> rusqlite::Result<()> {
    c.prepare_cached("INSERT OR REPLACE INTO download_hashes (download_id, hashes) VALUES (?1, ?2)")?
        .execute(params![id.0, ZeroBlob(count.saturating_mul(32))])?;
    Ok(())
}

/// Writes `hashes` into the list of download `id` from hash `first`, which must lie inside it.
fn write_download_list_at(c: &Connection, id: DownloadId, first: u64, hashes: &[Hash]) -> rusqlite::Result<()> {
    if hashes.is_empty() {
        return Ok(());
    }
    let mut blob = c.blob_open("main", "download_hashes", "hashes", id.0, false)?;
    blob.write_at(hashes.as_flattened(), first as usize * 32)
}

impl Db {
    /// Makes the list of download `id` a zero-filled list of `count` hashes, to be filled
    /// with [`Db::fill_download_list`] as pages of it arrive (any list it had is replaced).
    /// Such a list is not checked against the download: its reader checks it
    /// ([`crate::files::FetchedList`]).
    pub fn start_download_list(&self, id: DownloadId, count: u64) -> Result<()> {
        let what = format!("making room for the {count} chunk hashes of download {id}");
        self.write_relaxed(&what, |tx| make_download_list(tx, id, count).ctx(|| what.clone()))
    }

    /// Writes `hashes` into the list of download `id` (made by [`Db::start_download_list`])
    /// from hash `first`; they must fit inside it.
    pub fn fill_download_list(&self, id: DownloadId, first: u64, hashes: &[Hash]) -> Result<()> {
        let what = format!("saving chunk hashes {first}.. of download {id}");
        self.write_relaxed(&what, |tx| {
            let Some((_, len)) = StoredList::Download(id).locate(tx).ctx(|| what.clone())? else {
                return Err(StoreError::NotFound(format!("{what}: the download has no list")));
            };
            if first.saturating_add(hashes.len() as u64) > len {
                return Err(StoreError::Invalid(format!(
                    "{what}: {} hashes from {first} do not fit a list of {len}",
                    hashes.len()
                )));
            }
            write_download_list_at(tx, id, first, hashes).ctx(|| what.clone())
        })
    }

    /// Deletes the list of download `id` (the download stays, without a list).
    pub fn drop_download_list(&self, id: DownloadId) -> Result<()> {
        let what = format!("dropping the chunk hashes of download {id}");
        self.write_relaxed(&what, |tx| {
            tx.prepare_cached("DELETE FROM download_hashes WHERE download_id = ?1")
                .and_then(|mut s| s.execute([id.0]))
                .ctx(|| what.clone())?;
            Ok(())
        })
    }
}

/// Copies the list of download `from` into the list of `content_id` (made zero-filled at
/// the right size before), in pieces.
pub(crate) fn copy_download_list(c: &Connection, from: DownloadId, content_id: &ContentId) -> Result<()> {
    let what = || format!("keeping the hash list of download {from} for content {}", content_id.short());
    let Some((src_row, len)) = StoredList::Download(from).locate(c).ctx(what)? else {
        return Err(StoreError::Invalid(format!("{}: the download has no list", what())));
    };
    let Some((dst_row, dst_len)) = StoredList::Content(*content_id).locate(c).ctx(what)? else {
        return Err(StoreError::Invalid(format!("{}: no content row", what())));
    };
    if dst_len != len {
        return Err(StoreError::Invalid(format!("{}: {dst_len} hashes stored, {len} to copy", what())));
    }
    let src = c.blob_open("main", "download_hashes", "hashes", src_row, true).ctx(what)?;
    let mut dst = c.blob_open("main", "content_hashes", "hashes", dst_row, false).ctx(what)?;
    let total = len as usize * 32;
    let mut buf = vec![0u8; PIECE.min(total)];
    let mut at = 0;
    while at < total {
        let n = PIECE.min(total - at);
        src.read_at_exact(&mut buf[..n], at).ctx(what)?;
        dst.write_at(&buf[..n], at).ctx(what)?;
        at += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::NewDownload;
    use std::path::PathBuf;
    use trove_proto::content::chunk_list_hash;
    use trove_proto::limits::CHUNK_SIZE;

    #[test]
    fn lists_are_written_and_read_in_pieces() {
        let db = Db::open_in_memory().unwrap();
        // More than one piece: 40,000 hashes are 1.28 MB.
        let hashes: Vec<Hash> = (0..40_000u32).map(|i| *blake3::hash(&i.to_le_bytes()).as_bytes()).collect();
        let n = NewDownload {
            content_id: ContentId([1; 32]),
            share_id: None,
            item_path: "big.bin".into(),
            target_path: PathBuf::from("/dl/big.bin"),
            size: hashes.len() as u64 * CHUNK_SIZE as u64,
            chunk_list_hash: chunk_list_hash(&hashes),
        };
        let d = db.create_download(&n).unwrap();
        let list = StoredList::Download(d.id);
        assert_eq!(db.hash_list(list, 5).unwrap(), None);
        assert_eq!(db.hash_range(list, 0, 4).unwrap(), None);
        db.set_download_chunk_hashes(d.id, &hashes).unwrap();
        assert_eq!(db.hash_list(list, 0).unwrap(), Some(FoundList::Long(40_000)));
        assert_eq!(db.hash_range(crate::db::StoredList::Download(d.id), 0, usize::MAX).unwrap().unwrap(), hashes);
        // Ranges across a piece boundary, at the end, and past it.
        assert_eq!(db.hash_range(list, 32_760, 20).unwrap().unwrap(), hashes[32_760..32_780]);
        assert_eq!(db.hash_range(list, 39_990, 100).unwrap().unwrap(), hashes[39_990..]);
        assert_eq!(db.hash_range(list, 50_000, 5).unwrap().unwrap(), Vec::<Hash>::new());
        assert_eq!(db.hash_list(list, 40_000).unwrap(), Some(FoundList::Whole(hashes.clone())));
        assert_eq!(db.hash_list(list, 39_999).unwrap(), Some(FoundList::Long(40_000)));
        assert_eq!(db.hash_list(StoredList::Download(DownloadId(99)), 5).unwrap(), None);
        assert_eq!(db.hash_range(StoredList::Download(DownloadId(99)), 0, 1).unwrap(), None);
        assert_eq!(db.hash_range(StoredList::Content(ContentId([9; 32])), 0, 1).unwrap(), None);
    }
}
