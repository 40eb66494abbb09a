//! The top of the page: what the report describes, the audit chain's
//! status (first, because a broken chain discredits every other figure),
//! and the key figures.

use std::fmt::Write as _;

use super::escape::Esc;
use super::table::{Figure, figures, timestamp};
use crate::report::ComplianceReport;

/// Writes the page header: title, generation time, data directory, period.
pub(crate) fn header(out: &mut String, report: &ComplianceReport) {
    let _ = write!(
        out,
        "<header><h1>Compliance report</h1><dl class=\"pairs\">\
         <dt>Data directory</dt><dd><code>{dir}</code></dd>\
         <dt>Generated</dt><dd class=\"time\">{generated}</dd>\
         <dt>Period</dt><dd class=\"time\">{from} to {to}</dd></dl></header>",
        dir = Esc(&report.data_dir),
        generated = Esc(timestamp(report.generated_at)),
        from = Esc(timestamp(report.period.from)),
        to = Esc(timestamp(report.period.to)),
    );
}

/// Writes the audit chain's status as a banner: verified, or the first bad
/// entry and why (SPEC §6).
pub(crate) fn audit_banner(out: &mut String, report: &ComplianceReport) {
    let audit = &report.audit;
    let head = match &audit.signed_head {
        Some(head) => format!(
            "last signed head: entry #{} at {}",
            head.seq,
            timestamp(head.signed_at)
        ),
        None => "no signed head yet".to_owned(),
    };
    if audit.verified {
        let _ = write!(
            out,
            "<section class=\"banner ok\" aria-labelledby=\"audit-status\">\
             <h2 id=\"audit-status\">\u{2714} Audit chain verified</h2>\
             <p>{entries} entries checked; {head}.</p></section>",
            entries = Esc(audit.entries),
            head = Esc(head),
        );
    } else {
        let first_bad = audit
            .first_bad_seq
            .map_or_else(|| "unknown".to_owned(), |seq| format!("#{seq}"));
        let _ = write!(
            out,
            "<section class=\"banner bad\" aria-labelledby=\"audit-status\">\
             <h2 id=\"audit-status\">\u{2718} Audit chain FAILED verification</h2>\
             <p>First bad entry: <strong>{first_bad}</strong>{reason}. \
             {entries} entries in the chain; {head}.</p></section>",
            first_bad = Esc(first_bad),
            reason = Esc(audit
                .reason
                .as_deref()
                .map_or_else(String::new, |r| format!(" ({r})"))),
            entries = Esc(audit.entries),
            head = Esc(head),
        );
    }
}

/// Writes the key figures: records, retention, holds, history, keys.
pub(crate) fn key_figures(out: &mut String, report: &ComplianceReport) {
    let retention = &report.retention;
    let figure = |label, value: u64, alert| Figure {
        label,
        value: value.to_string(),
        alert,
    };
    out.push_str("<section aria-label=\"Key figures\">");
    figures(
        out,
        &[
            figure("Records stored", report.record_total(), false),
            figure("Policies in force", report.policies.len() as u64, false),
            figure("Overdue records", retention.overdue, retention.overdue > 0),
            figure("Due in 30 days", retention.due_30_days, false),
            figure("Due in 90 days", retention.due_90_days, false),
            figure("Due in 365 days", retention.due_365_days, false),
            figure("Legal holds", retention.holds.len() as u64, false),
            figure("Purges", report.history.purges.len() as u64, false),
            figure("Erasures", report.history.erasures.len() as u64, false),
            figure(
                "Current key version",
                report.keys.current_version.into(),
                false,
            ),
            figure(
                "Audit entries",
                report.audit.entries,
                !report.audit.verified,
            ),
        ],
    );
    out.push_str("</section>");
}
