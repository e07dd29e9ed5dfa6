//! Notifications for what happens while the window may be hidden: downloads that finished
//! and new revisions of followed shares. [`Notifier`] is the pure part: it turns node events
//! into notices (a burst of finished files becomes one notice; a share's first catalog after
//! subscribing is not news); the app shows them.

use std::collections::HashMap;
use trove_node::Event;

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// Decides what deserves a notification.
#[derive(Default)]
pub struct Notifier {
    /// The revision of each followed share known so far.
    seqs: HashMap<String, u64>,
    /// Files finished since the last flush: (path, bytes).
    done: Vec<(String, u64)>,
}

impl Notifier {
    /// Starts from the subscriptions as they are: `(share id, revision held)`.
    pub fn new(known: impl IntoIterator<Item = (String, Option<u64>)>) -> Notifier {
        let seqs = known.into_iter().filter_map(|(id, seq)| seq.map(|s| (id, s))).collect();
        Notifier { seqs, done: Vec::new() }
    }

    /// Takes one event; returns a notice to show now, if any. `title` names a share.
    pub fn event(&mut self, ev: &Event, title: impl Fn(&str) -> Option<String>) -> Option<Notice> {
        match ev {
            Event::ManifestUpdated { share_id, seq, items, .. } => {
                let before = self.seqs.insert(share_id.clone(), *seq);
                // A share just subscribed to gets its first catalog: the user asked for it.
                let before = before?;
                if *seq <= before {
                    return None;
                }
                let name = title(share_id).unwrap_or_else(|| format!("share {}", &share_id[..12.min(share_id.len())]));
                Some(Notice {
                    title: format!("New revision of {name}"),
                    body: format!("Revision {seq}: {} files", items),
                })
            }
            Event::DownloadComplete { path, bytes, .. } => {
                self.done.push((path.clone(), *bytes));
                None
            }
            _ => None,
        }
    }

    /// The notice for the files finished since the last call (call it when downloads have
    /// been quiet for a moment).
    pub fn flush(&mut self) -> Option<Notice> {
        let done = std::mem::take(&mut self.done);
        match done.as_slice() {
            [] => None,
            [(path, _)] => Some(Notice { title: "Download finished".into(), body: file_name(path) }),
            many => {
                let bytes: u64 = many.iter().map(|(_, b)| b).sum();
                Some(Notice {
                    title: format!("{} downloads finished", many.len()),
                    body: format!("{} files, {} in all", many.len(), human_bytes(bytes)),
                })
            }
        }
    }

    /// Whether finished files wait for [`Notifier::flush`].
    pub fn pending(&self) -> bool {
        !self.done.is_empty()
    }
}

fn file_name(path: &str) -> String {
    std::path::Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.into())
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updated(id: &str, seq: u64) -> Event {
        Event::ManifestUpdated { share_id: id.into(), seq, manifest_id: "m".into(), items: 3 }
    }

    #[test]
    fn new_revisions_of_known_shares_only() {
        let mut n = Notifier::new([("aa".repeat(32), Some(2)), ("bb".repeat(32), None)]);
        let title = |id: &str| (id == "aa".repeat(32)).then(|| "Photos".to_string());
        // A known share moving forward is news; the same revision again is not.
        let got = n.event(&updated(&"aa".repeat(32), 3), title).unwrap();
        assert_eq!(got, Notice { title: "New revision of Photos".into(), body: "Revision 3: 3 files".into() });
        assert_eq!(n.event(&updated(&"aa".repeat(32), 3), title), None);
        // The first catalog of a share without one (just subscribed) is not; the next is.
        assert_eq!(n.event(&updated(&"bb".repeat(32), 7), title), None);
        let got = n.event(&updated(&"bb".repeat(32), 8), title).unwrap();
        assert_eq!(got.title, format!("New revision of share {}", "b".repeat(12)));
    }

    #[test]
    fn finished_downloads_are_gathered() {
        let mut n = Notifier::new([]);
        assert_eq!(n.flush(), None);
        let done = |p: &str, b| Event::DownloadComplete { download_id: 1, path: p.into(), bytes: b };
        assert_eq!(n.event(&done("/d/a/film.mkv", 10), |_| None), None);
        assert!(n.pending());
        assert_eq!(n.flush(), Some(Notice { title: "Download finished".into(), body: "film.mkv".into() }));
        assert!(!n.pending());
        n.event(&done("/d/1", 1024), |_| None);
        n.event(&done("/d/2", 2048), |_| None);
        assert_eq!(
            n.flush(),
            Some(Notice { title: "2 downloads finished".into(), body: "2 files, 3.0 KiB in all".into() })
        );
    }
}
