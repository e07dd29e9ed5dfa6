//! The manifest cache: transmitted manifest CBOR by manifest id, shared by our own shares and
//! subscriptions. A manifest id covers the manifest's whole content, so storing the same id
//! twice keeps the first copy. The caller verifies manifests before storing them.

use super::Db;
use super::sql::{Ctx, col_fixed, col_u64, int, now_int};
use crate::error::Result;
use rusqlite::{OptionalExtension, params};
use trove_proto::{ManifestId, ShareId};

/// A cached manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    pub manifest_id: ManifestId,
    pub share_id: ShareId,
    pub seq: u64,
    /// The transmitted CBOR (SCP2P-WIRE.md §7.1).
    pub bytes: Vec<u8>,
    pub stored_at: u64,
}

impl Db {
    /// Stores a manifest; `false` when it was already stored.
    pub fn put_manifest(&self, manifest_id: &ManifestId, share_id: &ShareId, seq: u64, bytes: &[u8]) -> Result<bool> {
        let what = format!("storing manifest {} (share {} seq {seq})", manifest_id.short(), share_id.short());
        let seq = int(seq, "seq")?;
        self.write(&what, |tx| {
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO manifests (manifest_id, share_id, seq, bytes, stored_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| s.execute(params![&manifest_id.0[..], &share_id.0[..], seq, bytes, now_int()]))
                .ctx(|| what.clone())?;
            Ok(n == 1)
        })
    }

    /// A cached manifest.
    pub fn manifest(&self, manifest_id: &ManifestId) -> Result<Option<StoredManifest>> {
        self.read(|c| {
            c.prepare_cached("SELECT share_id, seq, bytes, stored_at FROM manifests WHERE manifest_id = ?1")
                .and_then(|mut s| {
                    s.query_row([&manifest_id.0[..]], |r| {
                        Ok(StoredManifest {
                            manifest_id: *manifest_id,
                            share_id: ShareId(col_fixed(r, 0)?),
                            seq: col_u64(r, 1)?,
                            bytes: r.get(2)?,
                            stored_at: col_u64(r, 3)?,
                        })
                    })
                    .optional()
                })
                .ctx(|| format!("reading manifest {}", manifest_id.short()))
        })
    }

    /// Whether a manifest is cached.
    pub fn has_manifest(&self, manifest_id: &ManifestId) -> Result<bool> {
        self.read(|c| {
            c.prepare_cached("SELECT EXISTS (SELECT 1 FROM manifests WHERE manifest_id = ?1)")
                .and_then(|mut s| s.query_row([&manifest_id.0[..]], |r| r.get(0)))
                .ctx(|| format!("looking up manifest {}", manifest_id.short()))
        })
    }

    /// Deletes a cached manifest; `false` when it was not stored.
    pub fn delete_manifest(&self, manifest_id: &ManifestId) -> Result<bool> {
        let what = format!("deleting manifest {}", manifest_id.short());
        self.write(&what, |tx| {
            tx.execute("DELETE FROM manifests WHERE manifest_id = ?1", [&manifest_id.0[..]])
                .map(|n| n > 0)
                .ctx(|| what.clone())
        })
    }

    /// Deletes every manifest nothing refers to any more, and returns how many went. Kept:
    /// the latest revision of each of our shares, the current manifest of each subscription,
    /// and the manifest named by the highest head of a share we own or follow (it may be
    /// fetched but not applied yet).
    pub fn delete_unreferenced_manifests(&self) -> Result<usize> {
        self.write("deleting unreferenced manifests", |tx| {
            tx.execute(
                "DELETE FROM manifests WHERE manifest_id NOT IN (
                     SELECT manifest_id FROM subscriptions WHERE manifest_id IS NOT NULL
                     UNION
                     SELECT h.manifest_id FROM heads h
                         WHERE h.share_id IN (SELECT share_id FROM subscriptions UNION SELECT share_id FROM shares)
                     UNION
                     SELECT r.manifest_id FROM revisions r
                         WHERE r.seq = (SELECT max(seq) FROM revisions r2 WHERE r2.share_id = r.share_id)
                 )",
                [],
            )
            .ctx(|| "deleting unreferenced manifests".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_first_copy_wins() {
        let db = Db::open_in_memory().unwrap();
        let (m, s) = (ManifestId([1; 32]), ShareId([2; 32]));
        assert!(db.put_manifest(&m, &s, 3, b"abc").unwrap());
        assert!(!db.put_manifest(&m, &s, 3, b"xyz").unwrap());
        let got = db.manifest(&m).unwrap().unwrap();
        assert_eq!((got.share_id, got.seq, got.bytes.as_slice()), (s, 3, &b"abc"[..]));
        assert!(db.has_manifest(&m).unwrap());
        assert!(db.delete_manifest(&m).unwrap());
        assert!(!db.delete_manifest(&m).unwrap());
        assert_eq!(db.manifest(&m).unwrap(), None);
        assert!(db.put_manifest(&m, &s, u64::MAX, b"abc").is_err());
    }

    #[test]
    fn unreferenced_manifests_are_deleted_and_referenced_kept() {
        let db = Db::open_in_memory().unwrap();
        let (share, _) = db.create_share("Mine").unwrap();
        let own = share.share_id;
        for (i, seq) in [(1u8, 1u64), (2, 2)] {
            let s = db.reserve_seq(&own).unwrap();
            assert_eq!(s, seq);
            db.record_revision(&own, s, &ManifestId([i; 32])).unwrap();
            db.put_manifest(&ManifestId([i; 32]), &own, s, b"m").unwrap();
        }
        let sub = ShareId([9; 32]);
        db.subscribe(&sub, &Default::default()).unwrap();
        db.record_sync(&sub, &crate::db::SyncOutcome::Applied { seq: 4, manifest_id: ManifestId([4; 32]) }).unwrap();
        db.put_manifest(&ManifestId([4; 32]), &sub, 4, b"m").unwrap();
        db.put_manifest(&ManifestId([5; 32]), &ShareId([7; 32]), 1, b"m").unwrap();
        assert_eq!(db.delete_unreferenced_manifests().unwrap(), 2, "old own revision and the stranger");
        assert!(!db.has_manifest(&ManifestId([1; 32])).unwrap());
        assert!(db.has_manifest(&ManifestId([2; 32])).unwrap());
        assert!(db.has_manifest(&ManifestId([4; 32])).unwrap());
        assert!(!db.has_manifest(&ManifestId([5; 32])).unwrap());
    }
}
