//! The policies in force, records per policy, and each policy's record of
//! processing (GDPR Art. 30(1): categories of data, time limits, security
//! measures).

use std::fmt::Write as _;

use super::escape::Esc;
use super::svg::{Bar, Caption, horizontal_bars};
use super::table::{Cell, table};
use crate::report::{ComplianceReport, PolicySection};

/// `P10Y from StudyDate`.
fn retention_text(policy: &PolicySection) -> String {
    format!(
        "{} from {}",
        policy.retention.period,
        policy.retention.anchor.as_str()
    )
}

/// Writes the table of policies in force and the records-per-policy chart.
pub(crate) fn policies(out: &mut String, report: &ComplianceReport) {
    let rows: Vec<Vec<Cell>> = report
        .policies
        .iter()
        .map(|p| {
            vec![
                Cell::Text(p.id.clone()),
                Cell::Text(p.version.clone()),
                Cell::Code(p.sha256.clone()),
                Cell::Text(retention_text(p)),
                Cell::Num(p.record_count),
            ]
        })
        .collect();
    table(
        out,
        "Policies in force",
        &[
            "Policy",
            "Version",
            "SHA-256 of the policy file",
            "Retention",
            "Records",
        ],
        &rows,
        "No policy is in force.",
    );
    if report.policies.is_empty() {
        // The table already says so; an empty chart would add nothing.
        return;
    }
    let bars: Vec<Bar> = report
        .policies
        .iter()
        .map(|p| Bar {
            label: format!("{} {}", p.id, p.version),
            value: p.record_count,
            alert: false,
        })
        .collect();
    let desc = report
        .policies
        .iter()
        .map(|p| format!("{} {}: {} records", p.id, p.version, p.record_count))
        .collect::<Vec<_>>()
        .join("; ");
    out.push_str("<figure>");
    out.push_str(&horizontal_bars(
        &bars,
        &Caption {
            title: "Records per policy",
            desc: &desc,
            empty: "No policy is in force.",
        },
    ));
    out.push_str("<figcaption>Stored records per policy and version.</figcaption></figure>");
}

/// Writes, per policy, the field → action → source table with the security
/// measure applied.
pub(crate) fn processing(out: &mut String, report: &ComplianceReport) {
    if report.policies.is_empty() {
        out.push_str("<p class=\"empty\">No policy is in force.</p>");
    }
    for policy in &report.policies {
        let _ = write!(
            out,
            "<div class=\"policy\"><h3>{id} <span class=\"muted\">version {version}; retention {retention}</span></h3>",
            id = Esc(&policy.id),
            version = Esc(&policy.version),
            retention = Esc(retention_text(policy)),
        );
        let rows: Vec<Vec<Cell>> = policy
            .fields
            .iter()
            .map(|f| {
                vec![
                    Cell::Text(f.field.clone()),
                    Cell::Fixed(f.tag.clone().unwrap_or_else(|| "\u{2014}".to_owned())),
                    Cell::Action(f.action),
                    Cell::Flag(f.indexed),
                    Cell::Text(f.security_measure.clone()),
                    Cell::Text(f.source.clone()),
                ]
            })
            .collect();
        table(
            out,
            &format!(
                "Record of processing under {} {}",
                policy.id, policy.version
            ),
            &[
                "Field",
                "Tag",
                "Action",
                "Blind index",
                "Security measure",
                "Source",
            ],
            &rows,
            "This policy lists no fields.",
        );
        out.push_str("</div>");
    }
}
