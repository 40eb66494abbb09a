//! What happened and who did it: purges, erasures, key versions, the audit
//! chain in detail, and accesses by role.

use super::table::{Cell, pairs, table};
use crate::report::ComplianceReport;

/// Writes the purge and erasure history.
pub(crate) fn history(out: &mut String, report: &ComplianceReport) {
    let purges: Vec<Vec<Cell>> = report
        .history
        .purges
        .iter()
        .map(|p| {
            vec![
                Cell::Time(p.at),
                Cell::Num(p.purged),
                Cell::Num(p.held),
                Cell::Num(p.audit_seq),
            ]
        })
        .collect();
    out.push_str("<h3>Purges</h3>");
    table(
        out,
        "Purge runs",
        &["At", "Records purged", "Kept by a hold", "Audit entry"],
        &purges,
        "No purge has run in this period.",
    );
    let erasures: Vec<Vec<Cell>> = report
        .history
        .erasures
        .iter()
        .map(|e| {
            vec![
                Cell::Time(e.at),
                Cell::Code(e.subject_pseudonym.clone()),
                Cell::Num(e.records_removed),
                Cell::Flag(e.key_destroyed),
                Cell::Num(e.audit_seq),
                Cell::Code(e.receipt_signature.clone()),
            ]
        })
        .collect();
    out.push_str("<h3>Erasures</h3>");
    table(
        out,
        "Erasures of data subjects (GDPR Art. 17), with their signed receipts",
        &[
            "At",
            "Subject pseudonym",
            "Records removed",
            "Key destroyed",
            "Audit entry",
            "Receipt signature (Ed25519)",
        ],
        &erasures,
        "No erasure in this period.",
    );
}

/// Writes the master key versions and the data keys each wraps.
pub(crate) fn keys(out: &mut String, report: &ComplianceReport) {
    let rows: Vec<Vec<Cell>> = report
        .keys
        .versions
        .iter()
        .map(|v| {
            vec![
                Cell::Num(v.version.into()),
                Cell::Num(v.deks_wrapped),
                Cell::Flag(v.version == report.keys.current_version),
            ]
        })
        .collect();
    table(
        out,
        "Master key (KEK) versions",
        &["Version", "Data keys wrapped", "Current"],
        &rows,
        "No master key version is recorded.",
    );
}

/// Writes the audit chain's status in detail, with the signed head.
pub(crate) fn audit(out: &mut String, report: &ComplianceReport) {
    let audit = &report.audit;
    let mut rows = vec![
        ("Entries", Cell::Num(audit.entries)),
        (
            "Status",
            Cell::Text(if audit.verified { "verified" } else { "FAILED" }.to_owned()),
        ),
    ];
    if let Some(seq) = audit.first_bad_seq {
        rows.push(("First bad entry", Cell::Num(seq)));
    }
    if let Some(reason) = &audit.reason {
        rows.push(("Reason", Cell::Text(reason.clone())));
    }
    match &audit.signed_head {
        Some(head) => rows.extend([
            ("Signed head: entry", Cell::Num(head.seq)),
            ("Signed at", Cell::Time(head.signed_at)),
            ("Head hash (SHA-256)", Cell::Code(head.hash.clone())),
            ("Signature (Ed25519)", Cell::Code(head.signature.clone())),
            ("Public key", Cell::Code(head.public_key.clone())),
        ]),
        None => rows.push(("Signed head", Cell::Text("none yet".to_owned()))),
    }
    pairs(out, &rows);
}

/// Writes accesses allowed and refused, by role and action.
pub(crate) fn access(out: &mut String, report: &ComplianceReport) {
    let rows: Vec<Vec<Cell>> = report
        .access
        .iter()
        .map(|a| {
            vec![
                Cell::Text(a.role.as_str().to_owned()),
                Cell::Text(a.action.clone()),
                Cell::Num(a.allowed),
                Cell::Num(a.denied),
            ]
        })
        .collect();
    table(
        out,
        "Accesses by role over the period",
        &["Role", "Action", "Allowed", "Refused"],
        &rows,
        "No access was recorded in this period.",
    );
}
