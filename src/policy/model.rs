//! The policy model: one rule per record field and a retention rule, as
//! loaded and checked from a `compliance/*.toml` file.

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use super::IsoDuration;
use super::plan::{Action, PolicyStamp};
use crate::domain::RecordField;

/// What a policy does with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldRule {
    /// The action (SPEC §2).
    pub action: Action,
    /// Whether a keyed blind index is kept beside the field so that records
    /// can be found by its value without decrypting anything.
    pub indexed: bool,
    /// Where the rule comes from: the PS3.15 Table E.1-1 action code and
    /// option, and the regulation clause.
    pub source: String,
}

/// Where a retention period is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RetentionAnchor {
    /// The record's StudyDate at 00:00:00 UTC; ingestion when it has none.
    StudyDate,
    /// The instant of ingestion.
    #[serde(rename = "ingestion")]
    Ingestion,
}

impl RetentionAnchor {
    /// The name used in policy files (`from = "StudyDate" | "ingestion"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StudyDate => "StudyDate",
            Self::Ingestion => "ingestion",
        }
    }
}

/// How long records stay: `retain_until = anchor + period` (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// The ISO 8601 period.
    pub period: IsoDuration,
    /// What the period is counted from.
    #[serde(rename = "from")]
    pub anchor: RetentionAnchor,
}

/// A loaded, checked policy.
///
/// Invariant: it holds exactly one rule per [`RecordField`], every rule's
/// action applies to its field's value representation, PatientID and
/// SeriesInstanceUID are indexed, and, when `safe_harbor` is set, no rule
/// leaves a Safe Harbor identifier in the clear. Only the loader builds it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(super) id: String,
    pub(super) version: String,
    pub(super) description: Option<String>,
    pub(super) safe_harbor: bool,
    pub(super) retention: Retention,
    /// In `RecordField::ALL` order.
    pub(super) rules: [FieldRule; 17],
    pub(super) sha256: String,
    pub(super) origin: String,
}

impl Policy {
    /// The policy id, e.g. `hipaa`; equal to the file's stem.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The declared version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The optional one-line description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Whether the loader enforced the Safe Harbor clear view on this policy.
    pub fn safe_harbor(&self) -> bool {
        self.safe_harbor
    }

    /// The identity stored with every record this policy is applied to:
    /// id, version and the SHA-256 of the file's bytes.
    pub fn stamp(&self) -> PolicyStamp {
        PolicyStamp {
            id: self.id.clone(),
            version: self.version.clone(),
            sha256: self.sha256.clone(),
        }
    }

    /// The rule for `field` (every field has one).
    pub fn rule(&self, field: RecordField) -> &FieldRule {
        &self.rules[field_index(field)]
    }

    /// Every field with its rule, in `RecordField::ALL` order.
    pub fn rules(&self) -> impl Iterator<Item = (RecordField, &FieldRule)> {
        RecordField::ALL.into_iter().zip(self.rules.iter())
    }

    /// The retention rule.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Where the policy was loaded from (a path, or `compliance/NAME.toml`
    /// for an embedded one).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// The position of `field` in `RecordField::ALL`.
pub(super) fn field_index(field: RecordField) -> usize {
    // `RecordField` declares its variants in the order of `ALL`; the unit
    // test below keeps the two in step.
    field as usize
}

impl Serialize for Policy {
    /// `{id, version, sha256, description, safe_harbor, origin, retention:
    /// {period, from}, fields: [{field, tag, action, indexed, source}]}`:
    /// the record of processing an auditor reads (GDPR Art. 30).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Row<'a> {
            field: RecordField,
            tag: Option<String>,
            action: Action,
            indexed: bool,
            source: &'a str,
        }
        let fields: Vec<Row<'_>> = self
            .rules()
            .map(|(field, rule)| Row {
                field,
                tag: field.tag().map(|(g, e)| format!("({g:04X},{e:04X})")),
                action: rule.action,
                indexed: rule.indexed,
                source: &rule.source,
            })
            .collect();
        let mut st = s.serialize_struct("Policy", 8)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("version", &self.version)?;
        st.serialize_field("sha256", &self.sha256)?;
        st.serialize_field("description", &self.description)?;
        st.serialize_field("safe_harbor", &self.safe_harbor)?;
        st.serialize_field("origin", &self.origin)?;
        st.serialize_field("retention", &self.retention)?;
        st.serialize_field("fields", &fields)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_index_follows_all() {
        for (i, f) in RecordField::ALL.into_iter().enumerate() {
            assert_eq!(field_index(f), i, "{f}");
        }
    }
}
