//! The head board: the newest verified head of every share this node publishes or follows,
//! and the long poll behind WATCH_HEADS (docs/PROTOCOL.md §3.3): a watcher is answered the
//! moment a newer head is offered.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use trove_proto::ShareId;
use trove_proto::wire::ShareHead;

/// Newest heads and their watchers.
#[derive(Default)]
pub struct HeadBoard {
    heads: Mutex<HashMap<ShareId, ShareHead>>,
    changed: Notify,
    /// Set at shutdown: every watcher returns at once.
    closed: std::sync::atomic::AtomicBool,
}

impl HeadBoard {
    /// Offers a head that the caller verified. Returns true if it is newer than what the
    /// board had (watchers are then woken).
    pub fn offer(&self, head: ShareHead) -> bool {
        let mut heads = self.heads.lock().expect("head board");
        let newer = match heads.get(&head.share_id) {
            Some(h) => head.freshness(h).is_gt(),
            None => true,
        };
        if newer {
            heads.insert(head.share_id, head);
            drop(heads);
            self.changed.notify_waiters();
        }
        newer
    }

    /// Ends every long poll now and in the future (the node is shutting down).
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// The newest head of a share.
    pub fn get(&self, share: &ShareId) -> Option<ShareHead> {
        self.heads.lock().expect("head board").get(share).cloned()
    }

    /// Forgets a share.
    pub fn remove(&self, share: &ShareId) {
        self.heads.lock().expect("head board").remove(share);
    }

    fn newer_than(&self, watched: &[(ShareId, u64)]) -> Vec<ShareHead> {
        let heads = self.heads.lock().expect("head board");
        watched.iter().filter_map(|(id, seq)| heads.get(id).filter(|h| h.latest_seq > *seq).cloned()).collect()
    }

    /// Heads of `watched` shares newer than the given seqs: at once if there are any,
    /// otherwise as soon as one is offered, or empty after `wait`.
    pub async fn wait_newer(&self, watched: &[(ShareId, u64)], wait: Duration) -> Vec<ShareHead> {
        let deadline = tokio::time::Instant::now() + wait;
        crate::wait::until(&self.changed, deadline, || {
            let found = self.newer_than(watched);
            if !found.is_empty() || self.closed.load(std::sync::atomic::Ordering::SeqCst) { Ok(found) } else { Err(()) }
        })
        .await
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use trove_proto::{Keypair, ManifestId};

    #[tokio::test]
    async fn watcher_wakes_on_a_newer_head_only() {
        let board = Arc::new(HeadBoard::default());
        let key = Keypair::from_seed([3; 32]);
        let id = key.share_id();
        assert!(board.offer(ShareHead::sign(&key, 1, ManifestId([1; 32]), 10)));
        assert!(!board.offer(ShareHead::sign(&key, 1, ManifestId([1; 32]), 9)), "older update ignored");
        // Known seq 1: nothing newer yet, so the watcher waits.
        let b2 = board.clone();
        let w = tokio::spawn(async move { b2.wait_newer(&[(id, 1)], Duration::from_secs(30)).await });
        tokio::task::yield_now().await;
        assert!(board.offer(ShareHead::sign(&key, 2, ManifestId([2; 32]), 11)));
        let got = w.await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].latest_seq, 2);
        // Already newer: answered at once.
        assert_eq!(board.wait_newer(&[(id, 0)], Duration::from_secs(30)).await.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn watcher_times_out_empty() {
        let board = HeadBoard::default();
        assert!(board.wait_newer(&[(ShareId([1; 32]), 0)], Duration::from_secs(5)).await.is_empty());
    }
}
