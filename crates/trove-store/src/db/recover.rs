//! Recovery from a corrupted database (TEST-MATRIX FT-6): recognise corruption, move the
//! damaged files aside as `trove.db.corrupt-<unix time>` (with their `-wal`/`-shm`), and copy
//! every row that can still be read from the old file into the fresh one, table by table.
//! A group of tables that cannot be read completely is skipped as a whole, so the fresh
//! database never holds half a table; foreign keys keep the copied groups consistent.

use super::migrate::{self, SCHEMA_VERSION};
use super::sql::unix_now;
use super::{StoreError, sync_dir};
use crate::error::Result;
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OpenFlags, params_from_iter};
use std::path::{Path, PathBuf};

/// What [`super::Db::open`] did about a corrupted database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Where the damaged database was moved.
    pub moved_to: PathBuf,
    /// Why it was considered damaged.
    pub reason: String,
    /// Tables whose rows were copied into the fresh database.
    pub salvaged: Vec<String>,
}

/// Groups of tables copied together (all or none of a group), in an order that satisfies
/// their foreign keys. The vault settings and the sealed keys only make sense together.
const GROUPS: &[&[&str]] = &[
    &["vault", "keys"],
    &["shares", "revisions"],
    &["subscriptions"],
    &["heads"],
    &["communities"],
    &["settings"],
    &["manifests"],
    &["content", "content_paths"],
    &["downloads"],
    &["peers"],
];

/// Whether an error from opening means the file is damaged (rather than, say, unreadable
/// because of permissions or a full disk, which moving it aside would not fix).
pub(crate) fn is_corruption(e: &StoreError) -> bool {
    match e {
        StoreError::Corrupt(_) => true,
        StoreError::Sqlite { source: rusqlite::Error::SqliteFailure(f, _), .. } => {
            matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        }
        _ => false,
    }
}

/// Renames the database and its WAL/shared-memory files to `<name>.corrupt-<unix time>[-n]`
/// (keeping the `-wal`/`-shm` suffixes so SQLite still pairs them) and syncs the directory.
pub(crate) fn move_aside(path: &Path) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "trove.db".into());
    let stamp = unix_now();
    let mut target = dir.join(format!("{file_name}.corrupt-{stamp}"));
    let mut n = 1;
    while target.exists() || sidecar(&target, "-wal").exists() {
        target = dir.join(format!("{file_name}.corrupt-{stamp}-{n}"));
        n += 1;
    }
    for suffix in ["-wal", "-shm"] {
        let from = sidecar(path, suffix);
        if from.exists() {
            let to = sidecar(&target, suffix);
            std::fs::rename(&from, &to).map_err(StoreError::io(format!(
                "moving damaged {} aside to {}",
                from.display(),
                to.display()
            )))?;
        }
    }
    std::fs::rename(path, &target).map_err(StoreError::io(format!(
        "moving damaged database {} aside to {}",
        path.display(),
        target.display()
    )))?;
    sync_dir(dir)?;
    Ok(target)
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Copies what can be read from the damaged database at `old` into `fresh`. Returns the
/// names of the tables copied; never fails (salvage is best effort).
pub(crate) fn salvage(fresh: &mut Connection, old: &Path) -> Vec<String> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(src) = Connection::open_with_flags(old, flags) else { return Vec::new() };
    // A truncated file announces more pages than it has; SQLite refuses to read it unless
    // the schema is "writable", which on a read-only connection changes nothing on disk.
    let _ = src.pragma_update(None, "writable_schema", "ON");
    let _ = src.pragma_update(None, "trusted_schema", "OFF");
    if !matches!(migrate::schema_version(&src), Ok(v) if v == SCHEMA_VERSION) {
        return Vec::new();
    }
    GROUPS
        .iter()
        .filter(|group| copy_group(&src, fresh, group).is_ok())
        .flat_map(|group| group.iter().map(|t| t.to_string()))
        .collect()
}

/// Copies all rows of a group of tables in one transaction; any error rolls the group back.
fn copy_group(src: &Connection, dst: &mut Connection, tables: &[&str]) -> rusqlite::Result<()> {
    let tx = dst.transaction()?;
    for table in tables {
        let mut sel = src.prepare(&format!("SELECT * FROM {table}"))?;
        let cols = sel.column_count();
        let placeholders = vec!["?"; cols].join(", ");
        let mut ins = tx.prepare(&format!("INSERT OR IGNORE INTO {table} VALUES ({placeholders})"))?;
        let mut rows = sel.query([])?;
        while let Some(row) = rows.next()? {
            let values = (0..cols).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>()?;
            ins.execute(params_from_iter(values))?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_codes_are_recognised_and_others_are_not() {
        let corrupt = StoreError::Sqlite {
            context: "x".into(),
            source: rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(26), None),
        };
        assert!(is_corruption(&corrupt));
        let busy = StoreError::Sqlite {
            context: "x".into(),
            source: rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5), None),
        };
        assert!(!is_corruption(&busy));
        assert!(!is_corruption(&StoreError::Invalid("newer schema".into())));
    }

    #[test]
    fn move_aside_keeps_sidecars_paired_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("trove.db");
        std::fs::write(&db, b"one").unwrap();
        std::fs::write(sidecar(&db, "-wal"), b"wal").unwrap();
        let first = move_aside(&db).unwrap();
        assert!(!db.exists());
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(sidecar(&first, "-wal")).unwrap(), b"wal");
        std::fs::write(&db, b"two").unwrap();
        let second = move_aside(&db).unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
    }
}
