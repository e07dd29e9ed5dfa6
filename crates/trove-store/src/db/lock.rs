//! The data-directory lock: an exclusive OS file lock on `<dir>/lock`, held for the life of a
//! [`DataDirLock`], so two trove processes never share one data directory. The holder writes
//! its pid into the file so the loser can say who holds it.

use super::create_private_dir;
use crate::error::{Result, StoreError};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "lock";

/// Proof that this process owns a data directory. Dropping it releases the lock (so does the
/// process exiting, however it exits). The file itself stays; only the OS lock matters.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    dir: PathBuf,
}

impl DataDirLock {
    /// Creates the data directory if needed (mode 0700) and takes the lock without waiting.
    /// Fails with [`StoreError::Locked`] naming the other process's pid when it is taken.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(&path).map_err(StoreError::io(format!("opening lock file {}", path.display())))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = match file.read_to_string(&mut text) {
                    Ok(_) => text.trim().parse::<u32>().map(|p| p.to_string()).unwrap_or_else(|_| "unknown".into()),
                    Err(_) => "unknown".into(),
                };
                return Err(StoreError::Locked(format!(
                    "data directory {} is in use by another trove process (pid {pid})",
                    data_dir.display()
                )));
            }
            Err(fs4::TryLockError::Error(e)) => {
                return Err(StoreError::io(format!("locking {}", path.display()))(e));
            }
        }
        let write_pid = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())?;
            file.flush()
        };
        write_pid(&mut file).map_err(StoreError::io(format!("writing the pid into {}", path.display())))?;
        Ok(DataDirLock { _file: file, dir: data_dir.to_path_buf() })
    }

    /// The locked data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_the_same_process_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = DataDirLock::acquire(&data).unwrap();
        assert_eq!(first.data_dir(), data);
        let e = DataDirLock::acquire(&data).unwrap_err();
        assert!(matches!(e, StoreError::Locked(_)), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
        assert!(msg.contains(&data.display().to_string()), "{msg}");
        drop(first);
        DataDirLock::acquire(&data).unwrap();
    }
}
