//! The folder a download writes into: created when missing and resolved to its real path,
//! with a clear error when a file stands where a folder is needed.

use crate::error::{NodeError, Result};
use std::path::{Path, PathBuf};

/// Creates `dir` (and its parents) if needed and returns its canonical path. When `dir` or
/// one of its ancestors is a file, the error names that file.
pub(crate) fn open_out_dir(dir: &Path) -> Result<PathBuf> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        if let Some(file) = dir.ancestors().find(|a| a.is_file()) {
            return Err(NodeError::Invalid(format!(
                "{} is a file, not a folder: choose a folder to download into",
                file.display()
            )));
        }
        return Err(NodeError::io(format!("creating {}", dir.display()))(e));
    }
    std::fs::canonicalize(dir).map_err(NodeError::io(format!("opening {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_is_made_and_a_file_in_the_way_is_named() {
        let t = tempfile::tempdir().unwrap();
        let made = open_out_dir(&t.path().join("a/b")).unwrap();
        assert!(made.is_dir() && made.is_absolute());
        assert_eq!(open_out_dir(&t.path().join("a/b")).unwrap(), made, "an existing folder is kept");

        std::fs::write(t.path().join("f"), b"x").unwrap();
        for dir in [t.path().join("f"), t.path().join("f/sub/deeper")] {
            match open_out_dir(&dir) {
                Err(NodeError::Invalid(m)) => {
                    assert!(m.contains(&format!("{} is a file, not a folder", t.path().join("f").display())), "{m}")
                }
                other => panic!("{}: {other:?}", dir.display()),
            }
        }
        assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"x", "the file is untouched");
    }
}
