//! Erasure of a data subject (GDPR Art. 17; SPEC §3 crypto-shredding): the
//! subject's records, index entries and data key go in one atomic write,
//! and the answer is a signed receipt derived from the audit entry.

use time::OffsetDateTime;

use super::receipt::{ErasureReceipt, SignedReceipt};
use super::{Vault, VaultError};
use crate::audit::AuditContext;
use crate::crypto::audit_subject_pseudonym;
use crate::domain::{Actor, PatientId};

impl Vault {
    /// Erases the subject named by `patient_id`, found by blind index
    /// (nothing is decrypted to find it), as `actor` at `now`.
    ///
    /// Guarantees: refuses with [`VaultError::Held`] naming every held
    /// record, and with [`VaultError::SubjectNotFound`] when the subject has
    /// no record, changing nothing in either case; otherwise the records,
    /// their index and queue entries and the subject's key are gone at once
    /// with their `subject_erased` entry, the chain head is signed, both are
    /// durable, and the receipt (signed with the audit key) is returned.
    /// The audit pseudonym is computed before the key is destroyed; nobody
    /// can recompute it afterwards.
    pub async fn erase_subject(
        &self,
        patient_id: &PatientId,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<SignedReceipt, VaultError> {
        let subject = self.subject_of(patient_id);
        // Serialise with ingests of the same subject (same lock order: the
        // subject stripe only).
        let guard = self.subject_locks.lock(&subject.0).await;
        if self.store.records_of_subject(&subject)?.is_empty() {
            return Err(VaultError::SubjectNotFound);
        }
        let pseudonym = match self.subject_dek(&subject)? {
            Some(dek) => Some(audit_subject_pseudonym(&dek, patient_id.as_str())?),
            None => None,
        };
        let outcome = self.store.erase_subject(
            &subject,
            AuditContext {
                time: now,
                actor: actor.clone(),
                subject: pseudonym,
                purpose: None,
                detail: None,
            },
        )?;
        drop(guard);
        self.sign_head_unflushed(actor, OffsetDateTime::now_utc())?;
        self.flush().await?;
        // The store writes `records_removed` and `key_destroyed` into the
        // entry's detail, so `from_entry` gives the same receipt as the
        // outcome; the outcome is the fallback should that ever change.
        let receipt =
            ErasureReceipt::from_entry(&outcome.audit).unwrap_or_else(|| ErasureReceipt {
                subject_pseudonym: outcome.audit.subject.clone().unwrap_or_default(),
                records_removed: outcome.records.len() as u64,
                key_destroyed: outcome.key_destroyed,
                erased_at: outcome.audit.time,
                audit_seq: outcome.audit.seq,
            });
        Ok(self.sign_receipt(receipt))
    }
}
