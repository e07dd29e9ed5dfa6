//! Content files: hashing files to publish ([`hash_file`], [`hash_files`], [`scan_folder`]),
//! serving chunks of files in place ([`ChunkSource`]), the expected chunk hashes of a file
//! ([`ChunkHashes`], held or read from the database in pages; [`FetchedList`], one arriving
//! page by page), downloads in progress ([`PartFile`]
//! with its [`Bitmap`] of verified chunks), and making manifest paths safe to write
//! ([`PathPlanner`], [`prepare_target`]). Plain synchronous code: the node calls it from
//! blocking tasks.

pub mod batch;
pub mod bitmap;
pub mod chunk_hashes;
pub mod fetched_list;
pub mod hash;
pub mod part;
pub mod safe_path;
pub mod scan;
pub mod source;
pub mod stamp;

pub use batch::hash_files;
pub use bitmap::Bitmap;
pub use chunk_hashes::ChunkHashes;
pub use fetched_list::FetchedList;
pub use hash::{HashedFile, hash_file};
pub use part::{FinishedFile, PartFile, SpaceReserve};
pub use safe_path::{PathPlanner, PreparedTarget, RelPath, prepare_target, sanitize_item_path, verify_inside_root};
pub use scan::{ScannedFile, scan_folder};
pub use source::ChunkSource;
pub use stamp::FileStamp;
