//! Walking a folder to publish: every regular file under a root with its relative
//! `/`-separated path, size and modification time, in a deterministic order.
//!
//! Rules: hidden files are included; special files (FIFOs, sockets, devices) are skipped;
//! symlinks are never followed out of the tree: a symlink to a regular file inside the root
//! is listed under the link's own path, a symlink to anything outside the root, to a
//! directory (which could loop) or to nothing is skipped. A name that is not valid UTF-8 or
//! a directory that cannot be read is an error naming the path.

use crate::error::{Result, StoreError};
use crate::files::stamp::mtime_ns;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One file found by [`scan_folder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedFile {
    /// Path relative to the root, components joined with `/`.
    pub rel_path: String,
    /// Path on disk (the canonical root joined with the relative path).
    pub path: PathBuf,
    /// Length in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// Lists every regular file under `root` (see the module doc), sorted by `rel_path` bytes.
pub fn scan_folder(root: &Path) -> Result<Vec<ScannedFile>> {
    let root = fs::canonicalize(root).map_err(StoreError::io(format!("opening folder {}", root.display())))?;
    let meta = fs::metadata(&root).map_err(StoreError::io(format!("reading metadata of {}", root.display())))?;
    if !meta.is_dir() {
        return Err(StoreError::Invalid(format!("{} is not a folder", root.display())));
    }
    let mut files = Vec::new();
    let mut stack: Vec<(PathBuf, String)> = vec![(root.clone(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(StoreError::io(format!("reading folder {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(StoreError::io(format!("reading folder {}", dir.display())))?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(StoreError::Invalid(format!("{}: file name is not valid UTF-8", path.display())));
            };
            let rel_path = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
            let kind = entry.file_type().map_err(StoreError::io(format!("reading type of {}", path.display())))?;
            let meta = if kind.is_dir() {
                stack.push((path, rel_path));
                continue;
            } else if kind.is_file() {
                entry.metadata().map_err(StoreError::io(format!("reading metadata of {}", path.display())))?
            } else if kind.is_symlink() {
                match symlink_target_in_tree(&root, &path)? {
                    Some(meta) => meta,
                    None => continue,
                }
            } else {
                continue;
            };
            files.push(ScannedFile { rel_path, path, size: meta.len(), mtime_ns: mtime_ns(&meta) });
        }
    }
    files.sort_unstable_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok(files)
}

/// The metadata of a symlink's target if it is a regular file inside `root`.
fn symlink_target_in_tree(root: &Path, link: &Path) -> Result<Option<fs::Metadata>> {
    let target = match fs::canonicalize(link) {
        Ok(t) => t,
        // Dangling, looping or unreadable links are not files to publish.
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound) || e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(None);
        }
        Err(e) => return Err(StoreError::io(format!("resolving symlink {}", link.display()))(e)),
    };
    if !target.starts_with(root) {
        return Ok(None);
    }
    let meta = fs::metadata(&target).map_err(StoreError::io(format!("reading metadata of {}", target.display())))?;
    Ok(meta.is_file().then_some(meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn lists_files_sorted_with_hidden_and_in_tree_links_only() {
        let top = tempfile::tempdir().unwrap();
        let outside = top.path().join("outside.txt");
        fs::write(&outside, b"secret").unwrap();
        let root = top.path().join("share");
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::create_dir_all(root.join("a")).unwrap();
        fs::write(root.join("z.txt"), b"zz").unwrap();
        fs::write(root.join(".hidden"), b"h").unwrap();
        fs::write(root.join("b/c/deep.bin"), vec![7u8; 1000]).unwrap();
        fs::write(root.join("a/x"), b"").unwrap();
        symlink(&outside, root.join("out_link")).unwrap();
        symlink(root.join("z.txt"), root.join("a/in_link")).unwrap();
        symlink(&root, root.join("b/loop")).unwrap();
        symlink(root.join("nothing"), root.join("dangling")).unwrap();
        symlink("self", root.join("self")).unwrap();

        let got = scan_folder(&root).unwrap();
        let names: Vec<&str> = got.iter().map(|f| f.rel_path.as_str()).collect();
        assert_eq!(names, vec![".hidden", "a/in_link", "a/x", "b/c/deep.bin", "z.txt"]);
        assert_eq!(got[1].size, 2);
        assert_eq!(got[3].size, 1000);
        assert!(got.iter().all(|f| f.path.starts_with(fs::canonicalize(&root).unwrap())));
        assert!(got.iter().all(|f| f.mtime_ns > 0));
        assert_eq!(scan_folder(&root).unwrap(), got);
    }

    #[test]
    fn skips_fifos_and_rejects_non_folders() {
        let top = tempfile::tempdir().unwrap();
        let fifo = top.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        fs::write(top.path().join("f"), b"1").unwrap();
        let got = scan_folder(top.path()).unwrap();
        assert_eq!(got.len(), 1);
        let e = scan_folder(&top.path().join("f")).unwrap_err();
        assert!(matches!(e, StoreError::Invalid(ref m) if m.contains("not a folder")));
        let e = scan_folder(&top.path().join("nope")).unwrap_err();
        assert!(e.to_string().contains("nope"));
    }

    #[test]
    fn non_utf8_names_are_errors_naming_the_path() {
        use std::os::unix::ffi::OsStrExt;
        let top = tempfile::tempdir().unwrap();
        let bad = top.path().join(std::ffi::OsStr::from_bytes(b"bad\xff"));
        fs::write(&bad, b"x").unwrap();
        let e = scan_folder(top.path()).unwrap_err();
        assert!(matches!(e, StoreError::Invalid(ref m) if m.contains("bad") && m.contains("UTF-8")), "{e}");
    }
}
