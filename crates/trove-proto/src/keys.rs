//! Ed25519 key pairs for nodes, shares, communities and relays, and strict signature
//! verification. X25519 ephemeral keys for the handshake live here too.

use crate::error::ProtoError;
use crate::ids::{NodeId, PubKey, ShareId, Sig};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// Fills a buffer from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

/// An Ed25519 signing key with its public half.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self::from_seed(random_bytes())
    }

    /// The key derived from a 32-byte seed (RFC 8032 secret key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Keypair { signing: SigningKey::from_bytes(&seed) }
    }

    /// The 32-byte seed; keep it secret.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PubKey {
        PubKey(self.signing.verifying_key().to_bytes())
    }

    /// The NodeId of this key used as a node key.
    pub fn node_id(&self) -> NodeId {
        self.public().node_id()
    }

    /// The ShareId of this key used as a share key.
    pub fn share_id(&self) -> ShareId {
        self.public().share_id()
    }

    /// Signs `msg` (pure Ed25519, no prehash, no context).
    pub fn sign(&self, msg: &[u8]) -> Sig {
        self.signing.sign(msg).to_bytes()
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public().short())
    }
}

/// Verifies `sig` over `msg` with strict rules: the key must be a valid, non-weak point and
/// the signature canonical (ed25519-dalek `verify_strict`). `what` names the signed thing in
/// the error.
pub fn verify(key: &PubKey, msg: &[u8], sig: &Sig, what: &str) -> Result<(), ProtoError> {
    let vk = VerifyingKey::from_bytes(&key.0).map_err(|_| {
        ProtoError::Signature(format!("{what}: public key {} is not a valid Ed25519 point", key.short()))
    })?;
    let sig = ed25519_dalek::Signature::from_bytes(sig);
    vk.verify_strict(msg, &sig)
        .map_err(|_| ProtoError::Signature(format!("{what}: signature does not verify with key {}", key.short())))
}

/// An X25519 ephemeral secret for one handshake.
pub struct EphemeralSecret(x25519_dalek::StaticSecret);

impl EphemeralSecret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        Self::from_bytes(random_bytes())
    }

    /// A secret from fixed bytes (test vectors).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        EphemeralSecret(x25519_dalek::StaticSecret::from(b))
    }

    /// The public value sent in the hello.
    pub fn public(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }

    /// The Diffie-Hellman shared secret with the peer's public value. Fails on an all-zero
    /// result (a low-order peer point), which would make the secret predictable.
    pub fn agree(&self, peer: &[u8; 32]) -> Result<[u8; 32], ProtoError> {
        let shared = self.0.diffie_hellman(&x25519_dalek::PublicKey::from(*peer));
        if !shared.was_contributory() {
            return Err(ProtoError::Invalid("peer sent a low-order X25519 key (all-zero shared secret)".into()));
        }
        Ok(shared.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let k = Keypair::from_seed([7; 32]);
        let sig = k.sign(b"hello");
        verify(&k.public(), b"hello", &sig, "test").unwrap();
        assert!(verify(&k.public(), b"hellp", &sig, "test").is_err());
        let mut bad = sig;
        bad[3] ^= 1;
        assert!(verify(&k.public(), b"hello", &bad, "test").is_err());
        // Non-canonical S (S + L) is rejected by strict verification.
        let mut malleable = sig;
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let s = malleable[32 + i] as u16 + l[i] as u16 + carry;
            malleable[32 + i] = s as u8;
            carry = s >> 8;
        }
        assert!(verify(&k.public(), b"hello", &malleable, "test").is_err());
    }

    #[test]
    fn low_order_x25519_point_is_refused() {
        let s = EphemeralSecret::from_bytes([0x33; 32]);
        assert!(s.agree(&[0u8; 32]).is_err());
    }
}
