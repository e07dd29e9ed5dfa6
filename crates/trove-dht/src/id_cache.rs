//! A small direct-mapped cache of NodeId = SHA-256(node key)[0..20], so a lookup that sees
//! the same peers in many answers hashes each key once. Keys are attacker-chosen, so the
//! cache never trusts a slot without comparing the whole key: a collision only costs a
//! recomputation.

use trove_proto::{NodeId, PubKey};

const SLOTS: usize = 256;

/// Cached node ids by key.
#[derive(Clone, Debug)]
pub struct IdCache {
    slots: Vec<Option<(PubKey, NodeId)>>,
}

impl Default for IdCache {
    fn default() -> Self {
        IdCache { slots: vec![None; SLOTS] }
    }
}

impl IdCache {
    /// The node id of `key`.
    pub fn node_id(&mut self, key: &PubKey) -> NodeId {
        let slot = (usize::from(key.0[0]) ^ usize::from(key.0[31])) % SLOTS;
        if let Some((k, id)) = &self.slots[slot]
            && k == key
        {
            return *id;
        }
        let id = key.node_id();
        self.slots[slot] = Some((*key, id));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_ids_are_the_real_ids_even_on_collisions() {
        let mut c = IdCache::default();
        let a = PubKey([1; 32]);
        let mut b = [1u8; 32];
        b[5] = 9; // same slot as `a`
        let b = PubKey(b);
        for _ in 0..3 {
            assert_eq!(c.node_id(&a), a.node_id());
            assert_eq!(c.node_id(&b), b.node_id());
        }
    }
}
