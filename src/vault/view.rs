//! A record as the policy left it, with encrypted fields opened: what a
//! `reader` receives.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::RecordField;
use crate::policy::{Action, PolicyStamp};
use crate::store::RecordId;

/// One field of a record view: the action the policy applied and the value
/// a reader gets (the original for `encrypt`, otherwise what is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldView {
    /// The action applied at ingestion.
    pub action: Action,
    /// The value: decrypted for `encrypt`, the pseudonym, generalised or
    /// shifted value otherwise, as submitted for `keep`.
    pub value: String,
}

/// A stored record, opened for a reader. PHI: returned only to the `reader`
/// role, with the purpose of use audited.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecordView {
    /// The record's opaque id.
    #[schemars(with = "String")]
    pub id: RecordId,
    /// The policy applied.
    pub policy: PolicyStamp,
    /// When the series was first stored.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub ingested_at: OffsetDateTime,
    /// When this version was stored.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub updated_at: OffsetDateTime,
    /// When it will be purged.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub retain_until: OffsetDateTime,
    /// Whether a legal hold is on it.
    pub held: bool,
    /// The stored fields by DICOM keyword (redacted fields are absent).
    #[schemars(with = "BTreeMap<String, FieldView>")]
    pub fields: BTreeMap<RecordField, FieldView>,
}

impl std::fmt::Debug for RecordView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values are PHI: show the id and which fields are present only.
        f.debug_struct("RecordView")
            .field("id", &self.id)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
