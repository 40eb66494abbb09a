//! The one AES-256-GCM seal/open core that both DEK wrapping and field
//! sealing go through (NIST SP 800-38D, via the `aes-gcm` crate).
//!
//! The nonce is a parameter here so that known-answer tests exercise exactly
//! this code; production callers always pass [`random_nonce`]`()`.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Nonce};
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// SP 800-38D §8.2: 96-bit IVs; a random IV per message.
pub(crate) const NONCE_LEN: usize = 12;
/// SP 800-38D §5.2.1.2: the full 128-bit tag.
pub(crate) const TAG_LEN: usize = 16;

/// Authentication failed, or the input exceeds GCM limits. Deliberately
/// carries nothing: the caller names what failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GcmFailure;

/// A fresh random 96-bit nonce (SP 800-38D §8.2.2, RBG-based construction).
///
/// GCM needs nonces that never repeat under one key, not secret ones. They
/// come from `rand`'s thread-local CSPRNG (ChaCha12, seeded from the
/// operating system and reseeded from it every 64 KiB of output), which
/// costs a few nanoseconds where a system call per nonce cost about a
/// microsecond, more than sealing a field (BENCHMARKS.md). Keys themselves
/// still come straight from the operating system (`SecretKey::generate`).
/// With random nonces, SP 800-38D §8.3 limits one key to 2^32 sealings; one
/// DEK per data subject stays far below that. phivault never forks without
/// exec, so no two processes share a generator state.
pub(crate) fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

/// Encrypts `plaintext` and returns ciphertext ‖ 16-byte tag.
pub(crate) fn seal_with_nonce(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, GcmFailure> {
    let mut buffer = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buffer.extend_from_slice(plaintext);
    let nonce: Nonce<Aes256Gcm> = (*nonce).into();
    match cipher.encrypt_in_place(&nonce, aad, &mut buffer) {
        Ok(()) => Ok(buffer),
        Err(_) => {
            // On failure the buffer may still hold plaintext.
            buffer.zeroize();
            Err(GcmFailure)
        }
    }
}

/// Verifies the tag and decrypts ciphertext ‖ tag. The plaintext is returned
/// in a buffer that zeroizes on drop; on failure nothing is returned.
pub(crate) fn open(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, GcmFailure> {
    if ciphertext_and_tag.len() < TAG_LEN {
        return Err(GcmFailure);
    }
    let mut buffer = Zeroizing::new(ciphertext_and_tag.to_vec());
    let nonce: Nonce<Aes256Gcm> = (*nonce).into();
    cipher
        .decrypt_in_place(&nonce, aad, &mut *buffer)
        .map_err(|_| GcmFailure)?;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    //! Known answers: the AES-256 test cases 13–16 of McGrew & Viega, "The
    //! Galois/Counter Mode of Operation (GCM)", Appendix B (the vectors NIST
    //! SP 800-38D points to), through the product's seal/open core.

    use super::*;
    use crate::crypto::secret::SecretKey;

    struct Vector {
        name: &'static str,
        key: &'static str,
        iv: &'static str,
        plaintext: &'static str,
        aad: &'static str,
        ciphertext: &'static str,
        tag: &'static str,
    }

    const K15: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    const P15: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                       1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    const C15: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                       8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

    const VECTORS: &[Vector] = &[
        Vector {
            name: "test case 13",
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            iv: "000000000000000000000000",
            plaintext: "",
            aad: "",
            ciphertext: "",
            tag: "530f8afbc74536b9a963b4f1c4cb738b",
        },
        Vector {
            name: "test case 14",
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            iv: "000000000000000000000000",
            plaintext: "00000000000000000000000000000000",
            aad: "",
            ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
            tag: "d0d1c8a799996bf0265b98b5d48ab919",
        },
        Vector {
            name: "test case 15",
            key: K15,
            iv: "cafebabefacedbaddecaf888",
            plaintext: P15,
            aad: "",
            ciphertext: C15,
            tag: "b094dac5d93471bdec1a502270e3cc6c",
        },
        Vector {
            name: "test case 16",
            key: K15,
            iv: "cafebabefacedbaddecaf888",
            // Test case 16 is test case 15 shortened to 60 bytes, with AAD.
            plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                        1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
            aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                         8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            tag: "76fc6ece0f4e1768cddf8853bb2d551b",
        },
    ];

    fn unhex(s: &str) -> Vec<u8> {
        let compact: String = s.split_whitespace().collect();
        hex::decode(compact).unwrap()
    }

    #[test]
    fn mcgrew_viega_aes256_known_answers() {
        for v in VECTORS {
            let key = SecretKey::from_slice(&unhex(v.key)).unwrap();
            let cipher = key.aes256gcm();
            let nonce: [u8; NONCE_LEN] = unhex(v.iv).try_into().unwrap();
            let plaintext = unhex(v.plaintext);
            let aad = unhex(v.aad);
            let mut expected = unhex(v.ciphertext);
            expected.extend(unhex(v.tag));

            let sealed = seal_with_nonce(&cipher, &nonce, &aad, &plaintext).unwrap();
            assert_eq!(hex::encode(&sealed), hex::encode(&expected), "{}", v.name);
            let opened = open(&cipher, &nonce, &aad, &sealed).unwrap();
            assert_eq!(opened.as_slice(), plaintext.as_slice(), "{}", v.name);

            // The same vector with its last tag byte flipped must not open.
            let mut bad = sealed.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert_eq!(
                open(&cipher, &nonce, &aad, &bad),
                Err(GcmFailure),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn too_short_for_a_tag_fails() {
        let cipher = SecretKey::from_slice(&[1; 32]).unwrap().aes256gcm();
        assert_eq!(open(&cipher, &[0; 12], b"", &[0; 15]), Err(GcmFailure));
    }

    #[test]
    fn random_nonces_differ() {
        let a = random_nonce();
        assert_ne!(a, random_nonce());
        // Also across threads: each thread's generator has its own seed.
        let b = std::thread::spawn(random_nonce).join().unwrap();
        assert_ne!(a, b);
    }
}
