//! Holders of secret key bytes: zeroized on drop, hidden from `Debug`.
//!
//! Invariant: key bytes never leave this module except by reference into a
//! primitive (`aes-gcm`, `ring`), and every type here prints as `[hidden]`.

use aes_gcm::{Aes256Gcm, KeyInit};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::{CryptoError, DekId};

/// Length in bytes of every symmetric key here (AES-256, HMAC-SHA256 keys).
pub(crate) const KEY_LEN: usize = 32;

/// 32 secret bytes, zeroized on drop.
#[derive(Clone)]
pub(crate) struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl SecretKey {
    /// Fresh bytes from the operating system's CSPRNG.
    pub(crate) fn random(rng: &SystemRandom) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(bytes.as_mut_slice())
            .map_err(|_| CryptoError::Random)?;
        Ok(Self(bytes))
    }

    /// Copies `bytes` (exactly [`KEY_LEN`] long) into a zeroizing holder;
    /// `None` for any other length.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return None;
        }
        out.copy_from_slice(bytes);
        Some(Self(out))
    }

    /// The key bytes, for handing to a primitive.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// An AES-256-GCM instance keyed with these bytes. The instance zeroizes
    /// its round keys on drop (`aes-gcm` feature `zeroize`).
    pub(crate) fn aes256gcm(&self) -> Aes256Gcm {
        // Borrowed, not copied, so that no un-zeroized copy of the key is
        // left on the stack.
        let key: &aes_gcm::Key<Aes256Gcm> = (&*self.0).into();
        Aes256Gcm::new(key)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([hidden])")
    }
}

/// One version of the master key (KEK): wraps DEKs, never seals fields.
#[derive(Clone)]
pub(crate) struct Kek {
    pub(crate) version: u32,
    pub(crate) cipher: Aes256Gcm,
}

impl Kek {
    pub(crate) fn new(version: u32, key: &SecretKey) -> Self {
        Self {
            version,
            cipher: key.aes256gcm(),
        }
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("version", &self.version)
            .field("key", &"[hidden]")
            .finish()
    }
}

/// One data subject's data key (DEK), unwrapped and ready to seal or open
/// fields.
///
/// Guarantees: the key bytes and the AES key schedule are zeroized when the
/// value is dropped; `Debug` shows only the [`DekId`] and KEK version.
#[derive(Clone)]
pub struct Dek {
    id: DekId,
    kek_version: u32,
    key: SecretKey,
    cipher: Aes256Gcm,
}

impl Dek {
    pub(crate) fn new(id: DekId, kek_version: u32, key: SecretKey) -> Self {
        let cipher = key.aes256gcm();
        Self {
            id,
            kek_version,
            key,
            cipher,
        }
    }

    /// The id under which this DEK is stored (random, not derived from PHI).
    pub fn id(&self) -> DekId {
        self.id
    }

    /// The KEK version that wrapped this DEK when it was created or
    /// unwrapped; new fields sealed with it bind this version in their
    /// associated data.
    pub fn kek_version(&self) -> u32 {
        self.kek_version
    }

    pub(crate) fn key(&self) -> &SecretKey {
        &self.key
    }

    pub(crate) fn cipher(&self) -> &Aes256Gcm {
        &self.cipher
    }
}

impl std::fmt::Debug for Dek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dek")
            .field("id", &self.id)
            .field("kek_version", &self.kek_version)
            .field("key", &"[hidden]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_key_bytes() {
        let key = SecretKey::from_slice(&[0xAB; KEY_LEN]).unwrap();
        let dek = Dek::new(DekId([7; 16]), 3, key.clone());
        for shown in [
            format!("{key:?}"),
            format!("{dek:?}"),
            format!("{:?}", Kek::new(1, &key)),
        ] {
            assert!(!shown.to_lowercase().contains("ab, ab"), "{shown}");
            assert!(!shown.contains("171"), "{shown}");
            assert!(shown.contains("hidden"), "{shown}");
        }
    }

    #[test]
    fn from_slice_requires_32_bytes() {
        assert!(SecretKey::from_slice(&[0; 31]).is_none());
        assert!(SecretKey::from_slice(&[0; 33]).is_none());
        assert!(SecretKey::from_slice(&[0; 32]).is_some());
    }
}
