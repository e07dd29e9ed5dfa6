//! A file's stamp: size, modification time (ns), device and inode, taken from its metadata.
//! Comparing stamps taken at two moments tells whether a file changed (or was replaced) in
//! between; it is how published files are checked before they are hashed and served.

use crate::error::{Result, StoreError};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What identifies a version of a file on disk, cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// Length in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (negative before 1970).
    pub mtime_ns: i64,
    /// Device number of the file system holding the file.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileStamp {
    /// The stamp of already-read metadata.
    pub fn from_metadata(meta: &Metadata) -> FileStamp {
        FileStamp { size: meta.len(), mtime_ns: mtime_ns(meta), dev: meta.dev(), ino: meta.ino() }
    }

    /// The stamp of an open file (`fstat`).
    pub fn of_file(file: &File, path: &Path) -> Result<FileStamp> {
        let meta = file.metadata().map_err(StoreError::io(format!("reading metadata of {}", path.display())))?;
        Ok(FileStamp::from_metadata(&meta))
    }

    /// The stamp of the file at `path` (following symlinks), or `None` if nothing is there.
    pub fn of_path(path: &Path) -> Result<Option<FileStamp>> {
        match std::fs::metadata(path) {
            Ok(meta) => Ok(Some(FileStamp::from_metadata(&meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(format!("reading metadata of {}", path.display()))(e)),
        }
    }

    /// Describes how `now` differs from `self` (the earlier stamp), or `None` if it does not.
    pub fn difference(&self, now: &FileStamp) -> Option<String> {
        if (self.dev, self.ino) != (now.dev, now.ino) {
            Some("was replaced by another file".to_string())
        } else if self.size != now.size {
            Some(format!("size changed from {} to {} bytes", self.size, now.size))
        } else if self.mtime_ns != now.mtime_ns {
            Some(format!("modification time changed from {} ns to {} ns", self.mtime_ns, now.mtime_ns))
        } else {
            None
        }
    }
}

/// Modification time of `meta` in nanoseconds since the Unix epoch, saturating far outside
/// the representable range (±292 years).
pub fn mtime_ns(meta: &Metadata) -> i64 {
    meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn stamps_see_size_and_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"hello").unwrap();
        let a = FileStamp::of_path(&p).unwrap().unwrap();
        assert_eq!(a.size, 5);
        assert!(a.mtime_ns > 0);
        assert_eq!(a.difference(&a), None);

        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"!").unwrap();
        let b = FileStamp::of_path(&p).unwrap().unwrap();
        assert!(a.difference(&b).unwrap().contains("size changed from 5 to 6"));

        let q = dir.path().join("b");
        std::fs::write(&q, b"hello!").unwrap();
        std::fs::rename(&q, &p).unwrap();
        let c = FileStamp::of_path(&p).unwrap().unwrap();
        assert!(b.difference(&c).unwrap().contains("replaced"));

        std::fs::remove_file(&p).unwrap();
        assert_eq!(FileStamp::of_path(&p).unwrap(), None);
    }
}
