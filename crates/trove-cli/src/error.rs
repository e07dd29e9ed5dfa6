//! The errors the `trove` command reports: a kind (which decides the exit code, the HTTP
//! status of the API and the hint), the message from the node, and a hint that says what to
//! do. The same shape travels through the HTTP API, so a command run through the daemon
//! fails exactly like one run in-process.

use serde::{Deserialize, Serialize};
use std::path::Path;
use trove_node::NodeError;
use trove_store::StoreError;

/// What kind of failure it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input: an argument, a path, a link, an option.
    Invalid,
    /// Something named does not exist (a share, a file in a share, a subscription).
    NotFound,
    /// The network could not provide what was asked (no peer has it, peers unreachable).
    Unavailable,
    /// The data directory is used by another trove process.
    Locked,
    /// The target disk is full (or would fall below the configured free-space reserve).
    DiskFull,
    /// The API token was missing or wrong.
    Unauthorized,
    /// The user pressed Ctrl-C.
    Interrupted,
    /// Anything else (I/O errors, a broken database, a lost daemon connection).
    Internal,
}

/// An error with its kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Result alias of the CLI.
pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CliError { kind, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// What the user can do about it, if there is something general to say.
    pub fn hint(&self, data_dir: &Path) -> Option<String> {
        let config = data_dir.join("config.toml");
        let text = match self.kind {
            ErrorKind::Invalid => return None,
            ErrorKind::NotFound => {
                "`trove shares` lists your shares, `trove subscriptions` the shares you follow and `trove ls SHARE` the files and folders of one; a share link (scp2p://s/…) always works".to_string()
            }
            ErrorKind::Unavailable => {
                "check that the publisher (or another peer holding the share) is online and reachable; a link from `trove link` carries its current addresses, and --bootstrap ADDR adds a peer to ask".to_string()
            }
            ErrorKind::Locked => format!(
                "another trove process uses {}: if it is `trove serve`, wait until it has started (commands then go through it); otherwise stop it or use another --data-dir",
                data_dir.display()
            ),
            ErrorKind::DiskFull => format!(
                "free some space on the target disk, or lower free_space_reserve_mib in {}; then run the same command again: verified parts are kept",
                config.display()
            ),
            ErrorKind::Unauthorized => format!(
                "the daemon's API token is in {}; send it as 'Authorization: Bearer <token>'",
                data_dir.join(crate::runfiles::TOKEN_FILE).display()
            ),
            ErrorKind::Interrupted => "run the same command again to continue where it stopped".to_string(),
            ErrorKind::Internal => return None,
        };
        Some(text)
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Interrupted => 130,
            _ => 1,
        }
    }

    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            ErrorKind::Invalid => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::NotFound => 404,
            ErrorKind::Locked => 409,
            ErrorKind::Interrupted => 499,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
            ErrorKind::DiskFull => 507,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<NodeError> for CliError {
    fn from(e: NodeError) -> Self {
        let kind = match &e {
            NodeError::Invalid(_) | NodeError::Proto(_) => ErrorKind::Invalid,
            NodeError::NotFound(_) => ErrorKind::NotFound,
            NodeError::Unavailable(_) | NodeError::ShuttingDown | NodeError::Net(_) => ErrorKind::Unavailable,
            NodeError::Store(s) => return s.into(),
            NodeError::Io { source, .. } if source.raw_os_error() == Some(28) => ErrorKind::DiskFull,
            _ => ErrorKind::Internal,
        };
        CliError::new(kind, e.to_string())
    }
}

impl From<&StoreError> for CliError {
    fn from(e: &StoreError) -> Self {
        let kind = match e {
            StoreError::Locked(_) => ErrorKind::Locked,
            StoreError::DiskFull(_) => ErrorKind::DiskFull,
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Invalid(_) | StoreError::Passphrase(_) | StoreError::Proto(_) | StoreError::Changed(_) => {
                ErrorKind::Invalid
            }
            _ => ErrorKind::Internal,
        };
        CliError::new(kind, e.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        (&e).into()
    }
}

/// The kind of error a failed file of a download report stands for: a full disk is told
/// apart, so the hint can say what to do.
pub fn kind_of_message(message: &str) -> ErrorKind {
    if message.starts_with("disk full") { ErrorKind::DiskFull } else { ErrorKind::Unavailable }
}
