//! The auditors' compliance report (SPEC §7): its document model, published
//! as the `compliance-report` JSON Schema, and its rendering as one
//! self-contained HTML page.
//!
//! [`model`] describes a report and [`html`] renders it; neither reads a
//! store, a clock or a key. [`gather`] collects the figures from a vault
//! (from counters and indexes, not a scan of every record) into a
//! [`ComplianceReport`]. Nothing in a report is PHI: records are named by
//! their opaque id, data subjects by their keyed pseudonym.

pub mod gather;
pub mod html;
pub mod model;

pub use gather::{ReportError, TIMELINE_MONTHS, gather, produce, signed_head_message};
pub use html::{CONTENT_SECURITY_POLICY, render_html};
pub use model::{
    AccessRow, AuditStatus, ComplianceReport, ErasureRow, FieldRow, History, HoldRow, KeyStatus,
    KeyVersionRow, PolicySection, PurgeRow, ReportPeriod, RetentionAnchor, RetentionOutlook,
    RetentionRule, SignedHead, TimelineBucket, security_measure,
};

#[cfg(test)]
pub(crate) mod fixtures;
