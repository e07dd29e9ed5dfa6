//! The key vault: the node key and share keys, stored as 32-byte Ed25519 seeds with their
//! public keys. Optionally protected by a passphrase: the seeds are then sealed (see
//! `seal.rs`) and neither the database nor its WAL contains them in the clear. Setting,
//! changing and removing the passphrase rewrites every seed in one transaction and then
//! truncates the WAL, and `secure_delete` zeroes the replaced cells.

use super::seal::{self, KdfParams, SALT_LEN, SEAL_FORMAT, SealKey};
use super::sql::{Ctx, col_fixed, col_u64, now_int};
use super::{Db, State, checkpoint, write_tx};
use crate::error::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use trove_proto::{Keypair, PubKey, ShareId};

/// Whether the vault has a passphrase and whether it is unlocked in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaultState {
    /// No passphrase: seeds are stored in the clear (the file is still mode 0600).
    Plain,
    /// A passphrase is set and has not been given yet.
    Locked,
    /// A passphrase is set and was given: keys can be read and created.
    Unlocked,
}

/// A share key's public half, listed without unlocking the vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareKeyInfo {
    pub share_id: ShareId,
    pub pubkey: PubKey,
    pub created_at: u64,
}

/// The vault row: how the passphrase key is derived and a sealed value to check it with.
struct VaultRow {
    format: u32,
    salt: Vec<u8>,
    params: KdfParams,
    verifier: Vec<u8>,
}

const VERIFIER_AAD: &[u8] = b"trove vault verifier v1";
const VERIFIER_PLAIN: [u8; 32] = [0u8; 32];

/// Binds a sealed seed to its row: its kind and public key.
fn seed_aad(kind: &str, pubkey: &PubKey) -> Vec<u8> {
    let mut aad = format!("trove key v1 {kind} ").into_bytes();
    aad.extend_from_slice(&pubkey.0);
    aad
}

fn locked_error(db: &str) -> StoreError {
    StoreError::Passphrase(format!("the key vault of {db} is locked: give the passphrase first"))
}

fn wrong_passphrase(db: &str) -> StoreError {
    StoreError::Passphrase(format!("wrong passphrase for the key vault of {db}"))
}

fn read_vault(conn: &Connection) -> Result<Option<VaultRow>> {
    let row = conn
        .prepare_cached("SELECT format, salt, m_cost_kib, t_cost, p_cost, verifier FROM vault WHERE id = 1")
        .and_then(|mut s| {
            s.query_row([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })
            .optional()
        })
        .ctx(|| "reading the key vault settings".into())?;
    let Some((format, salt, m, t, p, verifier)) = row else { return Ok(None) };
    let small = |v: i64, what: &str| {
        u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("key vault: {what} {v} is out of range")))
    };
    let params =
        KdfParams { m_cost_kib: small(m, "memory cost")?, t_cost: small(t, "pass count")?, p_cost: small(p, "lanes")? };
    params.check().map_err(|e| StoreError::Corrupt(format!("key vault: {e}")))?;
    let format = small(format, "format")?;
    if format != SEAL_FORMAT {
        return Err(StoreError::Corrupt(format!(
            "key vault: sealing format {format} is unknown to this trove (it knows {SEAL_FORMAT})"
        )));
    }
    if salt.len() != SALT_LEN {
        return Err(StoreError::Corrupt(format!("key vault: salt of {} bytes, expected {SALT_LEN}", salt.len())));
    }
    Ok(Some(VaultRow { format, salt, params, verifier }))
}

/// Derives the key for `passphrase` and checks it against the vault's verifier.
fn derive_checked(vault: &VaultRow, passphrase: &str, db: &str) -> Result<SealKey> {
    debug_assert_eq!(vault.format, SEAL_FORMAT);
    let key = seal::derive(passphrase, &vault.salt, &vault.params)?;
    match key.open(VERIFIER_AAD, &vault.verifier) {
        Some(v) if v == VERIFIER_PLAIN => Ok(key),
        _ => Err(wrong_passphrase(db)),
    }
}

/// One stored key row.
struct KeyRow {
    id: i64,
    kind: String,
    pubkey: PubKey,
    secret: Vec<u8>,
    sealed: bool,
}

fn all_key_rows(conn: &Connection) -> Result<Vec<KeyRow>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, kind, pubkey, secret, sealed FROM keys ORDER BY id")
        .ctx(|| "reading keys".into())?;
    stmt.query_map([], |r| {
        Ok(KeyRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            pubkey: PubKey(col_fixed(r, 2)?),
            secret: r.get(3)?,
            sealed: r.get::<_, i64>(4)? != 0,
        })
    })
    .and_then(|rows| rows.collect())
    .ctx(|| "reading keys".into())
}

/// Turns a stored secret back into a key pair, checking it against the stored public key.
fn unseal(row: &KeyRow, key: Option<&SealKey>, db: &str) -> Result<Keypair> {
    let seed: [u8; 32] = if row.sealed {
        let key = key.ok_or_else(|| locked_error(db))?;
        key.open(&seed_aad(&row.kind, &row.pubkey), &row.secret).ok_or_else(|| {
            StoreError::Corrupt(format!("{} key {}: sealed seed does not open", row.kind, row.pubkey.short()))
        })?
    } else {
        <[u8; 32]>::try_from(row.secret.as_slice()).map_err(|_| {
            StoreError::Corrupt(format!("{} key {}: seed of {} bytes", row.kind, row.pubkey.short(), row.secret.len()))
        })?
    };
    let kp = Keypair::from_seed(seed);
    if kp.public() != row.pubkey {
        return Err(StoreError::Corrupt(format!(
            "{} key {}: the stored seed belongs to another public key",
            row.kind,
            row.pubkey.short()
        )));
    }
    Ok(kp)
}

/// The stored form of a seed: sealed when the vault has a passphrase.
fn stored_secret(kind: &str, kp: &Keypair, key: Option<&SealKey>) -> Result<(Vec<u8>, bool)> {
    Ok(match key {
        Some(k) => (k.seal(&seed_aad(kind, &kp.public()), &kp.seed())?.to_vec(), true),
        None => (kp.seed().to_vec(), false),
    })
}

/// The sealing key to use for new keys: `None` for a plain vault, an error when locked.
pub(crate) fn key_for_writing<'a>(
    conn: &Connection,
    state_key: Option<&'a SealKey>,
    db: &str,
) -> Result<Option<&'a SealKey>> {
    match (read_vault(conn)?, state_key) {
        (None, _) => Ok(None),
        (Some(_), Some(k)) => Ok(Some(k)),
        (Some(_), None) => Err(locked_error(db)),
    }
}

/// Inserts a share key (inside the caller's transaction). Importing a key that is already
/// stored is not an error.
pub(crate) fn insert_share_key(conn: &Connection, kp: &Keypair, key: Option<&SealKey>) -> Result<()> {
    let share_id = kp.share_id();
    let what = || format!("saving share key {}", share_id.short());
    let existing: Option<String> = conn
        .prepare_cached("SELECT kind FROM keys WHERE pubkey = ?1")
        .and_then(|mut s| s.query_row([&kp.public().0[..]], |r| r.get(0)).optional())
        .ctx(what)?;
    match existing.as_deref() {
        Some("share") => return Ok(()),
        Some(_) => {
            return Err(StoreError::Invalid(format!(
                "share key {}: this key is the node key and cannot also be a share key",
                share_id.short()
            )));
        }
        None => {}
    }
    let (secret, sealed) = stored_secret("share", kp, key)?;
    conn.prepare_cached(
        "INSERT INTO keys (kind, pubkey, share_id, secret, sealed, created_at) VALUES ('share', ?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![&kp.public().0[..], &share_id.0[..], secret, sealed, now_int()]))
    .ctx(what)?;
    Ok(())
}

fn share_key_row(conn: &Connection, share_id: &ShareId) -> Result<Option<KeyRow>> {
    conn.prepare_cached("SELECT id, kind, pubkey, secret, sealed FROM keys WHERE share_id = ?1 AND kind = 'share'")
        .and_then(|mut s| {
            s.query_row([&share_id.0[..]], |r| {
                Ok(KeyRow {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    pubkey: PubKey(col_fixed(r, 2)?),
                    secret: r.get(3)?,
                    sealed: r.get::<_, i64>(4)? != 0,
                })
            })
            .optional()
        })
        .ctx(|| format!("reading share key {}", share_id.short()))
}

/// Rewrites every stored seed with `new_key` (or in the clear), then replaces or removes the
/// vault row, all in one transaction; then truncates the WAL so no old form lingers there.
fn reseal_all(state: &mut State, old_key: Option<&SealKey>, new: Option<(&SealKey, VaultRow)>, db: &str) -> Result<()> {
    write_tx(&mut state.conn, "rewriting the key vault", |tx| {
        for row in all_key_rows(tx)? {
            let kp = unseal(&row, old_key, db)?;
            let (secret, sealed) = stored_secret(&row.kind, &kp, new.as_ref().map(|(k, _)| *k))?;
            tx.prepare_cached("UPDATE keys SET secret = ?1, sealed = ?2 WHERE id = ?3")
                .and_then(|mut s| s.execute(params![secret, sealed, row.id]))
                .ctx(|| format!("resealing {} key {}", row.kind, row.pubkey.short()))?;
        }
        tx.execute("DELETE FROM vault", []).ctx(|| "clearing the vault settings".into())?;
        if let Some((_, v)) = &new {
            tx.execute(
                "INSERT INTO vault (id, format, salt, m_cost_kib, t_cost, p_cost, verifier, changed_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![v.format, v.salt, v.params.m_cost_kib, v.params.t_cost, v.params.p_cost, v.verifier, now_int()],
            )
            .ctx(|| "saving the vault settings".into())?;
        }
        Ok(())
    })?;
    checkpoint(&state.conn).map_err(|e| {
        StoreError::Invalid(format!(
            "the key vault change is saved, but the previous form of the keys may remain in the WAL of {db} \
             until the next checkpoint: {e}"
        ))
    })
}

/// A new vault row and its key for `passphrase`.
fn new_vault(passphrase: &str, params: KdfParams) -> Result<(SealKey, VaultRow)> {
    seal::check_new_passphrase(passphrase)?;
    params.check()?;
    let salt = seal::new_salt();
    let key = seal::derive(passphrase, &salt, &params)?;
    let verifier = key.seal(VERIFIER_AAD, &VERIFIER_PLAIN)?.to_vec();
    Ok((key, VaultRow { format: SEAL_FORMAT, salt: salt.to_vec(), params, verifier }))
}

impl Db {
    /// Whether a passphrase protects the keys and whether this handle has it.
    pub fn vault_state(&self) -> Result<VaultState> {
        self.locked(|s| {
            Ok(match (read_vault(&s.conn)?, &s.vault_key) {
                (None, _) => VaultState::Plain,
                (Some(_), None) => VaultState::Locked,
                (Some(_), Some(_)) => VaultState::Unlocked,
            })
        })
    }

    /// Gives the passphrase: afterwards keys can be read and created until [`Db::lock_vault`]
    /// (or the process ends). A wrong passphrase is [`StoreError::Passphrase`].
    pub fn unlock(&self, passphrase: &str) -> Result<()> {
        let db = self.name();
        self.locked(|s| {
            let vault = read_vault(&s.conn)?
                .ok_or_else(|| StoreError::Invalid(format!("the key vault of {db} has no passphrase to unlock")))?;
            s.vault_key = Some(derive_checked(&vault, passphrase, &db)?);
            Ok(())
        })
    }

    /// Forgets the passphrase key held in memory.
    pub fn lock_vault(&self) {
        let _ = self.locked(|s| {
            s.vault_key = None;
            Ok(())
        });
    }

    /// Protects the keys with a passphrase (none must be set yet; see
    /// [`Db::change_passphrase`]). Use [`KdfParams::RECOMMENDED`] outside tests.
    pub fn set_passphrase(&self, passphrase: &str, params: KdfParams) -> Result<()> {
        let db = self.name();
        self.locked(|s| {
            if read_vault(&s.conn)?.is_some() {
                return Err(StoreError::Invalid(format!(
                    "the key vault of {db} already has a passphrase; change or remove it instead"
                )));
            }
            let (key, row) = new_vault(passphrase, params)?;
            reseal_all(s, None, Some((&key, row)), &db)?;
            s.vault_key = Some(key);
            Ok(())
        })
    }

    /// Replaces the passphrase; the old one must be given even when the vault is unlocked.
    pub fn change_passphrase(&self, old: &str, new: &str, params: KdfParams) -> Result<()> {
        let db = self.name();
        self.locked(|s| {
            let vault = read_vault(&s.conn)?
                .ok_or_else(|| StoreError::Invalid(format!("the key vault of {db} has no passphrase to change")))?;
            let old_key = derive_checked(&vault, old, &db)?;
            let (key, row) = new_vault(new, params)?;
            reseal_all(s, Some(&old_key), Some((&key, row)), &db)?;
            s.vault_key = Some(key);
            Ok(())
        })
    }

    /// Removes the passphrase and stores the seeds in the clear again.
    pub fn remove_passphrase(&self, old: &str) -> Result<()> {
        let db = self.name();
        self.locked(|s| {
            let vault = read_vault(&s.conn)?
                .ok_or_else(|| StoreError::Invalid(format!("the key vault of {db} has no passphrase to remove")))?;
            let old_key = derive_checked(&vault, old, &db)?;
            reseal_all(s, Some(&old_key), None, &db)?;
            s.vault_key = None;
            Ok(())
        })
    }

    /// The node key, created on first use. A new key is committed before it is returned.
    pub fn node_key(&self) -> Result<Keypair> {
        let db = self.name();
        self.locked(|s| {
            let key = s.vault_key.as_ref();
            let row = all_key_rows(&s.conn)?.into_iter().find(|r| r.kind == "node");
            if let Some(row) = row {
                return unseal(&row, key, &db);
            }
            let key = key_for_writing(&s.conn, key, &db)?;
            let kp = Keypair::generate();
            let (secret, sealed) = stored_secret("node", &kp, key)?;
            write_tx(&mut s.conn, "saving the new node key", |tx| {
                tx.execute(
                    "INSERT INTO keys (kind, pubkey, share_id, secret, sealed, created_at)
                     VALUES ('node', ?1, NULL, ?2, ?3, ?4)",
                    params![&kp.public().0[..], secret, sealed, now_int()],
                )
                .ctx(|| "saving the new node key".into())
            })?;
            Ok(kp)
        })
    }

    /// Generates and stores a new share key (committed before it is returned).
    pub fn generate_share_key(&self) -> Result<Keypair> {
        let kp = Keypair::generate();
        self.import_share_key(kp.seed())?;
        Ok(kp)
    }

    /// Stores a share key from its 32-byte seed, e.g. a publisher key restored on a new
    /// machine (FT-9). Importing a key already stored changes nothing.
    pub fn import_share_key(&self, seed: [u8; 32]) -> Result<ShareKeyInfo> {
        let db = self.name();
        let kp = Keypair::from_seed(seed);
        let share_id = kp.share_id();
        self.locked(|s| {
            let key = key_for_writing(&s.conn, s.vault_key.as_ref(), &db)?;
            write_tx(&mut s.conn, &format!("importing share key {}", share_id.short()), |tx| {
                insert_share_key(tx, &kp, key)
            })
        })?;
        self.share_keys()?
            .into_iter()
            .find(|k| k.share_id == share_id)
            .ok_or_else(|| StoreError::NotFound(format!("share key {} vanished after import", share_id.short())))
    }

    /// The key of one of our shares.
    pub fn share_key(&self, share_id: &ShareId) -> Result<Keypair> {
        let db = self.name();
        self.locked(|s| {
            let row = share_key_row(&s.conn, share_id)?
                .ok_or_else(|| StoreError::NotFound(format!("no key for share {share_id} in {db}")))?;
            unseal(&row, s.vault_key.as_ref(), &db)
        })
    }

    /// The public halves of all share keys (no passphrase needed).
    pub fn share_keys(&self) -> Result<Vec<ShareKeyInfo>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT share_id, pubkey, created_at FROM keys WHERE kind = 'share' ORDER BY id")
                .ctx(|| "listing share keys".into())?;
            stmt.query_map([], |r| {
                Ok(ShareKeyInfo {
                    share_id: ShareId(col_fixed(r, 0)?),
                    pubkey: PubKey(col_fixed(r, 1)?),
                    created_at: col_u64(r, 2)?,
                })
            })
            .and_then(|rows| rows.collect())
            .ctx(|| "listing share keys".into())
        })
    }

    /// The seed of a share key, for moving it to another machine. When a passphrase is set
    /// it must be given again here, even if the vault is unlocked.
    pub fn export_share_key(&self, share_id: &ShareId, passphrase: Option<&str>) -> Result<[u8; 32]> {
        let db = self.name();
        self.locked(|s| {
            let key = match read_vault(&s.conn)? {
                None => None,
                Some(vault) => {
                    let p = passphrase.ok_or_else(|| {
                        StoreError::Passphrase(format!(
                            "exporting share key {}: the passphrase of {db} is required",
                            share_id.short()
                        ))
                    })?;
                    Some(derive_checked(&vault, p, &db)?)
                }
            };
            let row = share_key_row(&s.conn, share_id)?
                .ok_or_else(|| StoreError::NotFound(format!("no key for share {share_id} in {db}")))?;
            Ok(unseal(&row, key.as_ref(), &db)?.seed())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams::new(64, 1, 1).unwrap()
    }

    #[test]
    fn node_key_is_stable_and_created_once() {
        let db = Db::open_in_memory().unwrap();
        let a = db.node_key().unwrap();
        let b = db.node_key().unwrap();
        assert_eq!(a.public(), b.public());
    }

    #[test]
    fn passphrase_lifecycle_in_memory() {
        let db = Db::open_in_memory().unwrap();
        let node = db.node_key().unwrap();
        let share = db.generate_share_key().unwrap();
        assert_eq!(db.vault_state().unwrap(), VaultState::Plain);
        db.set_passphrase("pw one", fast()).unwrap();
        assert_eq!(db.vault_state().unwrap(), VaultState::Unlocked);
        assert!(db.set_passphrase("again", fast()).is_err());
        db.lock_vault();
        assert_eq!(db.vault_state().unwrap(), VaultState::Locked);
        assert!(matches!(db.node_key(), Err(StoreError::Passphrase(_))));
        assert!(matches!(db.generate_share_key(), Err(StoreError::Passphrase(_))));
        assert!(matches!(db.unlock("pw two"), Err(StoreError::Passphrase(_))));
        // Public halves stay listable while locked.
        assert_eq!(db.share_keys().unwrap()[0].share_id, share.share_id());
        db.unlock("pw one").unwrap();
        assert_eq!(db.node_key().unwrap().public(), node.public());
        assert!(matches!(db.change_passphrase("nope", "pw two", fast()), Err(StoreError::Passphrase(_))));
        db.change_passphrase("pw one", "pw two", fast()).unwrap();
        db.lock_vault();
        assert!(db.unlock("pw one").is_err());
        db.unlock("pw two").unwrap();
        assert_eq!(db.share_key(&share.share_id()).unwrap().public(), share.public());
        assert!(matches!(db.export_share_key(&share.share_id(), None), Err(StoreError::Passphrase(_))));
        assert_eq!(db.export_share_key(&share.share_id(), Some("pw two")).unwrap(), share.seed());
        db.remove_passphrase("pw two").unwrap();
        assert_eq!(db.vault_state().unwrap(), VaultState::Plain);
        assert_eq!(db.node_key().unwrap().public(), node.public());
        assert!(db.unlock("pw two").is_err());
    }

    #[test]
    fn import_is_idempotent_and_node_key_cannot_be_a_share_key() {
        let db = Db::open_in_memory().unwrap();
        let kp = Keypair::from_seed([5; 32]);
        let a = db.import_share_key(kp.seed()).unwrap();
        let b = db.import_share_key(kp.seed()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.share_id, kp.share_id());
        assert_eq!(db.share_keys().unwrap().len(), 1);
        let node = db.node_key().unwrap();
        assert!(db.import_share_key(node.seed()).unwrap_err().to_string().contains("node key"));
        assert!(matches!(db.share_key(&ShareId([1; 32])), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn a_tampered_seed_is_reported_not_used() {
        let db = Db::open_in_memory().unwrap();
        let kp = db.generate_share_key().unwrap();
        db.read(|c| {
            c.execute("UPDATE keys SET secret = ?1 WHERE kind = 'share'", [&[7u8; 32][..]]).unwrap();
            Ok(())
        })
        .unwrap();
        let e = db.share_key(&kp.share_id()).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    }
}
