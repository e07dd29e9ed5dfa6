//! Changing the node's settings from a front end: the current configuration as JSON, and a
//! partial update that is validated by parsing the merged result, written to
//! `<data dir>/config.toml`, and reported with whether a restart is needed to apply it.

use crate::config::NodeConfig;
use crate::error::{NodeError, Result};
use crate::node::Node;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The result of an update.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SettingsUpdate {
    /// The configuration as written.
    pub settings: Value,
    /// Settings that only take effect after the node restarts (listen addresses, …).
    pub restart_required: Vec<String>,
}

/// Keys whose change needs a restart.
const RESTART_KEYS: &[&str] = &[
    "listen_tcp",
    "listen_quic",
    "advertise",
    "bootstrap",
    "lan",
    "extensions",
    "strict",
    "relay",
    "upload_limit_kib",
    "download_limit_kib",
    "dht_allow_loopback",
];

fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Applies `patch` to `cfg`, returning the new configuration or a message naming the problem.
pub fn apply_patch(cfg: &NodeConfig, patch: &Value) -> Result<(NodeConfig, Vec<String>)> {
    if !patch.is_object() {
        return Err(NodeError::Invalid("settings must be a JSON object".into()));
    }
    let mut v = serde_json::to_value(cfg).map_err(|e| NodeError::Invalid(e.to_string()))?;
    let before = v.clone();
    merge(&mut v, patch);
    let mut new: NodeConfig =
        serde_json::from_value(v.clone()).map_err(|e| NodeError::Invalid(format!("invalid settings: {e}")))?;
    new.data_dir = cfg.data_dir.clone();
    for s in &new.bootstrap {
        if trove_proto::wire::PeerAddr::parse_bootstrap(s).is_err() && !s.contains(':') {
            return Err(NodeError::Invalid(format!("bootstrap address '{s}' is not host:port or scheme://host:port")));
        }
    }
    if new.parallel_files == 0 {
        return Err(NodeError::Invalid("parallel_files must be at least 1".into()));
    }
    let restart = RESTART_KEYS.iter().filter(|k| before.get(**k) != v.get(**k)).map(|k| k.to_string()).collect();
    Ok((new, restart))
}

impl Node {
    /// The configuration in use, as JSON.
    pub fn settings(&self) -> Value {
        serde_json::to_value(&self.inner.cfg).unwrap_or(Value::Null)
    }

    /// Validates and saves a partial settings change to `config.toml`. Nothing changes when
    /// it is invalid. Changes apply at the next start (see `restart_required`).
    pub fn update_settings(&self, patch: &Value) -> Result<SettingsUpdate> {
        let current = NodeConfig::load(&self.inner.cfg.data_dir).map_err(NodeError::Invalid)?;
        let (new, restart_required) = apply_patch(&current, patch)?;
        let text =
            toml::to_string_pretty(&new).map_err(|e| NodeError::Invalid(format!("cannot write settings: {e}")))?;
        let path = self.inner.cfg.data_dir.join("config.toml");
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(NodeError::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(NodeError::io(format!("replacing {}", path.display())))?;
        Ok(SettingsUpdate { settings: serde_json::to_value(&new).unwrap_or(Value::Null), restart_required })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_merge_validate_and_name_restart_keys() {
        let cfg = NodeConfig::default();
        let (new, restart) =
            apply_patch(&cfg, &serde_json::json!({"lan": {"enabled": false}, "parallel_files": 8})).unwrap();
        assert!(!new.lan.enabled);
        assert_eq!(new.lan.port, cfg.lan.port, "nested keys kept");
        assert_eq!(new.parallel_files, 8);
        assert_eq!(restart, vec!["lan".to_string()]);
        let e = apply_patch(&cfg, &serde_json::json!({"parallel_files": "many"})).unwrap_err().to_string();
        assert!(e.contains("invalid settings"), "{e}");
        let e = apply_patch(&cfg, &serde_json::json!({"no_such_key": 1})).unwrap_err().to_string();
        assert!(e.contains("no_such_key"), "{e}");
        assert!(apply_patch(&cfg, &serde_json::json!([1])).is_err());
    }
}
