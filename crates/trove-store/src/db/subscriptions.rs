//! Subscriptions: the shares this node follows, with the options that shape search (trust
//! tier, blocklist flag, weight), bootstrap hints from the share link, and the state of the
//! last sync (time, error, current seq and manifest). Subscribing again updates the options
//! and keeps the sync state. Unsubscribing removes the row; the highest head seen stays in
//! `heads`.

use super::Db;
use super::sql::{Ctx, clip, col_fixed, col_opt_fixed, col_opt_u64, col_u64, conv_err, int, now_int};
use crate::error::{Result, StoreError};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};
use trove_proto::{ManifestId, PubKey, ShareId};

/// Most bootstrap hints kept per subscription.
pub const MAX_BOOTSTRAP_HINTS: usize = 32;
/// Longest bootstrap hint, in bytes.
pub const MAX_HINT_BYTES: usize = 256;
/// Largest search weight.
pub const MAX_WEIGHT: f64 = 1000.0;
/// Longest stored sync error, in bytes.
pub const MAX_ERROR_BYTES: usize = 2048;

/// How much search trusts a subscribed share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Trust {
    Trusted,
    #[default]
    Normal,
    Untrusted,
}

impl Trust {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Trusted => "trusted",
            Trust::Normal => "normal",
            Trust::Untrusted => "untrusted",
        }
    }

    /// Parses a stored or user-given name.
    pub fn parse(s: &str) -> Result<Trust> {
        match s {
            "trusted" => Ok(Trust::Trusted),
            "normal" => Ok(Trust::Normal),
            "untrusted" => Ok(Trust::Untrusted),
            other => Err(StoreError::Invalid(format!(
                "trust level '{}': expected trusted, normal or untrusted",
                other.escape_debug()
            ))),
        }
    }
}

/// Options given when subscribing.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscribeOptions {
    /// The share's public key when known (from a link); must hash to the share id.
    pub share_pubkey: Option<PubKey>,
    pub trust: Trust,
    /// The share is a blocklist (SCP2P-WIRE.md §15).
    pub is_blocklist: bool,
    /// Search ranking weight, finite, 0 ..= 1000; default 1.0.
    pub weight: f64,
    /// Bootstrap addresses from the link, tried to find the share.
    pub bootstrap: Vec<String>,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            share_pubkey: None,
            trust: Trust::Normal,
            is_blocklist: false,
            weight: 1.0,
            bootstrap: Vec::new(),
        }
    }
}

/// A subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub share_id: ShareId,
    pub share_pubkey: Option<PubKey>,
    pub trust: Trust,
    pub is_blocklist: bool,
    pub weight: f64,
    pub bootstrap: Vec<String>,
    pub subscribed_at: u64,
    pub last_sync_at: Option<u64>,
    pub last_error: Option<String>,
    pub current_seq: Option<u64>,
    pub manifest_id: Option<ManifestId>,
}

/// The result of one sync attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// A revision was fetched, verified and indexed.
    Applied { seq: u64, manifest_id: ManifestId },
    /// Nothing newer was found.
    UpToDate,
    /// The sync failed; the text is shown to the user.
    Failed(String),
}

fn check_options(share_id: &ShareId, o: &SubscribeOptions) -> Result<()> {
    let bad = |why: String| Err(StoreError::Invalid(format!("subscription {}: {why}", share_id.short())));
    if let Some(pk) = o.share_pubkey.as_ref().filter(|pk| pk.share_id() != *share_id) {
        return bad(format!("public key {} belongs to share {}, not to this one", pk.short(), pk.share_id().short()));
    }
    if !o.weight.is_finite() || !(0.0..=MAX_WEIGHT).contains(&o.weight) {
        return bad(format!("weight {} is not between 0 and {MAX_WEIGHT}", o.weight));
    }
    if o.bootstrap.len() > MAX_BOOTSTRAP_HINTS {
        return bad(format!("{} bootstrap hints; at most {MAX_BOOTSTRAP_HINTS} are kept", o.bootstrap.len()));
    }
    for h in &o.bootstrap {
        if h.is_empty() || h.len() > MAX_HINT_BYTES || h.chars().any(char::is_control) {
            return bad(format!(
                "bootstrap hint '{}' must be 1 to {MAX_HINT_BYTES} bytes without control characters",
                clip(h, 64).escape_debug()
            ));
        }
    }
    Ok(())
}

const COLS: &str = "share_id, share_pubkey, trust, is_blocklist, weight, bootstrap, subscribed_at, last_sync_at,
                    last_error, current_seq, manifest_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Subscription> {
    let trust: String = r.get(2)?;
    let bootstrap: String = r.get(5)?;
    Ok(Subscription {
        share_id: ShareId(col_fixed(r, 0)?),
        share_pubkey: col_opt_fixed(r, 1)?.map(PubKey),
        trust: Trust::parse(&trust).map_err(|e| conv_err(2, Type::Text, e.to_string()))?,
        is_blocklist: r.get::<_, i64>(3)? != 0,
        weight: r.get(4)?,
        bootstrap: serde_json::from_str(&bootstrap)
            .map_err(|e| conv_err(5, Type::Text, format!("bootstrap hints: {e}")))?,
        subscribed_at: col_u64(r, 6)?,
        last_sync_at: col_opt_u64(r, 7)?,
        last_error: r.get(8)?,
        current_seq: col_opt_u64(r, 9)?,
        manifest_id: col_opt_fixed(r, 10)?.map(ManifestId),
    })
}

impl Db {
    /// Subscribes to a share, or updates the options of an existing subscription (its sync
    /// state and subscription time are kept; a known public key is never forgotten).
    /// Committed before it returns.
    pub fn subscribe(&self, share_id: &ShareId, options: &SubscribeOptions) -> Result<Subscription> {
        check_options(share_id, options)?;
        let bootstrap = serde_json::to_string(&options.bootstrap)
            .map_err(|e| StoreError::Invalid(format!("subscription {}: bootstrap hints: {e}", share_id.short())))?;
        let what = format!("saving subscription {}", share_id.short());
        self.write(&what, |tx| {
            tx.prepare_cached(
                "INSERT INTO subscriptions (share_id, share_pubkey, trust, is_blocklist, weight, bootstrap, subscribed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (share_id) DO UPDATE SET
                     share_pubkey = COALESCE(excluded.share_pubkey, subscriptions.share_pubkey),
                     trust = excluded.trust, is_blocklist = excluded.is_blocklist,
                     weight = excluded.weight, bootstrap = excluded.bootstrap",
            )
            .and_then(|mut s| {
                s.execute(params![
                    &share_id.0[..],
                    options.share_pubkey.as_ref().map(|k| &k.0[..]),
                    options.trust.as_str(),
                    options.is_blocklist,
                    options.weight,
                    bootstrap,
                    now_int()
                ])
            })
            .ctx(|| what.clone())?;
            tx.prepare_cached(&format!("SELECT {COLS} FROM subscriptions WHERE share_id = ?1"))
                .and_then(|mut s| s.query_row([&share_id.0[..]], from_row))
                .ctx(|| what.clone())
        })
    }

    /// Removes a subscription; `false` when there was none. The highest head seen is kept.
    pub fn unsubscribe(&self, share_id: &ShareId) -> Result<bool> {
        let what = format!("removing subscription {}", share_id.short());
        self.write(&what, |tx| {
            tx.execute("DELETE FROM subscriptions WHERE share_id = ?1", [&share_id.0[..]])
                .map(|n| n > 0)
                .ctx(|| what.clone())
        })
    }

    /// One subscription.
    pub fn subscription(&self, share_id: &ShareId) -> Result<Option<Subscription>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {COLS} FROM subscriptions WHERE share_id = ?1"))
                .and_then(|mut s| s.query_row([&share_id.0[..]], from_row).optional())
                .ctx(|| format!("reading subscription {}", share_id.short()))
        })
    }

    /// All subscriptions, oldest first.
    pub fn subscriptions(&self) -> Result<Vec<Subscription>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {COLS} FROM subscriptions ORDER BY subscribed_at, share_id"))
                .ctx(|| "listing subscriptions".into())?;
            stmt.query_map([], from_row).and_then(|rows| rows.collect()).ctx(|| "listing subscriptions".into())
        })
    }

    /// Records the result of a sync. An applied revision may not be older than the current
    /// one. [`StoreError::NotFound`] when the share is not subscribed.
    pub fn record_sync(&self, share_id: &ShareId, outcome: &SyncOutcome) -> Result<()> {
        let what = format!("saving the sync state of subscription {}", share_id.short());
        let now = now_int();
        self.write(&what, |tx| {
            let current: Option<Option<u64>> = tx
                .prepare_cached("SELECT current_seq FROM subscriptions WHERE share_id = ?1")
                .and_then(|mut s| s.query_row([&share_id.0[..]], |r| col_opt_u64(r, 0)).optional())
                .ctx(|| what.clone())?;
            let current =
                current.ok_or_else(|| StoreError::NotFound(format!("share {} is not subscribed", share_id.short())))?;
            let update = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
                tx.prepare_cached(sql).and_then(|mut s| s.execute(p)).ctx(|| what.clone()).map(|_| ())
            };
            match outcome {
                SyncOutcome::Applied { seq, manifest_id } => {
                    if let Some(cur) = current.filter(|cur| seq < cur) {
                        return Err(StoreError::Invalid(format!(
                            "subscription {}: seq {seq} is older than the applied seq {cur}",
                            share_id.short()
                        )));
                    }
                    update(
                        "UPDATE subscriptions SET last_sync_at = ?1, last_error = NULL, current_seq = ?2,
                             manifest_id = ?3 WHERE share_id = ?4",
                        params![now, int(*seq, "seq")?, &manifest_id.0[..], &share_id.0[..]],
                    )
                }
                SyncOutcome::UpToDate => update(
                    "UPDATE subscriptions SET last_sync_at = ?1, last_error = NULL WHERE share_id = ?2",
                    params![now, &share_id.0[..]],
                ),
                SyncOutcome::Failed(e) => update(
                    "UPDATE subscriptions SET last_sync_at = ?1, last_error = ?2 WHERE share_id = ?3",
                    params![now, clip(e, MAX_ERROR_BYTES), &share_id.0[..]],
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_proto::Keypair;

    #[test]
    fn subscribe_is_idempotent_and_updates_options() {
        let db = Db::open_in_memory().unwrap();
        let k = Keypair::from_seed([4; 32]);
        let id = k.share_id();
        let opts = SubscribeOptions {
            share_pubkey: Some(k.public()),
            bootstrap: vec!["tcp://10.0.0.1:7001".into()],
            ..Default::default()
        };
        let a = db.subscribe(&id, &opts).unwrap();
        assert_eq!((a.trust, a.weight, a.share_pubkey), (Trust::Normal, 1.0, Some(k.public())));
        db.record_sync(&id, &SyncOutcome::Applied { seq: 3, manifest_id: ManifestId([3; 32]) }).unwrap();
        let b = db
            .subscribe(
                &id,
                &SubscribeOptions { trust: Trust::Trusted, weight: 2.5, is_blocklist: true, ..Default::default() },
            )
            .unwrap();
        assert_eq!((b.trust, b.weight, b.is_blocklist), (Trust::Trusted, 2.5, true));
        assert_eq!(b.share_pubkey, Some(k.public()), "a known key is kept");
        assert_eq!(b.subscribed_at, a.subscribed_at);
        assert_eq!((b.current_seq, b.manifest_id), (Some(3), Some(ManifestId([3; 32]))));
        assert!(b.bootstrap.is_empty());
        assert_eq!(db.subscriptions().unwrap().len(), 1);
    }

    #[test]
    fn options_are_checked() {
        let db = Db::open_in_memory().unwrap();
        let id = ShareId([1; 32]);
        let wrong_key = SubscribeOptions { share_pubkey: Some(PubKey([2; 32])), ..Default::default() };
        assert!(db.subscribe(&id, &wrong_key).unwrap_err().to_string().contains("belongs to share"));
        for w in [f64::NAN, -1.0, f64::INFINITY, 1001.0] {
            assert!(db.subscribe(&id, &SubscribeOptions { weight: w, ..Default::default() }).is_err(), "{w}");
        }
        let many = SubscribeOptions { bootstrap: vec!["a:1".into(); 33], ..Default::default() };
        assert!(db.subscribe(&id, &many).is_err());
        let ctl = SubscribeOptions { bootstrap: vec!["a\n".into()], ..Default::default() };
        assert!(db.subscribe(&id, &ctl).is_err());
        assert_eq!(db.subscription(&id).unwrap(), None);
        assert!(Trust::parse("TRUSTED").is_err());
    }

    #[test]
    fn sync_state_and_unsubscribe() {
        let db = Db::open_in_memory().unwrap();
        let id = ShareId([6; 32]);
        assert!(matches!(db.record_sync(&id, &SyncOutcome::UpToDate), Err(StoreError::NotFound(_))));
        db.subscribe(&id, &SubscribeOptions::default()).unwrap();
        db.record_sync(&id, &SyncOutcome::Failed("x".repeat(5000))).unwrap();
        let s = db.subscription(&id).unwrap().unwrap();
        assert_eq!(s.last_error.as_ref().map(String::len), Some(MAX_ERROR_BYTES));
        assert!(s.last_sync_at.is_some());
        db.record_sync(&id, &SyncOutcome::Applied { seq: 5, manifest_id: ManifestId([5; 32]) }).unwrap();
        assert_eq!(db.subscription(&id).unwrap().unwrap().last_error, None);
        let back = SyncOutcome::Applied { seq: 4, manifest_id: ManifestId([4; 32]) };
        assert!(db.record_sync(&id, &back).unwrap_err().to_string().contains("older"));
        assert!(db.unsubscribe(&id).unwrap());
        assert!(!db.unsubscribe(&id).unwrap());
        assert_eq!(db.subscription(&id).unwrap(), None);
    }
}
