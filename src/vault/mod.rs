//! The vault: executes a policy plan with keys and stores the result, and
//! opens it again for those allowed to read it. It is the only place where
//! policy, crypto and store meet.
//!
//! Invariants: a record's fields are sealed under the record id they are
//! stored with (one ingest per series at a time, see [`locks`]); every
//! operation that changes the store or discloses PHI appends its audit entry
//! in the same atomic write or before the PHI is returned, and reports
//! success only once that entry is durable.

mod audit_log;
mod erasure;
mod error;
mod holds;
mod ingest;
mod locks;
mod purge;
mod read;
mod receipt;
mod rotate;
mod view;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};

pub use audit_log::{
    AUDIT_PAGE_MAX, AuditPage, AuditVerification, HEAD_LABEL, SignedHeadView, head_signing_bytes,
};
pub use error::VaultError;
pub use holds::{HOLD_REASON_MAX_CHARS, HoldReason, HoldView, InvalidHoldReason};
pub use ingest::{FieldActionReport, IngestReceipt, IngestStatus};
pub use purge::{PolicyPurgeCounts, PurgeSummary};
pub use receipt::{ErasureReceipt, RECEIPT_LABEL, SignedReceipt};
pub use rotate::{KeyStatus, KeyVersionCount, RotationSummary};
pub use view::{FieldView, RecordView};

use crate::crypto::KeyRing;
use crate::policy::PolicySet;
use crate::store::{SledStore, Store};

/// The vault over one data directory's keys and store.
pub struct Vault {
    store: Arc<dyn Store>,
    keys: RwLock<KeyRing>,
    policies: PolicySet,
    series_locks: locks::StripedLocks,
    subject_locks: locks::StripedLocks,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").finish_non_exhaustive()
    }
}

/// Where the vault keeps its parts inside a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("db")
}

/// Where the key files live inside a data directory.
pub fn keys_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

/// Creates `dir` (and parents) if missing and makes it owner-only: the
/// database holds ciphertexts, pseudonyms and generalised values, none of
/// which other local users need to read.
fn create_private_dir(dir: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|source| VaultError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        VaultError::Io {
            path: dir.display().to_string(),
            source,
        }
    })
}

impl Vault {
    /// Opens (creating on first use) the keys and the database of
    /// `data_dir`, and returns the vault and the key files it created.
    /// Fails if another process holds the database.
    pub fn open(data_dir: &Path, policies: PolicySet) -> Result<(Self, Vec<PathBuf>), VaultError> {
        let (keys, created) = KeyRing::open_or_create(&keys_path(data_dir))?;
        create_private_dir(&db_path(data_dir))?;
        let store = SledStore::open(db_path(data_dir))?;
        Ok((Self::with_parts(Arc::new(store), keys, policies), created))
    }

    /// A vault over an already opened store and key ring.
    pub fn with_parts(store: Arc<dyn Store>, keys: KeyRing, policies: PolicySet) -> Self {
        Self {
            store,
            keys: RwLock::new(keys),
            policies,
            series_locks: locks::StripedLocks::new(),
            subject_locks: locks::StripedLocks::new(),
        }
    }

    /// The policies in force.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The store (for reports and audit reads, which need no keys).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Read access to the key ring. A poisoned lock means a rotation
    /// panicked half-way; the ring on disk is still consistent, so the
    /// in-memory one is used as it is.
    fn keys(&self) -> RwLockReadGuard<'_, KeyRing> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends an `access_denied` entry for `actor` (not flushed: the next
    /// durable write or the periodic flush carries it).
    pub fn audit_access_denied(
        &self,
        actor: &crate::domain::Actor,
        detail: serde_json::Value,
        now: time::OffsetDateTime,
    ) -> Result<(), VaultError> {
        self.store.append_audit(
            crate::audit::AuditContext {
                time: now,
                actor: actor.clone(),
                subject: None,
                purpose: None,
                detail: Some(detail),
            }
            .into_draft(crate::audit::AuditAction::AccessDenied, None),
        )?;
        Ok(())
    }

    /// Makes every earlier write durable (group commit).
    pub async fn flush(&self) -> Result<(), VaultError> {
        self.store.flush_durable().await?;
        Ok(())
    }

    /// Makes every earlier write durable, blocking (for commands).
    pub fn flush_blocking(&self) -> Result<(), VaultError> {
        self.store.flush_blocking()?;
        Ok(())
    }
}
