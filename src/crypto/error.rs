//! The crypto layer's error type.
//!
//! Invariant: no message carries key bytes or plaintext. Messages name files,
//! key versions, DEK ids (random, not derived from PHI) and DICOM keywords,
//! never a value.

use std::path::PathBuf;

use super::DekId;

/// Everything that can go wrong while loading keys, wrapping DEKs, sealing or
/// opening fields, deriving pseudonyms or signing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key file or the key directory could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFileIo {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A key file that must exist does not.
    #[error("key file {path} is missing")]
    KeyFileMissing {
        /// The expected file.
        path: PathBuf,
    },
    /// A key file grants some access to group or others; the process refuses
    /// to use it (fix with `chmod 600`).
    #[error(
        "key file {path} is accessible by group or others (mode {mode:03o}); refusing to use it: run `chmod 600` on it"
    )]
    KeyFileExposed {
        /// The refused file.
        path: PathBuf,
        /// Its permission bits (`st_mode & 0o777`).
        mode: u32,
    },
    /// A key file is not a regular file.
    #[error("key file {path} is not a regular file")]
    KeyFileNotRegular {
        /// The refused path.
        path: PathBuf,
    },
    /// A key file does not have the documented size (docs/FORMAT.md).
    #[error("key file {path} has {found} bytes, expected {expected}")]
    KeyFileLength {
        /// The refused file.
        path: PathBuf,
        /// The documented size.
        expected: usize,
        /// The size found.
        found: usize,
    },
    /// The audit signing key file is not a valid Ed25519 PKCS#8 document.
    #[error("key file {path} is not an Ed25519 PKCS#8 key")]
    SigningKeyInvalid {
        /// The refused file.
        path: PathBuf,
    },
    /// The key directory holds no `kek-v{N}.key` file.
    #[error("no master key (kek-v{{N}}.key) in {dir}")]
    NoKek {
        /// The key directory.
        dir: PathBuf,
    },
    /// A KEK version is asked for that this key ring does not hold.
    #[error("KEK version {version} is not available (retired or never created)")]
    UnknownKekVersion {
        /// The version asked for.
        version: u32,
    },
    /// The current KEK version cannot be retired.
    #[error("KEK version {version} is current and cannot be retired")]
    RetireCurrent {
        /// The current version.
        version: u32,
    },
    /// A wrapped DEK's bytes do not follow the documented layout.
    #[error("wrapped DEK is malformed: {reason}")]
    WrappedDekFormat {
        /// What is wrong, in fixed words.
        reason: &'static str,
    },
    /// A wrapped DEK failed authentication: wrong KEK or altered bytes.
    #[error(
        "DEK {dek_id} could not be unwrapped under KEK version {kek_version}: wrong key or altered data"
    )]
    DekUnwrap {
        /// The DEK id read from the wrapped DEK.
        dek_id: DekId,
        /// The KEK version read from the wrapped DEK.
        kek_version: u32,
    },
    /// A sealed field failed authentication: wrong DEK, wrong record or
    /// field binding, or altered nonce/ciphertext/tag.
    #[error(
        "field {field} could not be opened: wrong key, wrong record or field, or altered ciphertext"
    )]
    FieldOpen {
        /// The DICOM keyword of the field.
        field: String,
    },
    /// The DEK given is not the one the associated data or sealed field names.
    #[error("DEK mismatch: expected {expected}, given {given}")]
    DekMismatch {
        /// The DEK id the data names.
        expected: DekId,
        /// The DEK id of the key given.
        given: DekId,
    },
    /// A sealed field names an algorithm other than `A256GCM`.
    #[error("unsupported field algorithm (only A256GCM is known)")]
    UnsupportedAlgorithm,
    /// The operating system's random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// AES-GCM refused to encrypt (input beyond the GCM length limits).
    #[error("encryption failed: input too long for AES-GCM")]
    Seal,
    /// HKDF refused an output length (RFC 5869 §2.3: at most 255 × 32 bytes).
    #[error("key derivation failed: output length out of range")]
    KeyDerivation,
    /// Ed25519 key generation failed.
    #[error("Ed25519 key generation failed")]
    KeyGeneration,
}

impl CryptoError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::KeyFileIo {
            path: path.into(),
            source,
        }
    }
}
