//! Files the daemon keeps in the data directory so the CLI and front ends can find it:
//! `api-token` (the secret every API request carries; owner-only, kept across restarts so a
//! configured front end keeps working) and `daemon.json` (the API address, the pid and the
//! listen addresses of the running daemon; removed when it stops). A `daemon.json` left by a
//! daemon that died is recognised as stale: its API does not answer with its pid.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The API token file.
pub const TOKEN_FILE: &str = "api-token";
/// The running daemon's address file.
pub const DAEMON_FILE: &str = "daemon.json";

/// What `daemon.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// Process id of the daemon.
    pub pid: u32,
    /// Where the HTTP API listens.
    pub api: SocketAddr,
    pub node_id: String,
    pub listen_tcp: Option<String>,
    pub listen_quic: Option<String>,
    /// Unix seconds.
    pub started_at: u64,
    pub version: String,
}

/// Writes `bytes` to `path` atomically (temporary file, then rename) with owner-only
/// permissions.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// The API token, created (32 random bytes, hex) on first use.
pub fn load_or_create_token(data_dir: &Path) -> std::io::Result<String> {
    if let Some(t) = read_token(data_dir)? {
        return Ok(t);
    }
    create_token(data_dir)
}

/// Writes a new API token (owner-only), replacing any earlier one.
pub fn create_token(data_dir: &Path) -> std::io::Result<String> {
    let token = hex::encode(trove_proto::keys::random_bytes::<32>());
    write_private(&token_path(data_dir), format!("{token}\n").as_bytes())?;
    Ok(token)
}

/// The API token, if the daemon has created one.
pub fn read_token(data_dir: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(token_path(data_dir)) {
        Ok(t) if !t.trim().is_empty() => Ok(Some(t.trim().to_string())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Records the running daemon.
pub fn write_daemon(data_dir: &Path, info: &DaemonInfo) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(info).map_err(std::io::Error::other)?;
    write_private(&data_dir.join(DAEMON_FILE), &text)
}

/// The recorded daemon, if the file exists and parses.
pub fn read_daemon(data_dir: &Path) -> Option<DaemonInfo> {
    let text = std::fs::read(data_dir.join(DAEMON_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Removes `daemon.json` if it names `pid` (a daemon removes only its own record), or
/// whatever it names when `pid` is None (the caller holds the data-directory lock, so no
/// daemon of this directory is alive).
pub fn remove_daemon(data_dir: &Path, pid: Option<u32>) {
    let path = data_dir.join(DAEMON_FILE);
    let ours = match (pid, read_daemon(data_dir)) {
        (None, _) => true,
        (Some(p), Some(info)) => info.pid == p,
        (Some(_), None) => path.exists(),
    };
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_owner_only_and_daemon_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_token(dir.path()).unwrap(), None);
        let t = load_or_create_token(dir.path()).unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(load_or_create_token(dir.path()).unwrap(), t);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let info = DaemonInfo {
            pid: 42,
            api: "127.0.0.1:7080".parse().unwrap(),
            node_id: "ab".into(),
            listen_tcp: None,
            listen_quic: Some("127.0.0.1:7000".into()),
            started_at: 1,
            version: "0".into(),
        };
        write_daemon(dir.path(), &info).unwrap();
        assert_eq!(read_daemon(dir.path()), Some(info));
        remove_daemon(dir.path(), Some(41));
        assert!(read_daemon(dir.path()).is_some(), "another pid's record stays");
        remove_daemon(dir.path(), Some(42));
        assert!(read_daemon(dir.path()).is_none());
    }
}
