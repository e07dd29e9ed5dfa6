//! The ContentId of a file assembled from its chunks in any order. A 256 KiB chunk at a
//! multiple of 256 KiB is a whole subtree of the file's BLAKE3 tree, so each chunk's
//! chaining value can be computed on its own (from memory, as it arrives) and the root joined
//! from them at the end: a downloader never reads its file back to check the whole-file hash.
//! (The chunk hash of SCP2P-WIRE.md §6 is the chunk hashed alone, a different value.)

use crate::ids::ContentId;
use crate::limits::CHUNK_SIZE;
pub use blake3::hazmat::ChainingValue;
use blake3::hazmat::{HasherExt, Mode, left_subtree_len, merge_subtrees_non_root, merge_subtrees_root};

/// The chaining value of chunk `index` (its bytes) inside a file of two or more chunks.
pub fn chunk_cv(index: u64, bytes: &[u8]) -> ChainingValue {
    let mut h = blake3::Hasher::new();
    h.set_input_offset(index * CHUNK_SIZE as u64);
    h.update(bytes);
    h.finalize_non_root()
}

/// The ContentId of a file of `size` bytes from the chaining values of all its chunks in
/// order. `None` unless the file has two or more chunks and `cvs` has one per chunk (a file
/// of one chunk is its chunk hash).
pub fn content_id_from_cvs(size: u64, cvs: &[ChainingValue]) -> Option<ContentId> {
    if cvs.len() < 2 || crate::content::chunk_count(size) != cvs.len() as u64 {
        return None;
    }
    let (left, right) = split(size, cvs);
    Some(ContentId(merge_subtrees_root(&subtree(left.0, left.1), &subtree(right.0, right.1), Mode::Hash).into()))
}

type Part<'a> = (u64, &'a [ChainingValue]);

/// Splits a subtree of `len` bytes (more than one chunk) where BLAKE3 does: the left side is
/// the largest power of two below `len`, always a multiple of the chunk size here.
fn split(len: u64, cvs: &[ChainingValue]) -> (Part<'_>, Part<'_>) {
    let left = left_subtree_len(len);
    let n = (left / CHUNK_SIZE as u64) as usize;
    ((left, &cvs[..n]), (len - left, &cvs[n..]))
}

fn subtree(len: u64, cvs: &[ChainingValue]) -> ChainingValue {
    if cvs.len() == 1 {
        return cvs[0];
    }
    let (left, right) = split(len, cvs);
    merge_subtrees_non_root(&subtree(left.0, left.1), &subtree(right.0, right.1), Mode::Hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
        #[test]
        fn matches_blake3_for_any_size(size in (CHUNK_SIZE + 1)..(12 * CHUNK_SIZE)) {
            check(size);
        }
    }
}
