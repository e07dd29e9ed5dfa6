//! `trove-store`: everything trove keeps on disk. The SQLite database (identity, share keys,
//! own shares and revisions, subscriptions, manifests, heads, peers, downloads, settings), the
//! key vault, the data-directory lock, and the content files: published files served in place,
//! `.part` files of downloads, path sanitizing. It never talks to the network.

pub mod db;
pub mod error;
pub mod files;
pub mod search;

pub use error::{Result, StoreError};
