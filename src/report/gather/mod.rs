//! Gathering a [`ComplianceReport`] from a vault (SPEC §7): the policies in
//! force, the store's counters, the retention queue, the holds, the key
//! hierarchy and the audit log.
//!
//! Cost (why the report stays fast as the store grows): no record is read
//! except the held ones (one `get_record` per hold); record counts come from
//! the store's counters; the retention outlook reads only the retention
//! queue keys of records overdue or due within the timeline's horizon, never
//! those due later; key status reads one 5-byte header per subject key. The
//! audit log is walked twice, once to verify the chain and once for the
//! history and access counts: that is O(audit entries), which SPEC §6 and §7
//! ask for (a chain is verified by reading it) and which grows with activity,
//! not with the records stored.

mod activity;
mod chain;
mod retention;

use time::OffsetDateTime;

pub use chain::signed_head_message;
pub use retention::TIMELINE_MONTHS;

use crate::audit::{AuditAction, AuditContext};
use crate::domain::Actor;
use crate::policy::Policy;
use crate::report::model::{
    ComplianceReport, FieldRow, KeyStatus, KeyVersionRow, PolicySection, ReportPeriod,
    RetentionAnchor, RetentionRule,
};
use crate::store::StoreError;
use crate::vault::{Vault, VaultError};

/// Why a report could not be gathered. Messages carry no PHI (the lower
/// layers' errors carry none).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The vault failed (key status, receipt signing).
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// A date computation left the supported range (a generation time near
    /// the end of year 9999).
    #[error("the report's time range is out of bounds")]
    TimeOutOfRange,
}

/// Gathers the report over `vault`, as of `now`, describing the data
/// directory `data_dir` (shown as given).
///
/// `period` bounds the activity sections (purges, erasures, accesses): the
/// entries with `from <= time < to`. Without one, the period runs from the
/// earliest audit entry to `now`.
///
/// Guarantees (the model's doc comments state them for readers): held
/// records appear only in `retention.holds`, never in a due, overdue or
/// timeline count; the due windows nest; the timeline has one bucket per UTC
/// month from the month of `now`, [`TIMELINE_MONTHS`] in all, zero months
/// included, and its first bucket counts from `now` (overdue records are
/// counted in `overdue` only); `audit.verified` is true exactly when
/// `first_bad_seq` and `reason` are null. Read-only: nothing is written (see
/// [`produce`]).
pub fn gather(
    vault: &Vault,
    data_dir: &str,
    now: OffsetDateTime,
    period: Option<ReportPeriod>,
) -> Result<ComplianceReport, ReportError> {
    let now = now.to_offset(time::UtcOffset::UTC);
    let store = vault.store();
    let counters = store.counters()?;
    let policies = vault
        .policies()
        .iter()
        .map(|p| {
            let count = counters
                .records_per_policy
                .get(p.id())
                .copied()
                .unwrap_or(0);
            policy_section(p, count)
        })
        .collect();
    let retention = retention::outlook(store.as_ref(), now)?;
    let activity = activity::walk(vault, now, period)?;
    let keys = key_status(vault)?;
    let audit = chain::audit_status(vault);
    Ok(ComplianceReport {
        generated_at: now,
        data_dir: data_dir.to_owned(),
        period: activity.period,
        policies,
        retention,
        history: activity.history,
        keys,
        audit,
        access: activity.access,
    })
}

/// Gathers the report as [`gather`] does, then appends its `report_produced`
/// audit entry for `actor` (SPEC §6: producing a report is audited), with the
/// period in its detail.
///
/// The entry is appended, not flushed: the caller makes it durable
/// ([`Vault::flush`] or [`Vault::flush_blocking`]) before handing the report
/// out.
pub fn produce(
    vault: &Vault,
    data_dir: &str,
    actor: &Actor,
    now: OffsetDateTime,
    period: Option<ReportPeriod>,
) -> Result<ComplianceReport, ReportError> {
    let report = gather(vault, data_dir, now, period)?;
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .map_err(|_| ReportError::TimeOutOfRange)
    };
    vault.store().append_audit(
        AuditContext {
            time: now,
            actor: actor.clone(),
            subject: None,
            purpose: None,
            detail: Some(serde_json::json!({
                "period_from": rfc3339(report.period.from)?,
                "period_to": rfc3339(report.period.to)?,
                "records": report.record_total(),
                "audit_verified": report.audit.verified,
            })),
        }
        .into_draft(AuditAction::ReportProduced, None),
    )?;
    Ok(report)
}

/// One policy's section: identity, retention rule, the record of
/// processing in `RecordField::ALL` order, and its record count.
fn policy_section(policy: &Policy, record_count: u64) -> PolicySection {
    let stamp = policy.stamp();
    let retention = policy.retention();
    PolicySection {
        id: stamp.id,
        version: stamp.version,
        sha256: stamp.sha256,
        retention: RetentionRule {
            period: retention.period.to_string(),
            anchor: match retention.anchor {
                crate::policy::RetentionAnchor::StudyDate => RetentionAnchor::StudyDate,
                crate::policy::RetentionAnchor::Ingestion => RetentionAnchor::Ingestion,
            },
        },
        fields: policy
            .rules()
            .map(|(field, rule)| FieldRow::new(field, rule.action, rule.indexed, &rule.source))
            .collect(),
        record_count,
    }
}

/// The KEK versions on disk and the DEKs each wraps.
fn key_status(vault: &Vault) -> Result<KeyStatus, ReportError> {
    let status = vault.key_status()?;
    Ok(KeyStatus {
        current_version: status.current_version,
        versions: status
            .versions
            .into_iter()
            .map(|v| KeyVersionRow {
                version: v.version,
                deks_wrapped: v.deks_wrapped,
            })
            .collect(),
    })
}
