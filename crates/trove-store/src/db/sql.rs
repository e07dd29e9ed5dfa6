//! How Rust values map to SQL columns (unsigned integers, fixed-size ids, hash lists, paths,
//! timestamps) and how SQLite errors get their context.
//!
//! Unsigned integers are stored as SQLite `INTEGER` (a signed 64-bit value) so the database
//! stays readable with the `sqlite3` shell and sorts numerically; values above `i64::MAX`
//! are refused with [`StoreError::Invalid`] instead of being wrapped.

use crate::error::{Result, StoreError};
use rusqlite::Row;
use rusqlite::types::Type;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use trove_proto::content::Hash;

/// Adds "what was being done" to a SQLite error, formatting the text only on failure.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StoreError::Sqlite { context: what(), source })
    }
}

/// Seconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An unsigned value as an SQL integer; `what` names it in the error.
pub(crate) fn int(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v)
        .map_err(|_| StoreError::Invalid(format!("{what} {v} is larger than {}, the largest value stored", i64::MAX)))
}

/// The current time as an SQL integer.
pub(crate) fn now_int() -> i64 {
    i64::try_from(unix_now()).unwrap_or(i64::MAX)
}

/// A conversion failure for column `idx` of a row.
pub(crate) fn conv_err(idx: usize, ty: Type, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, msg.into())
}

/// Reads a non-negative integer column.
pub(crate) fn col_u64(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v).map_err(|_| conv_err(idx, Type::Integer, format!("expected a non-negative integer, found {v}")))
}

/// Reads a nullable non-negative integer column.
pub(crate) fn col_opt_u64(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u64>> {
    let v: Option<i64> = row.get(idx)?;
    v.map(|v| {
        u64::try_from(v)
            .map_err(|_| conv_err(idx, Type::Integer, format!("expected a non-negative integer, found {v}")))
    })
    .transpose()
}

/// Reads a BLOB column of exactly `N` bytes.
pub(crate) fn col_fixed<const N: usize>(row: &Row<'_>, idx: usize) -> rusqlite::Result<[u8; N]> {
    let v = row.get_ref(idx)?.as_blob()?;
    <[u8; N]>::try_from(v).map_err(|_| conv_err(idx, Type::Blob, format!("expected {N} bytes, found {}", v.len())))
}

/// Reads a nullable BLOB column of exactly `N` bytes.
pub(crate) fn col_opt_fixed<const N: usize>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<[u8; N]>> {
    match row.get_ref(idx)?.as_blob_or_null()? {
        None => Ok(None),
        Some(v) => <[u8; N]>::try_from(v)
            .map(Some)
            .map_err(|_| conv_err(idx, Type::Blob, format!("expected {N} bytes, found {}", v.len()))),
    }
}

/// A list of 32-byte hashes as one BLOB (their concatenation).
pub(crate) fn hashes_blob(hashes: &[Hash]) -> &[u8] {
    hashes.as_flattened()
}

/// A filesystem path as stored: its exact OS bytes on Unix, UTF-8 elsewhere.
pub(crate) fn path_blob(path: &Path) -> Result<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(path.as_os_str().as_bytes().to_vec())
    }
    #[cfg(not(unix))]
    {
        path.to_str()
            .map(|s| s.as_bytes().to_vec())
            .ok_or_else(|| StoreError::Invalid(format!("path {} is not valid Unicode", path.display())))
    }
}

/// Reads a path column written by [`path_blob`].
pub(crate) fn col_path(row: &Row<'_>, idx: usize) -> rusqlite::Result<PathBuf> {
    let v = row.get_ref(idx)?.as_blob()?;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(v)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(v)
            .map(PathBuf::from)
            .map_err(|_| conv_err(idx, Type::Blob, "stored path is not valid UTF-8".into()))
    }
}

/// Truncates free text (error messages) to at most `max` bytes on a character boundary, so
/// that a row never grows without bound.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let cut = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    &s[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_unsigned_values_are_refused_not_wrapped() {
        assert_eq!(int(5, "seq").unwrap(), 5);
        assert_eq!(int(i64::MAX as u64, "seq").unwrap(), i64::MAX);
        let e = int(u64::MAX, "seq").unwrap_err().to_string();
        assert!(e.contains("seq 18446744073709551615"), "{e}");
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
