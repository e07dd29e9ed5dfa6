//! Remembered peers that proved channel binding once: a later session with such a peer
//! that arrives without the extension is refused as an attack, not accepted as a downgrade.

use std::collections::HashSet;
use std::sync::Mutex;
use trove_proto::PubKey;

/// Storage of binding pins; the node persists them, tests use [`MemoryPins`].
pub trait BindingPins: Send + Sync {
    /// Whether `key` is known to support channel binding.
    fn is_pinned(&self, key: &PubKey) -> bool;
    /// Remembers that `key` supports channel binding.
    fn pin(&self, key: &PubKey);
}

/// Pins kept in memory, bounded.
#[derive(Default)]
pub struct MemoryPins {
    keys: Mutex<HashSet<PubKey>>,
}

/// Most pins kept in memory.
const MAX_PINS: usize = 100_000;

impl BindingPins for MemoryPins {
    fn is_pinned(&self, key: &PubKey) -> bool {
        self.keys.lock().expect("pins lock").contains(key)
    }

    fn pin(&self, key: &PubKey) {
        let mut k = self.keys.lock().expect("pins lock");
        if k.len() < MAX_PINS {
            k.insert(*key);
        }
    }
}
