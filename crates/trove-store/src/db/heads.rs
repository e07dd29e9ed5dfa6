//! The highest share head seen per share (signed head CBOR, seq, updated_at, manifest id).
//! A stored head only moves forward: a higher seq, or the same seq with a later `updated_at`
//! (SCP2P-WIRE.md §7.4). Heads are kept when a share is unsubscribed, so a replayed older
//! head is still refused after unsubscribe and resubscribe (TEST-MATRIX IN-6). The caller
//! verifies signatures before recording.

use super::Db;
use super::sql::{Ctx, col_u64, int, now_int};
use crate::error::{Result, StoreError};
use rusqlite::{OptionalExtension, params};
use trove_proto::ShareId;
use trove_proto::wire::{Payload, ShareHead};

/// A stored head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredHead {
    pub head: ShareHead,
    /// When we stored it (Unix seconds).
    pub stored_at: u64,
}

/// What [`Db::record_head`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadUpdate {
    /// The head is newer than anything seen; it replaced `previous_seq` (if any).
    Advanced { previous_seq: Option<u64> },
    /// The same head (seq and `updated_at`) is already stored.
    Unchanged,
    /// An older head than the stored one; nothing changed.
    Stale { current_seq: u64, current_updated_at: u64 },
}

impl Db {
    /// Records a head if it is newer than the stored one.
    pub fn record_head(&self, head: &ShareHead) -> Result<HeadUpdate> {
        let id = head.share_id;
        let what = format!("recording head seq {} of share {}", head.latest_seq, id.short());
        let seq = int(head.latest_seq, "head seq")?;
        let updated_at = int(head.updated_at, "head updated_at")?;
        let bytes = head.to_payload();
        self.write(&what, |tx| {
            let current: Option<(u64, u64)> = tx
                .prepare_cached("SELECT seq, updated_at FROM heads WHERE share_id = ?1")
                .and_then(|mut s| s.query_row([&id.0[..]], |r| Ok((col_u64(r, 0)?, col_u64(r, 1)?))).optional())
                .ctx(|| what.clone())?;
            if let Some((cur_seq, cur_upd)) = current {
                match (head.latest_seq, head.updated_at).cmp(&(cur_seq, cur_upd)) {
                    std::cmp::Ordering::Less => {
                        return Ok(HeadUpdate::Stale { current_seq: cur_seq, current_updated_at: cur_upd });
                    }
                    std::cmp::Ordering::Equal => return Ok(HeadUpdate::Unchanged),
                    std::cmp::Ordering::Greater => {}
                }
            }
            tx.prepare_cached(
                "INSERT INTO heads (share_id, seq, updated_at, manifest_id, head, stored_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (share_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at,
                     manifest_id = excluded.manifest_id, head = excluded.head, stored_at = excluded.stored_at",
            )
            .and_then(|mut s| {
                s.execute(params![&id.0[..], seq, updated_at, &head.latest_manifest_id.0[..], bytes, now_int()])
            })
            .ctx(|| what.clone())?;
            Ok(HeadUpdate::Advanced { previous_seq: current.map(|c| c.0) })
        })
    }

    /// The highest head seen for a share.
    pub fn head(&self, share_id: &ShareId) -> Result<Option<StoredHead>> {
        let row: Option<(Vec<u8>, u64)> = self.read(|c| {
            c.prepare_cached("SELECT head, stored_at FROM heads WHERE share_id = ?1")
                .and_then(|mut s| s.query_row([&share_id.0[..]], |r| Ok((r.get(0)?, col_u64(r, 1)?))).optional())
                .ctx(|| format!("reading the head of share {}", share_id.short()))
        })?;
        let Some((bytes, stored_at)) = row else { return Ok(None) };
        let head = ShareHead::from_payload(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("stored head of share {}: {e}", share_id.short())))?;
        if head.share_id != *share_id {
            return Err(StoreError::Corrupt(format!(
                "stored head of share {} names share {}",
                share_id.short(),
                head.share_id.short()
            )));
        }
        Ok(Some(StoredHead { head, stored_at }))
    }

    /// The highest seq seen for a share.
    pub fn highest_seq(&self, share_id: &ShareId) -> Result<Option<u64>> {
        self.read(|c| {
            c.prepare_cached("SELECT seq FROM heads WHERE share_id = ?1")
                .and_then(|mut s| s.query_row([&share_id.0[..]], |r| col_u64(r, 0)).optional())
                .ctx(|| format!("reading the head seq of share {}", share_id.short()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::{Keypair, ManifestId};

    #[test]
    fn heads_only_move_forward() {
        let db = Db::open_in_memory().unwrap();
        let k = Keypair::from_seed([3; 32]);
        let h = |seq, upd| ShareHead::sign(&k, seq, ManifestId([seq as u8; 32]), upd);
        assert_eq!(db.record_head(&h(5, 100)).unwrap(), HeadUpdate::Advanced { previous_seq: None });
        assert_eq!(db.record_head(&h(5, 100)).unwrap(), HeadUpdate::Unchanged);
        assert_eq!(db.record_head(&h(4, 999)).unwrap(), HeadUpdate::Stale { current_seq: 5, current_updated_at: 100 });
        assert!(matches!(db.record_head(&h(5, 99)).unwrap(), HeadUpdate::Stale { .. }));
        assert_eq!(db.record_head(&h(5, 101)).unwrap(), HeadUpdate::Advanced { previous_seq: Some(5) });
        assert_eq!(db.record_head(&h(6, 1)).unwrap(), HeadUpdate::Advanced { previous_seq: Some(5) });
        let stored = db.head(&k.share_id()).unwrap().unwrap();
        assert_eq!(stored.head, h(6, 1));
        assert_eq!(db.highest_seq(&k.share_id()).unwrap(), Some(6));
        assert!(db.record_head(&h(u64::MAX, 1)).is_err(), "unstorable seq is an error, not a wrap");
        assert_eq!(db.highest_seq(&k.share_id()).unwrap(), Some(6));
    }
}
