//! Hashing a file for publishing: its [`FileDigest`] (ContentId, 256 KiB chunk hashes,
//! chunk_list_hash) plus its modification time, failing with [`StoreError::Changed`] if the
//! file changed while it was being read.
//!
//! Files of [`PARALLEL_MIN`] bytes or more are hashed on two threads fed the same blocks: the calling
//! thread computes the chunk hashes, a scoped helper the whole-file hash, and each thread
//! reads every other block with positioned reads, so reading overlaps hashing and both cores
//! do the same amount of work. Smaller files are hashed on the calling thread alone.

use crate::error::{Result, StoreError};
use crate::files::stamp::FileStamp;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use trove_proto::ContentId;
use trove_proto::content::{ContentHasher, FileDigest, Hash, chunk_list_hash};
use trove_proto::limits::CHUNK_SIZE;

/// Bytes read per block (a multiple of the chunk size).
pub const BLOCK_SIZE: usize = 4 * CHUNK_SIZE;

/// Blocks each of the two threads may hold at once.
const BLOCKS_PER_THREAD: usize = 2;

/// Files at least this long are hashed on two threads.
pub const PARALLEL_MIN: u64 = 4 * CHUNK_SIZE as u64;

/// A file's digest and the modification time it had while it was hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedFile {
    /// ContentId, size, chunk hashes and chunk_list_hash.
    pub digest: FileDigest,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// Hashes the file at `path`, reporting the bytes hashed so far to `progress` (called on the
/// calling thread). Fails with [`StoreError::Changed`] if its size, modification time or
/// identity changed while it was read, and with [`StoreError::Invalid`] if it is not a
/// regular file.
pub fn hash_file(path: &Path, progress: impl FnMut(u64)) -> Result<HashedFile> {
    hash_file_with(path, PARALLEL_MIN, &mut Vec::new(), progress)
}

/// [`hash_file`] with the size from which two threads are used and a reusable buffer for
/// the single-threaded path (batch hashing keeps one per worker).
pub(crate) fn hash_file_with(
    path: &Path,
    parallel_min: u64,
    buf: &mut Vec<u8>,
    progress: impl FnMut(u64),
) -> Result<HashedFile> {
    let file = open_regular(path)?;
    let before = FileStamp::of_file(&file, path)?;
    let digest = if before.size >= parallel_min.max(1) {
        hash_open_parallel(&file, before.size, progress)
    } else {
        hash_open_serial(&file, before.size, buf, progress)
    }
    .map_err(|e| read_error(path, e))?;
    let after = FileStamp::of_file(&file, path)?;
    if let Some(what) = before.difference(&after) {
        return Err(StoreError::Changed(format!("{} changed while being hashed: {what}", path.display())));
    }
    match FileStamp::of_path(path)? {
        None => return Err(StoreError::Changed(format!("{} was deleted while being hashed", path.display()))),
        Some(now) => {
            if let Some(what) = before.difference(&now) {
                return Err(StoreError::Changed(format!("{} changed while being hashed: {what}", path.display())));
            }
        }
    }
    Ok(HashedFile { digest, mtime_ns: before.mtime_ns })
}

/// Opens `path` for reading without blocking on FIFOs and checks it is a regular file.
pub(crate) fn open_regular(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(StoreError::io(format!("opening {}", path.display())))?;
    let meta = file.metadata().map_err(StoreError::io(format!("reading metadata of {}", path.display())))?;
    if !meta.is_file() {
        return Err(StoreError::Invalid(format!("{} is not a regular file", path.display())));
    }
    Ok(file)
}

fn read_error(path: &Path, e: io::Error) -> StoreError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        StoreError::Changed(format!("{} became shorter while being hashed", path.display()))
    } else {
        StoreError::io(format!("reading {}", path.display()))(e)
    }
}

/// The digest of bytes in memory; for at most one chunk the ContentId is the only chunk
/// hash, so one pass suffices.
fn digest_of(data: &[u8]) -> FileDigest {
    if data.len() > CHUNK_SIZE {
        let mut hasher = ContentHasher::new();
        hasher.update(data);
        return hasher.finish();
    }
    let h: Hash = blake3::hash(data).into();
    let chunk_hashes = if data.is_empty() { Vec::new() } else { vec![h] };
    FileDigest {
        content_id: ContentId(h),
        size: data.len() as u64,
        chunk_list_hash: chunk_list_hash(&chunk_hashes),
        chunk_hashes,
    }
}

/// Hashes the first `size` bytes of `file` on the calling thread, reading into `buf`.
/// A file shorter than `size` gives `UnexpectedEof`.
pub(crate) fn hash_open_serial(
    file: &File,
    size: u64,
    buf: &mut Vec<u8>,
    mut progress: impl FnMut(u64),
) -> io::Result<FileDigest> {
    let piece = (size.min(BLOCK_SIZE as u64) as usize).max(1);
    if buf.len() < piece {
        buf.resize(piece, 0);
    }
    if size <= CHUNK_SIZE as u64 {
        let data = &mut buf[..size as usize];
        file.read_exact_at(data, 0)?;
        progress(size);
        return Ok(digest_of(data));
    }
    let mut hasher = ContentHasher::new();
    let mut done = 0u64;
    while done < size {
        let n = (size - done).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], done)?;
        hasher.update(&buf[..n]);
        done += n as u64;
        progress(done);
    }
    Ok(hasher.finish())
}

/// Why a pipeline thread stopped early: its own I/O error, or the other thread stopped.
enum Stop {
    Io(io::Error),
    Peer,
}

/// What the threads pass each other: a block they read, or word that they stopped.
enum Msg {
    Block(Arc<Vec<u8>>),
    Stop,
}

/// One of the two pipeline threads: which blocks it reads and what it does with each block.
struct Side<'a> {
    file: &'a File,
    size: u64,
    /// This side reads the blocks whose index has this parity.
    parity: u64,
    /// Blocks read by this side, to the other side.
    to_peer: Sender<Msg>,
    /// Blocks read by the other side.
    from_peer: Receiver<Msg>,
    /// Buffers of this side freed by the other side.
    freed: Receiver<Vec<u8>>,
    /// Where to send buffers of the other side that this side frees.
    free_peer: Sender<Vec<u8>>,
    pool: Vec<Vec<u8>>,
}

impl Side<'_> {
    /// Runs through all blocks in order, calling `work(block_index, bytes)` on each.
    fn run(mut self, mut work: impl FnMut(u64, &[u8])) -> Result<(), Stop> {
        let blocks = self.size.div_ceil(BLOCK_SIZE as u64);
        for k in 0..blocks {
            let block = if k % 2 == self.parity {
                match self.read_block(k) {
                    Ok(block) => {
                        let _ = self.to_peer.send(Msg::Block(block.clone()));
                        block
                    }
                    Err(e) => {
                        let _ = self.to_peer.send(Msg::Stop);
                        return Err(e);
                    }
                }
            } else {
                match self.from_peer.recv() {
                    Ok(Msg::Block(block)) => block,
                    Ok(Msg::Stop) | Err(_) => return Err(Stop::Peer),
                }
            };
            work(k, &block);
            if let Some(buf) = Arc::into_inner(block) {
                if k % 2 == self.parity {
                    self.pool.push(buf);
                } else {
                    let _ = self.free_peer.send(buf);
                }
            }
        }
        Ok(())
    }

    fn read_block(&mut self, k: u64) -> Result<Arc<Vec<u8>>, Stop> {
        let mut buf = match self.pool.pop() {
            Some(buf) => buf,
            None => self.freed.recv().map_err(|_| Stop::Peer)?,
        };
        let offset = k * BLOCK_SIZE as u64;
        let len = (self.size - offset).min(BLOCK_SIZE as u64) as usize;
        buf.truncate(len);
        self.file.read_exact_at(&mut buf, offset).map_err(Stop::Io)?;
        Ok(Arc::new(buf))
    }
}

/// Hashes the first `size` bytes of `file` on two threads (see the module doc).
pub(crate) fn hash_open_parallel(file: &File, size: u64, mut progress: impl FnMut(u64)) -> io::Result<FileDigest> {
    let (a_to_b, b_from_a) = channel();
    let (b_to_a, a_from_b) = channel();
    let (free_to_a, a_freed) = channel();
    let (free_to_b, b_freed) = channel();
    let per_side = (size.div_ceil(BLOCK_SIZE as u64).div_ceil(2) as usize).min(BLOCKS_PER_THREAD);
    let buffers = |n: usize| (0..n).map(|_| vec![0u8; BLOCK_SIZE]).collect::<Vec<_>>();
    let chunk_side = Side {
        file,
        size,
        parity: 0,
        to_peer: a_to_b,
        from_peer: a_from_b,
        freed: a_freed,
        free_peer: free_to_b,
        pool: buffers(per_side),
    };
    let whole_side = Side {
        file,
        size,
        parity: 1,
        to_peer: b_to_a,
        from_peer: b_from_a,
        freed: b_freed,
        free_peer: free_to_a,
        pool: buffers(per_side),
    };
    let chunk_count = trove_proto::content::chunk_count(size) as usize;
    let mut chunk_hashes: Vec<Hash> = Vec::with_capacity(chunk_count);
    let (chunk_result, whole_result) = std::thread::scope(|s| {
        let whole = s.spawn(move || {
            let mut hasher = blake3::Hasher::new();
            whole_side.run(|_, bytes| {
                hasher.update(bytes);
            })?;
            Ok::<Hash, Stop>(hasher.finalize().into())
        });
        let chunk_result = chunk_side.run(|k, bytes| {
            chunk_hashes.extend(bytes.chunks(CHUNK_SIZE).map(|c| -> Hash { blake3::hash(c).into() }));
            progress((k * BLOCK_SIZE as u64 + bytes.len() as u64).min(size));
        });
        let whole_result = whole.join().unwrap_or_else(|_| Err(Stop::Io(io::Error::other("hashing thread panicked"))));
        (chunk_result, whole_result)
    });
    match (chunk_result, whole_result) {
        (Ok(()), Ok(whole)) => Ok(FileDigest {
            content_id: ContentId(whole),
            size,
            chunk_list_hash: chunk_list_hash(&chunk_hashes),
            chunk_hashes,
        }),
        (Err(Stop::Io(e)), _) | (_, Err(Stop::Io(e))) => Err(e),
        _ => Err(io::Error::other("hashing stopped without an error")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::content::hash_reader;

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8).collect()
    }

    #[test]
    fn serial_and_parallel_match_hash_reader() {
        let dir = tempfile::tempdir().unwrap();
        let c = CHUNK_SIZE;
        for len in [
            0,
            1,
            c - 1,
            c,
            c + 1,
            4 * c,
            BLOCK_SIZE - 1,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            2 * BLOCK_SIZE,
            5 * BLOCK_SIZE + 7,
        ] {
            let bytes = data(len, len as u8);
            let p = dir.path().join(format!("f{len}"));
            std::fs::write(&p, &bytes).unwrap();
            let want = hash_reader(&bytes[..]).unwrap();
            let f = File::open(&p).unwrap();
            let serial = hash_open_serial(&f, len as u64, &mut Vec::new(), |_| {}).unwrap();
            assert_eq!(serial, want, "serial, {len} bytes");
            if len > 0 {
                let mut last = 0;
                let par = hash_open_parallel(&f, len as u64, |d| {
                    assert!(d > last);
                    last = d;
                })
                .unwrap();
                assert_eq!(par, want, "parallel, {len} bytes");
                assert_eq!(last, len as u64);
            }
            let hashed = hash_file(&p, |_| {}).unwrap();
            assert_eq!(hashed.digest, want, "hash_file, {len} bytes");
        }
    }

    #[test]
    fn short_file_is_unexpected_eof() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, data(3 * BLOCK_SIZE, 1)).unwrap();
        let f = File::open(&p).unwrap();
        for size in [3 * BLOCK_SIZE as u64 + 1, 4 * BLOCK_SIZE as u64 + 5] {
            let e = hash_open_parallel(&f, size, |_| {}).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            let e = hash_open_serial(&f, size, &mut Vec::new(), |_| {}).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        }
    }

    #[test]
    fn special_files_and_missing_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = hash_file(dir.path(), |_| {}).unwrap_err();
        assert!(matches!(e, StoreError::Invalid(ref m) if m.contains("not a regular file")), "{e}");
        let missing = dir.path().join("missing");
        let e = hash_file(&missing, |_| {}).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
