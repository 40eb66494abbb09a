//! Retention purge (SPEC §2, §5): deletes every record whose `retain_until`
//! has passed, unless a legal hold is on it, reading only the due part of
//! the retention queue, then signs the audit chain head (SPEC §6).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::audit_log::SignedHeadView;
use super::{Vault, VaultError};
use crate::audit::{AuditAction, AuditContext};
use crate::crypto::{FieldAad, audit_subject_pseudonym, open_field};
use crate::domain::{Actor, RecordField};
use crate::store::{RetentionEntry, StoreError, StoredField, StoredRecord};

/// Retention-queue entries read per page.
const PAGE: usize = 512;

/// Purged and held counts of one policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyPurgeCounts {
    /// Records deleted (or, in a dry run, that would be).
    pub purged: u64,
    /// Due records kept because a legal hold is on them.
    pub held: u64,
}

/// What a purge did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PurgeSummary {
    /// The time the purge compared `retain_until` against: a record is due
    /// when `retain_until <= as_of`.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub as_of: OffsetDateTime,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Records deleted (would be, in a dry run).
    pub purged: u64,
    /// Due records kept because they are held.
    pub held: u64,
    /// The same counts per policy id.
    pub by_policy: BTreeMap<String, PolicyPurgeCounts>,
    /// Subject data keys destroyed because their last record went
    /// (crypto-shredding); 0 in a dry run.
    pub keys_destroyed: u64,
    /// The seq of the `purge_run` audit entry; `None` in a dry run, which
    /// writes nothing.
    pub audit_seq: Option<u64>,
    /// The chain head signed after the purge; `None` in a dry run.
    pub signed_head: Option<SignedHeadView>,
}

impl Vault {
    /// Purges every record due at `as_of` that is not held, as `actor`.
    /// `progress(done, due)` is called after each page (`due` counts the
    /// queue entries due, held ones included).
    ///
    /// Guarantees: reads only the retention-queue entries due by `as_of`
    /// (cost grows with them, not with the records stored); each deletion
    /// is atomic with its index, queue and audit (`record_purged`) changes
    /// and shreds the subject's key with its last record; one `purge_run`
    /// entry ends the run, everything is flushed, then the chain head is
    /// signed and flushed. A dry run writes nothing at all, not even an
    /// audit entry. Blocking: call it off the async workers.
    pub fn purge(
        &self,
        as_of: OffsetDateTime,
        dry_run: bool,
        actor: &Actor,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<PurgeSummary, VaultError> {
        let due = self.store.count_due_by(as_of)?;
        let mut summary = PurgeSummary {
            as_of,
            dry_run,
            purged: 0,
            held: 0,
            by_policy: BTreeMap::new(),
            keys_destroyed: 0,
            audit_seq: None,
            signed_head: None,
        };
        // In a real run purged entries leave the queue, so paging continues
        // after the last entry seen (a held one, or the last of the page).
        let mut after: Option<RetentionEntry> = None;
        loop {
            let page = self.store.due_by(as_of, after.as_ref(), PAGE)?;
            let Some(last) = page.last() else { break };
            after = Some(*last);
            for entry in &page {
                self.purge_one(entry, dry_run, actor, &mut summary)?;
            }
            progress(summary.purged + summary.held, due);
        }
        if dry_run {
            return Ok(summary);
        }
        let run = self.store.append_audit(
            AuditContext {
                time: OffsetDateTime::now_utc(),
                actor: actor.clone(),
                subject: None,
                purpose: None,
                detail: Some(serde_json::json!({
                    "as_of": as_of
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    "purged": summary.purged,
                    "held": summary.held,
                    "keys_destroyed": summary.keys_destroyed,
                    "dry_run": false,
                })),
            }
            .into_draft(AuditAction::PurgeRun, None),
        )?;
        summary.audit_seq = Some(run.seq);
        self.flush_blocking()?;
        let head = self.sign_chain_head(actor, OffsetDateTime::now_utc())?;
        summary.signed_head = Some(head);
        Ok(summary)
    }

    /// Purges (or counts) one due entry.
    fn purge_one(
        &self,
        entry: &RetentionEntry,
        dry_run: bool,
        actor: &Actor,
        summary: &mut PurgeSummary,
    ) -> Result<(), VaultError> {
        let Some(stored) = self.store.get_record(&entry.id)? else {
            // Deleted meanwhile (an erasure): nothing left to purge.
            return Ok(());
        };
        let counts = summary
            .by_policy
            .entry(stored.policy.id.clone())
            .or_default();
        if self.store.hold(&entry.id)?.is_some() {
            counts.held += 1;
            summary.held += 1;
            return Ok(());
        }
        if dry_run {
            counts.purged += 1;
            summary.purged += 1;
            return Ok(());
        }
        // The pseudonym needs the subject's key, which this deletion may
        // shred: compute it first.
        let subject = self.stored_subject_pseudonym(&stored)?;
        let context = AuditContext {
            time: OffsetDateTime::now_utc(),
            actor: actor.clone(),
            subject,
            purpose: None,
            detail: Some(serde_json::json!({ "policy": stored.policy.id })),
        };
        match self.store.delete_record(&entry.id, context) {
            Ok(outcome) => {
                counts.purged += 1;
                summary.purged += 1;
                if outcome.key_destroyed {
                    summary.keys_destroyed += 1;
                }
                Ok(())
            }
            // Held or erased between the check and the write: it stays (or
            // is already gone), and the count says so.
            Err(StoreError::Held { .. }) => {
                counts.held += 1;
                summary.held += 1;
                Ok(())
            }
            Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The audit pseudonym of a stored record's subject, when it can still
    /// be computed: the subject's key exists and the PatientID is stored
    /// sealed or kept. Never fails because a record cannot be opened (a
    /// damaged record must still be purgeable): it gives `None` instead.
    pub(super) fn stored_subject_pseudonym(
        &self,
        stored: &StoredRecord,
    ) -> Result<Option<String>, VaultError> {
        let Some(dek) = self.subject_dek(&stored.subject)? else {
            return Ok(None);
        };
        let patient_id = match stored.fields.get(&RecordField::PatientID) {
            Some(StoredField::Keep { value }) => value.clone(),
            Some(StoredField::Encrypt { sealed }) => {
                let aad = FieldAad::for_opening(
                    *stored.id.as_bytes(),
                    RecordField::PatientID.keyword(),
                    sealed,
                );
                let Ok(plain) = open_field(&dek, &aad, sealed) else {
                    return Ok(None);
                };
                let Ok(text) = String::from_utf8(plain.to_vec()) else {
                    return Ok(None);
                };
                text
            }
            _ => return Ok(None),
        };
        Ok(Some(audit_subject_pseudonym(&dek, &patient_id)?))
    }
}
