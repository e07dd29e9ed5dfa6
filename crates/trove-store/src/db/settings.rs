//! Typed settings: values of any serde type stored as JSON text under a string key.

use super::Db;
use super::sql::{Ctx, now_int};
use crate::error::{Result, StoreError};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Longest setting key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Largest setting value (JSON), in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "setting key '{}' must be 1 to {MAX_KEY_BYTES} bytes without control characters",
            key.escape_debug()
        )));
    }
    Ok(())
}

impl Db {
    /// A setting decoded as `T`; `None` when unset. A stored value that does not decode as
    /// `T` is [`StoreError::Corrupt`].
    pub fn setting<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        check_key(key)?;
        let text: Option<String> = self.read(|c| {
            c.prepare_cached("SELECT value FROM settings WHERE key = ?1")
                .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
                .ctx(|| format!("reading setting '{key}'"))
        })?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("setting '{key}' = {t}: {e}"))))
            .transpose()
    }

    /// Stores a setting (committed before it returns).
    pub fn set_setting<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        check_key(key)?;
        let text = serde_json::to_string(value)
            .map_err(|e| StoreError::Invalid(format!("setting '{key}': cannot encode the value: {e}")))?;
        if text.len() > MAX_VALUE_BYTES {
            return Err(StoreError::Invalid(format!(
                "setting '{key}': value of {} bytes; at most {MAX_VALUE_BYTES}",
                text.len()
            )));
        }
        let what = format!("saving setting '{key}'");
        self.write(&what, |tx| {
            tx.prepare_cached(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .and_then(|mut s| s.execute(params![key, text, now_int()]))
            .ctx(|| what.clone())?;
            Ok(())
        })
    }

    /// Removes a setting; `false` when it was unset.
    pub fn delete_setting(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        let what = format!("deleting setting '{key}'");
        self.write(&what, |tx| {
            tx.execute("DELETE FROM settings WHERE key = ?1", [key]).map(|n| n > 0).ctx(|| what.clone())
        })
    }

    /// Every setting, by key, as JSON values.
    pub fn settings(&self) -> Result<Vec<(String, serde_json::Value)>> {
        let rows: Vec<(String, String)> = self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT key, value FROM settings ORDER BY key").ctx(|| "listing settings".into())?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|r| r.collect())
                .ctx(|| "listing settings".into())
        })?;
        rows.into_iter()
            .map(|(k, v)| {
                let value = serde_json::from_str(&v).map_err(|e| StoreError::Corrupt(format!("setting '{k}': {e}")))?;
                Ok((k, value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Limits {
        up: u64,
        names: Vec<String>,
    }

    #[test]
    fn typed_round_trip_list_and_delete() {
        let db = Db::open_in_memory().unwrap();
        assert_eq!(db.setting::<u32>("port").unwrap(), None);
        db.set_setting("port", &7001u32).unwrap();
        let l = Limits { up: 5, names: vec!["a".into()] };
        db.set_setting("limits", &l).unwrap();
        assert_eq!(db.setting::<u32>("port").unwrap(), Some(7001));
        assert_eq!(db.setting::<Limits>("limits").unwrap(), Some(l));
        assert!(matches!(db.setting::<String>("port"), Err(StoreError::Corrupt(_))));
        let all = db.settings().unwrap();
        assert_eq!(all.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["limits", "port"]);
        assert_eq!(all[1].1, serde_json::json!(7001));
        assert!(db.delete_setting("port").unwrap());
        assert!(!db.delete_setting("port").unwrap());
        assert!(db.set_setting("", &1).is_err());
        assert!(db.set_setting("a\nb", &1).is_err());
    }
}
