//! Serving chunks of a published or downloaded file in place. Before each chunk goes out the
//! file's stamp (size, modification time, identity) is compared with the recorded one, and
//! the chunk's BLAKE3 with the recorded chunk hash, so an edited, replaced or deleted file
//! gives [`StoreError::Changed`] (the caller withdraws it) and never a wrong chunk.
//! Reads are positioned (`pread`), so many chunks can be read at once from one open file.

use crate::error::{Result, StoreError};
use crate::files::ChunkHashes;
use crate::files::hash::open_regular;
use crate::files::stamp::FileStamp;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use trove_proto::content::{chunk_count, chunk_hash, chunk_len};

/// An open file whose chunks are served, with what it looked like when it was hashed.
#[derive(Debug)]
pub struct ChunkSource {
    path: PathBuf,
    file: File,
    stamp: FileStamp,
    chunk_hashes: ChunkHashes,
}

impl ChunkSource {
    /// Opens `path`, recorded as `size` bytes with modification time `mtime_ns` and these
    /// chunk hashes. Fails with [`StoreError::Changed`] if the file no longer matches the
    /// record, and with [`StoreError::Invalid`] if the hash count does not fit the size.
    pub fn open(path: &Path, size: u64, mtime_ns: i64, chunk_hashes: impl Into<ChunkHashes>) -> Result<ChunkSource> {
        let chunk_hashes = chunk_hashes.into();
        if chunk_hashes.len() != chunk_count(size) {
            return Err(StoreError::Invalid(format!(
                "{}: {} chunk hashes recorded for {size} bytes ({} expected)",
                path.display(),
                chunk_hashes.len(),
                chunk_count(size)
            )));
        }
        let file = match open_regular(path) {
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::Changed(format!("{} was deleted or moved", path.display())));
            }
            other => other?,
        };
        let stamp = FileStamp::of_file(&file, path)?;
        if stamp.size != size || stamp.mtime_ns != mtime_ns {
            let recorded = FileStamp { size, mtime_ns, ..stamp };
            let what = recorded.difference(&stamp).unwrap_or_default();
            return Err(StoreError::Changed(format!("{} changed since it was hashed: {what}", path.display())));
        }
        Ok(ChunkSource { path: path.to_path_buf(), file, stamp, chunk_hashes })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded length in bytes.
    pub fn size(&self) -> u64 {
        self.stamp.size
    }

    /// The recorded modification time in nanoseconds.
    pub fn mtime_ns(&self) -> i64 {
        self.stamp.mtime_ns
    }

    /// The recorded chunk hashes.
    pub fn chunk_hashes(&self) -> &ChunkHashes {
        &self.chunk_hashes
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> u64 {
        self.chunk_hashes.len()
    }

    /// Fails with [`StoreError::Changed`] if the file at the path is no longer the one
    /// recorded (different size, modification time or inode, or gone).
    pub fn check_unchanged(&self) -> Result<()> {
        match FileStamp::of_path(&self.path)? {
            None => Err(StoreError::Changed(format!("{} was deleted or moved", self.path.display()))),
            Some(now) => match self.stamp.difference(&now) {
                None => Ok(()),
                Some(what) => {
                    Err(StoreError::Changed(format!("{} changed since it was hashed: {what}", self.path.display())))
                }
            },
        }
    }

    /// Reads chunk `index` after checking the file's stamp, and verifies it against its
    /// recorded hash before returning it.
    pub fn read_chunk(&self, index: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_chunk_into(index, &mut buf)?;
        Ok(buf)
    }

    /// [`ChunkSource::read_chunk`] appending to `out` (so a caller can read straight into a
    /// message buffer after its header). On error `out` is left as it was.
    pub fn read_chunk_into(&self, index: u64, out: &mut Vec<u8>) -> Result<()> {
        let len = chunk_len(self.stamp.size, index).ok_or_else(|| {
            StoreError::Invalid(format!(
                "{}: chunk {index} is out of range ({} chunks)",
                self.path.display(),
                self.chunk_count()
            ))
        })?;
        self.check_unchanged()?;
        let start = out.len();
        out.resize(start + len, 0);
        let offset = index * trove_proto::limits::CHUNK_SIZE as u64;
        let read = self.file.read_exact_at(&mut out[start..], offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                StoreError::Changed(format!("{} became shorter than recorded", self.path.display()))
            } else {
                StoreError::io(format!("reading chunk {index} of {}", self.path.display()))(e)
            }
        });
        let verified = read.and_then(|()| {
            if chunk_hash(&out[start..]) != self.chunk_hashes.get(index)? {
                return Err(StoreError::Changed(format!(
                    "{}: chunk {index} no longer matches its hash (content edited)",
                    self.path.display()
                )));
            }
            Ok(())
        });
        if verified.is_err() {
            out.truncate(start);
        }
        verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::hash::hash_file;
    use std::fs::OpenOptions;
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, SystemTime};
    use trove_proto::limits::CHUNK_SIZE;

    fn published(dir: &Path, len: usize) -> (PathBuf, ChunkSource, Vec<u8>) {
        let p = dir.join("f.bin");
        let bytes: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        let h = hash_file(&p, |_| {}).unwrap();
        let src = ChunkSource::open(&p, h.digest.size, h.mtime_ns, h.digest.chunk_hashes).unwrap();
        (p, src, bytes)
    }

    /// Chunks are checked against a list read from the content row a page at a time (pages
    /// of 2 here) as against a held one.
    #[test]
    fn a_paged_list_checks_chunks_like_a_held_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.bin");
        let bytes: Vec<u8> = (0..5 * CHUNK_SIZE + 3).map(|i| (i % 253) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        let h = hash_file(&p, |_| {}).unwrap();
        let db = crate::db::Db::open_in_memory().unwrap();
        let (id, size, mtime_ns, hashes) =
            (h.digest.content_id, h.digest.size, h.mtime_ns, h.digest.chunk_hashes.clone());
        db.add_content_batch(&[crate::db::ContentSource::hashed(p.clone(), h, crate::db::Origin::Published)]).unwrap();
        let list = crate::db::StoredList::Content(id);
        let paged = ChunkHashes::load_paged(&db, list, 2).unwrap().unwrap();
        let src = ChunkSource::open(&p, size, mtime_ns, paged).unwrap();
        assert_eq!(src.chunk_hashes().range(0, 10).unwrap(), hashes);
        for i in (0..6).rev() {
            let want = &bytes[i * CHUNK_SIZE..((i + 1) * CHUNK_SIZE).min(bytes.len())];
            assert_eq!(src.read_chunk(i as u64).unwrap(), want);
        }
        assert!(src.read_chunk(6).is_err());
    }

    fn set_mtime(p: &Path, t: SystemTime) {
        OpenOptions::new().write(true).open(p).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn serves_every_chunk_concurrently() {
        let dir = tempfile::tempdir().unwrap();
        let (_, src, bytes) = published(dir.path(), 3 * CHUNK_SIZE + 5);
        std::thread::scope(|s| {
            for i in 0..4u64 {
                let (src, bytes) = (&src, &bytes);
                s.spawn(move || {
                    let start = i as usize * CHUNK_SIZE;
                    let end = (start + CHUNK_SIZE).min(bytes.len());
                    assert_eq!(src.read_chunk(i).unwrap(), &bytes[start..end]);
                });
            }
        });
        assert!(matches!(src.read_chunk(4), Err(StoreError::Invalid(_))));
        assert!(matches!(src.read_chunk(u64::MAX), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn edit_with_restored_mtime_is_caught_by_the_chunk_hash() {
        let dir = tempfile::tempdir().unwrap();
        let (p, src, _) = published(dir.path(), 2 * CHUNK_SIZE);
        let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.write_all_at(b"EDITED", CHUNK_SIZE as u64 + 10).unwrap();
        f.set_modified(mtime).unwrap();
        drop(f);
        assert!(src.check_unchanged().is_ok(), "size, mtime and inode are as recorded");
        assert!(src.read_chunk(0).is_ok());
        let e = src.read_chunk(1).unwrap_err();
        assert!(matches!(e, StoreError::Changed(ref m) if m.contains("chunk 1") && m.contains("f.bin")), "{e}");
    }

    /// Through a shared writable mapping, bytes change without moving the modification or
    /// status-change time (once a page is writable, later stores do not fault): only the
    /// chunk hash tells, so it is checked for every chunk served.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_edit_through_a_writable_mapping_is_caught_by_the_chunk_hash() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mapped.bin");
        std::fs::write(&p, vec![1u8; 8192]).unwrap();
        let f = OpenOptions::new().read(true).write(true).open(&p).unwrap();
        // SAFETY: a fresh shared mapping of an open 8 KiB file, unmapped below, touched only
        // within its length.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        let bytes = map as *mut u8;
        // SAFETY: inside the mapping.
        unsafe { bytes.write_volatile(2) };
        let h = hash_file(&p, |_| {}).unwrap();
        let src = ChunkSource::open(&p, h.digest.size, h.mtime_ns, h.digest.chunk_hashes).unwrap();
        let before = std::fs::metadata(&p).unwrap();
        // SAFETY: inside the mapping; the page is already writable, so no fault, no new times.
        unsafe { bytes.add(100).write_volatile(3) };
        let after = std::fs::metadata(&p).unwrap();
        assert_eq!((before.mtime_nsec(), before.ctime_nsec()), (after.mtime_nsec(), after.ctime_nsec()));
        assert!(src.check_unchanged().is_ok(), "the stamp cannot see this edit");
        assert!(matches!(src.read_chunk(0), Err(StoreError::Changed(ref m)) if m.contains("no longer matches")));
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(map, 8192) };
    }

    #[test]
    fn touch_truncate_delete_and_replace_are_caught_by_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let (p, src, bytes) = published(dir.path(), CHUNK_SIZE + 1);
        set_mtime(&p, SystemTime::now() + Duration::from_secs(5));
        assert!(matches!(src.read_chunk(0), Err(StoreError::Changed(ref m)) if m.contains("modification time")));

        let (p, src, _) = published(dir.path(), CHUNK_SIZE + 1);
        let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(CHUNK_SIZE as u64).unwrap();
        f.set_modified(mtime).unwrap();
        assert!(matches!(src.read_chunk(0), Err(StoreError::Changed(ref m)) if m.contains("size changed")));

        let (p, src, _) = published(dir.path(), 10);
        let tmp = dir.path().join("new");
        std::fs::write(&tmp, &bytes[..10]).unwrap();
        set_mtime(&tmp, std::fs::metadata(&p).unwrap().modified().unwrap());
        std::fs::rename(&tmp, &p).unwrap();
        assert!(matches!(src.read_chunk(0), Err(StoreError::Changed(ref m)) if m.contains("replaced")));

        std::fs::remove_file(&p).unwrap();
        assert!(matches!(src.read_chunk(0), Err(StoreError::Changed(ref m)) if m.contains("deleted")));
    }

    #[test]
    fn open_checks_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let (p, src, _) = published(dir.path(), 100);
        let hashes = src.chunk_hashes().range(0, usize::MAX).unwrap();
        assert!(matches!(ChunkSource::open(&p, 101, src.mtime_ns(), hashes.clone()), Err(StoreError::Changed(_))));
        assert!(matches!(ChunkSource::open(&p, 100, src.mtime_ns() + 1, hashes.clone()), Err(StoreError::Changed(_))));
        assert!(matches!(ChunkSource::open(&p, 100, src.mtime_ns(), vec![]), Err(StoreError::Invalid(_))));
        let gone = dir.path().join("gone");
        assert!(matches!(ChunkSource::open(&gone, 100, 0, hashes), Err(StoreError::Changed(_))));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        let h = hash_file(&empty, |_| {}).unwrap();
        let src = ChunkSource::open(&empty, 0, h.mtime_ns, vec![]).unwrap();
        assert_eq!(src.chunk_count(), 0);
        assert!(matches!(src.read_chunk(0), Err(StoreError::Invalid(_))));
    }
}
