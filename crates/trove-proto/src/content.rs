//! Content addressing: 256 KiB chunks, chunk hashes, chunk_list_hash and ContentId
//! (SCP2P-WIRE.md §6). Hashing streams, so a file of any size hashes in constant memory
//! apart from its list of chunk hashes.

use crate::ids::ContentId;
use crate::limits::CHUNK_SIZE;
use std::io::{self, Read};

/// A BLAKE3-256 digest.
pub type Hash = [u8; 32];

/// Number of chunks of a file of `size` bytes (0 for an empty file).
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_SIZE as u64)
}

/// Length of chunk `index` of a file of `size` bytes, or `None` past the end.
pub fn chunk_len(size: u64, index: u64) -> Option<usize> {
    let start = index.checked_mul(CHUNK_SIZE as u64)?;
    if start >= size {
        return None;
    }
    Some((size - start).min(CHUNK_SIZE as u64) as usize)
}

/// BLAKE3 of one chunk.
pub fn chunk_hash(chunk: &[u8]) -> Hash {
    blake3::hash(chunk).into()
}

/// BLAKE3 of the concatenated chunk hashes.
pub fn chunk_list_hash(hashes: &[Hash]) -> Hash {
    let mut h = ChunkListHasher::default();
    h.update(hashes);
    h.finalize()
}

/// [`chunk_list_hash`] of a list that arrives in pieces.
#[derive(Clone, Default)]
pub struct ChunkListHasher(blake3::Hasher);

impl ChunkListHasher {
    /// Adds the next hashes of the list.
    pub fn update(&mut self, hashes: &[Hash]) {
        self.0.update(hashes.as_flattened());
    }

    /// The hash of the list so far.
    pub fn finalize(&self) -> Hash {
        self.0.finalize().into()
    }
}

/// ContentId of a whole byte string.
pub fn content_id(bytes: &[u8]) -> ContentId {
    ContentId(blake3::hash(bytes).into())
}

/// Everything a manifest item and a seeder need to know about a file's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    pub content_id: ContentId,
    pub size: u64,
    pub chunk_hashes: Vec<Hash>,
    pub chunk_list_hash: Hash,
}

/// Incremental hasher producing a [`FileDigest`] from bytes fed in any slicing.
#[derive(Default)]
pub struct ContentHasher {
    whole: blake3::Hasher,
    chunk: blake3::Hasher,
    in_chunk: usize,
    size: u64,
    hashes: Vec<Hash>,
}

impl ContentHasher {
    /// A hasher for a new file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        self.whole.update(data);
        self.size += data.len() as u64;
        while !data.is_empty() {
            let take = (CHUNK_SIZE - self.in_chunk).min(data.len());
            if self.in_chunk == 0 && take == CHUNK_SIZE {
                // A whole chunk at once: hash it directly (lets BLAKE3 use SIMD over it).
                self.hashes.push(blake3::hash(&data[..take]).into());
            } else {
                self.chunk.update(&data[..take]);
                self.in_chunk += take;
                if self.in_chunk == CHUNK_SIZE {
                    self.hashes.push(self.chunk.finalize().into());
                    self.chunk.reset();
                    self.in_chunk = 0;
                }
            }
            data = &data[take..];
        }
    }

    /// Finishes the file.
    pub fn finish(mut self) -> FileDigest {
        if self.in_chunk > 0 {
            self.hashes.push(self.chunk.finalize().into());
        }
        FileDigest {
            content_id: ContentId(self.whole.finalize().into()),
            size: self.size,
            chunk_list_hash: chunk_list_hash(&self.hashes),
            chunk_hashes: self.hashes,
        }
    }
}

/// Hashes everything a reader yields, in 1 MiB reads.
pub fn hash_reader(mut r: impl Read) -> io::Result<FileDigest> {
    let mut h = ContentHasher::new();
    let mut buf = vec![0u8; 4 * CHUNK_SIZE];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

/// Checks a downloaded chunk hash list against the manifest item (count and list hash).
pub fn verify_chunk_list(hashes: &[Hash], chunk_count: u64, list_hash: &Hash) -> bool {
    hashes.len() as u64 == chunk_count && chunk_list_hash(hashes) == *list_hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chunk_geometry() {
        assert_eq!(chunk_count(0), 0);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_SIZE as u64), 1);
        assert_eq!(chunk_count(CHUNK_SIZE as u64 + 1), 2);
        assert_eq!(chunk_len(CHUNK_SIZE as u64 + 16, 1), Some(16));
        assert_eq!(chunk_len(CHUNK_SIZE as u64 + 16, 2), None);
        assert_eq!(chunk_len(10, u64::MAX), None);
    }

    proptest! {
        #[test]
        fn slicing_does_not_change_the_digest(len in 0usize..700_000, cuts in proptest::collection::vec(1usize..300_000, 0..6)) {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let whole = hash_reader(&data[..]).unwrap();
            let mut h = ContentHasher::new();
            let mut rest = &data[..];
            for c in cuts {
                let c = c.min(rest.len());
                h.update(&rest[..c]);
                rest = &rest[c..];
            }
            h.update(rest);
            let sliced = h.finish();
            prop_assert_eq!(&whole, &sliced);
            prop_assert_eq!(whole.content_id, content_id(&data));
            prop_assert_eq!(whole.chunk_hashes.len() as u64, chunk_count(len as u64));
        }
    }
}
