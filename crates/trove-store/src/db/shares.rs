//! Shares this node publishes: a unique human name per share, its key in the vault, and its
//! revisions. Sequence numbers come from `reserve_seq`, which commits the next free number
//! before returning it, so a seq is never handed out twice, even when the process dies
//! before the revision is recorded. The floor can be raised above what the network has seen
//! (FT-9: a publisher key restored on a new machine continues above the network's head).

use super::keys::{insert_share_key, key_for_writing};
use super::sql::{Ctx, col_fixed, col_u64, int, now_int};
use super::{Db, write_tx};
use crate::error::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};
use trove_proto::{Keypair, ManifestId, PubKey, ShareId};
use unicode_normalization::UnicodeNormalization;

/// Longest share name, in characters.
pub const MAX_SHARE_NAME_CHARS: usize = 64;
/// Shortest hex prefix accepted when looking a share up by id prefix.
pub const MIN_ID_PREFIX: usize = 4;

/// One of our shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnShare {
    pub share_id: ShareId,
    pub pubkey: PubKey,
    pub name: String,
    pub created_at: u64,
    /// The seq the next `reserve_seq` returns.
    pub next_seq: u64,
    pub latest: Option<Revision>,
}

/// A published revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub share_id: ShareId,
    pub seq: u64,
    pub manifest_id: ManifestId,
    pub published_at: u64,
}

/// Checks a share name and returns its stored (NFC) form: non-empty, at most 64 characters,
/// no control characters, no leading or trailing spaces.
pub fn validate_share_name(name: &str) -> Result<String> {
    let name: String = name.nfc().collect();
    let bad = |why: &str| Err(StoreError::Invalid(format!("share name '{}': {why}", name.escape_debug())));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.chars().count() > MAX_SHARE_NAME_CHARS {
        return bad(&format!("is longer than {MAX_SHARE_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    if name.trim() != name {
        return bad("starts or ends with white space");
    }
    Ok(name)
}

const SHARE_COLS: &str = "s.share_id, k.pubkey, s.name, s.created_at, s.next_seq,
     (SELECT seq FROM revisions r WHERE r.share_id = s.share_id ORDER BY seq DESC LIMIT 1),
     (SELECT manifest_id FROM revisions r WHERE r.share_id = s.share_id ORDER BY seq DESC LIMIT 1),
     (SELECT published_at FROM revisions r WHERE r.share_id = s.share_id ORDER BY seq DESC LIMIT 1)";

fn share_from_row(r: &Row<'_>) -> rusqlite::Result<OwnShare> {
    let share_id = ShareId(col_fixed(r, 0)?);
    let latest = match r.get::<_, Option<i64>>(5)? {
        None => None,
        Some(_) => Some(Revision {
            share_id,
            seq: col_u64(r, 5)?,
            manifest_id: ManifestId(col_fixed(r, 6)?),
            published_at: col_u64(r, 7)?,
        }),
    };
    Ok(OwnShare {
        share_id,
        pubkey: PubKey(col_fixed(r, 1)?),
        name: r.get(2)?,
        created_at: col_u64(r, 3)?,
        next_seq: col_u64(r, 4)?,
        latest,
    })
}

fn get_share(conn: &Connection, id: &ShareId) -> Result<Option<OwnShare>> {
    conn.prepare_cached(&format!(
        "SELECT {SHARE_COLS} FROM shares s JOIN keys k ON k.share_id = s.share_id WHERE s.share_id = ?1"
    ))
    .and_then(|mut s| s.query_row([&id.0[..]], share_from_row).optional())
    .ctx(|| format!("reading share {}", id.short()))
}

fn insert_share(conn: &Connection, id: &ShareId, name: &str) -> Result<()> {
    let taken: Option<Vec<u8>> = conn
        .prepare_cached("SELECT share_id FROM shares WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
        .ctx(|| format!("checking share name '{name}'"))?;
    if let Some(other) = taken {
        return Err(StoreError::Invalid(format!(
            "share name '{name}' is already used by share {}",
            hex::encode(&other[..other.len().min(4)])
        )));
    }
    let exists: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM shares WHERE share_id = ?1)")
        .and_then(|mut s| s.query_row([&id.0[..]], |r| r.get(0)))
        .ctx(|| format!("checking share {}", id.short()))?;
    if exists {
        return Err(StoreError::Invalid(format!("share {} already exists", id.short())));
    }
    conn.prepare_cached("INSERT INTO shares (share_id, name, created_at, next_seq) VALUES (?1, ?2, ?3, 1)")
        .and_then(|mut s| s.execute(params![&id.0[..], name, now_int()]))
        .ctx(|| format!("saving share {} '{name}'", id.short()))?;
    Ok(())
}

fn next_seq(conn: &Connection, id: &ShareId) -> Result<u64> {
    let v: Option<u64> = conn
        .prepare_cached("SELECT next_seq FROM shares WHERE share_id = ?1")
        .and_then(|mut s| s.query_row([&id.0[..]], |r| col_u64(r, 0)).optional())
        .ctx(|| format!("reading the next seq of share {}", id.short()))?;
    v.ok_or_else(|| StoreError::NotFound(format!("share {} is not one of ours", id.short())))
}

fn set_next_seq(conn: &Connection, id: &ShareId, next: u64) -> Result<()> {
    let next = int(next, "seq")?;
    conn.prepare_cached("UPDATE shares SET next_seq = ?1 WHERE share_id = ?2")
        .and_then(|mut s| s.execute(params![next, &id.0[..]]))
        .ctx(|| format!("saving the next seq of share {}", id.short()))?;
    Ok(())
}

impl Db {
    /// Creates a share with a new key. Both are committed before this returns.
    pub fn create_share(&self, name: &str) -> Result<(OwnShare, Keypair)> {
        let name = validate_share_name(name)?;
        let kp = Keypair::generate();
        let id = kp.share_id();
        let db = self.name();
        self.locked(|s| {
            let key = key_for_writing(&s.conn, s.vault_key.as_ref(), &db)?;
            write_tx(&mut s.conn, &format!("creating share '{name}'"), |tx| {
                insert_share_key(tx, &kp, key)?;
                insert_share(tx, &id, &name)
            })
        })?;
        let share = self.share(&id)?.ok_or_else(|| StoreError::NotFound(format!("share {} vanished", id.short())))?;
        Ok((share, kp))
    }

    /// Creates a share for a key already in the vault (e.g. imported).
    pub fn create_share_with_key(&self, name: &str, share_id: &ShareId) -> Result<OwnShare> {
        let name = validate_share_name(name)?;
        self.write(&format!("creating share '{name}'"), |tx| {
            let has_key: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM keys WHERE share_id = ?1)", [&share_id.0[..]], |r| r.get(0))
                .ctx(|| format!("looking up the key of share {}", share_id.short()))?;
            if !has_key {
                return Err(StoreError::NotFound(format!(
                    "no key for share {share_id}: import it before creating the share"
                )));
            }
            insert_share(tx, share_id, &name)
        })?;
        self.share(share_id)?.ok_or_else(|| StoreError::NotFound(format!("share {} vanished", share_id.short())))
    }

    /// One of our shares by id.
    pub fn share(&self, share_id: &ShareId) -> Result<Option<OwnShare>> {
        self.read(|c| get_share(c, share_id))
    }

    /// All our shares, by name.
    pub fn shares(&self) -> Result<Vec<OwnShare>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {SHARE_COLS} FROM shares s JOIN keys k ON k.share_id = s.share_id ORDER BY s.name"
                ))
                .ctx(|| "listing shares".into())?;
            stmt.query_map([], share_from_row).and_then(|rows| rows.collect()).ctx(|| "listing shares".into())
        })
    }

    /// Finds one of our shares by exact name (case-insensitive), full hex id, or a unique hex
    /// prefix of at least 4 digits.
    pub fn find_share(&self, query: &str) -> Result<OwnShare> {
        let q = query.trim();
        let name: String = q.nfc().collect();
        let by_name = self.read(|c| {
            c.prepare_cached("SELECT share_id FROM shares WHERE name = ?1")
                .and_then(|mut s| s.query_row([&name], |r| col_fixed::<32>(r, 0)).optional())
                .ctx(|| format!("looking up share '{name}'"))
        })?;
        if let Some(id) = by_name {
            return self.share(&ShareId(id))?.ok_or_else(|| StoreError::NotFound(format!("share '{name}' vanished")));
        }
        let hex_like = q.len() >= MIN_ID_PREFIX && q.len() <= 64 && q.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex_like {
            return Err(StoreError::NotFound(format!("no share named '{}'", q.escape_debug())));
        }
        let prefix = q.to_ascii_lowercase();
        let matches: Vec<OwnShare> =
            self.shares()?.into_iter().filter(|s| s.share_id.to_hex().starts_with(&prefix)).collect();
        match matches.len() {
            0 => Err(StoreError::NotFound(format!("no share named or with an id starting with '{q}'"))),
            1 => Ok(matches.into_iter().next().ok_or_else(|| StoreError::NotFound(q.to_string()))?),
            n => Err(StoreError::Invalid(format!(
                "'{q}' matches {n} shares ({}); give more digits",
                matches.iter().map(|s| s.share_id.short()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Hands out the next seq of a share. The increment is committed before the number is
    /// returned, so it is never handed out again.
    pub fn reserve_seq(&self, share_id: &ShareId) -> Result<u64> {
        self.write(&format!("reserving a seq for share {}", share_id.short()), |tx| {
            let seq = next_seq(tx, share_id)?;
            let next = seq
                .checked_add(1)
                .filter(|n| i64::try_from(*n).is_ok())
                .ok_or_else(|| StoreError::Invalid(format!("share {}: seq numbers are exhausted", share_id.short())))?;
            set_next_seq(tx, share_id, next)?;
            Ok(seq)
        })
    }

    /// Makes sure every later [`Db::reserve_seq`] returns more than `seen_seq` (the highest seq
    /// the network knows for this share). Returns the next seq.
    pub fn raise_seq_floor(&self, share_id: &ShareId, seen_seq: u64) -> Result<u64> {
        self.write(&format!("raising the seq floor of share {}", share_id.short()), |tx| {
            let current = next_seq(tx, share_id)?;
            let wanted = seen_seq.checked_add(1).ok_or_else(|| {
                StoreError::Invalid(format!("share {}: seq {seen_seq} leaves no seq above it", share_id.short()))
            })?;
            if wanted > current {
                set_next_seq(tx, share_id, wanted)?;
                return Ok(wanted);
            }
            Ok(current)
        })
    }

    /// Records a published revision. The seq must have been reserved and not recorded yet.
    pub fn record_revision(&self, share_id: &ShareId, seq: u64, manifest_id: &ManifestId) -> Result<Revision> {
        let published_at = now_int();
        let seq_int = int(seq, "seq")?;
        self.write(&format!("recording revision {seq} of share {}", share_id.short()), |tx| {
            if seq >= next_seq(tx, share_id)? {
                return Err(StoreError::Invalid(format!(
                    "share {}: seq {seq} was never reserved",
                    share_id.short()
                )));
            }
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO revisions (share_id, seq, manifest_id, published_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![&share_id.0[..], seq_int, &manifest_id.0[..], published_at]))
                .ctx(|| format!("recording revision {seq} of share {}", share_id.short()))?;
            if n == 0 {
                return Err(StoreError::Invalid(format!(
                    "share {}: revision {seq} is already recorded",
                    share_id.short()
                )));
            }
            Ok(())
        })?;
        Ok(Revision { share_id: *share_id, seq, manifest_id: *manifest_id, published_at: published_at as u64 })
    }

    /// The newest recorded revision of a share.
    pub fn latest_revision(&self, share_id: &ShareId) -> Result<Option<Revision>> {
        Ok(self.revisions(share_id)?.pop())
    }

    /// All recorded revisions of a share, oldest first.
    pub fn revisions(&self, share_id: &ShareId) -> Result<Vec<Revision>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT seq, manifest_id, published_at FROM revisions WHERE share_id = ?1 ORDER BY seq")
                .ctx(|| format!("listing revisions of share {}", share_id.short()))?;
            stmt.query_map([&share_id.0[..]], |r| {
                Ok(Revision {
                    share_id: *share_id,
                    seq: col_u64(r, 0)?,
                    manifest_id: ManifestId(col_fixed(r, 1)?),
                    published_at: col_u64(r, 2)?,
                })
            })
            .and_then(|rows| rows.collect())
            .ctx(|| format!("listing revisions of share {}", share_id.short()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert_eq!(validate_share_name("Photos").unwrap(), "Photos");
        assert_eq!(validate_share_name("cafe\u{301}").unwrap(), "caf\u{e9}");
        assert!(validate_share_name("").is_err());
        assert!(validate_share_name(&"x".repeat(65)).is_err());
        assert!(validate_share_name(&"é".repeat(64)).is_ok());
        assert!(validate_share_name("a\nb").unwrap_err().to_string().contains("control"));
        assert!(validate_share_name(" a").is_err());
    }

    #[test]
    fn seq_reservation_floor_and_revisions() {
        let db = Db::open_in_memory().unwrap();
        let (share, _kp) = db.create_share("Photos").unwrap();
        let id = share.share_id;
        assert_eq!(share.next_seq, 1);
        assert_eq!(db.reserve_seq(&id).unwrap(), 1);
        assert_eq!(db.reserve_seq(&id).unwrap(), 2);
        let e = db.record_revision(&id, 3, &ManifestId([1; 32])).unwrap_err().to_string();
        assert!(e.contains("never reserved"), "{e}");
        db.record_revision(&id, 2, &ManifestId([2; 32])).unwrap();
        assert!(db.record_revision(&id, 2, &ManifestId([3; 32])).is_err());
        assert_eq!(db.raise_seq_floor(&id, 10).unwrap(), 11);
        assert_eq!(db.raise_seq_floor(&id, 5).unwrap(), 11, "the floor never goes down");
        assert_eq!(db.reserve_seq(&id).unwrap(), 11);
        db.record_revision(&id, 11, &ManifestId([4; 32])).unwrap();
        let latest = db.latest_revision(&id).unwrap().unwrap();
        assert_eq!((latest.seq, latest.manifest_id), (11, ManifestId([4; 32])));
        assert_eq!(db.share(&id).unwrap().unwrap().latest, Some(latest));
        assert!(db.raise_seq_floor(&id, u64::MAX).is_err());
        assert!(matches!(db.reserve_seq(&ShareId([0; 32])), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn lookup_by_name_id_and_prefix() {
        let db = Db::open_in_memory().unwrap();
        let (a, _) = db.create_share("Photos").unwrap();
        let (b, _) = db.create_share("Music").unwrap();
        assert!(db.create_share("photos").unwrap_err().to_string().contains("already used"));
        assert_eq!(db.find_share("PHOTOS").unwrap().share_id, a.share_id);
        assert_eq!(db.find_share(&b.share_id.to_hex()).unwrap().share_id, b.share_id);
        assert_eq!(db.find_share(&a.share_id.to_hex()[..8]).unwrap().share_id, a.share_id);
        assert!(matches!(db.find_share("Videos"), Err(StoreError::NotFound(_))));
        assert_eq!(db.shares().unwrap().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["Music", "Photos"]);
    }

    #[test]
    fn imported_key_becomes_a_share() {
        let db = Db::open_in_memory().unwrap();
        let kp = Keypair::from_seed([8; 32]);
        assert!(matches!(db.create_share_with_key("Old", &kp.share_id()), Err(StoreError::NotFound(_))));
        db.import_share_key(kp.seed()).unwrap();
        let s = db.create_share_with_key("Old", &kp.share_id()).unwrap();
        assert_eq!(s.pubkey, kp.public());
        assert!(db.create_share_with_key("Other", &kp.share_id()).unwrap_err().to_string().contains("already exists"));
    }
}
