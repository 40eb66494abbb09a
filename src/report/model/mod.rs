//! The report document (SPEC §7): what the JSON answer holds and what the
//! HTML page shows. Every type here is a plain, serialisable value; the
//! `compliance-report` JSON Schema is derived from them.
//!
//! Guarantee: no type here holds PHI. Records appear by opaque id, data
//! subjects by their keyed pseudonym, people acting by their token `sub`.

mod history;
mod policy;
mod retention;
mod status;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use history::{ErasureRow, History, PurgeRow};
pub use policy::{FieldRow, PolicySection, RetentionAnchor, RetentionRule, security_measure};
pub use retention::{HoldRow, RetentionOutlook, TimelineBucket};
pub use status::{AccessRow, AuditStatus, KeyStatus, KeyVersionRow, SignedHead};

/// The auditors' policy report over one data directory (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "Compliance report",
    description = "The auditors' policy report over one phivault data directory (SPEC §7). Contains no PHI."
)]
pub struct ComplianceReport {
    /// When the report was produced (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub generated_at: OffsetDateTime,
    /// The data directory the report describes, as the server or command
    /// was given it.
    pub data_dir: String,
    /// The period over which activity (accesses, purges, erasures) is
    /// counted.
    pub period: ReportPeriod,
    /// The policies in force, each with its record of processing (GDPR
    /// Art. 30) and its record count.
    pub policies: Vec<PolicySection>,
    /// Records falling due for purge, overdue records and legal holds.
    pub retention: RetentionOutlook,
    /// Purges and erasures carried out, with their audit references.
    pub history: History,
    /// Master key versions and the data keys each wraps.
    pub keys: KeyStatus,
    /// The audit chain's verification status and last signed head.
    pub audit: AuditStatus,
    /// Accesses allowed and refused, by role and action, over `period`.
    pub access: Vec<AccessRow>,
}

impl ComplianceReport {
    /// The number of stored records over every policy.
    pub fn record_total(&self) -> u64 {
        self.policies
            .iter()
            .fold(0u64, |sum, p| sum.saturating_add(p.record_count))
    }
}

/// A half-open time interval `[from, to)` (RFC 3339 bounds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportPeriod {
    /// The start of the period, included.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub from: OffsetDateTime,
    /// The end of the period, excluded (normally the generation time).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub to: OffsetDateTime,
}

/// The JSON Schema of an RFC 3339 timestamp, for `#[schemars(with)]`: the
/// serde form of every `OffsetDateTime` in the report.
pub(crate) struct Rfc3339;

impl JsonSchema for Rfc3339 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rfc3339".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "An RFC 3339 timestamp, e.g. 2026-12-04T15:37:07Z."
        })
    }
}

/// The JSON Schema of lower-case hexadecimal text, for `#[schemars(with)]`.
pub(crate) struct Hex;

impl JsonSchema for Hex {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Hex".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9a-f]{2})*$",
            "description": "Bytes as lower-case hexadecimal."
        })
    }
}

#[cfg(test)]
mod tests;
