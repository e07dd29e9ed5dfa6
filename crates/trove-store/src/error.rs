//! The error type of `trove-store`: every failure says what was being done and to which
//! file, row or id.

use thiserror::Error;

/// Errors from the database, the key vault and content files.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A database operation failed.
    #[error("database: {context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The disk (or the configured free-space reserve) is full.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// The data directory is in use by another trove process.
    #[error("{0}")]
    Locked(String),
    /// Stored data does not decode or fails its checks.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A requested thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A request that breaks a rule (bad name, unsafe path, existing file, …).
    #[error("{0}")]
    Invalid(String),
    /// A published file changed on disk since it was hashed.
    #[error("{0}")]
    Changed(String),
    /// Keys are locked with a passphrase that was not given or is wrong.
    #[error("{0}")]
    Passphrase(String),
    /// Protocol data failed to decode or verify.
    #[error(transparent)]
    Proto(#[from] trove_proto::ProtoError),
}

impl StoreError {
    /// Wraps a SQLite error with what was being done.
    pub fn sql(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
        let context = context.into();
        move |source| StoreError::Sqlite { context, source }
    }

    /// Wraps an I/O error with what was being done, mapping "no space" to [`StoreError::DiskFull`].
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let context = context.into();
        move |source| {
            if matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
                StoreError::DiskFull(context)
            } else {
                StoreError::Io { context, source }
            }
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
