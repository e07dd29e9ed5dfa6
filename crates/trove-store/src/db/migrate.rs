//! Schema migrations. The schema version lives in `PRAGMA user_version`; migrations are an
//! ordered list, each applied in its own transaction together with the version bump, so a
//! crash leaves the database at one version or the next, never in between. A database written
//! by a newer trove is refused rather than guessed at.
//!
//! Column conventions: ids, keys and hashes are BLOBs of their exact size; times are Unix
//! seconds; unsigned counters are INTEGERs no larger than `i64::MAX` (see `sql.rs`); paths
//! are BLOBs of their OS bytes.

use super::sql::Ctx;
use crate::error::{Result, StoreError};
use rusqlite::{Connection, TransactionBehavior};

/// One schema step.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// The schema version after this step (1, 2, 3, … without gaps).
    pub version: u32,
    /// What the step does, for errors.
    pub name: &'static str,
    /// The SQL, run as one batch.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "initial schema", sql: SCHEMA_V1 },
    Migration { version: 2, name: "community records", sql: SCHEMA_V2_COMMUNITY_RECORDS },
    Migration { version: 3, name: "chunk hash lists in tables of their own", sql: SCHEMA_V3_HASH_LISTS },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 3;

const SCHEMA_V1: &str = r#"
-- The key vault. A row exists exactly when a passphrase is set.
CREATE TABLE vault (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    format      INTEGER NOT NULL,
    salt        BLOB    NOT NULL,
    m_cost_kib  INTEGER NOT NULL,
    t_cost      INTEGER NOT NULL,
    p_cost      INTEGER NOT NULL,
    verifier    BLOB    NOT NULL,
    changed_at  INTEGER NOT NULL
) STRICT;

-- The node key and share keys: 32-byte Ed25519 seeds, sealed when the vault has a passphrase.
CREATE TABLE keys (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('node', 'share')),
    pubkey      BLOB    NOT NULL UNIQUE CHECK (length(pubkey) = 32),
    share_id    BLOB    UNIQUE,
    secret      BLOB    NOT NULL,
    sealed      INTEGER NOT NULL CHECK (sealed IN (0, 1)),
    created_at  INTEGER NOT NULL,
    CHECK ((kind = 'node') = (share_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX keys_single_node ON keys(kind) WHERE kind = 'node';

-- Shares this node publishes. next_seq is the lowest seq never handed out.
CREATE TABLE shares (
    share_id    BLOB    PRIMARY KEY REFERENCES keys(share_id),
    name        TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    created_at  INTEGER NOT NULL,
    next_seq    INTEGER NOT NULL CHECK (next_seq >= 1)
) STRICT;

CREATE TABLE revisions (
    share_id     BLOB    NOT NULL REFERENCES shares(share_id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    manifest_id  BLOB    NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (share_id, seq)
) STRICT, WITHOUT ROWID;

-- Manifest cache (transmitted CBOR), shared by own shares and subscriptions.
CREATE TABLE manifests (
    manifest_id BLOB    PRIMARY KEY,
    share_id    BLOB    NOT NULL,
    seq         INTEGER NOT NULL,
    bytes       BLOB    NOT NULL,
    stored_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX manifests_by_share ON manifests(share_id, seq);

-- Highest head seen per share; kept across unsubscribe.
CREATE TABLE heads (
    share_id    BLOB    PRIMARY KEY,
    seq         INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    manifest_id BLOB    NOT NULL,
    head        BLOB    NOT NULL,
    stored_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE subscriptions (
    share_id      BLOB    PRIMARY KEY,
    share_pubkey  BLOB,
    trust         TEXT    NOT NULL CHECK (trust IN ('trusted', 'normal', 'untrusted')),
    is_blocklist  INTEGER NOT NULL CHECK (is_blocklist IN (0, 1)),
    weight        REAL    NOT NULL,
    bootstrap     TEXT    NOT NULL,
    subscribed_at INTEGER NOT NULL,
    last_sync_at  INTEGER,
    last_error    TEXT,
    current_seq   INTEGER,
    manifest_id   BLOB
) STRICT;

-- Local content we can serve: one row per content id, one row per file holding it.
CREATE TABLE content (
    content_id      BLOB    PRIMARY KEY,
    size            INTEGER NOT NULL,
    chunk_hashes    BLOB    NOT NULL,
    chunk_list_hash BLOB    NOT NULL,
    added_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE content_paths (
    path        BLOB    PRIMARY KEY,
    content_id  BLOB    NOT NULL REFERENCES content(content_id) ON DELETE CASCADE,
    mtime_ns    INTEGER NOT NULL,
    origin      TEXT    NOT NULL CHECK (origin IN ('published', 'downloaded')),
    added_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX content_paths_by_content ON content_paths(content_id);

CREATE TABLE downloads (
    id              INTEGER PRIMARY KEY,
    content_id      BLOB    NOT NULL,
    share_id        BLOB,
    item_path       TEXT    NOT NULL,
    target_path     BLOB    NOT NULL UNIQUE,
    size            INTEGER NOT NULL,
    chunk_count     INTEGER NOT NULL,
    chunk_list_hash BLOB    NOT NULL,
    chunk_hashes    BLOB,
    bitmap          BLOB    NOT NULL,
    state           TEXT    NOT NULL
        CHECK (state IN ('queued', 'running', 'paused', 'failed', 'complete', 'disk_full')),
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE peers (
    key           TEXT    PRIMARY KEY,
    addr          BLOB    NOT NULL,
    node_pubkey   BLOB,
    capabilities  INTEGER,
    caps_verified INTEGER NOT NULL CHECK (caps_verified IN (0, 1)),
    source        TEXT    NOT NULL CHECK (source IN ('bootstrap', 'lan', 'pex', 'dht', 'session')),
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    last_ok       INTEGER,
    failures      INTEGER NOT NULL
) STRICT;

CREATE TABLE communities (
    share_id         BLOB    PRIMARY KEY,
    pubkey           BLOB    NOT NULL,
    name             TEXT,
    joined_at        INTEGER NOT NULL,
    membership_token BLOB
) STRICT;

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
"#;

const SCHEMA_V2_COMMUNITY_RECORDS: &str = r#"
-- Strict communities require membership tokens checked against session identities.
ALTER TABLE communities ADD COLUMN strict INTEGER NOT NULL DEFAULT 0 CHECK (strict IN (0, 1));

-- Signed member (kind 1) and share (kind 2) records of joined communities, newest per
-- subject; rev orders changes (AUTOINCREMENT: never reused, so cursors stay valid).
CREATE TABLE community_records (
    rev         INTEGER PRIMARY KEY AUTOINCREMENT,
    community   BLOB    NOT NULL CHECK (length(community) = 32),
    kind        INTEGER NOT NULL CHECK (kind IN (1, 2)),
    subject     BLOB    NOT NULL CHECK (length(subject) = 32),
    seq         INTEGER NOT NULL,
    stamp       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    tombstone   INTEGER NOT NULL CHECK (tombstone IN (0, 1)),
    publisher   BLOB,
    record      BLOB    NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (community, kind, subject)
) STRICT;
CREATE INDEX community_records_stream ON community_records(community, rev);
CREATE INDEX community_records_kind_stream ON community_records(community, kind, rev);
CREATE INDEX community_records_expiry ON community_records(expires_at);
CREATE INDEX community_records_publisher ON community_records(community, publisher) WHERE kind = 2;

-- Where this node is in each peer's record stream.
CREATE TABLE community_cursors (
    community BLOB    NOT NULL,
    peer      BLOB    NOT NULL,
    kinds     INTEGER NOT NULL,
    cursor    BLOB    NOT NULL,
    synced_at INTEGER NOT NULL,
    PRIMARY KEY (community, peer, kinds)
) STRICT, WITHOUT ROWID;
"#;

/// Chunk hash lists move out of `content` and `downloads` into tables where the list is the
/// last column: SQLite then writes a zero-filled list of a given length (`zeroblob`) straight
/// to its pages, where a BLOB followed by other columns is first built whole in memory (13 MB
/// for a 100 GiB file). Lists are then filled and read in pieces (`db::hash_lists`).
const SCHEMA_V3_HASH_LISTS: &str = r#"
CREATE TABLE content_hashes (
    content_id BLOB PRIMARY KEY REFERENCES content(content_id) ON DELETE CASCADE,
    hashes     BLOB NOT NULL
) STRICT;
INSERT INTO content_hashes (content_id, hashes) SELECT content_id, chunk_hashes FROM content;
ALTER TABLE content DROP COLUMN chunk_hashes;

CREATE TABLE download_hashes (
    download_id INTEGER PRIMARY KEY REFERENCES downloads(id) ON DELETE CASCADE,
    hashes      BLOB NOT NULL
) STRICT;
INSERT INTO download_hashes (download_id, hashes)
    SELECT id, chunk_hashes FROM downloads WHERE chunk_hashes IS NOT NULL;
ALTER TABLE downloads DROP COLUMN chunk_hashes;
"#;

/// Reads the schema version.
pub fn schema_version(conn: &Connection) -> Result<u32> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).ctx(|| "reading the schema version".into())?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("schema version {v} is not a valid version")))
}

/// Brings the database to the newest version of `migrations`. `db_name` names the database
/// in errors.
pub fn migrate(conn: &mut Connection, migrations: &[Migration], db_name: &str) -> Result<()> {
    let latest = migrations.last().map_or(0, |m| m.version);
    let current = schema_version(conn)?;
    if current > latest {
        return Err(StoreError::Invalid(format!(
            "{db_name} has schema version {current}, newer than the {latest} this trove understands; \
             upgrade trove or use another data directory"
        )));
    }
    for m in migrations.iter().filter(|m| m.version > current) {
        let what = || format!("migrating {db_name} to schema version {} ({})", m.version, m.name);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx(what)?;
        // Re-read inside the write lock: another connection may have migrated meanwhile.
        if schema_version(&tx)? >= m.version {
            continue;
        }
        tx.execute_batch(m.sql).ctx(what)?;
        tx.pragma_update(None, "user_version", m.version).ctx(what)?;
        tx.commit().ctx(what)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[Migration] = &[
        Migration { version: 1, name: "one", sql: "CREATE TABLE a (x INTEGER);" },
        Migration { version: 2, name: "two", sql: "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);" },
    ];

    #[test]
    fn applies_in_order_once() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, &STEPS[..1], "test.db").unwrap();
        assert_eq!(schema_version(&c).unwrap(), 1);
        migrate(&mut c, STEPS, "test.db").unwrap();
        migrate(&mut c, STEPS, "test.db").unwrap();
        assert_eq!(schema_version(&c).unwrap(), 2);
        let n: i64 = c.query_row("SELECT count(*) FROM a", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "step 2 ran exactly once");
    }

    #[test]
    fn a_failing_step_rolls_back_entirely() {
        let bad = [STEPS[0], Migration { version: 2, name: "broken", sql: "CREATE TABLE c (z); SELECT nope FROM;" }];
        let mut c = Connection::open_in_memory().unwrap();
        let e = migrate(&mut c, &bad, "test.db").unwrap_err().to_string();
        assert!(e.contains("schema version 2 (broken)"), "{e}");
        assert_eq!(schema_version(&c).unwrap(), 1);
        let tables: i64 = c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'c'", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn newer_database_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", 7).unwrap();
        let e = migrate(&mut c, STEPS, "trove.db").unwrap_err().to_string();
        assert!(e.contains("schema version 7, newer than the 2"), "{e}");
    }

    #[test]
    fn the_real_schema_applies_and_versions_are_contiguous() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
        }
        assert_eq!(MIGRATIONS.last().unwrap().version, SCHEMA_VERSION);
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, MIGRATIONS, "trove.db").unwrap();
        assert_eq!(schema_version(&c).unwrap(), SCHEMA_VERSION);
    }

    /// Version 3 moves every stored list into the new tables intact, keeps downloads without
    /// a list without one, and the lists go with their rows.
    #[test]
    fn hash_lists_move_to_their_own_tables() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "foreign_keys", "ON").unwrap();
        migrate(&mut c, &MIGRATIONS[..2], "trove.db").unwrap();
        let list: Vec<u8> = (0..96u8).collect();
        c.execute(
            "INSERT INTO content (content_id, size, chunk_hashes, chunk_list_hash, added_at)
             VALUES (x'01', 600000, ?1, x'02', 5)",
            [&list],
        )
        .unwrap();
        for (id, hashes) in [(1, Some(list.clone())), (2, None)] {
            c.execute(
                "INSERT INTO downloads (id, content_id, item_path, target_path, size, chunk_count, chunk_list_hash,
                     chunk_hashes, bitmap, state, created_at, updated_at)
                 VALUES (?1, x'01', 'a', ?2, 600000, 3, x'02', ?3, x'00', 'queued', 1, 1)",
                rusqlite::params![id, format!("/dl/{id}").into_bytes(), hashes],
            )
            .unwrap();
        }
        migrate(&mut c, MIGRATIONS, "trove.db").unwrap();
        assert_eq!(schema_version(&c).unwrap(), 3);
        let got: Vec<u8> =
            c.query_row("SELECT hashes FROM content_hashes WHERE content_id = x'01'", [], |r| r.get(0)).unwrap();
        assert_eq!(got, list);
        let downloads: Vec<(i64, Vec<u8>)> = c
            .prepare("SELECT download_id, hashes FROM download_hashes")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(downloads, vec![(1, list)]);
        let cols = |t: &str| -> i64 {
            c.query_row(
                &format!("SELECT count(*) FROM pragma_table_info('{t}') WHERE name = 'chunk_hashes'"),
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!((cols("content"), cols("downloads")), (0, 0));
        c.execute("DELETE FROM downloads WHERE id = 1", []).unwrap();
        c.execute("DELETE FROM content", []).unwrap();
        let left: i64 = c
            .query_row(
                "SELECT (SELECT count(*) FROM content_hashes) + (SELECT count(*) FROM download_hashes)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0, "lists go with their rows");
    }
}
