//! The store's error type. No variant carries a field value (PHI); record
//! ids are random and may be shown.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::audit::AuditError;
use crate::store::RecordId;

/// A failure of the storage engine itself (I/O, corruption it detected).
/// Opaque on purpose: nothing above `store` may depend on the engine.
#[derive(Clone)]
pub struct BackendError(Arc<sled::Error>);

impl From<sled::Error> for BackendError {
    fn from(e: sled::Error) -> Self {
        Self(Arc::new(e))
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // sled's messages name paths and operations, never stored values.
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for BackendError {}

/// Why a store operation failed. A failed write changed nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another handle in this one) has the database open.
    #[error(
        "the database at {path} is in use by another process; one process per database: \
         ask the running server instead"
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// The database could not be opened.
    #[error("cannot open the database at {path}: {source}")]
    Open {
        /// The database directory.
        path: PathBuf,
        /// The engine's error.
        source: BackendError,
    },
    /// The database was written in a layout this version does not know.
    #[error("the database has storage format {found}; this build reads format {expected}")]
    UnsupportedFormat {
        /// The format found.
        found: u32,
        /// The format this build writes.
        expected: u32,
    },
    /// The storage engine failed.
    #[error("storage engine: {0}")]
    Backend(#[from] BackendError),
    /// No record has this id.
    #[error("no record {0}")]
    NotFound(RecordId),
    /// A legal hold stops the operation (SPEC §2); nothing was changed.
    #[error("under legal hold: {}", list(.records))]
    Held {
        /// The held records.
        records: Vec<RecordId>,
    },
    /// The record has no hold to release.
    #[error("record {0} is not held")]
    NotHeld(RecordId),
    /// The subject's stored key is not the one the write expected (a key was
    /// created, rotated or shredded meanwhile); nothing was changed. The
    /// caller re-reads the key, seals again and retries.
    #[error("the subject's data key changed during the write; retry")]
    SubjectKeyChanged,
    /// The record has encrypted fields but the write names no subject key.
    #[error("a record with encrypted fields needs its subject's data key")]
    SubjectKeyRequired,
    /// A stored value does not decode: the database was damaged or altered.
    #[error("damaged entry in {tree}")]
    Corrupt {
        /// The tree holding it.
        tree: &'static str,
    },
    /// The audit entry at `seq` does not decode as a canonical entry.
    #[error("audit entry {seq} is damaged or altered")]
    CorruptAuditEntry {
        /// Its position.
        seq: u64,
    },
    /// The audit draft cannot be entered (bad `detail`).
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A signed head names an entry that is not in the log as given.
    #[error("signed head does not match audit entry {seq}")]
    HeadMismatch {
        /// The head's seq.
        seq: u64,
    },
    /// `flush_durable` was called outside a Tokio runtime.
    #[error("durable flush needs a Tokio runtime")]
    NoRuntime,
}

fn list(ids: &[RecordId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
