//! [`FetchedList`]: a download's chunk hash list as it arrives from a peer, page by page.
//! Each page is written into the database and hashed on the way, so the list is never held
//! whole (a 1 TiB file's list is 128 MiB); it counts only once its length and hash match
//! what the manifest says.

use super::chunk_hashes::{ChunkHashes, PAGE_HASHES};
use crate::db::{Db, DownloadId, StoredList};
use crate::error::{Result, StoreError};
use trove_proto::content::{ChunkListHasher, Hash};

/// A chunk hash list being received for one download.
pub struct FetchedList {
    db: Db,
    id: DownloadId,
    count: u64,
    expected: Hash,
    next: u64,
    hasher: ChunkListHasher,
    /// The hashes so far while the list fits one page (kept, so a short list is not read
    /// back from the database).
    held: Vec<Hash>,
    done: bool,
}

impl FetchedList {
    /// Starts receiving the list of download `id`: `count` hashes whose BLAKE3 over their
    /// concatenation is `expected` (the manifest's chunk count and list hash). Any list the
    /// download had is replaced.
    pub fn start(db: &Db, id: DownloadId, count: u64, expected: Hash) -> Result<FetchedList> {
        db.start_download_list(id, count)?;
        Ok(FetchedList {
            db: db.clone(),
            id,
            count,
            expected,
            next: 0,
            hasher: ChunkListHasher::default(),
            held: Vec::new(),
            done: false,
        })
    }

    /// Number of hashes in the whole list.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether the list has no hashes (an empty file's).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Index of the next hash expected.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Whether every hash has arrived.
    pub fn is_full(&self) -> bool {
        self.next == self.count
    }

    /// Appends the next `hashes` of the list. More than the list holds is
    /// [`StoreError::Invalid`], and nothing is written.
    pub fn push(&mut self, hashes: &[Hash]) -> Result<()> {
        if self.next.saturating_add(hashes.len() as u64) > self.count {
            return Err(StoreError::Invalid(format!(
                "{} more chunk hashes after {} overflow a list of {}",
                hashes.len(),
                self.next,
                self.count
            )));
        }
        self.db.fill_download_list(self.id, self.next, hashes)?;
        self.hasher.update(hashes);
        if self.count as usize <= PAGE_HASHES {
            self.held.extend_from_slice(hashes);
        }
        self.next += hashes.len() as u64;
        Ok(())
    }

    /// Checks the whole list against the manifest and hands it out for the download. A
    /// short or wrong list is [`StoreError::Invalid`]; the receiver then starts over
    /// ([`FetchedList::restart`]), from another peer.
    pub fn finish(&mut self) -> Result<ChunkHashes> {
        if self.next != self.count {
            return Err(StoreError::Invalid(format!("{} of {} chunk hashes arrived", self.next, self.count)));
        }
        if self.hasher.finalize() != self.expected {
            return Err(StoreError::Invalid("the chunk hash list does not match the manifest".into()));
        }
        self.done = true;
        let list = StoredList::Download(self.id);
        Ok(if self.count as usize <= PAGE_HASHES {
            std::mem::take(&mut self.held).into()
        } else {
            ChunkHashes::paged(&self.db, list, self.count, PAGE_HASHES)
        })
    }

    /// Forgets what arrived, to receive the list again from its start (the stored hashes
    /// are overwritten as the new pages arrive).
    pub fn restart(&mut self) {
        self.next = 0;
        self.hasher = ChunkListHasher::default();
        self.held.clear();
        self.done = false;
    }
}

impl Drop for FetchedList {
    /// A list left unfinished is deleted, so no half list stays behind (one left by a crash
    /// is found wrong and fetched again when the download resumes).
    fn drop(&mut self) {
        if !self.done {
            let _ = self.db.drop_download_list(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::content::chunk_list_hash;

    /// A download of `n` chunks and its hashes (a list already stored, which the tests
    /// replace).
    fn download(db: &Db, n: usize) -> (DownloadId, Vec<Hash>) {
        match crate::files::chunk_hashes::tests::stored(db, n as u32) {
            (StoredList::Download(id), hashes) => (id, hashes),
            (other, _) => unreachable!("{other}"),
        }
    }

    #[test]
    fn a_list_arrives_in_pages_and_counts_only_when_it_matches() {
        let db = Db::open_in_memory().unwrap();
        // Held up to one page, read in pages from one hash past it.
        for n in [10, PAGE_HASHES, PAGE_HASHES + 1] {
            let (id, hashes) = download(&db, n);
            let list = StoredList::Download(id);
            let mut f = FetchedList::start(&db, id, n as u64, chunk_list_hash(&hashes)).unwrap();
            // A lying peer: one hash flipped. The list is refused and received again.
            let mut bad = hashes.clone();
            bad[n - 1][0] ^= 1;
            for page in bad.chunks(3) {
                f.push(page).unwrap();
            }
            assert!(f.is_full());
            assert!(matches!(f.finish(), Err(StoreError::Invalid(_))));
            f.restart();
            assert_eq!(f.next(), 0);
            for page in hashes.chunks(1000) {
                f.push(page).unwrap();
            }
            // Past the end: refused, nothing moves.
            assert!(matches!(f.push(&hashes[..1]), Err(StoreError::Invalid(_))));
            assert_eq!(f.next(), n as u64);
            let got = f.finish().unwrap();
            drop(f);
            assert_eq!(got.len(), n as u64);
            assert_eq!(got.is_held(), n <= PAGE_HASHES, "{n} hashes");
            assert_eq!(got.digest().unwrap(), chunk_list_hash(&hashes));
            assert_eq!(got.get(n as u64 - 1).unwrap(), hashes[n - 1]);
            // Stored whole, and the same when loaded again (held or paged by its length).
            let loaded = ChunkHashes::load(&db, list).unwrap().unwrap();
            assert_eq!(loaded.range(0, n).unwrap(), hashes);
            assert_eq!(loaded.digest().unwrap(), chunk_list_hash(&hashes));
        }
    }

    #[test]
    fn an_unfinished_list_is_deleted_and_a_short_one_refused() {
        let db = Db::open_in_memory().unwrap();
        let (id, hashes) = download(&db, 10);
        let list = StoredList::Download(id);
        let mut f = FetchedList::start(&db, id, 10, chunk_list_hash(&hashes)).unwrap();
        f.push(&hashes[..4]).unwrap();
        assert!(db.hash_list(list, 100).unwrap().is_some());
        assert!(matches!(f.finish(), Err(StoreError::Invalid(_))));
        drop(f);
        assert_eq!(db.hash_list(list, 100).unwrap(), None);
        // A list cut short by a crash is found wrong by its digest.
        db.start_download_list(id, 10).unwrap();
        db.fill_download_list(id, 0, &hashes[..4]).unwrap();
        let stored = ChunkHashes::load_paged(&db, list, 3).unwrap().unwrap();
        assert_ne!(stored.digest().unwrap(), chunk_list_hash(&hashes));
        // Writes outside the list are refused.
        assert!(matches!(db.fill_download_list(id, 8, &hashes[..3]), Err(StoreError::Invalid(_))));
        db.drop_download_list(id).unwrap();
        assert!(matches!(db.fill_download_list(id, 0, &hashes[..1]), Err(StoreError::NotFound(_))));
    }
}
