//! A download in progress: `<target>.part`, sized up front, written chunk by chunk with
//! positioned writes after each chunk is verified against its hash, with a [`Bitmap`] of
//! verified chunks. After a crash [`PartFile::recover`] rebuilds the bitmap by re-hashing
//! what is on disk (nothing is trusted unverified, nothing verified is fetched again), and
//! [`PartFile::finish`] checks the whole-file hash and only then renames it into place, never
//! over an existing file unless asked to. The whole-file hash is joined from each chunk's
//! BLAKE3 chaining value, computed from memory as the chunk arrives in whatever order and
//! joined into the tree as soon as the chunks before it are there, so a few values are held
//! whatever the file size ([`trove_proto::content_tree`]; only chunks verified by an earlier
//! run are read back, a few per chunk written), and
//! written chunks are handed to the kernel's writeback at once, so finishing a large file
//! costs little beyond the download itself. A free-space reserve is kept; running out of space is
//! [`StoreError::DiskFull`] and leaves the part file resumable.

use crate::error::{Result, StoreError};
use crate::files::ChunkHashes;
use crate::files::bitmap::Bitmap;
use crate::files::hash::{PARALLEL_MIN, hash_open_parallel, hash_open_serial};
use crate::files::stamp::mtime_ns;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use trove_proto::ContentId;
use trove_proto::content::{Hash, chunk_count, chunk_hash, chunk_len};
use trove_proto::content_tree::{ChainingValue, Folder, chunk_cv};
use trove_proto::limits::CHUNK_SIZE;

/// Suffix of files being downloaded.
pub const PART_SUFFIX: &str = ".part";

/// Default free space a download leaves on its file system.
pub const DEFAULT_RESERVE_BYTES: u64 = 500 << 20;

/// The free space downloads must leave on their file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpaceReserve {
    /// Bytes that must stay free.
    pub reserve_bytes: u64,
    /// Use this figure as the free space instead of asking the file system (for tests).
    pub assume_free_bytes: Option<u64>,
}

impl Default for SpaceReserve {
    fn default() -> Self {
        SpaceReserve { reserve_bytes: DEFAULT_RESERVE_BYTES, assume_free_bytes: None }
    }
}

impl SpaceReserve {
    /// A reserve of `reserve_bytes`, free space asked from the file system.
    pub fn new(reserve_bytes: u64) -> SpaceReserve {
        SpaceReserve { reserve_bytes, assume_free_bytes: None }
    }

    /// Bytes available to this user on the file system holding `dir` (`statvfs`).
    pub fn free_bytes(&self, dir: &Path) -> Result<u64> {
        match self.assume_free_bytes {
            Some(n) => Ok(n),
            None => fs4::statvfs(dir)
                .map(|s| s.available_space())
                .map_err(StoreError::io(format!("reading free space of {}", dir.display()))),
        }
    }

    /// Fails with [`StoreError::DiskFull`] if writing `needed` more bytes into `dir` would
    /// leave less than the reserve free. `what` names the file for the message.
    pub fn check(&self, dir: &Path, needed: u64, what: &Path) -> Result<()> {
        let free = self.free_bytes(dir)?;
        if free < needed.saturating_add(self.reserve_bytes) {
            return Err(StoreError::DiskFull(format!(
                "{}: {needed} more bytes needed, {free} free, {} must stay free",
                what.display(),
                self.reserve_bytes
            )));
        }
        Ok(())
    }
}

/// A completed download, renamed into place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedFile {
    /// The final path.
    pub path: PathBuf,
    /// Length in bytes.
    pub size: u64,
    /// Modification time in nanoseconds (for serving it with a [`crate::files::ChunkSource`]).
    pub mtime_ns: i64,
}

struct State {
    verified: Bitmap,
    finished: bool,
}

/// The chaining values of a file of two or more chunks: those of a prefix of the file joined
/// into a [`Folder`] (a handful of values whatever the size), the others kept until the
/// prefix reaches them. Chunks verified by an earlier run have no value until read back.
#[derive(Default)]
struct Cvs {
    folded: Folder,
    ahead: BTreeMap<u64, ChainingValue>,
    /// A thread is reading back a chunk of an earlier run to move the prefix on.
    catching_up: bool,
}

impl Cvs {
    /// Records chunk `index`'s value and joins whatever became contiguous with the prefix.
    fn insert(&mut self, index: u64, cv: ChainingValue) {
        if index < self.folded.chunks() {
            return;
        }
        self.ahead.insert(index, cv);
        while let Some(cv) = self.ahead.remove(&self.folded.chunks()) {
            self.folded.push(cv);
        }
    }
}

/// Chunks of an earlier run read back per chunk written, to move the joined prefix past
/// them while the download runs (what is left is read back when finishing).
const CATCH_UP_PER_WRITE: usize = 4;

/// A `.part` file being downloaded. Methods take `&self` so chunks can be written from many
/// threads at once.
pub struct PartFile {
    target: PathBuf,
    part_path: PathBuf,
    dir: PathBuf,
    file: File,
    size: u64,
    chunk_hashes: ChunkHashes,
    reserve: SpaceReserve,
    resumed: bool,
    state: Mutex<State>,
    cvs: Mutex<Cvs>,
}

impl std::fmt::Debug for PartFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartFile").field("part_path", &self.part_path).field("size", &self.size).finish_non_exhaustive()
    }
}

/// `<target>.part`.
pub fn part_path(target: &Path) -> Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| StoreError::Invalid(format!("download target {} has no file name", target.display())))?;
    let mut part = OsString::from(name);
    part.push(PART_SUFFIX);
    Ok(target.with_file_name(part))
}

impl PartFile {
    /// Checks that the file system holding `target` has room for a download of `size`
    /// bytes there (beyond what its `.part` file already holds) and the reserve, before
    /// anything is fetched for it; [`PartFile::create_or_open`] checks it again.
    pub fn check_room(target: &Path, size: u64, reserve: &SpaceReserve) -> Result<()> {
        check_room(target, size, reserve).map(|_| ())
    }

    /// Opens `<target>.part` for a file of `size` bytes with these chunk hashes, creating it
    /// (sized up front, sparse) if missing. An existing part file is kept as it is, with no
    /// chunk trusted: call [`PartFile::recover`] to find the chunks it already holds. The
    /// part file is never opened through a symlink. Fails with [`StoreError::DiskFull`] if
    /// the rest of the file would cross the free-space reserve.
    pub fn create_or_open(
        target: &Path,
        size: u64,
        chunk_hashes: impl Into<ChunkHashes>,
        reserve: &SpaceReserve,
    ) -> Result<PartFile> {
        let chunk_hashes = chunk_hashes.into();
        if chunk_hashes.len() != chunk_count(size) {
            return Err(StoreError::Invalid(format!(
                "{}: {} chunk hashes given for {size} bytes ({} expected)",
                target.display(),
                chunk_hashes.len(),
                chunk_count(size)
            )));
        }
        let (part_path, dir, allocated) = check_room(target, size, reserve)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644)
            .open(&part_path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    StoreError::Invalid(format!("{} is a symlink; not writing through it", part_path.display()))
                } else {
                    StoreError::io(format!("opening {}", part_path.display()))(e)
                }
            })?;
        let meta = file.metadata().map_err(StoreError::io(format!("reading metadata of {}", part_path.display())))?;
        if !meta.is_file() {
            return Err(StoreError::Invalid(format!("{} exists and is not a regular file", part_path.display())));
        }
        if meta.len() != size {
            file.set_len(size).map_err(StoreError::io(format!("sizing {} to {size} bytes", part_path.display())))?;
        }
        Ok(PartFile {
            target: target.to_path_buf(),
            part_path,
            dir,
            file,
            size,
            reserve: reserve.clone(),
            resumed: allocated.is_some(),
            state: Mutex::new(State { verified: Bitmap::new(chunk_hashes.len())?, finished: false }),
            cvs: Mutex::new(Cvs::default()),
            chunk_hashes,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cvs(&self) -> MutexGuard<'_, Cvs> {
        self.cvs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets every chaining value (the bitmap was rebuilt or found wrong).
    fn reset_cvs(&self) {
        *self.cvs() = Cvs::default();
    }

    /// The whole-file hash. A file of one chunk is that verified chunk; a larger one is
    /// joined from the chaining values, those missing (chunks of an earlier run) read back.
    fn whole_hash(&self) -> io::Result<ContentId> {
        let n = self.chunk_count();
        match n {
            0 => return Ok(ContentId(blake3::hash(b"").into())),
            1 => return self.chunk_hashes.get(0).map(ContentId).map_err(io::Error::other),
            _ => {}
        }
        let mut cvs = self.cvs();
        while cvs.folded.chunks() < n {
            let i = cvs.folded.chunks();
            let cv = match cvs.ahead.remove(&i) {
                Some(cv) => cv,
                None => self.read_cv(i)?,
            };
            cvs.folded.push(cv);
        }
        cvs.folded.root(self.size).ok_or_else(|| io::Error::other("chunk count does not match the size"))
    }

    /// The chaining value of chunk `index` as it is on disk.
    fn read_cv(&self, index: u64) -> io::Result<ChainingValue> {
        let mut buf = vec![0; chunk_len(self.size, index).unwrap_or(0)];
        self.file.read_exact_at(&mut buf, index * CHUNK_SIZE as u64)?;
        Ok(chunk_cv(index, &buf))
    }

    /// Moves the joined prefix over up to `max` chunks verified by an earlier run, reading
    /// them back without holding the lock, one thread at a time. A failed read is left for
    /// [`PartFile::finish`], which reads the chunk again and reports it.
    fn catch_up(&self, max: usize) {
        for _ in 0..max {
            let next = {
                let mut cvs = self.cvs();
                let next = cvs.folded.chunks();
                if cvs.catching_up || next >= self.chunk_count() || !self.state().verified.get(next) {
                    return;
                }
                cvs.catching_up = true;
                next
            };
            let cv = self.read_cv(next);
            let mut cvs = self.cvs();
            cvs.catching_up = false;
            match cv {
                Ok(cv) => cvs.insert(next, cv),
                Err(_) => return,
            }
        }
    }

    /// Values held for the whole-file hash (for tests of its memory bound).
    #[cfg(test)]
    fn cvs_held(&self) -> usize {
        let cvs = self.cvs();
        cvs.folded.held() + cvs.ahead.len()
    }

    /// Starts writing a range to disk without waiting (Linux), so the final sync has little
    /// left to do.
    fn start_writeback(&self, offset: u64, len: usize) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a plain syscall on an open descriptor; failure only means no head start.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    offset as libc::off64_t,
                    len as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len);
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The `.part` path.
    pub fn part_path(&self) -> &Path {
        &self.part_path
    }

    /// Length of the finished file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> u64 {
        self.chunk_hashes.len()
    }

    /// Whether the part file already existed when it was opened (call [`PartFile::recover`]).
    pub fn was_existing(&self) -> bool {
        self.resumed
    }

    /// A snapshot of the verified-chunk bitmap.
    pub fn bitmap(&self) -> Bitmap {
        self.state().verified.clone()
    }

    /// Whether chunk `index` is verified.
    pub fn is_verified(&self, index: u64) -> bool {
        self.state().verified.get(index)
    }

    /// Number of verified chunks.
    pub fn verified_count(&self) -> u64 {
        self.state().verified.count()
    }

    /// Whether every chunk is verified.
    pub fn is_complete(&self) -> bool {
        self.state().verified.is_complete()
    }

    /// Verifies chunk `index` against its hash and writes it. Returns `false` (writing
    /// nothing) if the chunk was already verified. A wrong length or hash is
    /// [`StoreError::Invalid`]; no space is [`StoreError::DiskFull`].
    pub fn write_chunk(&self, index: u64, bytes: &[u8]) -> Result<bool> {
        let len = self.expected_len(index)?;
        if bytes.len() != len {
            return Err(StoreError::Invalid(format!(
                "chunk {index} of {}: {} bytes, expected {len}",
                self.target.display(),
                bytes.len()
            )));
        }
        if chunk_hash(bytes) != self.chunk_hashes.get(index)? {
            return Err(StoreError::Invalid(format!("chunk {index} of {}: hash mismatch", self.target.display())));
        }
        {
            let state = self.state();
            if state.finished {
                return Err(StoreError::Invalid(format!("{} is already finished", self.target.display())));
            }
            if state.verified.get(index) {
                return Ok(false);
            }
        }
        let cv = (self.chunk_count() > 1).then(|| chunk_cv(index, bytes));
        self.reserve.check(&self.dir, len as u64, &self.part_path)?;
        self.file
            .write_all_at(bytes, index * CHUNK_SIZE as u64)
            .map_err(StoreError::io(format!("writing chunk {index} of {}", self.part_path.display())))?;
        self.start_writeback(index * CHUNK_SIZE as u64, len);
        // The value goes in before the chunk counts as verified: a verified chunk without
        // one is then always from an earlier run, and only those are read back.
        if let Some(cv) = cv {
            self.cvs().insert(index, cv);
        }
        let newly = self.state().verified.set(index)?;
        if newly && cv.is_some() {
            self.catch_up(CATCH_UP_PER_WRITE);
        }
        Ok(newly)
    }

    fn expected_len(&self, index: u64) -> Result<usize> {
        chunk_len(self.size, index).ok_or_else(|| {
            StoreError::Invalid(format!(
                "chunk {index} of {} is out of range ({} chunks)",
                self.target.display(),
                self.chunk_count()
            ))
        })
    }

    /// Reads a verified chunk back (to serve it to other peers while downloading), checking
    /// its hash again. A chunk not verified yet is [`StoreError::NotFound`]; one that no
    /// longer matches is marked missing and reported as [`StoreError::Corrupt`].
    pub fn read_chunk(&self, index: u64) -> Result<Vec<u8>> {
        let len = self.expected_len(index)?;
        if !self.is_verified(index) {
            return Err(StoreError::NotFound(format!(
                "chunk {index} of {} is not downloaded yet",
                self.target.display()
            )));
        }
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, index * CHUNK_SIZE as u64)
            .map_err(StoreError::io(format!("reading chunk {index} of {}", self.part_path.display())))?;
        if chunk_hash(&buf) != self.chunk_hashes.get(index)? {
            self.state().verified.clear(index);
            return Err(StoreError::Corrupt(format!("chunk {index} of {} changed on disk", self.part_path.display())));
        }
        Ok(buf)
    }

    /// Makes every chunk written so far durable (`fsync`) and returns the bitmap of chunks
    /// that are now durable (to persist it).
    pub fn sync(&self) -> Result<Bitmap> {
        let snapshot = self.bitmap();
        self.file.sync_data().map_err(StoreError::io(format!("syncing {}", self.part_path.display())))?;
        Ok(snapshot)
    }

    /// Rebuilds the bitmap from the bytes on disk: every chunk is read and re-hashed (holes
    /// of a sparse file are skipped unless an all-zero chunk is expected there), on all
    /// cores. Returns the number of verified chunks. Call it before writing new chunks.
    pub fn recover(&self) -> Result<u64> {
        self.recover_with_progress(|_| {})
    }

    /// [`PartFile::recover`], reporting bytes checked so far (from worker threads).
    pub fn recover_with_progress(&self, progress: impl Fn(u64) + Sync) -> Result<u64> {
        let n = self.chunk_count();
        let extents = data_extents(&self.file, self.size);
        let zero_full = zero_hash(CHUNK_SIZE as u64);
        let to_check: Vec<u64> = (0..n)
            .filter(|&i| {
                let start = i * CHUNK_SIZE as u64;
                let len = chunk_len(self.size, i).unwrap_or(0) as u64;
                let has_data = match &extents {
                    None => true,
                    Some(ranges) => ranges.iter().any(|&(s, e)| s < start + len && e > start),
                };
                has_data
                    || self.chunk_hashes.get(i).map_or(true, |expected| {
                        if len == CHUNK_SIZE as u64 { expected == zero_full } else { expected == zero_hash(len) }
                    })
            })
            .collect();
        if to_check.is_empty() {
            self.state().verified = Bitmap::new(n)?;
            self.reset_cvs();
            return Ok(0);
        }
        let next = AtomicUsize::new(0);
        let done = AtomicU64::new(0);
        let workers =
            std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8).min(to_check.len().max(1));
        let work = || -> io::Result<Vec<u64>> {
            let mut buf = vec![0u8; CHUNK_SIZE];
            let mut good = Vec::new();
            while let Some(&i) = to_check.get(next.fetch_add(1, Ordering::Relaxed)) {
                let len = chunk_len(self.size, i).unwrap_or(0);
                self.file.read_exact_at(&mut buf[..len], i * CHUNK_SIZE as u64)?;
                if chunk_hash(&buf[..len]) == self.chunk_hashes.get(i).map_err(io::Error::other)? {
                    good.push(i);
                }
                progress(done.fetch_add(len as u64, Ordering::Relaxed) + len as u64);
            }
            Ok(good)
        };
        let results: Vec<io::Result<Vec<u64>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("recovery worker panicked"))))
                .collect()
        });
        let mut verified = Bitmap::new(n)?;
        for r in results {
            for i in r.map_err(StoreError::io(format!("re-reading {}", self.part_path.display())))? {
                verified.set(i)?;
            }
        }
        let count = verified.count();
        self.state().verified = verified;
        self.reset_cvs();
        Ok(count)
    }

    /// Re-hashes the whole file and, only if it matches `expected`, makes it durable and
    /// renames it to the target (then syncs the directory). An existing target is never
    /// overwritten unless `replace` is set. On a mismatch the part file is kept, chunks that
    /// no longer match their hashes are marked missing, and the target is not created.
    pub fn finish(&self, expected: &ContentId, replace: bool) -> Result<FinishedFile> {
        {
            let state = self.state();
            if state.finished {
                return Err(StoreError::Invalid(format!("{} is already finished", self.target.display())));
            }
            if !state.verified.is_complete() {
                return Err(StoreError::Invalid(format!(
                    "{}: {} of {} chunks are not downloaded yet",
                    self.target.display(),
                    state.verified.len() - state.verified.count(),
                    state.verified.len()
                )));
            }
        }
        let whole = self.whole_hash().map_err(StoreError::io(format!("re-reading {}", self.part_path.display())))?;
        if whole != *expected {
            // Find which chunks are at fault by hashing the file as it is on disk.
            let digest = if self.size >= PARALLEL_MIN {
                hash_open_parallel(&self.file, self.size, |_| {})
            } else {
                hash_open_serial(&self.file, self.size, &mut Vec::new(), |_| {})
            }
            .map_err(StoreError::io(format!("re-reading {}", self.part_path.display())))?;
            self.reset_cvs();
            let mut state = self.state();
            let mut bad = 0;
            for (i, on_disk) in digest.chunk_hashes.iter().enumerate() {
                if *on_disk != self.chunk_hashes.get(i as u64)? && state.verified.clear(i as u64) {
                    bad += 1;
                }
            }
            return Err(StoreError::Invalid(format!(
                "{}: the downloaded bytes hash to {}, expected {}; {bad} chunks no longer match and are marked \
                 missing; the download stays in {}",
                self.target.display(),
                digest.content_id.to_hex(),
                expected.to_hex(),
                self.part_path.display()
            )));
        }
        self.file.sync_all().map_err(StoreError::io(format!("syncing {}", self.part_path.display())))?;
        let exists = || {
            StoreError::Invalid(format!(
                "{} already exists; not overwriting it (the download stays in {})",
                self.target.display(),
                self.part_path.display()
            ))
        };
        let renamed = if replace {
            fs::rename(&self.part_path, &self.target)
        } else {
            if fs::symlink_metadata(&self.target).is_ok() {
                return Err(exists());
            }
            rename_noreplace(&self.part_path, &self.target)
        };
        renamed.map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                exists()
            } else {
                StoreError::io(format!("renaming {} to {}", self.part_path.display(), self.target.display()))(e)
            }
        })?;
        self.state().finished = true;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(StoreError::io(format!("syncing folder {}", self.dir.display())))?;
        let meta =
            self.file.metadata().map_err(StoreError::io(format!("reading metadata of {}", self.target.display())))?;
        Ok(FinishedFile { path: self.target.clone(), size: self.size, mtime_ns: mtime_ns(&meta) })
    }

    /// Deletes the part file (a cancelled download).
    pub fn discard(self) -> Result<()> {
        fs::remove_file(&self.part_path).map_err(StoreError::io(format!("removing {}", self.part_path.display())))
    }
}

/// The `.part` path of `target`, its folder, and the bytes the `.part` file already holds
/// on disk (`None` when there is none), once the folder has room for the rest of `size`
/// bytes and the reserve. A `.part` that is a symlink or not a regular file is refused.
fn check_room(target: &Path, size: u64, reserve: &SpaceReserve) -> Result<(PathBuf, PathBuf, Option<u64>)> {
    let part_path = part_path(target)?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let allocated = match fs::symlink_metadata(&part_path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(StoreError::Invalid(format!("{} is a symlink; not writing through it", part_path.display())));
        }
        Ok(m) if !m.is_file() => {
            return Err(StoreError::Invalid(format!("{} exists and is not a regular file", part_path.display())));
        }
        Ok(m) => Some(m.blocks().saturating_mul(512)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(StoreError::io(format!("reading metadata of {}", part_path.display()))(e)),
    };
    reserve.check(&dir, size.saturating_sub(allocated.unwrap_or(0)), &part_path)?;
    Ok((part_path, dir, allocated))
}

/// BLAKE3 of `len` zero bytes.
fn zero_hash(len: u64) -> Hash {
    chunk_hash(&vec![0u8; len as usize])
}

/// The byte ranges of `file` that hold data (not holes), or `None` if the file system
/// cannot tell (then every chunk is read).
fn data_extents(file: &File, size: u64) -> Option<Vec<(u64, u64)>> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let mut ranges = Vec::new();
    let mut off: u64 = 0;
    while off < size {
        let pos = i64::try_from(off).ok()?;
        // SAFETY: `fd` is an open descriptor owned by `file` for the whole call; lseek only
        // moves the file offset, which this module never uses (all I/O is positioned).
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            return match io::Error::last_os_error().raw_os_error() {
                Some(libc::ENXIO) => Some(ranges),
                _ => None,
            };
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        if hole < data {
            return None;
        }
        ranges.push((data as u64, hole as u64));
        off = hole as u64;
    }
    Some(ranges)
}

/// Renames `from` to `to`, failing with `AlreadyExists` instead of replacing `to`.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::ffi::OsStrExt;
        let from_c = std::ffi::CString::new(from.as_os_str().as_bytes()).map_err(io::Error::other)?;
        let to_c = std::ffi::CString::new(to.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: both arguments are valid NUL-terminated paths that outlive the call.
        let r = unsafe {
            libc::renameat2(libc::AT_FDCWD, from_c.as_ptr(), libc::AT_FDCWD, to_c.as_ptr(), libc::RENAME_NOREPLACE)
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) {
            return Err(e);
        }
    }
    // No atomic no-replace rename here: a hard link fails if `to` exists.
    fs::hard_link(from, to)?;
    fs::remove_file(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::content::hash_reader;

    struct Fixture {
        _dir: tempfile::TempDir,
        target: PathBuf,
        data: Vec<u8>,
        hashes: Vec<Hash>,
        id: ContentId,
    }

    fn fixture(len: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("movie.mkv");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let d = hash_reader(&data[..]).unwrap();
        Fixture { _dir: dir, target, data, hashes: d.chunk_hashes, id: d.content_id }
    }

    fn no_reserve() -> SpaceReserve {
        SpaceReserve { reserve_bytes: 0, assume_free_bytes: None }
    }

    fn chunk(f: &Fixture, i: usize) -> &[u8] {
        &f.data[i * CHUNK_SIZE..((i + 1) * CHUNK_SIZE).min(f.data.len())]
    }

    #[test]
    fn out_of_order_writes_then_finish() {
        let f = fixture(5 * CHUNK_SIZE + 7);
        let part = PartFile::create_or_open(&f.target, f.data.len() as u64, f.hashes.clone(), &no_reserve()).unwrap();
        assert!(!part.was_existing());
        assert_eq!(fs::metadata(part.part_path()).unwrap().len(), f.data.len() as u64);
        for i in [5, 0, 3, 1, 4, 2] {
            assert!(part.write_chunk(i as u64, chunk(&f, i)).unwrap());
        }
        assert!(!part.write_chunk(3, chunk(&f, 3)).unwrap(), "already verified");
        assert!(part.is_complete());
        assert_eq!(part.read_chunk(4).unwrap(), chunk(&f, 4));
        let done = part.finish(&f.id, false).unwrap();
        assert_eq!(done.path, f.target);
        assert_eq!(fs::read(&f.target).unwrap(), f.data);
        assert!(!part.part_path().exists());
        assert!(part.write_chunk(0, chunk(&f, 0)).is_err());
        assert!(part.finish(&f.id, false).is_err());
    }

    /// A list read from the database a page at a time (pages of 2 here) checks chunks,
    /// recovers a resumed part file and joins the whole-file hash like a held one.
    #[test]
    fn a_paged_hash_list_downloads_resumes_and_finishes() {
        let f = fixture(5 * CHUNK_SIZE + 7);
        let db = crate::db::Db::open_in_memory().unwrap();
        let d = db
            .create_download(&crate::db::NewDownload {
                content_id: f.id,
                share_id: None,
                item_path: "movie.mkv".into(),
                target_path: f.target.clone(),
                size: f.data.len() as u64,
                chunk_list_hash: trove_proto::content::chunk_list_hash(&f.hashes),
            })
            .unwrap();
        db.set_download_chunk_hashes(d.id, &f.hashes).unwrap();
        let list = crate::db::StoredList::Download(d.id);
        let paged = || ChunkHashes::load_paged(&db, list, 2).unwrap().unwrap();
        let part = PartFile::create_or_open(&f.target, f.data.len() as u64, paged(), &no_reserve()).unwrap();
        let mut bad = chunk(&f, 3).to_vec();
        bad[0] ^= 1;
        assert!(part.write_chunk(3, &bad).is_err());
        for i in [5, 0, 3] {
            assert!(part.write_chunk(i as u64, chunk(&f, i)).unwrap());
        }
        drop(part);
        let part = PartFile::create_or_open(&f.target, f.data.len() as u64, paged(), &no_reserve()).unwrap();
        assert_eq!(part.recover().unwrap(), 3);
        for i in [4, 1, 2] {
            assert!(part.write_chunk(i as u64, chunk(&f, i)).unwrap());
        }
        part.finish(&f.id, false).unwrap();
        assert_eq!(fs::read(&f.target).unwrap(), f.data);
    }

    #[test]
    fn bad_chunks_are_rejected_and_not_written() {
        let f = fixture(2 * CHUNK_SIZE);
        let part = PartFile::create_or_open(&f.target, f.data.len() as u64, f.hashes.clone(), &no_reserve()).unwrap();
        let mut bad = chunk(&f, 0).to_vec();
        bad[100] ^= 1;
        assert!(matches!(part.write_chunk(0, &bad), Err(StoreError::Invalid(ref m)) if m.contains("hash mismatch")));
        assert!(matches!(part.write_chunk(0, &bad[1..]), Err(StoreError::Invalid(ref m)) if m.contains("bytes")));
        assert!(
            matches!(part.write_chunk(2, chunk(&f, 0)), Err(StoreError::Invalid(ref m)) if m.contains("out of range"))
        );
        assert!(matches!(part.write_chunk(1, chunk(&f, 0)), Err(StoreError::Invalid(_))));
        assert_eq!(part.verified_count(), 0);
        assert!(fs::read(part.part_path()).unwrap().iter().all(|&b| b == 0));
        assert!(matches!(part.read_chunk(0), Err(StoreError::NotFound(_))));
        assert!(matches!(part.finish(&f.id, false), Err(StoreError::Invalid(ref m)) if m.contains("2 of 2")));
    }

    #[test]
    fn kill_then_recover_finds_exactly_the_written_chunks() {
        let f = fixture(9 * CHUNK_SIZE + 3);
        let written = [0u64, 2, 3, 7, 9];
        {
            let part =
                PartFile::create_or_open(&f.target, f.data.len() as u64, f.hashes.clone(), &no_reserve()).unwrap();
            for &i in &written {
                part.write_chunk(i, chunk(&f, i as usize)).unwrap();
            }
            // Dropped without sync or finish: the "kill".
        }
        let part = PartFile::create_or_open(&f.target, f.data.len() as u64, f.hashes.clone(), &no_reserve()).unwrap();
        assert!(part.was_existing());
        assert_eq!(part.verified_count(), 0, "nothing is trusted before recovery");
        assert_eq!(part.recover().unwrap(), written.len() as u64);
        assert_eq!(part.bitmap().present().collect::<Vec<_>>(), written);
        for i in part.bitmap().missing().collect::<Vec<_>>() {
            part.write_chunk(i, chunk(&f, i as usize)).unwrap();
        }
        part.finish(&f.id, false).unwrap();
        assert_eq!(fs::read(&f.target).unwrap(), f.data);
    }

    #[test]
    fn whole_file_hash_state_stays_small_in_order_and_after_a_resume() {
        let n = 40usize;
        let f = fixture(n * CHUNK_SIZE - 5);
        let open =
            || PartFile::create_or_open(&f.target, f.data.len() as u64, f.hashes.clone(), &no_reserve()).unwrap();
        // Fresh, in order: the joined prefix holds one value per finished subtree.
        let part = open();
        let mut most = 0;
        for i in 0..n / 2 {
            part.write_chunk(i as u64, chunk(&f, i)).unwrap();
            most = most.max(part.cvs_held());
        }
        assert!(most <= 5, "{most} values held for 20 chunks written in order");
        drop(part);
        // Resumed: the 20 chunks of the earlier run have no value until read back. Writes of
        // new chunks read them back as they go, so values of later chunks do not pile up.
        let part = open();
        assert_eq!(part.recover().unwrap(), n as u64 / 2);
        let mut most = 0;
        for i in n / 2..n {
            part.write_chunk(i as u64, chunk(&f, i)).unwrap();
            most = most.max(part.cvs_held());
        }
        // Four earlier chunks are read back per write: at most 5 later values wait, next to
        // the prefix's few (without the catch-up all 20 would).
        assert!(most <= 10, "{most} values held while resuming");
        assert_eq!(part.cvs().folded.chunks(), n as u64, "the earlier chunks were read back during the writes");
        part.finish(&f.id, false).unwrap();
        assert_eq!(fs::read(&f.target).unwrap(), f.data);
    }

    #[test]
    fn recover_reads_zero_chunks_and_rejects_garbage() {
        let mut data = vec![0u8; 3 * CHUNK_SIZE];
        data[2 * CHUNK_SIZE] = 1;
        let d = hash_reader(&data[..]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("z");
        let part = PartFile::create_or_open(&target, data.len() as u64, d.chunk_hashes.clone(), &no_reserve()).unwrap();
        // A fresh sparse file already holds the all-zero chunks 0 and 1.
        assert_eq!(part.recover().unwrap(), 2);
        part.file.write_all_at(b"garbage", 0).unwrap();
        part.file.write_all_at(b"x", 2 * CHUNK_SIZE as u64 + 5).unwrap();
        assert_eq!(part.recover().unwrap(), 1);
        assert_eq!(part.bitmap().present().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn wrong_content_id_keeps_the_part_and_creates_no_target() {
        let f = fixture(CHUNK_SIZE + 1);
        let part = PartFile::create_or_open(&f.target, f.data.len() as u64, f.hashes.clone(), &no_reserve()).unwrap();
        part.write_chunk(0, chunk(&f, 0)).unwrap();
        part.write_chunk(1, chunk(&f, 1)).unwrap();
        let e = part.finish(&ContentId([9; 32]), false).unwrap_err();
        assert!(matches!(e, StoreError::Invalid(ref m) if m.contains("stays in")), "{e}");
        assert!(!f.target.exists());
        assert!(part.part_path().exists());
        assert!(part.is_complete(), "the chunks themselves still match");
        // The file edited under us: after a failed finish the whole file is read back, so
        // finish notices and un-verifies the bad chunk.
        part.file.write_all_at(b"X", 3).unwrap();
        assert!(part.finish(&f.id, false).is_err());
        assert_eq!(part.bitmap().missing().collect::<Vec<_>>(), vec![0]);
        part.write_chunk(0, chunk(&f, 0)).unwrap();
        part.finish(&f.id, false).unwrap();
        assert_eq!(fs::read(&f.target).unwrap(), f.data);
    }

    #[test]
    fn existing_target_is_not_overwritten_without_replace() {
        let f = fixture(10);
        fs::write(&f.target, b"user's own file").unwrap();
        let part = PartFile::create_or_open(&f.target, 10, f.hashes.clone(), &no_reserve()).unwrap();
        part.write_chunk(0, &f.data).unwrap();
        let e = part.finish(&f.id, false).unwrap_err();
        assert!(matches!(e, StoreError::Invalid(ref m) if m.contains("already exists")), "{e}");
        assert_eq!(fs::read(&f.target).unwrap(), b"user's own file");
        assert!(part.part_path().exists());
        part.finish(&f.id, true).unwrap();
        assert_eq!(fs::read(&f.target).unwrap(), f.data);
    }

    #[test]
    fn rename_noreplace_refuses_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"a").unwrap();
        fs::write(&b, b"b").unwrap();
        assert_eq!(rename_noreplace(&a, &b).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"b");
        fs::remove_file(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert!(!a.exists() && fs::read(&b).unwrap() == b"a");
    }

    #[test]
    fn zero_length_files_work() {
        let f = fixture(0);
        let part = PartFile::create_or_open(&f.target, 0, vec![], &no_reserve()).unwrap();
        assert_eq!(part.chunk_count(), 0);
        assert!(part.is_complete());
        assert_eq!(part.recover().unwrap(), 0);
        let done = part.finish(&f.id, false).unwrap();
        assert_eq!(done.size, 0);
        assert_eq!(fs::read(&f.target).unwrap(), b"");
    }

    #[test]
    fn reserve_is_checked_on_open_and_on_write() {
        let f = fixture(4 * CHUNK_SIZE);
        let size = f.data.len() as u64;
        let tight = SpaceReserve { reserve_bytes: 1000, assume_free_bytes: Some(size + 999) };
        let e = PartFile::create_or_open(&f.target, size, f.hashes.clone(), &tight).unwrap_err();
        assert!(matches!(e, StoreError::DiskFull(ref m) if m.contains("movie.mkv.part")), "{e}");
        assert!(!part_path(&f.target).unwrap().exists());

        let ok = SpaceReserve { reserve_bytes: 1000, assume_free_bytes: Some(size + 1000) };
        let part = PartFile::create_or_open(&f.target, size, f.hashes.clone(), &ok).unwrap();
        part.write_chunk(0, chunk(&f, 0)).unwrap();
        drop(part);
        // Later the disk fills up: the next write stops at the reserve and nothing is lost.
        let full = SpaceReserve { reserve_bytes: 1000, assume_free_bytes: Some(CHUNK_SIZE as u64 + 999) };
        let part = PartFile::create_or_open(
            &f.target,
            size,
            f.hashes.clone(),
            &SpaceReserve { assume_free_bytes: Some(u64::MAX), ..full.clone() },
        )
        .unwrap();
        let part = PartFile { reserve: full, ..part };
        assert_eq!(part.recover().unwrap(), 1);
        assert!(matches!(part.write_chunk(1, chunk(&f, 1)), Err(StoreError::DiskFull(_))));
        assert_eq!(part.verified_count(), 1);
        assert_eq!(part.recover().unwrap(), 1);
    }

    #[test]
    fn enospc_maps_to_disk_full() {
        // /dev/full fails every write with ENOSPC, without needing a full file system.
        let Ok(full) = OpenOptions::new().write(true).open("/dev/full") else { return };
        let e = full.write_all_at(b"x", 0).map_err(StoreError::io("writing chunk 0 of /dev/full")).unwrap_err();
        assert!(matches!(e, StoreError::DiskFull(ref m) if m.contains("/dev/full")), "{e}");
    }

    #[test]
    fn symlinked_part_file_is_refused() {
        let f = fixture(10);
        let elsewhere = f.target.with_file_name("elsewhere");
        fs::write(&elsewhere, b"keep").unwrap();
        std::os::unix::fs::symlink(&elsewhere, part_path(&f.target).unwrap()).unwrap();
        let e = PartFile::create_or_open(&f.target, 10, f.hashes.clone(), &no_reserve()).unwrap_err();
        assert!(matches!(e, StoreError::Invalid(ref m) if m.contains("symlink")), "{e}");
        assert_eq!(fs::read(&elsewhere).unwrap(), b"keep");
    }
}
