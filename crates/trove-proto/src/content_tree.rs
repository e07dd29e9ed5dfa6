//! The ContentId of a file assembled from its chunks in any order. A 256 KiB chunk at a
//! multiple of 256 KiB is a whole subtree of the file's BLAKE3 tree, so each chunk's
//! chaining value can be computed on its own (from memory, as it arrives), and a [`Folder`]
//! joins the values in file order into the root, keeping a few values whatever the file size:
//! a downloader never reads its file back to check the whole-file hash.
//! (The chunk hash of SCP2P-WIRE.md §6 is the chunk hashed alone, a different value.)

use crate::ids::ContentId;
use crate::limits::CHUNK_SIZE;
pub use blake3::hazmat::ChainingValue;
use blake3::hazmat::{HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};

/// The chaining value of chunk `index` (its bytes) inside a file of two or more chunks.
pub fn chunk_cv(index: u64, bytes: &[u8]) -> ChainingValue {
    let mut h = blake3::Hasher::new();
    h.set_input_offset(index * CHUNK_SIZE as u64);
    h.update(bytes);
    h.finalize_non_root()
}

/// Joins chunk chaining values given in file order into the file's BLAKE3 tree as they come,
/// keeping only the roots of the finished subtrees (one per set bit of the chunk count, as
/// BLAKE3's own incremental hasher does): a 100 GiB file of 409,600 chunks needs 17 values at
/// the end.
#[derive(Debug, Default, Clone)]
pub struct Folder {
    /// Subtree values, largest (leftmost) first.
    stack: Vec<ChainingValue>,
    chunks: u64,
}

impl Folder {
    /// Chunks pushed so far.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Values held: one per set bit of the count of chunks before the last, plus the last.
    pub fn held(&self) -> usize {
        self.stack.len()
    }

    /// Adds the value of chunk number [`Folder::chunks`]. Subtrees are merged only once a
    /// later chunk shows they are not the last (the last merge is the root, which differs).
    pub fn push(&mut self, cv: ChainingValue) {
        while self.stack.len() > self.chunks.count_ones() as usize {
            let right = self.stack.pop().expect("two values");
            let left = self.stack.pop().expect("two values");
            self.stack.push(merge_subtrees_non_root(&left, &right, Mode::Hash));
        }
        self.stack.push(cv);
        self.chunks += 1;
    }

    /// The ContentId of a file of `size` bytes once every chunk was pushed; `None` for a file
    /// of fewer than two chunks or another chunk count.
    pub fn root(&self, size: u64) -> Option<ContentId> {
        if self.chunks < 2 || crate::content::chunk_count(size) != self.chunks {
            return None;
        }
        // Lazy merging leaves at least two values for two or more chunks.
        let (last, lefts) = self.stack.split_last()?;
        let mut merged = *last;
        for (i, left) in lefts.iter().enumerate().rev() {
            merged = match i {
                0 => merge_subtrees_root(left, &merged, Mode::Hash).into(),
                _ => merge_subtrees_non_root(left, &merged, Mode::Hash),
            };
        }
        Some(ContentId(merged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The ContentId of a file of `size` bytes from the values of all its chunks in order.
    fn content_id_from_cvs(size: u64, cvs: &[ChainingValue]) -> Option<ContentId> {
        let mut f = Folder::default();
        cvs.iter().for_each(|cv| f.push(*cv));
        f.root(size)
    }

    fn check(size: usize) {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let cvs: Vec<_> = data.chunks(CHUNK_SIZE).enumerate().map(|(i, c)| chunk_cv(i as u64, c)).collect();
        assert_eq!(content_id_from_cvs(size as u64, &cvs), Some(ContentId(blake3::hash(&data).into())), "{size} bytes");
    }

    #[test]
    fn matches_blake3_of_the_whole_file_at_tree_edges() {
        let c = CHUNK_SIZE;
        for size in [c + 1, 2 * c, 2 * c + 1, 3 * c, 4 * c, 4 * c + 7, 5 * c - 1, 8 * c, 9 * c + 1024, 17 * c] {
            check(size);
        }
    }

    #[test]
    fn refuses_one_chunk_files_and_wrong_counts() {
        let cv = chunk_cv(0, b"x");
        assert_eq!(content_id_from_cvs(1, &[cv]), None);
        assert_eq!(content_id_from_cvs(3 * CHUNK_SIZE as u64, &[cv, cv]), None);
    }

    #[test]
    fn the_folder_holds_one_value_per_set_bit_of_the_chunk_count() {
        let mut f = Folder::default();
        for i in 0..5000u64 {
            f.push(chunk_cv(i, &[i as u8; 16]));
            // The finished subtrees of the chunks before the last one, and the last one (kept
            // apart until a later chunk shows it is not the root's right side).
            assert_eq!(f.held(), (f.chunks() - 1).count_ones() as usize + 1, "after {} chunks", f.chunks());
        }
        // 100 GiB: 409,600 chunks.
        let mut f = Folder::default();
        (0..409_600u64).for_each(|i| f.push([i as u8; 32]));
        assert_eq!(f.held(), 17);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
        #[test]
        fn matches_blake3_for_any_size(size in (CHUNK_SIZE + 1)..(12 * CHUNK_SIZE)) {
            check(size);
        }
    }
}
