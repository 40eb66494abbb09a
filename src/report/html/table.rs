//! Tables and figures for the page, built from typed cells so that every
//! value is escaped on the way out and no caller writes raw markup.

use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::escape::Esc;
use crate::policy::Action;

/// One table cell. Each variant is printed escaped.
pub(crate) enum Cell {
    /// Plain text.
    Text(String),
    /// A hash, key or signature: monospace, broken anywhere.
    Code(String),
    /// A short code such as a DICOM tag: monospace, never broken.
    Fixed(String),
    /// A count, right-aligned.
    Num(u64),
    /// An instant, printed in RFC 3339 UTC.
    Time(OffsetDateTime),
    /// A policy action, as a coloured tag.
    Action(Action),
    /// Yes or no.
    Flag(bool),
}

/// An instant as RFC 3339 in UTC, e.g. `2026-12-04T15:37:07Z`. A time that
/// RFC 3339 cannot represent (a year outside 0000–9999) is shown as such
/// rather than failing the whole page.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "(time out of RFC 3339 range)".to_owned())
}

impl Cell {
    /// The cell's class attribute, if it has one.
    fn class(&self) -> Option<&'static str> {
        match self {
            Self::Num(_) => Some("num"),
            Self::Time(_) => Some("time"),
            _ => None,
        }
    }

    /// Writes the cell's content, escaped, without the enclosing element.
    fn write_content(&self, out: &mut String) {
        let _ = match self {
            Self::Text(text) => write!(out, "{}", Esc(text)),
            Self::Code(text) => write!(out, "<code>{}</code>", Esc(text)),
            Self::Fixed(text) => write!(out, "<code class=\"fixed\">{}</code>", Esc(text)),
            Self::Num(n) => write!(out, "{}", Esc(n)),
            Self::Time(at) => write!(out, "{}", Esc(timestamp(*at))),
            Self::Action(action) => write!(
                out,
                "<span class=\"action action-{name}\">{name}</span>",
                name = Esc(action.as_str())
            ),
            Self::Flag(flag) => write!(out, "{}", Esc(if *flag { "yes" } else { "no" })),
        };
    }

    /// Writes the cell as a `<td>`.
    fn write_td(&self, out: &mut String) {
        match self.class() {
            Some(class) => {
                let _ = write!(out, "<td class=\"{}\">", Esc(class));
            }
            None => out.push_str("<td>"),
        }
        self.write_content(out);
        out.push_str("</td>");
    }
}

/// Writes a table with a caption and column headers, or the `empty`
/// sentence when there are no rows.
pub(crate) fn table(
    out: &mut String,
    caption: &str,
    head: &[&str],
    rows: &[Vec<Cell>],
    empty: &str,
) {
    if rows.is_empty() {
        let _ = write!(out, "<p class=\"empty\">{}</p>", Esc(empty));
        return;
    }
    let _ = write!(out, "<table><caption>{}</caption><thead><tr>", Esc(caption));
    for name in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", Esc(name));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            cell.write_td(out);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// A key figure: a label and a value, optionally flagged as an alert.
pub(crate) struct Figure {
    /// What the figure counts.
    pub label: &'static str,
    /// The figure.
    pub value: String,
    /// Drawn in the alert style when true.
    pub alert: bool,
}

/// Writes key figures as a description list of labelled boxes.
pub(crate) fn figures(out: &mut String, figures: &[Figure]) {
    out.push_str("<dl class=\"figures\">");
    for figure in figures {
        let _ = write!(
            out,
            "<div class=\"figure{alert}\"><dt>{label}</dt><dd>{value}</dd></div>",
            alert = if figure.alert { " alert" } else { "" },
            label = Esc(figure.label),
            value = Esc(&figure.value),
        );
    }
    out.push_str("</dl>");
}

/// Writes label–value pairs as a two-column description list.
pub(crate) fn pairs(out: &mut String, pairs: &[(&str, Cell)]) {
    out.push_str("<dl class=\"pairs\">");
    for (label, cell) in pairs {
        let _ = write!(out, "<dt>{}</dt><dd>", Esc(label));
        cell.write_content(out);
        out.push_str("</dd>");
    }
    out.push_str("</dl>");
}
