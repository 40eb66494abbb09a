//! Activity over the report's period, from the audit log (SPEC §6, §7):
//! purge runs, erasures with their re-signed receipts, and accesses and
//! refusals by role. One pass over the log: O(audit entries).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::ReportError;
use crate::audit::{AuditAction, AuditEntry};
use crate::domain::Role;
use crate::report::model::{AccessRow, ErasureRow, History, PurgeRow, ReportPeriod};
use crate::store::StoreError;
use crate::vault::{ErasureReceipt, Vault};

/// Audit entries are read this many at a time.
const PAGE: usize = 1024;

/// What the walk found.
pub(super) struct Activity {
    /// The period actually covered.
    pub period: ReportPeriod,
    /// Purges and erasures in the period, oldest first (log order).
    pub history: History,
    /// Accesses by role and action, in role then action order.
    pub access: Vec<AccessRow>,
}

/// Walks the audit log once. With `period`, counts the entries with
/// `from <= time < to`; without, every entry before `now`, and the period
/// reported runs from the earliest of them (or is empty at `now`).
pub(super) fn walk(
    vault: &Vault,
    now: OffsetDateTime,
    period: Option<ReportPeriod>,
) -> Result<Activity, ReportError> {
    let (from, to) = period
        .as_ref()
        .map_or((None, now), |p| (Some(p.from), p.to));
    let mut earliest: Option<OffsetDateTime> = None;
    let mut history = History::default();
    let mut counts: BTreeMap<(&'static str, String), Tally> = BTreeMap::new();
    let mut next = 1u64;
    loop {
        let (page, resume, more) = match vault.store().audit_range(next, PAGE) {
            Ok(page) => {
                let more = page.len() == PAGE;
                let resume = page.last().map(|e| e.seq.saturating_add(1));
                (page, resume, more)
            }
            // An entry that does not decode is the chain status's to report
            // (see `chain`); the activity counts skip it and go on.
            Err(StoreError::CorruptAuditEntry { seq }) if seq >= next => (
                entries_before(vault, next, seq),
                Some(seq.saturating_add(1)),
                true,
            ),
            Err(e) => return Err(e.into()),
        };
        for entry in page
            .iter()
            .filter(|e| e.time < to && from.is_none_or(|f| e.time >= f))
        {
            earliest = Some(earliest.map_or(entry.time, |t| t.min(entry.time)));
            count_access(&mut counts, entry);
            history_row(vault, &mut history, entry);
        }
        match resume {
            Some(resume) if more => next = resume,
            _ => break,
        }
    }
    let period = period.unwrap_or(ReportPeriod {
        from: earliest.unwrap_or(now),
        to: now,
    });
    let access = counts
        .into_iter()
        .map(|((_, action), tally)| AccessRow {
            role: tally.role,
            action,
            allowed: tally.allowed,
            denied: tally.denied,
        })
        .collect();
    Ok(Activity {
        period,
        history,
        access,
    })
}

/// The decodable entries from `from` up to (not including) `bad`, read one
/// at a time.
fn entries_before(vault: &Vault, from: u64, bad: u64) -> Vec<AuditEntry> {
    (from..bad)
        .filter_map(|seq| {
            let page = vault.store().audit_range(seq, 1).ok()?;
            // A missing seq would give the next entry: take only this one.
            page.into_iter().find(|e| e.seq == seq)
        })
        .collect()
}

/// Counts one entry under its actor's role: an `access_denied` entry as a
/// refusal of the route it names (`METHOD /template`, or `access_denied`
/// when it names none), any other entry as an allowed action.
fn count_access(counts: &mut BTreeMap<(&'static str, String), Tally>, entry: &AuditEntry) {
    if entry.action == AuditAction::AccessDenied {
        let route = entry.detail.as_ref().and_then(|d| {
            let method = d.get("method")?.as_str()?;
            let route = d.get("route")?.as_str()?;
            Some(format!("{method} {route}"))
        });
        let action = route.unwrap_or_else(|| AuditAction::AccessDenied.as_str().to_owned());
        tally(counts, entry.actor.role, action).denied += 1;
    } else {
        tally(counts, entry.actor.role, entry.action.as_str().to_owned()).allowed += 1;
    }
}

/// Allowed and refused counts of one (role, action).
pub(super) struct Tally {
    role: Role,
    allowed: u64,
    denied: u64,
}

/// The tally of (`role`, `action`), keyed by the role's name (roles have no
/// order of their own) so rows come out sorted by role, then action.
fn tally<'a>(
    counts: &'a mut BTreeMap<(&'static str, String), Tally>,
    role: Role,
    action: String,
) -> &'a mut Tally {
    counts.entry((role.as_str(), action)).or_insert(Tally {
        role,
        allowed: 0,
        denied: 0,
    })
}

/// Adds a purge row for a `purge_run` entry that was not a dry run (detail
/// `{"as_of", "purged", "held", "dry_run"}`), and an erasure row for a
/// `subject_erased` entry, with its receipt signed again (Ed25519 is
/// deterministic: the signature is the one the receipt was issued with).
fn history_row(vault: &Vault, history: &mut History, entry: &AuditEntry) {
    match entry.action {
        AuditAction::PurgeRun => {
            let detail = entry.detail.as_ref();
            let field = |name: &str| detail.and_then(|d| d.get(name));
            if field("dry_run").and_then(|v| v.as_bool()) == Some(true) {
                return;
            }
            history.purges.push(PurgeRow {
                at: entry.time,
                purged: field("purged").and_then(|v| v.as_u64()).unwrap_or(0),
                held: field("held").and_then(|v| v.as_u64()).unwrap_or(0),
                audit_seq: entry.seq,
            });
        }
        AuditAction::SubjectErased => {
            let Some(receipt) = ErasureReceipt::from_entry(entry) else {
                tracing::warn!(seq = entry.seq, "subject_erased entry without its detail");
                return;
            };
            let signed = vault.sign_receipt(receipt);
            history.erasures.push(ErasureRow {
                at: signed.receipt.erased_at,
                subject_pseudonym: signed.receipt.subject_pseudonym,
                records_removed: signed.receipt.records_removed,
                key_destroyed: signed.receipt.key_destroyed,
                audit_seq: signed.receipt.audit_seq,
                receipt_signature: signed.signature,
            });
        }
        _ => {}
    }
}
