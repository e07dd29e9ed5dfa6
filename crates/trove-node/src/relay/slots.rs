//! The relay's reservation table (SCP2P-WIRE.md §10.1): slots owned by the identity that
//! registered them, renewed only by their owner, capped per identity, per IP address and in
//! total (TEST-MATRIX RL-2). A slot holds at most one tunnel.
//!
//! Slot ids look random, as v1 relays make them, but are derived from a relay secret, the
//! owner's key and a small index: a node that registers again (after its connection broke or
//! the relay restarted) gets the same slot id, so the addresses it published stay valid.

use std::collections::HashMap;
use std::net::IpAddr;
use trove_proto::PubKey;

/// How long a reservation lives without a tunnel or a renewal (v1: 600 s).
pub const SLOT_TTL_SECS: u64 = 600;

/// Caps on reservations.
#[derive(Clone, Copy, Debug)]
pub struct SlotLimits {
    pub global: usize,
    pub per_identity: usize,
    pub per_ip: usize,
}

/// Why a registration was refused; the text goes back in the error envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("relay slot not found")]
    NotFound,
    #[error("relay slot owner mismatch")]
    NotOwner,
    #[error("relay reservation limit reached for this node")]
    IdentityLimit,
    #[error("relay reservation limit reached for this address")]
    IpLimit,
    #[error("relay is full")]
    Full,
}

/// One reservation.
#[derive(Debug)]
pub struct Slot<T> {
    pub id: u64,
    pub owner: PubKey,
    /// Where the registration came from (for the per-IP cap).
    pub ip: IpAddr,
    pub expires_at: u64,
    pub tunnel: Option<T>,
}

/// The table. `T` is the tunnel type (kept generic so the rules are tested without sockets).
pub struct Slots<T> {
    secret: [u8; 32],
    limits: SlotLimits,
    slots: HashMap<u64, Slot<T>>,
}

impl<T> Slots<T> {
    /// An empty table; `secret` keys the slot id derivation.
    pub fn new(secret: [u8; 32], limits: SlotLimits) -> Self {
        Slots { secret, limits, slots: HashMap::new() }
    }

    fn derive_id(&self, owner: &PubKey, index: u32) -> u64 {
        let mut input = Vec::with_capacity(90);
        input.extend_from_slice(b"trove relay slot id v1");
        input.extend_from_slice(&self.secret);
        input.extend_from_slice(&owner.0);
        input.extend_from_slice(&index.to_be_bytes());
        let d = trove_proto::content::content_id(&input);
        let mut b = [0u8; 8];
        b.copy_from_slice(&d.0[..8]);
        u64::from_be_bytes(b).max(1)
    }

    /// Drops reservations that expired and hold no tunnel.
    pub fn expire(&mut self, now: u64) {
        self.slots.retain(|_, s| s.tunnel.is_some() || s.expires_at > now);
    }

    /// Registers (`slot` None: a new reservation, or for a tunnel the owner's existing one)
    /// or renews (`slot` Some, owner only). Returns the slot id and its expiry.
    pub fn register(
        &mut self,
        owner: PubKey,
        ip: IpAddr,
        slot: Option<u64>,
        tunnel: bool,
        now: u64,
    ) -> Result<(u64, u64), RegisterError> {
        self.expire(now);
        let expires_at = now + SLOT_TTL_SECS;
        if let Some(id) = slot {
            let s = self.slots.get_mut(&id).ok_or(RegisterError::NotFound)?;
            if s.owner != owner {
                return Err(RegisterError::NotOwner);
            }
            s.expires_at = expires_at;
            return Ok((id, expires_at));
        }
        if tunnel {
            // The same node registering a tunnel again: its reservation is reused (the old
            // tunnel, if any, is replaced when the new one attaches).
            let mut own: Vec<&mut Slot<T>> = self.slots.values_mut().filter(|s| s.owner == owner).collect();
            own.sort_by_key(|s| (s.tunnel.is_some(), s.id));
            if let Some(s) = own.into_iter().next() {
                s.expires_at = expires_at;
                s.ip = ip;
                return Ok((s.id, expires_at));
            }
        }
        if self.slots.len() >= self.limits.global {
            return Err(RegisterError::Full);
        }
        if self.slots.values().filter(|s| s.owner == owner).count() >= self.limits.per_identity {
            return Err(RegisterError::IdentityLimit);
        }
        if self.slots.values().filter(|s| s.ip == ip).count() >= self.limits.per_ip {
            return Err(RegisterError::IpLimit);
        }
        let id = (0u32..)
            .map(|i| self.derive_id(&owner, i))
            .find(|id| !self.slots.contains_key(id))
            .expect("an unused id exists");
        self.slots.insert(id, Slot { id, owner, ip, expires_at, tunnel: None });
        Ok((id, expires_at))
    }

    /// Attaches a tunnel to the owner's slot; returns the tunnel it replaces.
    pub fn attach(&mut self, id: u64, owner: &PubKey, tunnel: T) -> Result<Option<T>, RegisterError> {
        let s = self.slots.get_mut(&id).ok_or(RegisterError::NotFound)?;
        if s.owner != *owner {
            return Err(RegisterError::NotOwner);
        }
        Ok(s.tunnel.replace(tunnel))
    }

    /// Removes the tunnel of slot `id` if `is_it` says it is the one to remove (a newer tunnel
    /// may have replaced it meanwhile). The reservation stays until it expires.
    pub fn detach(&mut self, id: u64, now: u64, is_it: impl Fn(&T) -> bool) -> Option<T> {
        let s = self.slots.get_mut(&id)?;
        if !s.tunnel.as_ref().is_some_and(is_it) {
            return None;
        }
        s.expires_at = s.expires_at.max(now + SLOT_TTL_SECS);
        s.tunnel.take()
    }

    /// A slot by id.
    pub fn get(&self, id: u64) -> Option<&Slot<T>> {
        self.slots.get(&id)
    }

    /// Reservations held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Slots with a tunnel.
    pub fn tunnels(&self) -> usize {
        self.slots.values().filter(|s| s.tunnel.is_some()).count()
    }

    /// Reservations held by `owner`.
    pub fn count_owned(&self, owner: &PubKey) -> usize {
        self.slots.values().filter(|s| s.owner == *owner).count()
    }

    /// The live tunnels.
    pub fn tunnel_list(&self) -> Vec<&T> {
        self.slots.values().filter_map(|s| s.tunnel.as_ref()).collect()
    }

    /// Removes every tunnel (shutdown).
    pub fn take_tunnels(&mut self) -> Vec<T> {
        self.slots.values_mut().filter_map(|s| s.tunnel.take()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SlotLimits = SlotLimits { global: 10, per_identity: 2, per_ip: 4 };

    fn key(i: u8) -> PubKey {
        PubKey([i; 32])
    }

    fn ip(i: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, i])
    }

    #[test]
    fn caps_per_identity_ip_and_total() {
        let mut s: Slots<()> = Slots::new([1; 32], LIMITS);
        for _ in 0..10_000 {
            let _ = s.register(key(1), ip(1), None, false, 100);
        }
        assert_eq!(s.count_owned(&key(1)), 2, "per identity");
        assert_eq!(s.register(key(1), ip(1), None, false, 100), Err(RegisterError::IdentityLimit));
        for k in 2..10 {
            let _ = s.register(key(k), ip(1), None, false, 100);
        }
        assert_eq!(s.len(), 4, "per IP");
        for k in 10..40 {
            let _ = s.register(key(k), ip(k), None, false, 100);
        }
        assert_eq!(s.len(), 10, "global");
        assert_eq!(s.register(key(99), ip(99), None, false, 100), Err(RegisterError::Full));
    }

    #[test]
    fn owner_only_renewal_and_stable_ids() {
        let mut s: Slots<u32> = Slots::new([2; 32], LIMITS);
        let (id, _) = s.register(key(1), ip(1), None, true, 100).unwrap();
        assert_eq!(s.register(key(2), ip(2), Some(id), true, 100), Err(RegisterError::NotOwner));
        assert_eq!(s.register(key(2), ip(2), Some(id ^ 1), false, 100), Err(RegisterError::NotFound));
        assert!(s.attach(id, &key(2), 7).is_err());
        assert_eq!(s.attach(id, &key(1), 7).unwrap(), None);
        // Registering a tunnel again reuses the slot; the new tunnel replaces the old one.
        assert_eq!(s.register(key(1), ip(3), None, true, 200).unwrap().0, id);
        assert_eq!(s.attach(id, &key(1), 8).unwrap(), Some(7));
        assert_eq!(s.detach(id, 200, |t| *t == 7), None, "a replaced tunnel is not removed twice");
        assert_eq!(s.detach(id, 200, |t| *t == 8), Some(8));
        // Another table with the same secret (a restarted relay) gives the same id.
        let mut again: Slots<u32> = Slots::new([2; 32], LIMITS);
        assert_eq!(again.register(key(1), ip(9), None, true, 5_000).unwrap().0, id);
        // Without a tunnel a reservation expires.
        s.expire(200 + SLOT_TTL_SECS + 1);
        assert_eq!(s.len(), 0);
    }
}
