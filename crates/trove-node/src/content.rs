//! Serving content from files in place: a cache of open [`ChunkSource`]s per content id,
//! answering chunks and pages of chunk hash lists. Each chunk is checked before it leaves
//! (file unchanged, chunk hash matches), and a hash list page once the file is checked
//! unchanged; a file that changed is withdrawn (its record removed) and the next file holding
//! the same content is tried, so a changed file is never served wrong (TEST-MATRIX FT-7).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use trove_proto::ContentId;
use trove_proto::content::Hash;
use trove_store::StoreError;
use trove_store::db::Db;
use trove_store::db::StoredList;
use trove_store::files::{ChunkHashes, ChunkSource};

/// Open sources kept at most.
const MAX_OPEN: usize = 256;

/// Why a chunk could not be served.
#[derive(Debug)]
pub enum ServeError {
    /// We do not hold this content (or that chunk index).
    NotFound,
    /// Files holding it changed and were withdrawn (paths listed).
    Withdrawn(Vec<String>),
    /// A storage error.
    Store(StoreError),
}

impl From<StoreError> for ServeError {
    fn from(e: StoreError) -> Self {
        ServeError::Store(e)
    }
}

/// The cache.
pub struct ContentServer {
    db: Db,
    open: Mutex<HashMap<ContentId, Arc<ChunkSource>>>,
}

impl ContentServer {
    /// A server over the content records of `db`.
    pub fn new(db: Db) -> Self {
        ContentServer { db, open: Mutex::new(HashMap::new()) }
    }

    fn source(&self, id: &ContentId, withdrawn: &mut Vec<String>) -> Result<Option<Arc<ChunkSource>>, StoreError> {
        if let Some(s) = self.open.lock().expect("sources").get(id) {
            return Ok(Some(s.clone()));
        }
        let Some(info) = self.db.content(id)? else { return Ok(None) };
        for p in &info.paths {
            // A list of up to one page is read whole, a longer one a page at a time.
            let Some(list) = ChunkHashes::load(&self.db, StoredList::Content(*id))? else { return Ok(None) };
            match ChunkSource::open(&p.path, p.size, p.mtime_ns, list) {
                Ok(src) => {
                    let src = Arc::new(src);
                    let mut open = self.open.lock().expect("sources");
                    if open.len() >= MAX_OPEN
                        && let Some(k) = open.keys().next().copied()
                    {
                        open.remove(&k);
                    }
                    open.insert(*id, src.clone());
                    return Ok(Some(src));
                }
                Err(StoreError::Changed(why)) => {
                    self.db.remove_content_path(&p.path)?;
                    withdrawn.push(why);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// The CHUNK_DATA payload for chunk `index` of `id`, the chunk read and verified straight
    /// into place after the payload header (blocking: call from a blocking task).
    pub fn chunk_payload(&self, id: &ContentId, index: u32) -> Result<Vec<u8>, ServeError> {
        self.with_source(id, |src| {
            let len = trove_proto::content::chunk_len(src.size(), index as u64).ok_or(ServeError::NotFound)?;
            let mut payload = trove_proto::wire::ChunkData::payload_head(id, index, len);
            src.read_chunk_into(index as u64, &mut payload)?;
            Ok(payload)
        })
    }

    /// The length of the chunk hash list of `id` and `count` hashes of it from `start` (fewer
    /// at its end, none from past it, and none at all when the list is longer than
    /// `max_len`), once the file is checked unchanged: a page of a 100 GiB file's list costs
    /// the page, never the whole 13 MB list.
    pub fn chunk_hashes_page(
        &self,
        id: &ContentId,
        start: usize,
        count: usize,
        max_len: usize,
    ) -> Result<(usize, Vec<Hash>), ServeError> {
        self.with_source(id, |src| {
            src.check_unchanged()?;
            let h = src.chunk_hashes();
            let len = h.len() as usize;
            Ok((len, if len > max_len { Vec::new() } else { h.range(start as u64, count)? }))
        })
    }

    /// Runs `f` on an open source of `id`. A file found changed is withdrawn (its record
    /// removed) and the next file holding the content is tried.
    fn with_source<T>(
        &self,
        id: &ContentId,
        f: impl Fn(&ChunkSource) -> Result<T, ServeError>,
    ) -> Result<T, ServeError> {
        let mut withdrawn = Vec::new();
        for _ in 0..8 {
            let src = match self.source(id, &mut withdrawn) {
                Ok(Some(s)) => s,
                Ok(None) if withdrawn.is_empty() => return Err(ServeError::NotFound),
                Ok(None) => return Err(ServeError::Withdrawn(withdrawn)),
                Err(e) => return Err(ServeError::Store(e)),
            };
            match f(&src) {
                Err(ServeError::Store(StoreError::Changed(why))) => {
                    self.open.lock().expect("sources").remove(id);
                    if let Err(e) = self.db.remove_content_path(src.path()) {
                        return Err(ServeError::Store(e));
                    }
                    withdrawn.push(why);
                }
                other => return other,
            }
        }
        Err(ServeError::Withdrawn(withdrawn))
    }

    /// Forgets cached sources (after files were re-published or removed).
    pub fn invalidate(&self, id: &ContentId) {
        self.open.lock().expect("sources").remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::limits::CHUNK_SIZE;
    use trove_store::db::{ContentSource, Origin};

    /// Pages are cut at the end of the list, and a list longer than the caller's limit is
    /// answered with its length alone (at the limit it is still read).
    #[test]
    fn hash_list_pages_and_the_length_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        std::fs::write(&path, vec![7u8; 3 * CHUNK_SIZE]).unwrap();
        let h = trove_store::files::hash_file(&path, |_| {}).unwrap();
        let db = Db::open_in_memory().unwrap();
        let hashes = h.digest.chunk_hashes.clone();
        let id = h.digest.content_id;
        db.add_content_batch(&[ContentSource::hashed(path, h, Origin::Published)]).unwrap();
        let server = ContentServer::new(db);
        let page = |start, count, max| server.chunk_hashes_page(&id, start, count, max).unwrap();
        assert_eq!(page(0, 10, 3), (3, hashes.clone()));
        assert_eq!(page(1, 1, usize::MAX), (3, hashes[1..2].to_vec()));
        assert_eq!(page(5, 1, usize::MAX), (3, Vec::new()));
        assert_eq!(page(0, 10, 2), (3, Vec::new()));
        assert!(matches!(server.chunk_hashes_page(&ContentId([1; 32]), 0, 1, 9), Err(ServeError::NotFound)));
    }
}
