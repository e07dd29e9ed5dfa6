//! [`ChunkHashes`]: the expected chunk hashes of a file being served or downloaded. A list
//! of up to one page is held; a longer one (a file over 1 GiB) stays in the database and is
//! read a page at a time into a small cache, so memory does not grow with the file size (a
//! 100 GiB file's list is 13 MB, a 1 TiB file's 134 MB; its cache holds 512 KiB at most).

use crate::db::hash_lists::FoundList;
use crate::db::{Db, StoredList};
use crate::error::{Result, StoreError};
use std::sync::{Arc, Mutex};
use trove_proto::content::{ChunkListHasher, Hash};

/// Hashes per page read from the database (128 KiB, the hashes of 1 GiB of chunks).
pub const PAGE_HASHES: usize = 4096;
/// Pages kept in memory: downloads and uploads move through the list in order, a few at
/// different places at once.
const CACHED_PAGES: usize = 4;
/// Hashes read at a time by [`ChunkHashes::digest`] (1 MiB).
const DIGEST_PIECE: usize = 32 * 1024;

/// The expected chunk hashes of one file.
#[derive(Debug)]
pub struct ChunkHashes {
    len: u64,
    store: Store,
}

#[derive(Debug)]
enum Store {
    Held(Vec<Hash>),
    Paged { db: Db, list: StoredList, page: usize, cache: Mutex<Vec<(u64, Arc<Vec<Hash>>)>> },
}

impl From<Vec<Hash>> for ChunkHashes {
    fn from(v: Vec<Hash>) -> Self {
        ChunkHashes { len: v.len() as u64, store: Store::Held(v) }
    }
}

impl ChunkHashes {
    /// The stored list `list`: held when it fits one page, else read in pages. `None` when
    /// it is not stored.
    pub fn load(db: &Db, list: StoredList) -> Result<Option<ChunkHashes>> {
        Self::load_paged(db, list, PAGE_HASHES)
    }

    /// [`ChunkHashes::load`] with pages of `page` hashes (tests use small ones).
    pub fn load_paged(db: &Db, list: StoredList, page: usize) -> Result<Option<ChunkHashes>> {
        let page = page.max(1);
        Ok(match db.hash_list(list, page)? {
            None => None,
            Some(FoundList::Whole(v)) => Some(v.into()),
            Some(FoundList::Long(len)) => Some(Self::paged(db, list, len, page)),
        })
    }

    /// Whether the list is held in memory (not read in pages).
    #[cfg(test)]
    pub(crate) fn is_held(&self) -> bool {
        matches!(self.store, Store::Held(_))
    }

    pub(crate) fn paged(db: &Db, list: StoredList, len: u64, page: usize) -> ChunkHashes {
        ChunkHashes { len, store: Store::Paged { db: db.clone(), list, page, cache: Mutex::new(Vec::new()) } }
    }

    /// Number of hashes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hash of chunk `index`.
    pub fn get(&self, index: u64) -> Result<Hash> {
        if index >= self.len {
            return Err(StoreError::Invalid(format!("chunk {index} is out of range ({} chunks)", self.len)));
        }
        match &self.store {
            Store::Held(v) => Ok(v[index as usize]),
            Store::Paged { page, .. } => {
                let p = self.page_of(index / *page as u64)?;
                Ok(p[(index % *page as u64) as usize])
            }
        }
    }

    /// Up to `count` hashes from `start` (fewer at the end, none past it).
    pub fn range(&self, start: u64, count: usize) -> Result<Vec<Hash>> {
        let start = start.min(self.len);
        let end = start.saturating_add(count as u64).min(self.len);
        match &self.store {
            Store::Held(v) => Ok(v[start as usize..end as usize].to_vec()),
            Store::Paged { db, list, .. } => db
                .hash_range(*list, start, (end - start) as usize)?
                .ok_or_else(|| StoreError::NotFound(format!("the hash list of {list} is gone"))),
        }
    }

    /// BLAKE3 over the concatenated hashes (the manifest's `chunk_list_hash` of a right
    /// list), reading a paged list a piece at a time: a stored list is checked with it before
    /// a download resumes on it.
    pub fn digest(&self) -> Result<Hash> {
        let mut h = ChunkListHasher::default();
        match &self.store {
            Store::Held(v) => h.update(v),
            Store::Paged { .. } => {
                let mut at = 0;
                while at < self.len {
                    let piece = self.range(at, DIGEST_PIECE)?;
                    if piece.is_empty() {
                        return Err(StoreError::Corrupt("a stored hash list is shorter than recorded".into()));
                    }
                    h.update(&piece);
                    at += piece.len() as u64;
                }
            }
        }
        Ok(h.finalize())
    }

    /// Page `n` of a paged list, from the cache or the database.
    fn page_of(&self, n: u64) -> Result<Arc<Vec<Hash>>> {
        let Store::Paged { db, list, page, cache } = &self.store else { unreachable!("only paged lists have pages") };
        if let Some((_, p)) = cache.lock().expect("page cache").iter().find(|(k, _)| *k == n) {
            return Ok(p.clone());
        }
        let hashes = db
            .hash_range(*list, n * *page as u64, *page)?
            .ok_or_else(|| StoreError::NotFound(format!("the hash list of {list} is gone")))?;
        let want = (self.len - n * *page as u64).min(*page as u64) as usize;
        if hashes.len() != want {
            return Err(StoreError::Corrupt(format!("the hash list of {list} is shorter than recorded")));
        }
        let p = Arc::new(hashes);
        let mut c = cache.lock().expect("page cache");
        if c.len() >= CACHED_PAGES {
            c.remove(0);
        }
        c.push((n, p.clone()));
        Ok(p)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::NewDownload;
    use std::path::PathBuf;
    use trove_proto::ContentId;
    use trove_proto::content::chunk_list_hash;
    use trove_proto::limits::CHUNK_SIZE;

    pub(crate) fn stored(db: &Db, n: u32) -> (StoredList, Vec<Hash>) {
        let hashes: Vec<Hash> = (0..n).map(|i| *blake3::hash(&i.to_le_bytes()).as_bytes()).collect();
        let d = db
            .create_download(&NewDownload {
                content_id: ContentId([n as u8; 32]),
                share_id: None,
                item_path: "f.bin".into(),
                target_path: PathBuf::from(format!("/dl/f{n}.bin")),
                size: n as u64 * CHUNK_SIZE as u64,
                chunk_list_hash: chunk_list_hash(&hashes),
            })
            .unwrap();
        db.set_download_chunk_hashes(d.id, &hashes).unwrap();
        (StoredList::Download(d.id), hashes)
    }

    #[test]
    fn paged_lists_read_the_same_hashes_as_held_ones() {
        let db = Db::open_in_memory().unwrap();
        let (list, hashes) = stored(&db, 10);
        let held = ChunkHashes::load_paged(&db, list, 16).unwrap().unwrap();
        assert!(matches!(held.store, Store::Held(_)));
        let paged = ChunkHashes::load_paged(&db, list, 4).unwrap().unwrap();
        assert!(matches!(paged.store, Store::Paged { .. }));
        for c in [&held, &paged] {
            assert_eq!(c.len(), 10);
            let got: Vec<Hash> = (0..10).map(|i| c.get(i).unwrap()).collect();
            assert_eq!(got, hashes);
            assert!(c.get(10).is_err());
            assert_eq!(c.range(3, 5).unwrap(), hashes[3..8]);
            assert_eq!(c.range(8, 5).unwrap(), hashes[8..]);
            assert!(c.range(11, 5).unwrap().is_empty());
        }
        // Pages are read once and at most CACHED_PAGES of them are kept.
        let Store::Paged { cache, .. } = &paged.store else { unreachable!() };
        assert!(cache.lock().unwrap().len() <= CACHED_PAGES);
        let (big, big_hashes) = stored(&db, 40);
        let big = ChunkHashes::load_paged(&db, big, 2).unwrap().unwrap();
        for i in (0..40).rev() {
            assert_eq!(big.get(i).unwrap(), big_hashes[i as usize]);
        }
        let Store::Paged { cache, .. } = &big.store else { unreachable!() };
        assert_eq!(cache.lock().unwrap().len(), CACHED_PAGES);
        assert_eq!(ChunkHashes::load(&db, StoredList::Content(ContentId([3; 32]))).unwrap().map(|c| c.len()), None);
    }

    /// The digest of a paged list reads it a piece at a time: at one piece, one hash past
    /// it, and held, it is the list hash.
    #[test]
    fn the_digest_is_the_list_hash_across_pieces() {
        let db = Db::open_in_memory().unwrap();
        for n in [DIGEST_PIECE, DIGEST_PIECE + 1] {
            let (list, hashes) = stored(&db, n as u32);
            let paged = ChunkHashes::load_paged(&db, list, 4).unwrap().unwrap();
            assert!(matches!(paged.store, Store::Paged { .. }));
            assert_eq!(paged.digest().unwrap(), chunk_list_hash(&hashes), "{n} hashes");
            assert_eq!(ChunkHashes::from(hashes.clone()).digest().unwrap(), chunk_list_hash(&hashes));
        }
        assert_eq!(ChunkHashes::from(Vec::new()).digest().unwrap(), chunk_list_hash(&[]));
    }
}
