//! Joined communities: a community is a share id and its public key (the id must be the
//! SHA-256 of the key), an optional local name, when we joined, and an optional membership
//! token issued to this node. Communities are only ever joined explicitly.

use super::Db;
use super::sql::{Ctx, col_fixed, col_u64, now_int};
use crate::error::{Result, StoreError};
use rusqlite::{OptionalExtension, Row, params};
use trove_proto::{PubKey, ShareId};

/// Longest community name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Largest membership token stored, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// A joined community.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Community {
    pub share_id: ShareId,
    pub pubkey: PubKey,
    pub name: Option<String>,
    pub joined_at: u64,
    /// The CBOR of a membership token issued to this node, if any.
    pub membership_token: Option<Vec<u8>>,
    /// Strict mode: members must hold a membership token, checked against the
    /// authenticated identity of whoever presents it.
    pub strict: bool,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Community> {
    Ok(Community {
        share_id: ShareId(col_fixed(r, 0)?),
        pubkey: PubKey(col_fixed(r, 1)?),
        name: r.get(2)?,
        joined_at: col_u64(r, 3)?,
        membership_token: r.get(4)?,
        strict: r.get::<_, i64>(5)? != 0,
    })
}

fn check_token(id: &ShareId, token: Option<&[u8]>) -> Result<()> {
    match token {
        Some(t) if t.len() > MAX_TOKEN_BYTES => Err(StoreError::Invalid(format!(
            "community {}: membership token of {} bytes; at most {MAX_TOKEN_BYTES}",
            id.short(),
            t.len()
        ))),
        _ => Ok(()),
    }
}

const COLS: &str = "share_id, pubkey, name, joined_at, membership_token, strict";

impl Db {
    /// Joins a community, or updates its name and token when already joined (the join time
    /// is kept). The public key must hash to the community id.
    pub fn join_community(
        &self,
        share_id: &ShareId,
        pubkey: &PubKey,
        name: Option<&str>,
        membership_token: Option<&[u8]>,
    ) -> Result<Community> {
        if pubkey.share_id() != *share_id {
            return Err(StoreError::Invalid(format!(
                "community {}: public key {} hashes to {}, not to the community id",
                share_id.short(),
                pubkey.short(),
                pubkey.share_id().short()
            )));
        }
        if let Some(n) = name
            && (n.is_empty() || n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control))
        {
            return Err(StoreError::Invalid(format!(
                "community {}: name '{}' must be 1 to {MAX_NAME_CHARS} characters without control characters",
                share_id.short(),
                n.escape_debug()
            )));
        }
        check_token(share_id, membership_token)?;
        let what = format!("saving community {}", share_id.short());
        self.write(&what, |tx| {
            tx.prepare_cached(
                "INSERT INTO communities (share_id, pubkey, name, joined_at, membership_token)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (share_id) DO UPDATE SET name = excluded.name,
                     membership_token = excluded.membership_token",
            )
            .and_then(|mut s| s.execute(params![&share_id.0[..], &pubkey.0[..], name, now_int(), membership_token]))
            .ctx(|| what.clone())?;
            tx.prepare_cached(&format!("SELECT {COLS} FROM communities WHERE share_id = ?1"))
                .and_then(|mut s| s.query_row([&share_id.0[..]], from_row))
                .ctx(|| what.clone())
        })
    }

    /// Replaces (or clears) the membership token of a joined community.
    pub fn set_membership_token(&self, share_id: &ShareId, token: Option<&[u8]>) -> Result<()> {
        check_token(share_id, token)?;
        let what = format!("saving the membership token of community {}", share_id.short());
        self.write(&what, |tx| {
            let n = tx
                .prepare_cached("UPDATE communities SET membership_token = ?1 WHERE share_id = ?2")
                .and_then(|mut s| s.execute(params![token, &share_id.0[..]]))
                .ctx(|| what.clone())?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("community {} is not joined", share_id.short())));
            }
            Ok(())
        })
    }

    /// Switches strict mode of a joined community on or off.
    pub fn set_community_strict(&self, share_id: &ShareId, strict: bool) -> Result<()> {
        let what = format!("saving the mode of community {}", share_id.short());
        self.write(&what, |tx| {
            let n = tx
                .prepare_cached("UPDATE communities SET strict = ?1 WHERE share_id = ?2")
                .and_then(|mut s| s.execute(params![strict as i64, &share_id.0[..]]))
                .ctx(|| what.clone())?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("community {} is not joined", share_id.short())));
            }
            Ok(())
        })
    }

    /// Leaves a community; `false` when it was not joined.
    pub fn leave_community(&self, share_id: &ShareId) -> Result<bool> {
        let what = format!("leaving community {}", share_id.short());
        self.write(&what, |tx| {
            tx.execute("DELETE FROM communities WHERE share_id = ?1", [&share_id.0[..]])
                .map(|n| n > 0)
                .ctx(|| what.clone())
        })
    }

    /// One joined community.
    pub fn community(&self, share_id: &ShareId) -> Result<Option<Community>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {COLS} FROM communities WHERE share_id = ?1"))
                .and_then(|mut s| s.query_row([&share_id.0[..]], from_row).optional())
                .ctx(|| format!("reading community {}", share_id.short()))
        })
    }

    /// All joined communities, oldest first.
    pub fn communities(&self) -> Result<Vec<Community>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {COLS} FROM communities ORDER BY joined_at, share_id"))
                .ctx(|| "listing communities".into())?;
            stmt.query_map([], from_row).and_then(|r| r.collect()).ctx(|| "listing communities".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::Keypair;

    #[test]
    fn join_update_leave() {
        let db = Db::open_in_memory().unwrap();
        let k = Keypair::from_seed([1; 32]);
        let id = k.share_id();
        let e = db.join_community(&id, &PubKey([9; 32]), None, None).unwrap_err().to_string();
        assert!(e.contains("not to the community id"), "{e}");
        let c = db.join_community(&id, &k.public(), Some("Club"), None).unwrap();
        assert_eq!((c.name.as_deref(), c.membership_token), (Some("Club"), None));
        db.set_membership_token(&id, Some(b"token")).unwrap();
        assert_eq!(db.community(&id).unwrap().unwrap().membership_token.as_deref(), Some(&b"token"[..]));
        assert!(db.set_membership_token(&id, Some(&[0; MAX_TOKEN_BYTES + 1])).is_err());
        let again = db.join_community(&id, &k.public(), Some("Club 2"), None).unwrap();
        assert_eq!((again.joined_at, again.name.as_deref()), (c.joined_at, Some("Club 2")));
        assert!(db.join_community(&id, &k.public(), Some("a\u{7}"), None).is_err());
        assert_eq!(db.communities().unwrap().len(), 1);
        assert!(!again.strict);
        db.set_community_strict(&id, true).unwrap();
        assert!(db.community(&id).unwrap().unwrap().strict);
        assert!(db.leave_community(&id).unwrap());
        assert!(!db.leave_community(&id).unwrap());
        assert!(matches!(db.set_membership_token(&id, None), Err(StoreError::NotFound(_))));
    }
}
