//! The retention outlook: the chart of records falling due per month, with
//! overdue records first and highlighted, and the legal holds.

use super::svg::{Bar, Caption, vertical_bars};
use super::table::{Cell, table};
use crate::report::ComplianceReport;

/// Writes the outlook chart and the holds table.
pub(crate) fn retention(out: &mut String, report: &ComplianceReport) {
    let outlook = &report.retention;
    let mut bars = Vec::with_capacity(outlook.timeline.len() + 1);
    bars.push(Bar {
        label: "overdue".to_owned(),
        value: outlook.overdue,
        alert: true,
    });
    bars.extend(outlook.timeline.iter().map(|bucket| Bar {
        label: bucket.month.clone(),
        value: bucket.due,
        alert: false,
    }));
    let desc = std::iter::once(format!("Overdue: {}", outlook.overdue))
        .chain(
            outlook
                .timeline
                .iter()
                .map(|b| format!("{}: {}", b.month, b.due)),
        )
        .collect::<Vec<_>>()
        .join("; ");
    out.push_str("<figure>");
    out.push_str(&vertical_bars(
        &bars,
        &Caption {
            title: "Retention outlook: records falling due per month",
            desc: &desc,
            empty: "No record is overdue or falls due in the outlook period.",
        },
        "records due",
    ));
    out.push_str(
        "<figcaption><span class=\"key key-alert\"></span> overdue (past retention, not held) \
         <span class=\"key\"></span> falling due that month (UTC); held records are not counted. \
         Retention ends are rounded up to the year, so records fall due on 1 January.\
         </figcaption></figure>",
    );
    let rows: Vec<Vec<Cell>> = outlook
        .holds
        .iter()
        .map(|h| {
            vec![
                Cell::Code(h.record_id.clone()),
                Cell::Text(h.reason.clone()),
                Cell::Text(h.placed_by.clone()),
                Cell::Time(h.placed_at),
                Cell::Time(h.retain_until),
            ]
        })
        .collect();
    out.push_str("<h3>Legal holds</h3>");
    table(
        out,
        "Records under legal hold (purge and erasure suspended)",
        &["Record", "Reason", "Placed by", "Placed at", "Retain until"],
        &rows,
        "No record is under legal hold.",
    );
}
