//! The desktop app's own settings, in `desktop.toml` in the data directory: what closing the
//! window does and whether trove starts at login. The node's settings stay in `config.toml`
//! (the web UI's Settings page edits them).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file name in the data directory.
pub const FILE: &str = "desktop.toml";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DesktopSettings {
    /// Closing the window hides it and the node keeps seeding (the tray icon brings it back
    /// or quits). Off: closing the window quits.
    pub keep_running_in_tray: bool,
    /// Start trove when the user logs in.
    pub start_at_login: bool,
}

impl Default for DesktopSettings {
    fn default() -> Self {
        DesktopSettings { keep_running_in_tray: true, start_at_login: false }
    }
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The settings of `dir`: the defaults when there is no file; an error naming the file and
/// the problem when it cannot be read.
pub fn load(dir: &Path) -> Result<DesktopSettings, String> {
    let p = path(dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DesktopSettings::default()),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

/// Writes the settings (atomically: a crash leaves the old file or the new one).
pub fn save(dir: &Path, s: &DesktopSettings) -> Result<(), String> {
    let text = toml::to_string(s).map_err(|e| e.to_string())?;
    trove_cli::runfiles::write_private(&path(dir), text.as_bytes()).map_err(|e| format!("{}: {e}", path(dir).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_bad_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load(d.path()).unwrap(), DesktopSettings::default());
        let s = DesktopSettings { keep_running_in_tray: false, start_at_login: true };
        save(d.path(), &s).unwrap();
        assert_eq!(load(d.path()).unwrap(), s);
        std::fs::write(d.path().join(FILE), "keep_running_in_tray = true\nstart_at_logon = true\n").unwrap();
        let e = load(d.path()).unwrap_err();
        assert!(e.contains(FILE) && e.contains("start_at_logon"), "{e}");
        std::fs::write(d.path().join(FILE), "start_at_login = true\n").unwrap();
        assert_eq!(load(d.path()).unwrap(), DesktopSettings { keep_running_in_tray: true, start_at_login: true });
    }
}
