//! The auditors' compliance report (SPEC §7): its document model, published
//! as the `compliance-report` JSON Schema, and its rendering as one
//! self-contained HTML page.
//!
//! This module only describes and renders a report; it reads no store, no
//! clock and no key. The figures are gathered elsewhere (from counters and
//! indexes, not a scan of every record) and handed in as a
//! [`ComplianceReport`]. Nothing in a report is PHI: records are named by
//! their opaque id, data subjects by their keyed pseudonym.

pub mod html;
pub mod model;

pub use html::render_html;
pub use model::{
    AccessRow, AuditStatus, ComplianceReport, ErasureRow, FieldRow, History, HoldRow, KeyStatus,
    KeyVersionRow, PolicySection, PurgeRow, ReportPeriod, RetentionAnchor, RetentionOutlook,
    RetentionRule, SignedHead, TimelineBucket, security_measure,
};

#[cfg(test)]
pub(crate) mod fixtures;
