//! The memory budget of chunk answers: bytes of chunks read for peers and not yet taken by
//! the transport. A chunk is read only once it fits both in the node's budget and in the
//! asking peer's share of it, and its bytes give their room back when the last copy of them
//! is dropped (the frame was written). A seeder's memory stays bounded however many peers
//! download from it at once, and one peer that stops reading holds no more than its share.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use trove_proto::PubKey;
use trove_proto::limits::CHUNK_SIZE;

/// Chunk bytes a node holds for all peers at once.
pub const SERVE_BUFFER_BYTES: usize = 32 * CHUNK_SIZE;
/// Chunk bytes a node holds for one peer at once: enough read ahead to keep a fast
/// connection busy while the disk catches up.
pub const PEER_BUFFER_BYTES: usize = 8 * CHUNK_SIZE;

/// Bytes per permit.
const UNIT: usize = 1024;

/// The budget.
pub struct ServeBuffers {
    all: Arc<Semaphore>,
    peer_units: usize,
    /// The share of each peer that holds room now (peers holding none are dropped).
    peers: Mutex<HashMap<PubKey, Arc<Semaphore>>>,
}

/// Room for one chunk, taken from the budget until the answer made from it is dropped.
pub struct Reservation {
    all: OwnedSemaphorePermit,
    peer: OwnedSemaphorePermit,
}

/// Chunk bytes that hold their room in the budget.
struct Held {
    bytes: Vec<u8>,
    _room: Reservation,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Default for ServeBuffers {
    fn default() -> Self {
        ServeBuffers::new(SERVE_BUFFER_BYTES, PEER_BUFFER_BYTES)
    }
}

impl ServeBuffers {
    /// A budget of `all` bytes with `per_peer` bytes for each peer (each at least a chunk).
    pub fn new(all: usize, per_peer: usize) -> ServeBuffers {
        ServeBuffers {
            all: Arc::new(Semaphore::new(all.max(CHUNK_SIZE).div_ceil(UNIT))),
            peer_units: per_peer.max(CHUNK_SIZE).div_ceil(UNIT),
            peers: Mutex::default(),
        }
    }

    /// Waits until a whole chunk for `peer` fits.
    pub async fn reserve(&self, peer: &PubKey) -> Reservation {
        let share = {
            let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
            // A share nobody holds room of is full again: forget it.
            peers.retain(|_, s| Arc::strong_count(s) > 1);
            peers.entry(*peer).or_insert_with(|| Arc::new(Semaphore::new(self.peer_units))).clone()
        };
        let chunk = units(CHUNK_SIZE);
        // Semaphores are never closed.
        let peer = share.acquire_many_owned(chunk).await.expect("open semaphore");
        let all = self.all.clone().acquire_many_owned(chunk).await.expect("open semaphore");
        Reservation { all, peer }
    }
}

impl Reservation {
    /// The answer `bytes` (a chunk's at most), keeping only their size of the room until the
    /// last copy of them is dropped.
    pub fn hold(mut self, bytes: Vec<u8>) -> Bytes {
        let keep = units(bytes.len()).min(self.all.num_permits() as u32) as usize;
        for p in [&mut self.all, &mut self.peer] {
            drop(p.split(p.num_permits() - keep));
        }
        Bytes::from_owner(Held { bytes, _room: self })
    }
}

fn units(bytes: usize) -> u32 {
    bytes.div_ceil(UNIT).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Bytes in use of a budget of `all` bytes.
    fn in_use(b: &ServeBuffers, all: usize) -> usize {
        all - b.all.available_permits() * UNIT
    }

    /// Whether `f` cannot finish at once.
    fn waits<F: std::future::Future>(f: F) -> bool {
        futures::FutureExt::now_or_never(f).is_none()
    }

    #[tokio::test]
    async fn chunks_wait_for_room_and_give_it_back_when_their_answers_are_dropped() {
        let budget = ServeBuffers::new(2 * CHUNK_SIZE, 2 * CHUNK_SIZE);
        let me = PubKey([1; 32]);
        let a = budget.reserve(&me).await.hold(vec![1; CHUNK_SIZE]);
        let b = budget.reserve(&me).await;
        assert_eq!(in_use(&budget, 2 * CHUNK_SIZE), 2 * CHUNK_SIZE);
        assert!(waits(budget.reserve(&me)), "a chunk beyond the budget was read");
        // A small answer keeps only its size.
        let small = b.hold(vec![2; 5000]);
        assert_eq!(in_use(&budget, 2 * CHUNK_SIZE), CHUNK_SIZE + 5 * UNIT);
        // Copies (a frame queued, a payload sliced) keep the room until the last one goes.
        let queued = a.clone();
        drop(a);
        assert_eq!(in_use(&budget, 2 * CHUNK_SIZE), CHUNK_SIZE + 5 * UNIT);
        assert_eq!(&queued[..3], &[1, 1, 1]);
        drop(queued);
        assert_eq!(in_use(&budget, 2 * CHUNK_SIZE), 5 * UNIT);
        let c = tokio::time::timeout(Duration::from_secs(5), budget.reserve(&me)).await.expect("room again");
        drop((c, small));
        assert_eq!(in_use(&budget, 2 * CHUNK_SIZE), 0);
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_holds_only_its_share() {
        let budget = ServeBuffers::new(4 * CHUNK_SIZE, 2 * CHUNK_SIZE);
        let (stalled, other) = (PubKey([1; 32]), PubKey([2; 32]));
        // The stalled peer's answers are never written: it gets two chunks, then waits.
        let held: Vec<Bytes> = vec![
            budget.reserve(&stalled).await.hold(vec![0; CHUNK_SIZE]),
            budget.reserve(&stalled).await.hold(vec![0; CHUNK_SIZE]),
        ];
        assert!(waits(budget.reserve(&stalled)), "a peer got more than its share");
        // Another peer is still served.
        let o = tokio::time::timeout(Duration::from_secs(5), budget.reserve(&other)).await.expect("served");
        assert_eq!(in_use(&budget, 4 * CHUNK_SIZE), 3 * CHUNK_SIZE);
        drop((held, o));
        assert_eq!(in_use(&budget, 4 * CHUNK_SIZE), 0);
        // Shares nobody holds are forgotten.
        let _r = budget.reserve(&other).await;
        assert_eq!(budget.peers.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_default_budget_is_8_chunks_per_peer_and_32_in_all() {
        let budget = ServeBuffers::default();
        let mut held = Vec::new();
        for peer in 0..4u8 {
            for _ in 0..8 {
                held.push(budget.reserve(&PubKey([peer; 32])).await);
            }
            assert!(waits(budget.reserve(&PubKey([peer; 32]))), "peer {peer} got a ninth chunk");
        }
        assert_eq!(in_use(&budget, SERVE_BUFFER_BYTES), SERVE_BUFFER_BYTES);
        assert!(waits(budget.reserve(&PubKey([9; 32]))), "a 33rd chunk was read");
        held.pop();
        assert!(!waits(budget.reserve(&PubKey([9; 32]))), "room freed for another peer");
    }

    #[test]
    fn a_budget_holds_at_least_one_chunk() {
        let b = ServeBuffers::new(0, 0);
        assert_eq!(b.all.available_permits(), CHUNK_SIZE / UNIT);
        assert_eq!(b.peer_units, CHUNK_SIZE / UNIT);
    }
}
