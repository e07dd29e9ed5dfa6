//! Community records (docs/PROTOCOL.md §6): the signed member and share records this node
//! knows for each joined community, its own included, and where it is in each peer's record
//! stream.
//!
//! Each row is the newest record about one subject (a member's node key or a share id) of
//! one community. Rows carry a change number `rev` from an AUTOINCREMENT key: a newer record
//! replaces the row and takes a fresh, higher `rev`, so reading `rev > cursor` in order yields
//! every change since the cursor (tombstones included) and nothing twice. Expired rows are
//! simply deleted: a tombstone always outlives the record it replaced, so a reader that
//! missed both loses nothing. The caller verifies signatures before storing; this module
//! only orders and keeps.

use super::Db;
use super::sql::{Ctx, col_fixed, col_opt_fixed, col_u64, int, now_int};
use crate::error::{Result, StoreError};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use trove_proto::{PubKey, ShareId};

/// What a record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A member (subject: its node public key).
    Member,
    /// A share (subject: its share id).
    Share,
}

impl RecordKind {
    fn code(self) -> i64 {
        match self {
            RecordKind::Member => 1,
            RecordKind::Share => 2,
        }
    }

    fn from_code(c: i64) -> Option<RecordKind> {
        match c {
            1 => Some(RecordKind::Member),
            2 => Some(RecordKind::Share),
            _ => None,
        }
    }

    /// The bit of this kind in a kinds set (1 members, 2 shares).
    pub fn bit(self) -> u8 {
        self.code() as u8
    }
}

/// A record to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRecord {
    pub kind: RecordKind,
    pub subject: [u8; 32],
    pub seq: u64,
    /// Tie-breaker for equal seq (issued_at / updated_at).
    pub stamp: u64,
    pub expires_at: u64,
    pub tombstone: bool,
    /// Share records: the publishing node.
    pub publisher: Option<PubKey>,
    /// The signed record's CBOR.
    pub record: Vec<u8>,
}

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRow {
    pub rev: u64,
    pub kind: RecordKind,
    pub subject: [u8; 32],
    pub seq: u64,
    pub stamp: u64,
    pub expires_at: u64,
    pub tombstone: bool,
    pub publisher: Option<PubKey>,
    pub record: Vec<u8>,
}

/// What storing one record did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored under a new change number. `previous` tells whether a row was replaced and
    /// whether that row was live (not a tombstone).
    Stored { rev: u64, previous: Option<bool> },
    /// Refused: a record at least as new is stored.
    NotNewer,
    /// Refused: the community holds the most records of this kind allowed.
    Full,
}

/// Most records kept per community.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordCaps {
    pub members: usize,
    pub shares: usize,
    /// Share records naming one publisher.
    pub shares_per_publisher: usize,
}

impl Default for RecordCaps {
    /// 50,000 members, 500,000 shares and 10,000 shares per publisher in each community.
    fn default() -> Self {
        RecordCaps { members: 50_000, shares: 500_000, shares_per_publisher: 10_000 }
    }
}

const COLS: &str = "rev, kind, subject, seq, stamp, expires_at, tombstone, publisher, record";

fn from_row(r: &Row<'_>) -> rusqlite::Result<RecordRow> {
    let kind: i64 = r.get(1)?;
    Ok(RecordRow {
        rev: col_u64(r, 0)?,
        kind: RecordKind::from_code(kind).ok_or_else(|| {
            super::sql::conv_err(1, rusqlite::types::Type::Integer, format!("unknown record kind {kind}"))
        })?,
        subject: col_fixed(r, 2)?,
        seq: col_u64(r, 3)?,
        stamp: col_u64(r, 4)?,
        expires_at: col_u64(r, 5)?,
        tombstone: r.get::<_, i64>(6)? != 0,
        publisher: col_opt_fixed(r, 7)?.map(PubKey),
        record: r.get(8)?,
    })
}

fn kinds_clause(kinds: u8) -> &'static str {
    match kinds & 3 {
        1 => "kind = 1",
        2 => "kind = 2",
        3 => "kind IN (1, 2)",
        _ => "0",
    }
}

/// Records of each kind stored for the community of a batch (counted once per batch).
struct Counts {
    members: Option<usize>,
    shares: Option<usize>,
}

fn count(tx: &Transaction<'_>, community: &ShareId, kind: RecordKind) -> Result<usize> {
    let n: i64 = tx
        .prepare_cached("SELECT count(*) FROM community_records WHERE community = ?1 AND kind = ?2")
        .and_then(|mut s| s.query_row(params![&community.0[..], kind.code()], |row| row.get(0)))
        .ctx(|| format!("counting the records of community {}", community.short()))?;
    Ok(n as usize)
}

fn put_one(
    tx: &Transaction<'_>,
    community: &ShareId,
    r: &NewRecord,
    caps: &RecordCaps,
    counts: &mut Counts,
) -> Result<PutOutcome> {
    let what = || format!("storing a record of community {}", community.short());
    let old: Option<(u64, u64, bool)> = tx
        .prepare_cached(
            "SELECT seq, stamp, tombstone FROM community_records WHERE community = ?1 AND kind = ?2 AND subject = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![&community.0[..], r.kind.code(), &r.subject[..]], |row| {
                Ok((col_u64(row, 0)?, col_u64(row, 1)?, row.get::<_, i64>(2)? != 0))
            })
            .optional()
        })
        .ctx(what)?;
    if let Some((seq, stamp, _)) = old
        && (r.seq, r.stamp) <= (seq, stamp)
    {
        return Ok(PutOutcome::NotNewer);
    }
    if old.is_none() {
        let (cap, n) = match r.kind {
            RecordKind::Member => (caps.members, &mut counts.members),
            RecordKind::Share => (caps.shares, &mut counts.shares),
        };
        let stored = match n {
            Some(v) => v,
            None => n.insert(count(tx, community, r.kind)?),
        };
        if *stored >= cap {
            return Ok(PutOutcome::Full);
        }
        if let Some(p) = &r.publisher {
            let n: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM community_records WHERE community = ?1 AND kind = 2 AND publisher = ?2",
                )
                .and_then(|mut s| s.query_row(params![&community.0[..], &p.0[..]], |row| row.get(0)))
                .ctx(what)?;
            if n as usize >= caps.shares_per_publisher {
                return Ok(PutOutcome::Full);
            }
        }
        *stored += 1;
    } else {
        tx.prepare_cached("DELETE FROM community_records WHERE community = ?1 AND kind = ?2 AND subject = ?3")
            .and_then(|mut s| s.execute(params![&community.0[..], r.kind.code(), &r.subject[..]]))
            .ctx(what)?;
    }
    let (seq, stamp, expires) =
        (int(r.seq, "record seq")?, int(r.stamp, "record stamp")?, int(r.expires_at, "record expiry")?);
    tx.prepare_cached(
        "INSERT INTO community_records
             (community, kind, subject, seq, stamp, expires_at, tombstone, publisher, record, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut s| {
        s.execute(params![
            &community.0[..],
            r.kind.code(),
            &r.subject[..],
            seq,
            stamp,
            expires,
            r.tombstone as i64,
            r.publisher.as_ref().map(|k| &k.0[..]),
            &r.record,
            now_int(),
        ])
    })
    .ctx(what)?;
    let rev = u64::try_from(tx.last_insert_rowid()).unwrap_or(0);
    Ok(PutOutcome::Stored { rev, previous: old.map(|(_, _, tomb)| !tomb) })
}

impl Db {
    /// Stores records of one community in one transaction, each only if newer than what is
    /// stored about its subject (higher `(seq, stamp)`) and within `caps`.
    pub fn put_community_records(
        &self,
        community: &ShareId,
        records: &[NewRecord],
        caps: &RecordCaps,
    ) -> Result<Vec<PutOutcome>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let what = format!("storing {} records of community {}", records.len(), community.short());
        self.write(&what, |tx| {
            let mut counts = Counts { members: None, shares: None };
            records.iter().map(|r| put_one(tx, community, r, caps, &mut counts)).collect()
        })
    }

    /// The stored record about one subject.
    pub fn community_record(
        &self,
        community: &ShareId,
        kind: RecordKind,
        subject: &[u8; 32],
    ) -> Result<Option<RecordRow>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLS} FROM community_records WHERE community = ?1 AND kind = ?2 AND subject = ?3"
            ))
            .and_then(|mut s| s.query_row(params![&community.0[..], kind.code(), &subject[..]], from_row).optional())
            .ctx(|| format!("reading a record of community {}", community.short()))
        })
    }

    /// `(seq, stamp)` of the stored record about each subject (to skip verifying records
    /// that are not newer).
    pub fn community_record_versions(
        &self,
        community: &ShareId,
        kind: RecordKind,
        subjects: &[[u8; 32]],
    ) -> Result<Vec<Option<(u64, u64)>>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(
                    "SELECT seq, stamp FROM community_records WHERE community = ?1 AND kind = ?2 AND subject = ?3",
                )
                .ctx(|| "reading record versions".into())?;
            subjects
                .iter()
                .map(|sub| {
                    s.query_row(params![&community.0[..], kind.code(), &sub[..]], |r| {
                        Ok((col_u64(r, 0)?, col_u64(r, 1)?))
                    })
                    .optional()
                    .ctx(|| "reading record versions".into())
                })
                .collect()
        })
    }

    /// Unexpired records of `kinds` changed after `after_rev`, in change order, at most
    /// `limit` (the record stream served to peers).
    pub fn community_records_after(
        &self,
        community: &ShareId,
        kinds: u8,
        after_rev: u64,
        limit: usize,
        now: u64,
    ) -> Result<Vec<RecordRow>> {
        let after = int(after_rev, "cursor position")?;
        let now = int(now, "time")?;
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM community_records
                     WHERE community = ?1 AND {} AND rev > ?2 AND expires_at > ?3
                     ORDER BY rev LIMIT ?4",
                    kinds_clause(kinds)
                ))
                .ctx(|| "reading community records".into())?;
            s.query_map(params![&community.0[..], after, now, limit as i64], from_row)
                .and_then(|r| r.collect())
                .ctx(|| format!("reading records of community {}", community.short()))
        })
    }

    /// The highest change number of a community's records (0 when none).
    pub fn community_records_head(&self, community: &ShareId) -> Result<u64> {
        self.read(|c| {
            let v: Option<i64> = c
                .prepare_cached("SELECT max(rev) FROM community_records WHERE community = ?1")
                .and_then(|mut s| s.query_row([&community.0[..]], |r| r.get(0)))
                .ctx(|| "reading the record head".into())?;
            Ok(v.unwrap_or(0) as u64)
        })
    }

    /// Live (unexpired, not tombstoned) member records, newest change first.
    pub fn community_live_members(&self, community: &ShareId, now: u64) -> Result<Vec<RecordRow>> {
        let now = int(now, "time")?;
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM community_records
                     WHERE community = ?1 AND kind = 1 AND tombstone = 0 AND expires_at > ?2 ORDER BY rev DESC"
                ))
                .ctx(|| "reading community members".into())?;
            s.query_map(params![&community.0[..], now], from_row)
                .and_then(|r| r.collect())
                .ctx(|| format!("reading members of community {}", community.short()))
        })
    }

    /// A page of live share records whose publisher is a live member, newest change first,
    /// starting below `before_rev` (from the newest when `None`).
    pub fn community_live_shares_page(
        &self,
        community: &ShareId,
        before_rev: Option<u64>,
        limit: usize,
        now: u64,
    ) -> Result<Vec<RecordRow>> {
        let before = int(before_rev.unwrap_or(i64::MAX as u64), "cursor position")?;
        let now = int(now, "time")?;
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM community_records s
                     WHERE s.community = ?1 AND s.kind = 2 AND s.tombstone = 0 AND s.expires_at > ?2 AND s.rev < ?3
                       AND EXISTS (SELECT 1 FROM community_records m
                                   WHERE m.community = s.community AND m.kind = 1 AND m.subject = s.publisher
                                     AND m.tombstone = 0 AND m.expires_at > ?2)
                     ORDER BY s.rev DESC LIMIT ?4"
                ))
                .ctx(|| "reading community shares".into())?;
            s.query_map(params![&community.0[..], now, before, limit as i64], from_row)
                .and_then(|r| r.collect())
                .ctx(|| format!("reading shares of community {}", community.short()))
        })
    }

    /// Records whose publisher (share records) is `publisher`.
    pub fn community_records_by_publisher(&self, community: &ShareId, publisher: &PubKey) -> Result<Vec<RecordRow>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM community_records WHERE community = ?1 AND kind = 2 AND publisher = ?2"
                ))
                .ctx(|| "reading records by publisher".into())?;
            s.query_map(params![&community.0[..], &publisher.0[..]], from_row)
                .and_then(|r| r.collect())
                .ctx(|| "reading records by publisher".into())
        })
    }

    /// How many records of each kind a community has (members, shares), tombstones included.
    pub fn community_record_counts(&self, community: &ShareId) -> Result<(usize, usize)> {
        self.read(|c| {
            let mut s = c
                .prepare_cached("SELECT kind, count(*) FROM community_records WHERE community = ?1 GROUP BY kind")
                .ctx(|| "counting community records".into())?;
            let rows: Vec<(i64, i64)> = s
                .query_map([&community.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|r| r.collect())
                .ctx(|| "counting community records".into())?;
            let get = |k| rows.iter().find(|(kind, _)| *kind == k).map_or(0, |(_, n)| *n as usize);
            Ok((get(1), get(2)))
        })
    }

    /// Deletes records that expired before `now`; returns how many went.
    pub fn expire_community_records(&self, now: u64) -> Result<usize> {
        let now = int(now, "time")?;
        self.write("deleting expired community records", |tx| {
            tx.execute("DELETE FROM community_records WHERE expires_at <= ?1", [now])
                .ctx(|| "deleting expired community records".into())
        })
    }

    /// Forgets everything about a community's records and stream positions (after leaving).
    pub fn delete_community_records(&self, community: &ShareId) -> Result<()> {
        let what = format!("deleting the records of community {}", community.short());
        self.write(&what, |tx| {
            tx.execute("DELETE FROM community_records WHERE community = ?1", [&community.0[..]])
                .ctx(|| what.clone())?;
            tx.execute("DELETE FROM community_cursors WHERE community = ?1", [&community.0[..]])
                .ctx(|| what.clone())?;
            Ok(())
        })
    }

    /// Where this node is in `peer`'s record stream of a community.
    pub fn community_cursor(&self, community: &ShareId, peer: &PubKey, kinds: u8) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            c.prepare_cached("SELECT cursor FROM community_cursors WHERE community = ?1 AND peer = ?2 AND kinds = ?3")
                .and_then(|mut s| {
                    s.query_row(params![&community.0[..], &peer.0[..], kinds as i64], |r| r.get(0)).optional()
                })
                .ctx(|| "reading a community cursor".into())
        })
    }

    /// Saves (or, with `None`, forgets) a position in `peer`'s record stream.
    pub fn set_community_cursor(
        &self,
        community: &ShareId,
        peer: &PubKey,
        kinds: u8,
        cursor: Option<&[u8]>,
    ) -> Result<()> {
        if cursor.is_some_and(|c| c.len() > 256) {
            return Err(StoreError::Invalid("a community cursor is at most 256 bytes".into()));
        }
        self.write("saving a community cursor", |tx| {
            match cursor {
                Some(c) => tx.execute(
                    "INSERT INTO community_cursors (community, peer, kinds, cursor, synced_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (community, peer, kinds) DO UPDATE SET cursor = excluded.cursor,
                         synced_at = excluded.synced_at",
                    params![&community.0[..], &peer.0[..], kinds as i64, c, now_int()],
                ),
                None => tx.execute(
                    "DELETE FROM community_cursors WHERE community = ?1 AND peer = ?2 AND kinds = ?3",
                    params![&community.0[..], &peer.0[..], kinds as i64],
                ),
            }
            .ctx(|| "saving a community cursor".into())?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: RecordKind, subject: u8, seq: u64, tombstone: bool, publisher: Option<u8>) -> NewRecord {
        NewRecord {
            kind,
            subject: [subject; 32],
            seq,
            stamp: 100 + seq,
            expires_at: 1_000,
            tombstone,
            publisher: publisher.map(|p| PubKey([p; 32])),
            record: vec![subject, seq as u8],
        }
    }

    #[test]
    fn newer_records_replace_and_move_to_the_end_of_the_stream() {
        let db = Db::open_in_memory().unwrap();
        let c = ShareId([1; 32]);
        let caps = RecordCaps::default();
        let out = db
            .put_community_records(
                &c,
                &[rec(RecordKind::Member, 7, 1, false, None), rec(RecordKind::Share, 8, 1, false, Some(7))],
                &caps,
            )
            .unwrap();
        assert!(matches!(out[0], PutOutcome::Stored { previous: None, .. }));
        let all = db.community_records_after(&c, 3, 0, 10, 500).unwrap();
        assert_eq!(all.len(), 2);
        let cursor = all.last().unwrap().rev;
        // Same version again: refused; older: refused; newer tombstone: stored after the cursor.
        let again = db.put_community_records(&c, &[rec(RecordKind::Member, 7, 1, true, None)], &caps).unwrap();
        assert_eq!(again, vec![PutOutcome::NotNewer]);
        let out = db.put_community_records(&c, &[rec(RecordKind::Member, 7, 2, true, None)], &caps).unwrap();
        assert!(matches!(out[0], PutOutcome::Stored { previous: Some(true), .. }));
        let changes = db.community_records_after(&c, 3, cursor, 10, 500).unwrap();
        assert_eq!(changes.len(), 1);
        assert!(changes[0].tombstone && changes[0].seq == 2);
        assert_eq!(db.community_records_after(&c, 2, 0, 10, 500).unwrap().len(), 1, "kind filter");
        // The share's publisher left: it is no longer listed.
        assert!(db.community_live_shares_page(&c, None, 10, 500).unwrap().is_empty());
        assert!(db.community_live_members(&c, 500).unwrap().is_empty());
        // Other communities are separate.
        assert!(db.community_records_after(&ShareId([2; 32]), 3, 0, 10, 500).unwrap().is_empty());
        // Expiry deletes; expired rows are never served.
        assert!(db.community_records_after(&c, 3, 0, 10, 1_000).unwrap().is_empty());
        assert_eq!(db.expire_community_records(1_000).unwrap(), 2);
    }

    #[test]
    fn caps_and_cursors() {
        let db = Db::open_in_memory().unwrap();
        let c = ShareId([1; 32]);
        let caps = RecordCaps { members: 2, shares: 2, shares_per_publisher: 1 };
        let out = db
            .put_community_records(
                &c,
                &[
                    rec(RecordKind::Member, 1, 1, false, None),
                    rec(RecordKind::Member, 2, 1, false, None),
                    rec(RecordKind::Member, 3, 1, false, None),
                ],
                &caps,
            )
            .unwrap();
        assert_eq!(out[2], PutOutcome::Full);
        // Updates of known subjects still pass at the cap.
        let out = db.put_community_records(&c, &[rec(RecordKind::Member, 2, 5, false, None)], &caps).unwrap();
        assert!(matches!(out[0], PutOutcome::Stored { .. }));
        assert_eq!(db.community_record_counts(&c).unwrap(), (2, 0));
        // One publisher may not fill the community.
        let out = db
            .put_community_records(
                &c,
                &[rec(RecordKind::Share, 5, 1, false, Some(1)), rec(RecordKind::Share, 6, 1, false, Some(1))],
                &caps,
            )
            .unwrap();
        assert!(matches!(out[0], PutOutcome::Stored { .. }));
        assert_eq!(out[1], PutOutcome::Full);
        let peer = PubKey([9; 32]);
        assert_eq!(db.community_cursor(&c, &peer, 3).unwrap(), None);
        db.set_community_cursor(&c, &peer, 3, Some(b"abc")).unwrap();
        assert_eq!(db.community_cursor(&c, &peer, 3).unwrap().as_deref(), Some(&b"abc"[..]));
        db.delete_community_records(&c).unwrap();
        assert_eq!(db.community_cursor(&c, &peer, 3).unwrap(), None);
        assert_eq!(db.community_record_counts(&c).unwrap(), (0, 0));
    }
}
