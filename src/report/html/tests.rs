//! Tests of the rendered page, on reports built by hand.

use super::render_html;
use crate::domain::Role;
use crate::report::fixtures::{HOSTILE, empty_report, full_report};
use crate::report::{AccessRow, ComplianceReport};

/// Every `<svg>…</svg>` element of the page.
fn svgs(html: &str) -> Vec<&str> {
    html.split("<svg")
        .skip(1)
        .map(|rest| rest.split("</svg>").next().unwrap_or(""))
        .collect()
}

/// A report with the hostile string in every free-text place it has.
fn hostile_everywhere() -> ComplianceReport {
    let mut report = full_report();
    report.data_dir = HOSTILE.to_owned();
    for policy in &mut report.policies {
        policy.id = HOSTILE.to_owned();
        policy.version = HOSTILE.to_owned();
        policy.sha256 = HOSTILE.to_owned();
        policy.retention.period = HOSTILE.to_owned();
        for field in &mut policy.fields {
            field.field = HOSTILE.to_owned();
            field.tag = Some(HOSTILE.to_owned());
            field.source = HOSTILE.to_owned();
            field.security_measure = HOSTILE.to_owned();
        }
    }
    for hold in &mut report.retention.holds {
        hold.record_id = HOSTILE.to_owned();
        hold.reason = HOSTILE.to_owned();
        hold.placed_by = HOSTILE.to_owned();
    }
    for bucket in &mut report.retention.timeline {
        bucket.month = HOSTILE.to_owned();
    }
    for erasure in &mut report.history.erasures {
        erasure.subject_pseudonym = HOSTILE.to_owned();
        erasure.receipt_signature = HOSTILE.to_owned();
    }
    report.audit.verified = false;
    report.audit.first_bad_seq = Some(77);
    report.audit.reason = Some(HOSTILE.to_owned());
    if let Some(head) = &mut report.audit.signed_head {
        head.hash = HOSTILE.to_owned();
        head.signature = HOSTILE.to_owned();
        head.public_key = HOSTILE.to_owned();
    }
    for row in &mut report.access {
        row.action = HOSTILE.to_owned();
    }
    report
}

#[test]
fn free_text_is_escaped_never_printed_raw() {
    let html = render_html(&full_report());
    assert!(!html.contains("<script"), "raw script tag in the page");
    assert!(!html.contains(HOSTILE));
    // The policy source and the hold reason both carry it, escaped.
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &amp; &#39;single&#39;";
    assert!(html.matches(escaped).count() >= 2, "escaped text missing");
}

#[test]
fn every_printed_value_is_escaped_in_text_and_attributes() {
    let html = render_html(&hostile_everywhere());
    for raw in ["<script", "alert(1)</", "\"quoted\"", "'single'", "& '"] {
        assert!(!html.contains(raw), "found raw {raw:?}");
    }
    // Escaped in the title, in SVG attributes (aria-label) and text.
    assert!(html.contains("<title>phivault compliance report \u{2014} &lt;script&gt;"));
    assert!(html.contains("aria-label=\"Records per policy\""));
    assert!(html.contains(
        "<title>&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &amp; &#39;single&#39;"
    ));
}

#[test]
fn zero_data_renders_charts_without_nan_or_infinity() {
    let html = render_html(&empty_report());
    let charts = svgs(&html);
    assert_eq!(
        charts.len(),
        1,
        "the outlook; no records-per-policy without policies"
    );
    assert!(charts[0].contains("No record is overdue or falls due in the outlook period."));
    for svg in charts {
        for bad in ["NaN", "inf", "-0.0"] {
            assert!(!svg.contains(bad), "{bad} in {svg}");
        }
    }
    assert!(!html.contains("NaN"));
    assert!(html.contains("No policy is in force."));
    assert!(html.contains("No record is under legal hold."));
    assert!(html.contains("No purge has run in this period."));
    assert!(html.contains("No erasure in this period."));
    assert!(html.contains("No access was recorded in this period."));
    assert!(html.contains("none yet"));

    // Policies that hold no record still get their (empty) bars.
    let mut idle = full_report();
    for policy in &mut idle.policies {
        policy.record_count = 0;
    }
    idle.retention.overdue = 0;
    for bucket in &mut idle.retention.timeline {
        bucket.due = 0;
    }
    let html = render_html(&idle);
    let charts = svgs(&html);
    assert_eq!(charts.len(), 2);
    for svg in charts {
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
}

#[test]
fn figures_appear_in_the_page() {
    let report = full_report();
    let html = render_html(&report);
    for figure in [
        ">1801<",                              // records in total (1234 + 567)
        ">1234<",                              // gdpr records
        ">567<",                               // hipaa records
        ">3<",                                 // overdue
        ">17<",                                // due in 30 days
        ">58<",                                // due in 90 days
        ">301<",                               // due in 365 days
        ">42<",                                // purged
        ">9001<",                              // purge audit entry
        ">9050<",                              // erasure audit entry
        ">subj-5e1d0c<",                       // erasure pseudonym
        ">88<",                                // DEKs under version 2
        ">9123 entries checked",               // audit entries
        "entry #9122 at 2026-12-04T15:00:00Z", // signed head
        ">321<",                               // reader reads
        ">4<",                                 // reader refusals
        "/var/lib/phivault-data",              // data directory
        "2026-12-04T15:37:07Z",                // generation time
        "P10Y from StudyDate",
        "P6Y from ingestion",
        "AES-256-GCM under per-subject DEK; HMAC-SHA256 blind index",
        "dropped before storage",
        ">(0010,0020)<",
        ">rec-7f3a<",
        "dpo@example.org",
        &"ab".repeat(32),
        &"0f".repeat(64),
        &"56".repeat(32),
    ] {
        assert!(html.contains(figure), "missing {figure}");
    }
    // Every month of the outlook is labelled in the chart.
    for bucket in &report.retention.timeline {
        assert!(
            html.contains(&format!(">{}<", bucket.month)),
            "{}",
            bucket.month
        );
    }
}

#[test]
fn overdue_records_are_highlighted_in_the_chart_and_figures() {
    let html = render_html(&full_report());
    let outlook = svgs(&html)
        .into_iter()
        .find(|svg| svg.contains("Retention outlook"))
        .unwrap();
    assert!(outlook.contains("fill=\"#b3261e\"><title>overdue: 3</title>"));
    assert!(html.contains("<div class=\"figure alert\"><dt>Overdue records</dt><dd>3</dd>"));
    let mut clear = full_report();
    clear.retention.overdue = 0;
    let html = render_html(&clear);
    assert!(html.contains("<div class=\"figure\"><dt>Overdue records</dt><dd>0</dd>"));
}

#[test]
fn a_broken_audit_chain_is_announced_with_its_first_bad_entry() {
    let mut report = full_report();
    report.audit.verified = false;
    report.audit.first_bad_seq = Some(77);
    report.audit.reason = Some("hash of previous entry does not match".to_owned());
    let html = render_html(&report);
    assert!(html.contains("class=\"banner bad\""));
    assert!(html.contains("Audit chain FAILED verification"));
    assert!(
        html.contains(
            "First bad entry: <strong>#77</strong> (hash of previous entry does not match)"
        )
    );
    assert!(!html.contains("Audit chain verified"));
    let html = render_html(&full_report());
    assert!(html.contains("class=\"banner ok\""));
    assert!(html.contains("Audit chain verified"));
}

#[test]
fn the_page_loads_nothing_from_elsewhere() {
    for html in [
        render_html(&full_report()),
        render_html(&hostile_everywhere()),
    ] {
        for forbidden in [
            "src=", "<link", "<script", "<img", "<iframe", "<object", "url(", "@import", "http://",
            "https://",
        ] {
            assert!(!html.contains(forbidden), "found {forbidden:?}");
        }
        for (i, _) in html.match_indices("href=\"") {
            assert!(html[i + 6..].starts_with('#'), "off-page link at {i}");
        }
        assert!(
            html.contains(
                "content=\"default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;"
            )
        );
    }
}

#[test]
fn the_page_is_an_accessible_html5_document() {
    let html = render_html(&full_report());
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(html.contains("@media print"));
    assert!(html.contains("<th scope=\"col\">Field</th>"));
    for svg in svgs(&html) {
        assert!(svg.contains("role=\"img\" aria-label=\""));
        assert!(svg.contains("<title>") && svg.contains("<desc>"));
    }
    for tag in [
        "section", "table", "svg", "figure", "dl", "header", "main", "footer",
    ] {
        let opened =
            html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count();
        assert_eq!(
            opened,
            html.matches(&format!("</{tag}>")).count(),
            "<{tag}> unbalanced"
        );
    }
}

#[test]
fn access_rows_show_role_and_counts() {
    let mut report = empty_report();
    report.access.push(AccessRow {
        role: Role::Auditor,
        action: "report.read".to_owned(),
        allowed: 6,
        denied: 2,
    });
    let html = render_html(&report);
    assert!(html.contains("<tr><td>auditor</td><td>report.read</td><td class=\"num\">6</td><td class=\"num\">2</td></tr>"));
}
