//! The vault's errors: what went wrong, never with a value or a key.

use crate::crypto::CryptoError;
use crate::store::{RecordId, StoreError};

/// A vault operation failed. Messages carry ids, field names and policy
/// ids, never PHI or key material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The named policy is not in force.
    #[error("no policy named {0:?} is in force")]
    UnknownPolicy(String),
    /// No record has this id.
    #[error("no record {0}")]
    NotFound(RecordId),
    /// The subject has no record.
    #[error("no record of this data subject")]
    SubjectNotFound,
    /// Legal holds stop the operation; nothing changed.
    #[error("under legal hold: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Held(Vec<RecordId>),
    /// The record has no hold to release.
    #[error("record {0} is not held")]
    NotHeld(RecordId),
    /// A stored record could not be opened with its subject's key (the key
    /// was shredded, or the data was tampered with).
    #[error("record {record} cannot be opened: {reason}")]
    Unopenable {
        /// The record.
        record: RecordId,
        /// Why, without values.
        reason: String,
    },
    /// A key operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// A file or directory of the data directory could not be used.
    #[error("cannot prepare {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A shifted date fell outside the DICOM date range.
    #[error("a date cannot be shifted within the DICOM date range")]
    DateOutOfRange,
}

impl From<StoreError> for VaultError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => Self::NotFound(id),
            StoreError::Held { records } => Self::Held(records),
            StoreError::NotHeld(id) => Self::NotHeld(id),
            other => Self::Store(other),
        }
    }
}
