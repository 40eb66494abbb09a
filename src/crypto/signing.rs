//! Ed25519 signatures (RFC 8032, via `ring`) for the audit chain head and
//! erasure receipts.

use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use super::CryptoError;

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Signs with the audit key (`audit-ed25519.pk8`).
///
/// `Debug` shows only the public key. The private key lives inside
/// `ring`'s key pair; the PKCS#8 bytes it was read from are zeroized.
pub struct AuditSigner {
    pair: Ed25519KeyPair,
}

impl AuditSigner {
    /// Parses a PKCS#8 v1 or v2 Ed25519 document; `None` if it is not one.
    pub(crate) fn from_pkcs8(pkcs8: &[u8]) -> Option<Self> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .ok()
            .map(|pair| Self { pair })
    }

    /// A new PKCS#8 v2 document from the system CSPRNG (ring's format).
    pub(crate) fn generate_pkcs8(rng: &SystemRandom) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let doc = Ed25519KeyPair::generate_pkcs8(rng).map_err(|_| CryptoError::KeyGeneration)?;
        Ok(Zeroizing::new(doc.as_ref().to_vec()))
    }

    /// The Ed25519 signature of `msg` (deterministic, RFC 8032 §5.1.6).
    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }

    /// The public key that [`verify`] checks signatures against.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

/// True exactly when `signature` is a valid Ed25519 signature of `msg` under
/// `public_key`.
pub fn verify(
    public_key: &[u8; PUBLIC_KEY_LEN],
    msg: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(msg, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1, TEST 1 (empty message), signed through `AuditSigner`.
    #[test]
    fn rfc8032_test_1() {
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let public =
            hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                .unwrap();
        let pair = Ed25519KeyPair::from_seed_and_public_key(&seed, &public).unwrap();
        let signer = AuditSigner { pair };
        let sig = signer.sign(b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        let public: [u8; 32] = public.try_into().unwrap();
        assert_eq!(signer.public_key(), public);
        assert!(verify(&public, b"", &sig));
    }

    #[test]
    fn generated_key_signs_and_verifies_and_rejects_changes() {
        let pkcs8 = AuditSigner::generate_pkcs8(&SystemRandom::new()).unwrap();
        let signer = AuditSigner::from_pkcs8(&pkcs8).unwrap();
        let sig = signer.sign(b"chain head");
        let pk = signer.public_key();
        assert!(verify(&pk, b"chain head", &sig));
        assert!(!verify(&pk, b"chain head!", &sig));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!verify(&pk, b"chain head", &bad));
        assert!(format!("{signer:?}").contains(&hex::encode(pk)));
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(AuditSigner::from_pkcs8(&[0; 83]).is_none());
    }
}
