//! Reads: one record by id, or every record of a data subject (GDPR Art.
//! 15), with encrypted fields opened and the disclosure audited.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::view::{FieldView, RecordView};
use super::{Vault, VaultError};
use crate::audit::{AuditAction, AuditContext};
use crate::crypto::{Dek, FieldAad, WrappedDek, audit_subject_pseudonym, open_field};
use crate::domain::{Actor, PatientId, RecordField};
use crate::policy::Action;
use crate::store::{RecordId, StoredField, StoredRecord, SubjectId};

impl Vault {
    /// The record `id` with its encrypted fields opened, read by `actor`
    /// for `purpose` (an HL7 v3 PurposeOfUse code).
    ///
    /// Guarantee: the `record_read` audit entry, naming the purpose, is
    /// durable before the record is returned (HIPAA 164.528 accounting).
    pub async fn read(
        &self,
        id: &RecordId,
        actor: &Actor,
        purpose: &str,
        now: OffsetDateTime,
    ) -> Result<RecordView, VaultError> {
        let stored = self
            .store
            .get_record(id)?
            .ok_or(VaultError::NotFound(*id))?;
        let (view, pseudonym) = self.open_record(&stored)?;
        self.store.append_audit(
            AuditContext {
                time: now,
                actor: actor.clone(),
                subject: pseudonym,
                purpose: Some(purpose.to_owned()),
                detail: None,
            }
            .into_draft(AuditAction::RecordRead, Some(*id)),
        )?;
        self.flush().await?;
        Ok(view)
    }

    /// Every record of the subject named by `patient_id`, found by blind
    /// index (nothing is decrypted to find them), opened for `actor`.
    ///
    /// Guarantee: the `subject_accessed` audit entry is durable before the
    /// records are returned. An unknown subject gives an empty list (and is
    /// audited too: the request itself is a disclosure attempt).
    pub async fn subject_access(
        &self,
        patient_id: &PatientId,
        actor: &Actor,
        purpose: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<RecordView>, VaultError> {
        let subject = self.subject_of(patient_id);
        let ids = self.store.records_of_subject(&subject)?;
        let mut views = Vec::with_capacity(ids.len());
        let mut pseudonym = None;
        for id in &ids {
            if let Some(stored) = self.store.get_record(id)? {
                let (view, p) = self.open_record(&stored)?;
                pseudonym = pseudonym.or(p);
                views.push(view);
            }
        }
        self.store.append_audit(
            AuditContext {
                time: now,
                actor: actor.clone(),
                subject: pseudonym,
                purpose: Some(purpose.to_owned()),
                detail: Some(serde_json::json!({ "records": views.len() })),
            }
            .into_draft(AuditAction::SubjectAccessed, None),
        )?;
        self.flush().await?;
        Ok(views)
    }

    /// The subject id (blind index) of a PatientID.
    pub(super) fn subject_of(&self, patient_id: &PatientId) -> SubjectId {
        SubjectId(
            self.keys()
                .blind_index(RecordField::PatientID.keyword(), patient_id.as_str()),
        )
    }

    /// The subject's DEK, if it still has one.
    pub(super) fn subject_dek(&self, subject: &SubjectId) -> Result<Option<Dek>, VaultError> {
        match self.store.subject_key(subject)? {
            Some(bytes) => Ok(Some(
                self.keys().unwrap_dek(&WrappedDek::from_bytes(&bytes)?)?,
            )),
            None => Ok(None),
        }
    }

    /// Opens a stored record; returns the view and the subject's audit
    /// pseudonym (computed from the opened PatientID when it is sealed).
    fn open_record(
        &self,
        stored: &StoredRecord,
    ) -> Result<(RecordView, Option<String>), VaultError> {
        let dek = self.subject_dek(&stored.subject)?;
        let mut fields = BTreeMap::new();
        for (field, value) in &stored.fields {
            let view = match value {
                StoredField::Keep { value } => FieldView {
                    action: Action::Keep,
                    value: value.clone(),
                },
                StoredField::Generalize { value } => FieldView {
                    action: Action::Generalize,
                    value: value.clone(),
                },
                StoredField::Shift { value } => FieldView {
                    action: Action::Shift,
                    value: value.clone(),
                },
                StoredField::Pseudonymize { value } => FieldView {
                    action: Action::Pseudonymize,
                    value: value.clone(),
                },
                StoredField::Encrypt { sealed } => {
                    let dek = dek.as_ref().ok_or_else(|| VaultError::Unopenable {
                        record: stored.id,
                        reason: "the data subject's key no longer exists".into(),
                    })?;
                    let aad = FieldAad::for_opening(*stored.id.as_bytes(), field.keyword(), sealed);
                    let plain =
                        open_field(dek, &aad, sealed).map_err(|e| VaultError::Unopenable {
                            record: stored.id,
                            reason: e.to_string(),
                        })?;
                    let value =
                        String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Unopenable {
                            record: stored.id,
                            reason: format!("{field} is not UTF-8 after opening"),
                        })?;
                    FieldView {
                        action: Action::Encrypt,
                        value,
                    }
                }
            };
            fields.insert(*field, view);
        }
        let pseudonym = match (&dek, fields.get(&RecordField::PatientID)) {
            (Some(dek), Some(pid))
                if pid.action == Action::Encrypt || pid.action == Action::Keep =>
            {
                Some(audit_subject_pseudonym(dek, &pid.value)?)
            }
            _ => None,
        };
        let held = self.store.hold(&stored.id)?.is_some();
        Ok((
            RecordView {
                id: stored.id,
                policy: stored.policy.clone(),
                ingested_at: stored.ingested_at,
                updated_at: stored.updated_at,
                retain_until: stored.retain_until,
                held,
                fields,
            },
            pseudonym,
        ))
    }
}
