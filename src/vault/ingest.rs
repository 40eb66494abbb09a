//! Ingest: policy plan → sealed, pseudonymised, generalised fields → one
//! atomic, audited, durable store write.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Vault, VaultError};
use crate::audit::AuditContext;
use crate::crypto::{Dek, FieldAad, KeyRing, WrappedDek, audit_subject_pseudonym, seal_field};
use crate::domain::{Actor, DicomDate, Record, RecordField};
use crate::policy::{Action, FieldPlan, Plan, PolicyStamp, evaluate};
use crate::store::{
    PutKind, RecordId, RecordWrite, StoreError, StoredField, StoredRecord, SubjectId, SubjectKeyUse,
};

/// Whether an ingest stored a new series or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IngestStatus {
    /// A new series: a new record (HTTP 201).
    Created,
    /// A resubmitted series: its record was replaced, same id (HTTP 200).
    Replaced,
}

/// The action applied to one submitted field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldActionReport {
    /// The action.
    pub action: Action,
    /// Whether a blind index was kept for it.
    pub indexed: bool,
}

/// The answer to an ingest: the record's id and what the policy did. It
/// holds no submitted value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IngestReceipt {
    /// The record's opaque id.
    #[schemars(with = "String")]
    pub id: RecordId,
    /// Created or replaced.
    pub status: IngestStatus,
    /// The policy applied.
    pub policy: PolicyStamp,
    /// When the record will be purged.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub retain_until: OffsetDateTime,
    /// The action applied to each submitted field, by DICOM keyword.
    #[schemars(with = "BTreeMap<String, FieldActionReport>")]
    pub fields: BTreeMap<RecordField, FieldActionReport>,
}

/// How many times an ingest is retried when a key rotation re-wrapped the
/// subject's key between reading and writing it.
const KEY_CHANGE_RETRIES: usize = 3;

impl Vault {
    /// Stores `record` under policy `policy_id` as ingested at `now` by
    /// `actor`, replacing the record of the same series if there is one.
    ///
    /// Guarantees: on `Ok`, the record, its indexes, retention-queue entry
    /// and audit entry are durable; on `Err`, nothing was stored. No
    /// plaintext of a field whose action is not `keep` reaches the store.
    pub async fn ingest(
        &self,
        record: &Record,
        policy_id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<IngestReceipt, VaultError> {
        let policy = self
            .policies
            .get(policy_id)
            .ok_or_else(|| VaultError::UnknownPolicy(policy_id.to_owned()))?;
        let plan = evaluate(policy, record, now);
        let (series_key, subject) = {
            let keys = self.keys();
            (
                keys.blind_index(
                    RecordField::SeriesInstanceUID.keyword(),
                    record.series_instance_uid.as_str(),
                ),
                SubjectId(
                    keys.blind_index(RecordField::PatientID.keyword(), record.patient_id.as_str()),
                ),
            )
        };
        // Lock order: series stripe, then subject stripe (everywhere).
        let series_guard = self.series_locks.lock(&series_key).await;
        let subject_guard = self.subject_locks.lock(&subject.0).await;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            match self.write_plan(record, &plan, series_key, &subject, actor, now) {
                Err(VaultError::Store(StoreError::SubjectKeyChanged))
                    if attempt < KEY_CHANGE_RETRIES =>
                {
                    continue;
                }
                other => break other?,
            }
        };
        drop(subject_guard);
        drop(series_guard);
        self.flush().await?;
        Ok(IngestReceipt {
            id: outcome.0,
            status: outcome.1,
            policy: plan.policy.clone(),
            retain_until: plan.retain_until,
            fields: plan
                .fields
                .iter()
                .map(|f| {
                    (
                        f.field,
                        FieldActionReport {
                            action: f.action,
                            indexed: f.indexed,
                        },
                    )
                })
                .collect(),
        })
    }

    /// The synchronous part of an ingest: runs under the series and subject
    /// locks, with the key ring read-locked (so a rotation waits for it).
    fn write_plan(
        &self,
        record: &Record,
        plan: &Plan,
        series_key: [u8; 32],
        subject: &SubjectId,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(RecordId, IngestStatus), VaultError> {
        let keys = self.keys();
        let id = self
            .store
            .find_series(&series_key)?
            .unwrap_or_else(RecordId::random);
        let (dek, key_use) = match self.store.subject_key(subject)? {
            Some(bytes) => {
                let dek = keys.unwrap_dek(&WrappedDek::from_bytes(&bytes)?)?;
                (dek, SubjectKeyUse::Existing(bytes))
            }
            None => {
                let (dek, wrapped) = keys.new_dek()?;
                (dek, SubjectKeyUse::New(wrapped.to_bytes()))
            }
        };
        let patient_id = record.patient_id.as_str();
        let mut fields = BTreeMap::new();
        for field in &plan.fields {
            if let Some(stored) = store_field(&keys, &dek, &id, patient_id, field)? {
                fields.insert(field.field, stored);
            }
        }
        let stored = StoredRecord {
            id,
            policy: plan.policy.clone(),
            subject: *subject,
            ingested_at: now,
            updated_at: now,
            retain_until: plan.retain_until,
            fields,
        };
        let audit = AuditContext {
            time: now,
            actor: actor.clone(),
            subject: Some(audit_subject_pseudonym(&dek, patient_id)?),
            purpose: None,
            detail: Some(serde_json::json!({
                "policy": plan.policy.id,
                "policy_version": plan.policy.version,
            })),
        };
        let outcome = self.store.put_record(RecordWrite {
            record: stored,
            series_key,
            subject_key: key_use,
            audit,
        })?;
        let status = match outcome.kind {
            PutKind::Created => IngestStatus::Created,
            PutKind::Replaced => IngestStatus::Replaced,
        };
        Ok((outcome.record.id, status))
    }
}

/// What one planned field becomes in the store, or `None` for `redact`.
fn store_field(
    keys: &KeyRing,
    dek: &Dek,
    id: &RecordId,
    patient_id: &str,
    field: &FieldPlan,
) -> Result<Option<StoredField>, VaultError> {
    let keyword = field.field.keyword();
    Ok(Some(match field.action {
        Action::Keep | Action::Generalize => {
            let value = field.clear.clone().unwrap_or_default();
            if field.action == Action::Keep {
                StoredField::Keep { value }
            } else {
                StoredField::Generalize { value }
            }
        }
        Action::Encrypt => {
            let aad = FieldAad::for_sealing(*id.as_bytes(), keyword, dek);
            StoredField::Encrypt {
                sealed: seal_field(dek, &aad, field.original.as_bytes())?,
            }
        }
        Action::Pseudonymize => StoredField::Pseudonymize {
            // PS3.15 E.1-1 action U: a UID is replaced by a UID (a `2.25.`
            // UUID-derived one, PS3.5 §B.2); other values by a keyed hash.
            value: if field.field.vr() == "UI" {
                keys.uid_pseudonym(&field.original)
            } else {
                keys.pseudonym(keyword, &field.original)
            },
        },
        Action::Shift => StoredField::Shift {
            value: shift_date(&field.original, keys.date_shift_days(patient_id))?,
        },
        Action::Redact => return Ok(None),
    }))
}

/// Moves a DICOM date by `days` (PS3.15 E.3.6, Modified Dates): the same
/// offset for every date of one subject, so intervals survive.
fn shift_date(original: &str, days: i64) -> Result<String, VaultError> {
    let date = DicomDate::parse(original).map_err(|_| VaultError::DateOutOfRange)?;
    let shifted = date
        .to_date()
        .checked_add(time::Duration::days(days))
        .ok_or(VaultError::DateOutOfRange)?;
    Ok(DicomDate::from_date(shifted)
        .map_err(|_| VaultError::DateOutOfRange)?
        .to_string())
}
