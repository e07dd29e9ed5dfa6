//! The SQLite database `trove.db` and its handle [`Db`]: opening it (private permissions,
//! pragmas, corruption recovery, migrations) and running reads and transactions. Each table's
//! operations live in their own module as methods on [`Db`].
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so every committed
//! transaction has its WAL frames fsynced before the call returns. With `NORMAL` a power loss
//! could roll back commits that were already acknowledged (WAL is only synced at checkpoints),
//! which is not acceptable for keys, seq numbers and subscriptions. The price is one fsync per
//! transaction; hot paths (download bitmaps, peer saves, content batches) batch their rows
//! into one transaction. Every public method that writes commits before it returns.
//! Download bookkeeping is the exception ([`Db::write_relaxed`]): it commits with `NORMAL`,
//! which survives a crash of the process, and after a power loss the files rebuild it (part
//! files are re-hashed on resume; a finished file is found in place and reported present).

pub mod communities;
pub mod community_records;
pub mod content;
pub mod downloads;
pub mod hash_lists;
pub mod heads;
pub mod keys;
pub mod lock;
pub mod manifests;
pub mod migrate;
pub mod peers;
mod recover;
pub mod seal;
pub mod settings;
pub mod shares;
mod sql;
pub mod subscriptions;

pub use communities::Community;
pub use community_records::{NewRecord, PutOutcome, RecordCaps, RecordKind, RecordRow};
pub use content::{ContentInfo, ContentPath, ContentSource, Origin};
pub use downloads::{Download, DownloadId, DownloadState, NewDownload};
pub use hash_lists::StoredList;
pub use heads::{HeadUpdate, StoredHead};
pub use keys::{ShareKeyInfo, VaultState};
pub use lock::DataDirLock;
pub use manifests::StoredManifest;
pub use migrate::SCHEMA_VERSION;
pub use peers::{PeerLimits, PeerRecord, PeerSave, PeerSighting, PeerSource};
pub use recover::Recovery;
pub use seal::KdfParams;
pub use shares::{OwnShare, Revision};
pub use sql::unix_now;
pub use subscriptions::{SubscribeOptions, Subscription, SyncOutcome, Trust};

use crate::error::{Result, StoreError};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use seal::SealKey;
use sql::Ctx;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "trove.db";

/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest WAL file kept after a checkpoint (bytes).
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// A cheaply cloneable handle to the database. Calls are synchronous and serialized on one
/// connection; async callers wrap them in `spawn_blocking`.
#[derive(Clone)]
pub struct Db {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    path: Option<PathBuf>,
    recovery: Option<Recovery>,
}

/// What the mutex protects: the connection and, while the vault is unlocked, its key.
pub(crate) struct State {
    pub(crate) conn: Connection,
    pub(crate) vault_key: Option<SealKey>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.shared.path).finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) `<data_dir>/trove.db`. The directory gets mode 0700 when
    /// created and the database files mode 0600. A corrupted or unreadable-as-SQLite database
    /// is moved aside as `trove.db.corrupt-<unix time>` and a fresh one is started, salvaging
    /// what rows can still be read; [`Db::recovery`] then says what happened. The caller
    /// should hold the [`DataDirLock`] of the directory.
    pub fn open(data_dir: &Path) -> Result<Db> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let (conn, recovery) = match open_file(&path) {
            Ok(conn) => (conn, None),
            Err(e) if recover::is_corruption(&e) => {
                let moved_to = recover::move_aside(&path)?;
                let mut conn = open_file(&path)?;
                let salvaged = recover::salvage(&mut conn, &moved_to);
                (conn, Some(Recovery { moved_to, reason: e.to_string(), salvaged }))
            }
            Err(e) => return Err(e),
        };
        sync_dir(data_dir)?;
        Ok(Db::from_conn(conn, Some(path), recovery))
    }

    /// A private in-memory database with the full schema (tests, tools).
    pub fn open_in_memory() -> Result<Db> {
        let mut conn = Connection::open_in_memory().ctx(|| "opening an in-memory database".into())?;
        configure(&conn, "the in-memory database")?;
        migrate::migrate(&mut conn, migrate::MIGRATIONS, "the in-memory database")?;
        Ok(Db::from_conn(conn, None, None))
    }

    fn from_conn(conn: Connection, path: Option<PathBuf>, recovery: Option<Recovery>) -> Db {
        conn.set_prepared_statement_cache_capacity(128);
        Db { shared: Arc::new(Shared { state: Mutex::new(State { conn, vault_key: None }), path, recovery }) }
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.shared.path.as_deref()
    }

    /// Set when [`Db::open`] found the database corrupted and started a fresh one: tell the
    /// user where the old file went and what was salvaged.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.shared.recovery.as_ref()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        self.read(migrate::schema_version)
    }

    /// Copies the WAL into the database file and truncates the WAL to zero bytes.
    pub fn checkpoint(&self) -> Result<()> {
        self.read(checkpoint)
    }

    /// Runs `PRAGMA integrity_check`; `Ok` when SQLite reports no problem, else
    /// [`StoreError::Corrupt`] listing the first problems.
    pub fn integrity_check(&self) -> Result<()> {
        self.read(|c| check(c, "integrity_check"))
    }

    /// A name for this database in messages.
    pub(crate) fn name(&self) -> String {
        match &self.shared.path {
            Some(p) => p.display().to_string(),
            None => "the in-memory database".into(),
        }
    }

    /// Runs `f` with exclusive access to the connection and vault key. A panic in another
    /// thread while it held the lock does not make the database unusable: SQLite rolled back
    /// whatever transaction was open.
    pub(crate) fn locked<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut guard: MutexGuard<'_, State> = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// Runs read-only work on the connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.locked(|s| f(&s.conn))
    }

    /// Runs `f` in an immediate transaction and commits it (durably) before returning.
    /// `what` describes the change for errors ("saving subscription 3f2a…").
    pub(crate) fn write<T>(&self, what: &str, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.locked(|s| write_tx(&mut s.conn, what, f))
    }

    /// [`Db::write`] committed with `synchronous=NORMAL` (no fsync of its own; the next
    /// durable commit or checkpoint syncs it): for rows the files on disk can rebuild.
    pub(crate) fn write_relaxed<T>(&self, what: &str, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.locked(|s| {
            s.conn.pragma_update(None, "synchronous", "NORMAL").ctx(|| format!("{what}: relaxing sync"))?;
            let r = write_tx(&mut s.conn, what, f);
            let restored = s.conn.pragma_update(None, "synchronous", "FULL");
            let r = r?;
            restored.ctx(|| format!("{what}: restoring sync"))?;
            Ok(r)
        })
    }
}

/// Runs `f` in an immediate transaction on `conn` and commits.
pub(crate) fn write_tx<T>(
    conn: &mut Connection,
    what: &str,
    f: impl FnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx(|| format!("{what}: begin"))?;
    let out = f(&tx)?;
    tx.commit().ctx(|| format!("{what}: commit"))?;
    Ok(out)
}

/// Opens, configures, checks and migrates the database file.
fn open_file(path: &Path) -> Result<Connection> {
    prepare_file(path)?;
    let name = path.display().to_string();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).ctx(|| format!("opening {name}"))?;
    configure(&conn, &name)?;
    check(&conn, "quick_check").map_err(|e| match e {
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("{name}: {m}")),
        other => other,
    })?;
    migrate::migrate(&mut conn, migrate::MIGRATIONS, &name)?;
    Ok(conn)
}

/// Sets the connection pragmas (see the module documentation for `synchronous`).
fn configure(conn: &Connection, name: &str) -> Result<()> {
    let what = || format!("configuring {name}");
    conn.busy_timeout(BUSY_TIMEOUT).ctx(what)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).ctx(what)?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(StoreError::Invalid(format!("{name}: cannot switch to WAL journal mode (got '{mode}')")));
    }
    conn.pragma_update(None, "synchronous", "FULL").ctx(what)?;
    conn.pragma_update(None, "foreign_keys", "ON").ctx(what)?;
    // Deleted and overwritten content (e.g. plaintext seeds replaced by sealed ones) is zeroed.
    conn.pragma_update(None, "secure_delete", "ON").ctx(what)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT).ctx(what)?;
    conn.pragma_update(None, "trusted_schema", "OFF").ctx(what)?;
    Ok(())
}

/// Runs `PRAGMA quick_check` or `integrity_check`.
fn check(conn: &Connection, pragma: &str) -> Result<()> {
    let mut stmt = conn.prepare(&format!("PRAGMA {pragma}")).ctx(|| format!("running {pragma}"))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .ctx(|| format!("running {pragma}"))?;
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(());
    }
    let shown: Vec<&str> = rows.iter().take(5).map(String::as_str).collect();
    Err(StoreError::Corrupt(format!("{pragma} reports {} problem(s): {}", rows.len(), shown.join("; "))))
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`.
fn checkpoint(conn: &Connection) -> Result<()> {
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .ctx(|| "checkpointing the WAL".into())?;
    if busy != 0 {
        return Err(StoreError::Invalid("checkpointing the WAL: another connection is reading; try again".into()));
    }
    Ok(())
}

/// Creates the database file with mode 0600 if it does not exist; tightens an existing one.
/// SQLite gives the `-wal` and `-shm` files the same permissions as the database file.
fn prepare_file(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false).mode(0o600);
        let file = opts.open(path).map_err(StoreError::io(format!("creating {}", path.display())))?;
        let meta = file.metadata().map_err(StoreError::io(format!("reading {}", path.display())))?;
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(StoreError::io(format!("making {} private (mode 0600)", path.display())))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates a directory (and parents) with mode 0700 on Unix. An existing directory is left
/// as it is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(StoreError::io(format!("creating data directory {}", dir.display())))
}

/// Fsyncs a directory so that file creations and renames in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir).map_err(StoreError::io(format!("opening {}", dir.display())))?;
        d.sync_all().map_err(StoreError::io(format!("syncing directory {}", dir.display())))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
