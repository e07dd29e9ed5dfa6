//! The error type of `trove-node`: what the user asked for, what went wrong, and where
//! possible what to do about it.

use thiserror::Error;

/// Errors from node operations.
#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] trove_store::StoreError),
    #[error(transparent)]
    Net(#[from] trove_net::NetError),
    #[error(transparent)]
    Proto(#[from] trove_proto::ProtoError),
    /// Bad input from the user (a path, a link, an option).
    #[error("{0}")]
    Invalid(String),
    /// Something the user named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The network could not provide what was asked for.
    #[error("{0}")]
    Unavailable(String),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl NodeError {
    /// Wraps an I/O error with context.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
        let context = context.into();
        move |source| NodeError::Io { context, source }
    }
}

/// Result alias for this crate.
pub type Result<T, E = NodeError> = std::result::Result<T, E>;
