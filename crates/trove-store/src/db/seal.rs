//! Passphrase sealing: Argon2id (with versioned, stored parameters) turns a passphrase into a
//! 32-byte key that seals 32-byte secrets with ChaCha20-Poly1305. Pure functions, no SQL; the
//! key vault (`keys.rs`) stores what they produce.

use crate::error::{Result, StoreError};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use trove_proto::keys::random_bytes;
use unicode_normalization::UnicodeNormalization;

/// Version of the sealing scheme stored with the vault: 1 = Argon2id v0x13 with the stored
/// parameters and a 16-byte salt → 32-byte key; ChaCha20-Poly1305 with a random 12-byte nonce;
/// sealed form `nonce ‖ ciphertext ‖ tag`.
pub const SEAL_FORMAT: u32 = 1;
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
/// Length of a sealed 32-byte secret.
pub const SEALED_LEN: usize = 12 + 32 + 16;
/// Longest passphrase accepted, in bytes.
pub const MAX_PASSPHRASE_BYTES: usize = 1024;

/// Argon2id cost parameters, stored next to the sealed data so they can be raised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes over memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// The default: 64 MiB, 3 passes, 1 lane (TEST-MATRIX §4g).
    pub const RECOMMENDED: KdfParams = KdfParams { m_cost_kib: 64 * 1024, t_cost: 3, p_cost: 1 };
    /// Largest memory cost accepted (4 GiB), so a damaged row cannot demand absurd memory.
    pub const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
    /// Largest pass count accepted.
    pub const MAX_T_COST: u32 = 64;
    /// Largest lane count accepted.
    pub const MAX_P_COST: u32 = 64;

    /// Explicit parameters. Anything below [`KdfParams::RECOMMENDED`] is meant for tests
    /// only (see [`KdfParams::meets_recommendation`]); out-of-range values are refused.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<KdfParams> {
        let p = KdfParams { m_cost_kib, t_cost, p_cost };
        p.check()?;
        Ok(p)
    }

    /// Whether these parameters are at least as strong as the recommendation.
    pub fn meets_recommendation(&self) -> bool {
        self.m_cost_kib >= Self::RECOMMENDED.m_cost_kib && self.t_cost >= Self::RECOMMENDED.t_cost
    }

    /// Checks the ranges accepted by Argon2 and by trove.
    pub fn check(&self) -> Result<()> {
        let bad = |why: &str| {
            Err(StoreError::Invalid(format!(
                "Argon2id parameters m={} KiB, t={}, p={}: {why}",
                self.m_cost_kib, self.t_cost, self.p_cost
            )))
        };
        if self.m_cost_kib > Self::MAX_M_COST_KIB || self.t_cost > Self::MAX_T_COST || self.p_cost > Self::MAX_P_COST {
            return bad("above the supported maximum (4 GiB, 64 passes, 64 lanes)");
        }
        if let Err(e) = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32)) {
            return bad(&e.to_string());
        }
        Ok(())
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::RECOMMENDED
    }
}

/// A key derived from a passphrase. The cipher wipes its key when dropped.
#[derive(Clone)]
pub(crate) struct SealKey(ChaCha20Poly1305);

/// A fresh random salt.
pub(crate) fn new_salt() -> [u8; SALT_LEN] {
    random_bytes()
}

/// Checks a passphrase a user wants to set.
pub(crate) fn check_new_passphrase(passphrase: &str) -> Result<()> {
    if passphrase.is_empty() {
        return Err(StoreError::Invalid("the passphrase is empty".into()));
    }
    if passphrase.len() > MAX_PASSPHRASE_BYTES {
        return Err(StoreError::Invalid(format!(
            "the passphrase is {} bytes long; at most {MAX_PASSPHRASE_BYTES} are accepted",
            passphrase.len()
        )));
    }
    Ok(())
}

/// Derives the sealing key. The passphrase is NFC-normalized first so that the same words
/// typed on different systems give the same key.
pub(crate) fn derive(passphrase: &str, salt: &[u8], params: &KdfParams) -> Result<SealKey> {
    params.check()?;
    if passphrase.len() > MAX_PASSPHRASE_BYTES {
        return Err(StoreError::Passphrase(format!("the passphrase is longer than {MAX_PASSPHRASE_BYTES} bytes")));
    }
    let normalized: String = passphrase.nfc().collect();
    let argon_params = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
        .map_err(|e| StoreError::Invalid(format!("Argon2id parameters: {e}")))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(normalized.as_bytes(), salt, &mut out)
        .map_err(|e| StoreError::Invalid(format!("deriving the vault key with Argon2id: {e}")))?;
    let key = SealKey(ChaCha20Poly1305::new(Key::from_slice(&out)));
    out.fill(0);
    std::hint::black_box(&out);
    Ok(key)
}

impl SealKey {
    /// Seals a 32-byte secret bound to `aad` (what the secret is, so sealed values cannot be
    /// swapped between rows).
    pub(crate) fn seal(&self, aad: &[u8], secret: &[u8; 32]) -> Result<[u8; SEALED_LEN]> {
        let nonce: [u8; 12] = random_bytes();
        let mut buf = *secret;
        let tag = self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut buf)
            .map_err(|_| StoreError::Invalid("sealing a secret failed".into()))?;
        let mut out = [0u8; SEALED_LEN];
        out[..12].copy_from_slice(&nonce);
        out[12..44].copy_from_slice(&buf);
        out[44..].copy_from_slice(&tag);
        buf.fill(0);
        std::hint::black_box(&buf);
        Ok(out)
    }

    /// Opens a sealed secret; `None` when the key is wrong or the data was altered.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<[u8; 32]> {
        if sealed.len() != SEALED_LEN {
            return None;
        }
        let mut buf = [0u8; 32];
        buf.copy_from_slice(&sealed[12..44]);
        let tag = Tag::from_slice(&sealed[44..]);
        self.0.decrypt_in_place_detached(Nonce::from_slice(&sealed[..12]), aad, &mut buf, tag).ok()?;
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams::new(64, 1, 1).unwrap()
    }

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let salt = [1u8; SALT_LEN];
        let k = derive("correct horse", &salt, &fast()).unwrap();
        let sealed = k.seal(b"row 1", &[9u8; 32]).unwrap();
        assert_eq!(k.open(b"row 1", &sealed), Some([9u8; 32]));
        assert!(!sealed.windows(32).any(|w| w == [9u8; 32]));
        assert_eq!(k.open(b"row 2", &sealed), None, "aad binds the row");
        let mut bad = sealed;
        bad[20] ^= 1;
        assert_eq!(k.open(b"row 1", &bad), None);
        assert_eq!(k.open(b"row 1", &sealed[..10]), None);
        let other = derive("wrong horse", &salt, &fast()).unwrap();
        assert_eq!(other.open(b"row 1", &sealed), None);
    }

    #[test]
    fn normalization_makes_composed_and_decomposed_equal() {
        let salt = [2u8; SALT_LEN];
        let a = derive("caf\u{e9}", &salt, &fast()).unwrap();
        let b = derive("cafe\u{301}", &salt, &fast()).unwrap();
        let sealed = a.seal(b"x", &[3u8; 32]).unwrap();
        assert_eq!(b.open(b"x", &sealed), Some([3u8; 32]));
    }

    #[test]
    fn params_are_checked() {
        assert!(KdfParams::RECOMMENDED.meets_recommendation());
        assert!(!fast().meets_recommendation());
        assert!(KdfParams::new(1, 1, 1).unwrap_err().to_string().contains("m=1 KiB"));
        assert!(KdfParams::new(64, 0, 1).is_err());
        assert!(KdfParams::new(KdfParams::MAX_M_COST_KIB + 1, 3, 1).is_err());
        assert!(check_new_passphrase("").is_err());
        assert!(check_new_passphrase(&"x".repeat(MAX_PASSPHRASE_BYTES + 1)).is_err());
    }
}
