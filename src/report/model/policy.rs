//! A policy in force and its record of processing (GDPR Art. 30(1)(d),
//! (f), (g): categories of data, time limits for erasure, security measures).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::RecordField;
use crate::policy::Action;

/// One policy in force: its identity, its retention rule, what it does with
/// each field, and how many stored records it was applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// The policy id, e.g. `gdpr`.
    pub id: String,
    /// The policy's declared version.
    pub version: String,
    /// Lower-case hex SHA-256 of the policy file's bytes.
    #[schemars(pattern(r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// How long records stay, and from when.
    pub retention: RetentionRule,
    /// Per record field: the action, the index, the source of the rule and
    /// the security measure applied (the Art. 30 record of processing).
    pub fields: Vec<FieldRow>,
    /// Stored records this policy was applied to.
    pub record_count: u64,
}

/// A retention rule (SPEC §2; GDPR Art. 5(1)(e), 45 CFR 164.316(b)(2)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// An ISO 8601 duration, e.g. `P10Y` or `P6Y`.
    #[schemars(pattern(r"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$"))]
    pub period: String,
    /// The instant the period counts from.
    pub anchor: RetentionAnchor,
}

/// What a retention period counts from (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RetentionAnchor {
    /// The record's StudyDate (0008,0020), or ingestion when it has none.
    StudyDate,
    /// The moment the record was first stored.
    #[serde(rename = "ingestion")]
    Ingestion,
}

impl RetentionAnchor {
    /// The name used in documents: `StudyDate` or `ingestion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StudyDate => "StudyDate",
            Self::Ingestion => "ingestion",
        }
    }
}

/// One line of the record of processing: a record field and what the
/// policy does with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldRow {
    /// The DICOM keyword, which is also the record's JSON key.
    pub field: String,
    /// The DICOM tag `(gggg,eeee)` (PS3.6), or null for a field no tag
    /// carries (InstancesInSeries).
    #[schemars(pattern(r"^\([0-9A-F]{4},[0-9A-F]{4}\)$"))]
    pub tag: Option<String>,
    /// The action the policy gives the field.
    pub action: Action,
    /// Whether a keyed blind index is kept beside the field.
    pub indexed: bool,
    /// Where the rule comes from (tag, profile action code, regulation
    /// clause), as the policy file states it.
    pub source: String,
    /// The technical measure protecting the stored value (GDPR Art. 32).
    pub security_measure: String,
}

impl FieldRow {
    /// The row for `field` under `action`, with its keyword and tag filled
    /// in and the security measure that the vault applies for `action`.
    pub fn new(
        field: RecordField,
        action: Action,
        indexed: bool,
        source: impl Into<String>,
    ) -> Self {
        Self {
            field: field.keyword().to_owned(),
            tag: field
                .tag()
                .map(|(group, element)| format!("({group:04X},{element:04X})")),
            action,
            indexed,
            source: source.into(),
            security_measure: security_measure(action, indexed),
        }
    }
}

/// The security measure that the vault applies for `action` (SPEC §2, §3),
/// in words for the record of processing, with the blind index when kept.
pub fn security_measure(action: Action, indexed: bool) -> String {
    let measure = match action {
        Action::Keep => "stored in the clear (not identifying under this policy)",
        Action::Encrypt => "AES-256-GCM under per-subject DEK",
        Action::Pseudonymize => "HMAC-SHA256 pseudonym (2.25. UID for UIDs)",
        Action::Generalize => "generalised (date to year, age over 89 to 90+)",
        Action::Shift => "date shifted by a per-subject keyed offset",
        Action::Redact => "dropped before storage",
    };
    if indexed {
        format!("{measure}; HMAC-SHA256 blind index")
    } else {
        measure.to_owned()
    }
}
