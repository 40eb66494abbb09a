//! The output of policy evaluation: per field, what the vault must do.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::domain::RecordField;

/// What a policy does with one record field (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Stored as plaintext; readable by any role that may read records.
    Keep,
    /// AES-256-GCM under the data subject's key; readable by `reader`.
    Encrypt,
    /// Keyed HMAC-SHA256 (a `2.25.` UID for UIDs); nobody gets the original.
    Pseudonymize,
    /// A coarser value: a date to its year, an age over 89 to `90+`.
    Generalize,
    /// A date moved by a per-subject keyed offset (PS3.15 "Modified Dates").
    Shift,
    /// Dropped before storage.
    Redact,
}

impl Action {
    /// The name used in policy files and API documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Encrypt => "encrypt",
            Self::Pseudonymize => "pseudonymize",
            Self::Generalize => "generalize",
            Self::Shift => "shift",
            Self::Redact => "redact",
        }
    }
}

/// The identity of the policy applied to a record: stored with it (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct PolicyStamp {
    /// The policy id, e.g. `gdpr`.
    pub id: String,
    /// The policy's declared version.
    pub version: String,
    /// Lower-case hex SHA-256 of the policy file's bytes.
    pub sha256: String,
}

/// What to do with one field that the record carries.
///
/// Guarantee: `clear` is `Some` exactly when `action` is `Keep` or
/// `Generalize`, and then holds the value that may be stored in the clear.
pub struct FieldPlan {
    /// The field.
    pub field: RecordField,
    /// The action the policy gives it.
    pub action: Action,
    /// Whether a keyed blind index of `original` must be kept.
    pub indexed: bool,
    /// The value as submitted, for the vault to seal, pseudonymise, shift or
    /// index. PHI: never stored, logged or printed as is unless the action is
    /// `Keep`. Wiped on drop.
    pub original: String,
    /// The value that may be stored in the clear (`Keep`: the original;
    /// `Generalize`: the coarser value the policy computed).
    pub clear: Option<String>,
}

impl Drop for FieldPlan {
    fn drop(&mut self) {
        self.original.zeroize();
    }
}

impl std::fmt::Debug for FieldPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The original is PHI; show only the decision.
        f.debug_struct("FieldPlan")
            .field("field", &self.field)
            .field("action", &self.action)
            .field("indexed", &self.indexed)
            .finish_non_exhaustive()
    }
}

/// The evaluation of one record under one policy at one ingestion time.
#[derive(Debug)]
pub struct Plan {
    /// The policy applied.
    pub policy: PolicyStamp,
    /// When the record must be purged, fixed at ingestion.
    pub retain_until: time::OffsetDateTime,
    /// One entry per field the record carries, in `RecordField::ALL` order.
    pub fields: Vec<FieldPlan>,
}
