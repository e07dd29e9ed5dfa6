//! Turning paths from manifests into paths that are safe to write (TEST-MATRIX IN-7).
//!
//! The same rules apply on every platform, so a download lands under the same names on
//! Linux, macOS and Windows:
//! - `\` is a separator like `/`; empty and `.` components are dropped.
//! - Rejected (an error naming the problem): `..` components, absolute paths, UNC paths
//!   (`\\srv\share`), drive-letter paths (`C:\x`, `C:x`), components made only of dots and
//!   spaces (`...`, `.. `), components over 255 bytes, paths over 4096 bytes or 64 levels.
//! - Neutralised: the characters Windows forbids (`<>:"|?*`) and control characters become
//!   `_`; trailing dots and spaces are removed (`x.` → `x`); reserved device names (`CON`,
//!   `nul.txt`, `COM1`, `LPT¹`, …, any case, any extension) get a `_` prefix.
//! - Names are Unicode NFC, so NFC/NFD twins are one name; a [`PathPlanner`] gives
//!   case-only twins and duplicates deterministic `name (2).ext` names.
//!
//! On disk ([`prepare_target`]): no existing symlink inside the target folder is ever
//! followed, an existing file is reported rather than overwritten, and the final path is
//! checked to be inside the root after canonicalizing its parent.

use crate::error::{Result, StoreError};
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use unicode_normalization::UnicodeNormalization;

/// Longest file or folder name, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Longest relative path, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Most components in a relative path.
pub const MAX_DEPTH: usize = 64;

/// A sanitized relative path: one or more valid components.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RelPath {
    components: Vec<String>,
}

impl RelPath {
    /// The components, outermost first.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.components.last().map_or("", String::as_str)
    }

    /// The components joined with `/`.
    pub fn as_string(&self) -> String {
        self.components.join("/")
    }

    /// The path under `root`.
    pub fn join_to(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        p.extend(&self.components);
        p
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

fn invalid(raw: &str, problem: impl fmt::Display) -> StoreError {
    StoreError::Invalid(format!("item path {raw:?}: {problem}"))
}

/// The relative path to write a manifest item to: its `path` (the `/`-separated path inside
/// the share, normally ending with the name) when present and non-empty, else its `name`.
pub fn sanitize_item_path(name: &str, path: Option<&str>) -> Result<RelPath> {
    let raw = match path {
        Some(p) if !p.is_empty() => p,
        _ => name,
    };
    if raw.len() > MAX_PATH_BYTES {
        return Err(invalid(&raw[..floor_boundary(raw, 64)], format!("longer than {MAX_PATH_BYTES} bytes")));
    }
    let unified: String = raw.nfc().map(|c| if c == '\\' { '/' } else { c }).collect();
    if unified.starts_with("//") {
        return Err(invalid(raw, "network (UNC) paths are not allowed"));
    }
    if unified.starts_with('/') {
        return Err(invalid(raw, "absolute paths are not allowed"));
    }
    let b = unified.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(invalid(raw, "drive-letter paths are not allowed"));
    }
    let mut components = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err(invalid(raw, "`..` would leave the target folder")),
            _ => components.push(sanitize_component(part).map_err(|p| invalid(raw, p))?),
        }
        if components.len() > MAX_DEPTH {
            return Err(invalid(raw, format!("deeper than {MAX_DEPTH} levels")));
        }
    }
    if components.is_empty() {
        return Err(invalid(raw, "no file name"));
    }
    let rel = RelPath { components };
    check_total_length(raw, &rel)?;
    Ok(rel)
}

fn check_total_length(raw: &str, rel: &RelPath) -> Result<()> {
    let total = rel.components.iter().map(String::len).sum::<usize>() + rel.components.len() - 1;
    if total > MAX_PATH_BYTES {
        return Err(invalid(raw, format!("longer than {MAX_PATH_BYTES} bytes")));
    }
    Ok(())
}

/// Sanitizes one file or folder name (already NFC, without separators); the error says why
/// it cannot be used.
fn sanitize_component(part: &str) -> std::result::Result<String, String> {
    let replaced: String = part
        .chars()
        .map(|c| if c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') { '_' } else { c })
        .collect();
    let trimmed = replaced.trim_end_matches(['.', ' ']);
    if trimmed.is_empty() {
        return Err(format!("name {part:?} is made only of dots and spaces"));
    }
    let mut out = trimmed.to_string();
    if is_reserved_device_name(&out) {
        out.insert(0, '_');
    }
    if out.len() > MAX_COMPONENT_BYTES {
        return Err(format!("a name is longer than {MAX_COMPONENT_BYTES} bytes"));
    }
    Ok(out)
}

/// Whether Windows treats `name` as a device (`CON`, `nul.txt`, `COM1.tar.gz`, `LPT¹`, …).
pub fn is_reserved_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end_matches(' ').to_ascii_uppercase();
    match stem.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => ["COM", "LPT"].iter().any(|p| {
            stem.strip_prefix(p).is_some_and(|n| {
                matches!(n, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³")
            })
        }),
    }
}

/// Key under which names collide: case-insensitive, NFC.
fn fold(s: &str) -> String {
    s.to_lowercase().nfc().collect()
}

fn fold_join(parent: &[String], name: &str) -> String {
    let mut key = String::new();
    for c in parent {
        key.push_str(&fold(c));
        key.push('/');
    }
    key.push_str(&fold(name));
    key
}

/// The largest char boundary of `s` at or below `max`.
fn floor_boundary(s: &str, max: usize) -> usize {
    (0..=max.min(s.len())).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

/// `name (k).ext` (or `name (k)` for folders and names without an extension), shortened to
/// fit in [`MAX_COMPONENT_BYTES`].
fn numbered(name: &str, k: u64, split_ext: bool) -> String {
    let suffix = format!(" ({k})");
    let (stem, ext) = match name.rfind('.') {
        Some(p) if split_ext && p > 0 && name.len() - p + suffix.len() < MAX_COMPONENT_BYTES => name.split_at(p),
        _ => (name, ""),
    };
    let room = MAX_COMPONENT_BYTES - suffix.len() - ext.len();
    let stem = &stem[..floor_boundary(stem, room)];
    format!("{stem}{suffix}{ext}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

/// Plans the paths of all items of one download so that no two collide, even on
/// case-insensitive file systems: later duplicates, case-only twins and files clashing
/// with folders get `name (2).ext`, `name (3).ext`, … in item order, so the same items in
/// the same order always get the same names.
#[derive(Debug, Default)]
pub struct PathPlanner {
    /// Planned paths (folded) and what they are.
    taken: HashMap<String, Kind>,
    /// Folder paths as sanitized from manifests (folded) → the folder planned for them.
    dirs: HashMap<String, Vec<String>>,
}

impl PathPlanner {
    /// An empty plan.
    pub fn new() -> PathPlanner {
        PathPlanner::default()
    }

    /// Plans one item (see [`sanitize_item_path`]); an invalid item takes no name.
    pub fn plan(&mut self, name: &str, path: Option<&str>) -> Result<RelPath> {
        let rel = sanitize_item_path(name, path)?;
        let (dirs, file) = rel.components.split_at(rel.components.len() - 1);
        let mut planned: Vec<String> = Vec::with_capacity(rel.components.len());
        let mut new_dirs: Vec<(String, Vec<String>)> = Vec::new();
        let mut orig_key = String::new();
        for d in dirs {
            orig_key.push('/');
            orig_key.push_str(&fold(d));
            if let Some(p) = self.dirs.get(&orig_key) {
                planned.clone_from(p);
                continue;
            }
            let mut k = 1;
            loop {
                let cand = if k == 1 { d.clone() } else { numbered(d, k, false) };
                if self.taken.get(&fold_join(&planned, &cand)) != Some(&Kind::File) {
                    planned.push(cand);
                    break;
                }
                k += 1;
            }
            new_dirs.push((orig_key.clone(), planned.clone()));
        }
        let mut k = 1;
        let file_key = loop {
            let cand = if k == 1 { file[0].clone() } else { numbered(&file[0], k, true) };
            let key = fold_join(&planned, &cand);
            if !self.taken.contains_key(&key) {
                planned.push(cand);
                break key;
            }
            k += 1;
        };
        let out = RelPath { components: planned };
        check_total_length(&rel.as_string(), &out)?;
        for (orig, dir) in new_dirs {
            for depth in 1..=dir.len() {
                self.taken.entry(fold_join(&dir[..depth - 1], &dir[depth - 1])).or_insert(Kind::Dir);
            }
            self.dirs.insert(orig, dir);
        }
        self.taken.insert(file_key, Kind::File);
        Ok(out)
    }
}

/// What is at a planned path on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedTarget {
    /// Where to write: the canonical parent folder joined with the file name.
    pub path: PathBuf,
    /// A file is already there: the caller must not overwrite it without the user's consent.
    pub existing: bool,
    /// `<path>.part` is already there: resume it if this download made it; otherwise it may
    /// be the user's own file.
    pub existing_part: bool,
}

/// Gets `rel` under `root` ready for writing: creates missing folders one by one, refuses
/// if any existing component (or the `.part` file) is a symlink or not what it should be,
/// reports an existing file, and checks the result is inside `root`.
pub fn prepare_target(root: &Path, rel: &RelPath) -> Result<PreparedTarget> {
    let root_meta = fs::metadata(root).map_err(StoreError::io(format!("opening folder {}", root.display())))?;
    if !root_meta.is_dir() {
        return Err(StoreError::Invalid(format!("{} is not a folder", root.display())));
    }
    let (dirs, _) = rel.components.split_at(rel.components.len().saturating_sub(1));
    let mut cur = root.to_path_buf();
    for d in dirs {
        cur.push(d);
        match no_symlink(&cur)? {
            Some(m) if m.is_dir() => {}
            Some(_) => return Err(StoreError::Invalid(format!("{} exists and is not a folder", cur.display()))),
            None => match fs::create_dir(&cur) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !no_symlink(&cur)?.is_some_and(|m| m.is_dir()) {
                        return Err(StoreError::Invalid(format!("{} exists and is not a folder", cur.display())));
                    }
                }
                Err(e) => return Err(StoreError::io(format!("creating folder {}", cur.display()))(e)),
            },
        }
    }
    let target = rel.join_to(root);
    let existing = match no_symlink(&target)? {
        Some(m) if m.is_file() => true,
        Some(_) => return Err(StoreError::Invalid(format!("{} exists and is not a regular file", target.display()))),
        None => false,
    };
    let part = crate::files::part::part_path(&target)?;
    let existing_part = match no_symlink(&part)? {
        Some(m) if m.is_file() => true,
        Some(_) => return Err(StoreError::Invalid(format!("{} exists and is not a regular file", part.display()))),
        None => false,
    };
    Ok(PreparedTarget { path: verify_inside_root(root, &target)?, existing, existing_part })
}

/// The metadata of `path` without following it; an error if it is a symlink.
fn no_symlink(path: &Path) -> Result<Option<fs::Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            Err(StoreError::Invalid(format!("{} is a symlink; refusing to write through it", path.display())))
        }
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(format!("reading metadata of {}", path.display()))(e)),
    }
}

/// Checks that `path` is inside `root` once its parent folder (which must exist) is
/// canonicalized, and that `path` itself is not a symlink. Returns the canonical parent
/// joined with the file name.
pub fn verify_inside_root(root: &Path, path: &Path) -> Result<PathBuf> {
    let canon_root = fs::canonicalize(root).map_err(StoreError::io(format!("resolving {}", root.display())))?;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(StoreError::Invalid(format!("{} has no file name", path.display())));
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let canon_parent = fs::canonicalize(parent).map_err(StoreError::io(format!("resolving {}", parent.display())))?;
    if !canon_parent.starts_with(&canon_root) {
        return Err(StoreError::Invalid(format!(
            "{} resolves to {}, outside {}",
            path.display(),
            canon_parent.display(),
            canon_root.display()
        )));
    }
    let full = canon_parent.join(name);
    no_symlink(&full)?;
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, path: Option<&str>) -> String {
        sanitize_item_path(name, path).unwrap_or_else(|e| panic!("{name:?} {path:?}: {e}")).as_string()
    }

    fn err(raw: &str) -> String {
        match sanitize_item_path("fallback", Some(raw)) {
            Err(StoreError::Invalid(m)) => m,
            other => panic!("{raw:?} was accepted: {other:?}"),
        }
    }

    #[test]
    fn escapes_are_rejected() {
        for raw in [
            "..",
            "../x",
            "a/../../x",
            "a/..",
            "/etc/passwd",
            "C:\\x",
            "C:x",
            "c:/x",
            "\\\\srv\\share\\x",
            "\\x",
            "//x",
        ] {
            let m = err(raw);
            assert!(m.contains(&format!("{raw:?}")), "error names the input: {m}");
        }
        assert!(err("..").contains("leave the target"));
        assert!(err("/etc/passwd").contains("absolute"));
        assert!(err("\\\\srv\\share\\x").contains("UNC"));
        assert!(err("C:x").contains("drive"));
    }

    #[test]
    fn dots_and_spaces() {
        assert!(err(".. ").contains("only of dots and spaces"));
        assert!(err("...").contains("only of dots and spaces"));
        assert!(err("a/ . /b").contains("only of dots and spaces"));
        assert_eq!(ok("x.", None), "x");
        assert_eq!(ok("x. . ", None), "x");
        assert_eq!(ok("n", Some("./a//b/./c.txt")), "a/b/c.txt");
        assert_eq!(ok(".hidden", None), ".hidden");
        assert!(err(".").contains("no file name"));
        assert!(err("./").contains("no file name"));
    }

    #[test]
    fn windows_names_and_characters() {
        assert_eq!(ok("CON", None), "_CON");
        assert_eq!(ok("nul.txt", None), "_nul.txt");
        assert_eq!(ok("Com1.tar.gz", None), "_Com1.tar.gz");
        assert_eq!(ok("lpt9", None), "_lpt9");
        assert_eq!(ok("LPT¹.x", None), "_LPT¹.x");
        assert_eq!(ok("aux .txt", None), "_aux .txt");
        assert_eq!(ok("dir/prn/x", None), "dir/_prn/x");
        assert_eq!(ok("COM10", None), "COM10");
        assert_eq!(ok("console", None), "console");
        assert!(err("a:b").contains("drive"), "a:b is drive-relative on Windows");
        assert_eq!(ok("ab:c", None), "ab_c");
        assert_eq!(ok("x", Some("d/a:b")), "d/a_b");
        assert_eq!(ok("a\0b\x01c\nd\x7f", None), "a_b_c_d_");
        assert_eq!(ok("what?<>|*\".txt", None), "what______.txt");
        assert_eq!(ok("x", Some("a\\b\\c.txt")), "a/b/c.txt");
    }

    #[test]
    fn limits() {
        let long = "a".repeat(256);
        assert!(err(&long).contains("255"));
        assert_eq!(ok(&"a".repeat(255), None).len(), 255);
        let deep = vec!["d"; 300].join("/");
        assert!(err(&deep).contains("64 levels"));
        assert_eq!(ok("x", Some(&vec!["d"; 64].join("/"))).len(), 127);
        let wide = vec!["b".repeat(200); 25].join("/");
        assert!(err(&wide).contains("4096"));
        let big = "x".repeat(1 << 20);
        assert!(err(&big).len() < 200, "huge inputs are not echoed whole");
        assert!(sanitize_item_path("", None).is_err());
        assert!(sanitize_item_path("", Some("")).is_err());
        assert_eq!(ok("name", Some("")), "name");
    }

    #[test]
    fn nfc_twins_map_to_one_name() {
        let nfd = "Cafe\u{301}.txt";
        let nfc = "Caf\u{e9}.txt";
        assert_eq!(ok(nfd, None), nfc);
        let mut p = PathPlanner::new();
        assert_eq!(p.plan(nfc, None).unwrap().as_string(), nfc);
        assert_eq!(p.plan(nfd, None).unwrap().as_string(), "Caf\u{e9} (2).txt");
    }

    #[test]
    fn planner_renames_twins_and_duplicates_deterministically() {
        let items: &[(&str, Option<&str>)] = &[
            ("a.txt", Some("docs/a.txt")),
            ("A.txt", Some("docs/A.txt")),
            ("a.txt", Some("DOCS/a.txt")),
            ("a.txt", Some("docs/a.txt")),
            ("a (2).txt", Some("docs/a (2).txt")),
            ("docs", None),
            ("x", Some("docs/sub/x")),
            ("x", Some("Docs/Sub/y")),
            ("f", Some("f")),
            ("g", Some("f/g")),
            ("h", Some("f/h")),
            (".bashrc", None),
            (".BASHRC", None),
            ("bad", Some("../bad")),
        ];
        let plan = |items: &[(&str, Option<&str>)]| {
            let mut p = PathPlanner::new();
            items.iter().map(|(n, path)| p.plan(n, *path).map(|r| r.as_string()).ok()).collect::<Vec<_>>()
        };
        let got = plan(items);
        let want: Vec<Option<&str>> = vec![
            Some("docs/a.txt"),
            Some("docs/A (2).txt"),
            Some("docs/a (3).txt"),
            Some("docs/a (4).txt"),
            Some("docs/a (2) (2).txt"),
            Some("docs (2)"),
            Some("docs/sub/x"),
            Some("docs/sub/y"),
            Some("f"),
            Some("f (2)/g"),
            Some("f (2)/h"),
            Some(".bashrc"),
            Some(".BASHRC (2)"),
            None,
        ];
        assert_eq!(got, want.iter().map(|w| w.map(String::from)).collect::<Vec<_>>());
        assert_eq!(plan(items), got, "same items, same names");
    }

    #[test]
    fn numbered_names_fit() {
        let long = format!("{}.txt", "é".repeat(125));
        let n = numbered(&long, 12, true);
        assert!(n.len() <= MAX_COMPONENT_BYTES && n.ends_with(" (12).txt"), "{n}");
        assert_eq!(numbered("archive.tar.gz", 2, true), "archive.tar (2).gz");
        assert_eq!(numbered("v1.2", 2, false), "v1.2 (2)");
    }

    #[test]
    fn prepare_target_refuses_symlinks_and_reports_existing_files() {
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("root");
        let outside = top.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        fs::write(root.join("mine.txt"), b"mine").unwrap();

        let rel = sanitize_item_path("x", Some("link/x")).unwrap();
        let e = prepare_target(&root, &rel).unwrap_err();
        assert!(matches!(e, StoreError::Invalid(ref m) if m.contains("symlink")), "{e}");
        let rel = sanitize_item_path("link", None).unwrap();
        assert!(prepare_target(&root, &rel).is_err());

        let rel = sanitize_item_path("mine.txt", None).unwrap();
        let t = prepare_target(&root, &rel).unwrap();
        assert!(t.existing && !t.existing_part);
        fs::write(root.join("mine.txt.part"), b"").unwrap();
        assert!(prepare_target(&root, &rel).unwrap().existing_part);
        std::os::unix::fs::symlink(&outside, root.join("other.part")).unwrap();
        let rel = sanitize_item_path("other", None).unwrap();
        assert!(matches!(prepare_target(&root, &rel), Err(StoreError::Invalid(m)) if m.contains("symlink")));

        let rel = sanitize_item_path("x", Some("new/dir/x")).unwrap();
        let t = prepare_target(&root, &rel).unwrap();
        assert!(!t.existing);
        assert!(t.path.starts_with(fs::canonicalize(&root).unwrap()));
        assert!(root.join("new/dir").is_dir());

        let rel = sanitize_item_path("x", Some("mine.txt/x")).unwrap();
        assert!(matches!(prepare_target(&root, &rel), Err(StoreError::Invalid(m)) if m.contains("not a folder")));
        assert!(fs::read_dir(&outside).unwrap().next().is_none());
    }

    #[test]
    fn verify_inside_root_checks_the_canonical_parent() {
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("root");
        fs::create_dir_all(root.join("a")).unwrap();
        std::os::unix::fs::symlink(top.path(), root.join("up")).unwrap();
        assert!(verify_inside_root(&root, &root.join("a/f")).is_ok());
        assert!(verify_inside_root(&root, &root.join("a/../f")).is_ok());
        assert!(verify_inside_root(&root, &root.join("up/f")).is_err());
        assert!(verify_inside_root(&root, &root.join("a/../../f")).is_err());
        assert!(verify_inside_root(&root, &root.join("up")).is_err(), "the file itself is a symlink");
    }
}
