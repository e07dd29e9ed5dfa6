//! Progress on stderr while publishing (hashing) and downloading, driven by node events:
//! indicatif bars with rate and ETA on a terminal; on anything else (a pipe, a log file) one
//! `progress:` line per file at most every second; nothing with `--quiet`. stdout is never
//! touched, so `--json` output stays clean.

use crate::backend::EventSource;
use indicatif::{HumanBytes, HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Bars,
    Lines,
    Off,
}

impl Mode {
    /// Bars on a terminal, lines otherwise, nothing when quiet.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        }
    }
}

/// Least time between two `progress:` lines of one file.
const LINE_EVERY: Duration = Duration::from_secs(1);

/// The renderer.
pub struct Progress {
    mode: Mode,
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    last_line: HashMap<String, Instant>,
    /// Only downloads into this folder (or to this file) are shown.
    only_under: Option<PathBuf>,
}

impl Progress {
    pub fn new(mode: Mode, only_under: Option<PathBuf>) -> Progress {
        Progress {
            mode,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: HashMap::new(),
            last_line: HashMap::new(),
            only_under,
        }
    }

    /// The bar of `key`, made on first use with `template` and `prefix` (what it shows).
    fn bar(&mut self, key: &str, total: u64, template: &str, prefix: String) -> ProgressBar {
        if let Some(b) = self.bars.get(key) {
            return b.clone();
        }
        let style = ProgressStyle::with_template(template).expect("progress template").progress_chars("=> ");
        let b = self.multi.add(ProgressBar::new(total).with_style(style).with_prefix(prefix));
        self.bars.insert(key.to_string(), b.clone());
        b
    }

    fn line_due(&mut self, key: &str) -> bool {
        let now = Instant::now();
        match self.last_line.get(key) {
            Some(t) if now.duration_since(*t) < LINE_EVERY => false,
            _ => {
                self.last_line.insert(key.to_string(), now);
                true
            }
        }
    }

    /// The path shown for a download target: relative to the folder downloaded into.
    fn shown_path(&self, path: &str) -> Option<String> {
        match &self.only_under {
            None => Some(path.to_string()),
            Some(root) => {
                let p = std::path::Path::new(path);
                let rel = p.strip_prefix(root).ok()?;
                let s = rel.display().to_string();
                Some(if s.is_empty() {
                    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(s)
                } else {
                    s
                })
            }
        }
    }

    /// Shows one event (others are ignored).
    pub fn handle(&mut self, ev: &Value) {
        if self.mode == Mode::Off {
            return;
        }
        let n = |k: &str| ev[k].as_u64().unwrap_or(0);
        match ev["type"].as_str().unwrap_or("") {
            "publish_progress" => {
                let (done, total) = (n("bytes_done"), n("bytes_total"));
                match self.mode {
                    Mode::Bars => {
                        let b = self.bar("publish", total, PUBLISH_BAR, "hashing".into());
                        b.set_length(total);
                        b.set_position(done);
                        if done >= total {
                            b.finish_and_clear();
                            self.bars.remove("publish");
                        }
                    }
                    Mode::Lines => {
                        // A publish that is done at its first report had nothing to show.
                        let first = !self.last_line.contains_key("publish");
                        if first && done >= total {
                            return;
                        }
                        if self.line_due("publish") || done >= total {
                            eprintln!(
                                "progress: hashing {} of {} ({}%)",
                                HumanBytes(done),
                                HumanBytes(total),
                                pct(done, total)
                            );
                        }
                    }
                    Mode::Off => {}
                }
            }
            "download_progress" => {
                let Some(path) = ev["path"].as_str().and_then(|p| self.shown_path(p)) else { return };
                let key = format!("dl{}", n("download_id"));
                let (done, total) = (n("bytes_done"), n("bytes_total"));
                let status = download_status(done, total, n("rate_bps"), n("peers"));
                match self.mode {
                    Mode::Bars => {
                        let b = self.bar(&key, total, DOWNLOAD_BAR, path);
                        b.set_length(total);
                        b.set_position(done);
                        b.set_message(status);
                    }
                    Mode::Lines => {
                        if self.line_due(&key) {
                            eprintln!(
                                "progress: {path} {} of {} ({}%), {status}",
                                HumanBytes(done),
                                HumanBytes(total),
                                pct(done, total),
                            );
                        }
                    }
                    Mode::Off => {}
                }
            }
            "download_complete" | "download_failed" => {
                let key = format!("dl{}", n("download_id"));
                if let Some(b) = self.bars.remove(&key) {
                    b.finish_and_clear();
                }
                self.last_line.remove(&key);
            }
            _ => {}
        }
    }

    /// Removes whatever bars are left.
    pub fn finish(&mut self) {
        for (_, b) in self.bars.drain() {
            b.finish_and_clear();
        }
    }
}

/// A publish's bar: indicatif's own rate and ETA (hashing runs at a steady pace).
const PUBLISH_BAR: &str = "{prefix} [{bar:25}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}";
/// A download's bar: its message is [`download_status`], from the node's figures.
const DOWNLOAD_BAR: &str = "{prefix} [{bar:25}] {bytes}/{total_bytes} {msg}";

/// Rate, peers and time left of a download, from the node's progress event: the node's rate
/// covers the whole download so far, so it does not jump when a burst of chunks lands.
fn download_status(done: u64, total: u64, rate: u64, peers: u64) -> String {
    let eta = match total.saturating_sub(done).checked_div(rate) {
        Some(secs) => HumanDuration(Duration::from_secs(secs)).to_string(),
        None => "unknown".into(),
    };
    let peers = if peers == 1 { "1 peer".to_string() } else { format!("{peers} peers") };
    format!("{}/s, {peers}, ETA {eta}", HumanBytes(rate))
}

fn pct(done: u64, total: u64) -> u64 {
    if total == 0 { 100 } else { (done.min(total) as u128 * 100 / total as u128) as u64 }
}

/// Progress shown from an event source while a command runs.
pub struct ProgressTask {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl ProgressTask {
    /// Starts showing events from `source` (nothing happens without a source or in `Off` mode).
    pub fn start(source: Option<EventSource>, mut progress: Progress) -> Option<ProgressTask> {
        let mut source = source?;
        if progress.mode == Mode::Off {
            return None;
        }
        let (stop, mut stopped) = oneshot::channel();
        let handle = tokio::spawn(async move {
            loop {
                tokio::select! {
                    ev = source.next() => match ev {
                        Some(ev) => progress.handle(&ev),
                        None => break,
                    },
                    _ = &mut stopped => break,
                }
            }
            progress.finish();
        });
        Some(ProgressTask { stop, handle })
    }

    /// Stops and clears the display.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_shown_relative_and_foreign_downloads_hidden() {
        let p = Progress::new(Mode::Lines, Some(PathBuf::from("/data/out")));
        assert_eq!(p.shown_path("/data/out/a/b.bin").as_deref(), Some("a/b.bin"));
        assert_eq!(p.shown_path("/elsewhere/c.bin"), None);
        assert_eq!(pct(5, 10), 50);
        assert_eq!(pct(0, 0), 100);
    }

    #[test]
    fn a_download_shows_the_nodes_rate_its_peers_and_the_time_left() {
        assert_eq!(download_status(1 << 20, 3 << 20, 1 << 20, 2), "1.00 MiB/s, 2 peers, ETA 2 seconds");
        assert_eq!(download_status(0, 1 << 20, 0, 1), "0 B/s, 1 peer, ETA unknown");
        assert_eq!(download_status(1 << 20, 1 << 20, 4096, 0), "4.00 KiB/s, 0 peers, ETA 0 seconds");
    }
}
