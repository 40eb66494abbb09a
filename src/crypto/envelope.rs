//! Envelope encryption: a DEK wrapped with AES-256-GCM under one KEK version,
//! and its versioned binary layout (docs/FORMAT.md, "Wrapped DEK").

use super::aad::length_prefixed;
use super::gcm::{self, NONCE_LEN, TAG_LEN};
use super::secret::{Dek, KEY_LEN, Kek, SecretKey};
use super::{CryptoError, DekId};

/// Domain-separation label of the wrapping associated data.
pub const DEK_AAD_LABEL: &str = "phivault/dek/v1";

/// First byte of a wrapped DEK: the layout version.
pub const WRAPPED_DEK_FORMAT_V1: u8 = 0x01;

/// Length of a wrapped DEK in layout version 1:
/// format 1 ‖ kek_version 4 ‖ dek_id 16 ‖ nonce 12 ‖ ciphertext 32 ‖ tag 16.
pub const WRAPPED_DEK_LEN: usize = 1 + 4 + 16 + NONCE_LEN + KEY_LEN + TAG_LEN;

/// A DEK encrypted under one KEK version. Holds no secret in the clear, so
/// it may be stored and logged (by id) freely.
///
/// Guarantee: it unwraps only under the KEK version it names, and only with
/// its own `dek_id` and `kek_version` (both are bound as associated data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedDek {
    kek_version: u32,
    dek_id: DekId,
    nonce: [u8; NONCE_LEN],
    /// The 32-byte encrypted DEK followed by the 16-byte tag.
    ciphertext: [u8; KEY_LEN + TAG_LEN],
}

impl WrappedDek {
    /// The KEK version this DEK is wrapped under.
    pub fn kek_version(&self) -> u32 {
        self.kek_version
    }

    /// The id of the wrapped DEK.
    pub fn dek_id(&self) -> DekId {
        self.dek_id
    }

    /// The layout-version-1 bytes: `0x01 ‖ kek_version (u32 BE) ‖ dek_id (16)
    /// ‖ nonce (12) ‖ encrypted DEK (32) ‖ tag (16)`, 81 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAPPED_DEK_LEN);
        out.push(WRAPPED_DEK_FORMAT_V1);
        out.extend_from_slice(&self.kek_version.to_be_bytes());
        out.extend_from_slice(&self.dek_id.0);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses the bytes written by [`WrappedDek::to_bytes`]; fails on any
    /// other length or layout version. Authenticity is checked only when
    /// unwrapping.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let Some((&format, rest)) = bytes.split_first() else {
            return Err(CryptoError::WrappedDekFormat { reason: "empty" });
        };
        if format != WRAPPED_DEK_FORMAT_V1 {
            return Err(CryptoError::WrappedDekFormat {
                reason: "unknown layout version",
            });
        }
        if bytes.len() != WRAPPED_DEK_LEN {
            return Err(CryptoError::WrappedDekFormat {
                reason: "wrong length for layout version 1 (81 bytes)",
            });
        }
        let bad = || CryptoError::WrappedDekFormat {
            reason: "truncated",
        };
        let (version, rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let (dek_id, rest) = rest.split_first_chunk::<16>().ok_or_else(bad)?;
        let (nonce, rest) = rest.split_first_chunk::<NONCE_LEN>().ok_or_else(bad)?;
        let ciphertext: [u8; KEY_LEN + TAG_LEN] = rest.try_into().map_err(|_| bad())?;
        Ok(Self {
            kek_version: u32::from_be_bytes(*version),
            dek_id: DekId(*dek_id),
            nonce: *nonce,
            ciphertext,
        })
    }
}

/// The associated data of a wrapped DEK:
/// `lp("phivault/dek/v1") ‖ lp(dek_id) ‖ lp(kek_version as u32 BE)`.
pub(crate) fn wrap_aad(dek_id: DekId, kek_version: u32) -> Vec<u8> {
    length_prefixed(&[
        DEK_AAD_LABEL.as_bytes(),
        &dek_id.0,
        &kek_version.to_be_bytes(),
    ])
}

/// Wraps `key` (a DEK's bytes) under `kek` with a fresh random nonce.
pub(crate) fn wrap(kek: &Kek, dek_id: DekId, key: &SecretKey) -> Result<WrappedDek, CryptoError> {
    let nonce = gcm::random_nonce();
    wrap_with_nonce(kek, dek_id, key, nonce)
}

/// The body of [`wrap`]; the nonce is a parameter only so that tests can pin
/// it.
fn wrap_with_nonce(
    kek: &Kek,
    dek_id: DekId,
    key: &SecretKey,
    nonce: [u8; NONCE_LEN],
) -> Result<WrappedDek, CryptoError> {
    let sealed = gcm::seal_with_nonce(
        &kek.cipher,
        &nonce,
        &wrap_aad(dek_id, kek.version),
        key.expose(),
    )
    .map_err(|_| CryptoError::Seal)?;
    let ciphertext = sealed
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Seal)?;
    Ok(WrappedDek {
        kek_version: kek.version,
        dek_id,
        nonce,
        ciphertext,
    })
}

/// Unwraps `wrapped` with `kek`, which must be the version it names.
pub(crate) fn unwrap(kek: &Kek, wrapped: &WrappedDek) -> Result<Dek, CryptoError> {
    let failed = || CryptoError::DekUnwrap {
        dek_id: wrapped.dek_id,
        kek_version: wrapped.kek_version,
    };
    if kek.version != wrapped.kek_version {
        return Err(failed());
    }
    let plain = gcm::open(
        &kek.cipher,
        &wrapped.nonce,
        &wrap_aad(wrapped.dek_id, wrapped.kek_version),
        &wrapped.ciphertext,
    )
    .map_err(|_| failed())?;
    let key = SecretKey::from_slice(&plain).ok_or_else(failed)?;
    Ok(Dek::new(wrapped.dek_id, wrapped.kek_version, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(version: u32, byte: u8) -> Kek {
        Kek::new(version, &SecretKey::from_slice(&[byte; 32]).unwrap())
    }

    #[test]
    fn bytes_round_trip_with_documented_layout() {
        let k = kek(5, 1);
        let key = SecretKey::from_slice(&[2; 32]).unwrap();
        let w = wrap(&k, DekId([3; 16]), &key).unwrap();
        let bytes = w.to_bytes();
        assert_eq!(bytes.len(), 81);
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..5], &[0, 0, 0, 5]);
        assert_eq!(&bytes[5..21], &[3; 16]);
        assert_eq!(WrappedDek::from_bytes(&bytes).unwrap(), w);
        let dek = unwrap(&k, &w).unwrap();
        assert_eq!(dek.key().expose(), &[2; 32]);
        assert_eq!(dek.kek_version(), 5);
    }

    /// The worked example of docs/FORMAT.md, "Wrapped DEK".
    #[test]
    fn format_md_example() {
        let k = kek(1, 0x01);
        let key = SecretKey::from_slice(&[0x42; 32]).unwrap();
        let w = wrap_with_nonce(&k, DekId([0x22; 16]), &key, [0x0a; 12]).unwrap();
        assert_eq!(hex::encode(wrap_aad(DekId([0x22; 16]), 1)), EXAMPLE_AAD);
        assert_eq!(hex::encode(w.to_bytes()), EXAMPLE_WRAPPED);
    }

    const EXAMPLE_AAD: &str = "0000000f7068697661756c742f64656b2f763100000010222222222222222222222222222222220000000400000001";
    const EXAMPLE_WRAPPED: &str = "0100000001222222222222222222222222222222220a0a0a0a0a0a0a0a0a0a0a0aaec76e63ddb93d6ec6f73a31f17ad5ecc9242abd2d460ed1844d0851d019ede1e5686254e026468e7badf2b58dbdcf95";

    #[test]
    fn malformed_bytes_are_refused() {
        let w = wrap(
            &kek(1, 1),
            DekId([3; 16]),
            &SecretKey::from_slice(&[2; 32]).unwrap(),
        )
        .unwrap();
        let mut bytes = w.to_bytes();
        assert!(WrappedDek::from_bytes(&[]).is_err());
        assert!(WrappedDek::from_bytes(&bytes[..80]).is_err());
        bytes.push(0);
        assert!(WrappedDek::from_bytes(&bytes).is_err());
        bytes.pop();
        bytes[0] = 2;
        assert!(matches!(
            WrappedDek::from_bytes(&bytes),
            Err(CryptoError::WrappedDekFormat {
                reason: "unknown layout version"
            })
        ));
    }

    #[test]
    fn a_different_kek_of_the_same_version_fails() {
        let w = wrap(
            &kek(1, 1),
            DekId([3; 16]),
            &SecretKey::from_slice(&[2; 32]).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            unwrap(&kek(1, 9), &w),
            Err(CryptoError::DekUnwrap { kek_version: 1, .. })
        ));
    }
}
