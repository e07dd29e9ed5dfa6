//! How tantivy failures become [`StoreError`]s: I/O keeps its kind (a full disk stays
//! [`StoreError::DiskFull`]), a held writer lock is [`StoreError::Locked`], damaged files are
//! [`StoreError::Corrupt`], and anything else is reported as a corrupt or unusable index with
//! what was being done.

use crate::error::StoreError;
use tantivy::TantivyError;
use tantivy::directory::error::{LockError, OpenDirectoryError, OpenReadError};

/// Wraps a tantivy error with what was being done.
pub fn index_err(context: impl Into<String>) -> impl FnOnce(TantivyError) -> StoreError {
    let context = context.into();
    move |e| match e {
        TantivyError::IoError(io) => StoreError::io(format!("search index: {context}"))(clone_io(&io)),
        TantivyError::LockFailure(LockError::LockBusy, _) => {
            StoreError::Locked(format!("search index: {context}: the index is in use by another process"))
        }
        TantivyError::OpenReadError(OpenReadError::IoError { io_error, filepath }) => {
            StoreError::io(format!("search index: {context}: reading {}", filepath.display()))(clone_io(&io_error))
        }
        TantivyError::OpenDirectoryError(OpenDirectoryError::IoError { io_error, directory_path }) => {
            StoreError::io(format!("search index: {context}: opening {}", directory_path.display()))(clone_io(
                &io_error,
            ))
        }
        other => StoreError::Corrupt(format!("search index: {context}: {other}")),
    }
}

/// A copy of an I/O error held behind an `Arc` by tantivy, keeping its OS code and kind.
fn clone_io(e: &std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(e.kind(), e.to_string()),
    }
}

/// Wraps a plain I/O error from index housekeeping with what was being done.
pub fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |e| StoreError::io(format!("search index: {context}"))(e)
}
