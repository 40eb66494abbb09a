//! The fail-closed loader: one policy file's text to a checked [`Policy`],
//! or every error found in it, each with file, line, column and field.
//!
//! The file is parsed into `toml`'s spanned document tree and walked by
//! hand (rather than deserialised with serde) so that every key and value
//! keeps its position and every refusal can point at it.
//!
//! Format:
//!
//! ```toml
//! id = "hipaa"              # must equal the file stem
//! version = "2026.1"
//! description = "…"         # optional
//! safe_harbor = true        # optional: enforce the Safe Harbor clear view
//!
//! [retention]
//! period = "P6Y"            # ISO 8601 duration
//! from = "StudyDate"        # or "ingestion"
//!
//! [fields.PatientName]      # one table per record field, all 17
//! action = "encrypt"        # keep|encrypt|pseudonymize|generalize|shift|redact
//! indexed = false           # optional, default false
//! source = "PS3.15 E.1-1 (0010,0010) Z; 45 CFR 164.514(b)(2)(i)(A)"
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use ring::digest;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Location, PolicyError};
use super::model::{FieldRule, Policy, Retention, RetentionAnchor};
use super::plan::Action;
use super::safe_harbor::clear_view_violation;
use super::{IsoDuration, evaluate};
use crate::domain::RecordField;

const TOP_KEYS: &str = "id, version, description, safe_harbor, retention, fields";
const RETENTION_KEYS: &str = "period, from";
const RULE_KEYS: &str = "action, indexed, source";

/// Collects errors while walking one file.
struct Walk<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<PolicyError>,
}

impl Walk<'_> {
    fn at(&self, span: &Range<usize>) -> Location {
        Location::of_offset(self.file, self.text, span.start)
    }

    /// A string value, or a `WrongType` error.
    fn string(&mut self, table: &str, key: &str, value: &Spanned<DeValue<'_>>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.errors.push(PolicyError::WrongType {
                    at: self.at(&value.span()),
                    table: table.to_owned(),
                    key: key.to_owned(),
                    expected: "a string",
                    found: other.type_str(),
                });
                None
            }
        }
    }

    /// A boolean value, or a `WrongType` error.
    fn boolean(&mut self, table: &str, key: &str, value: &Spanned<DeValue<'_>>) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.errors.push(PolicyError::WrongType {
                    at: self.at(&value.span()),
                    table: table.to_owned(),
                    key: key.to_owned(),
                    expected: "true or false",
                    found: other.type_str(),
                });
                None
            }
        }
    }

    /// A table value, or a `WrongType` error.
    fn table<'v, 'i>(
        &mut self,
        table: &str,
        key: &str,
        value: &'v Spanned<DeValue<'i>>,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.errors.push(PolicyError::WrongType {
                    at: self.at(&value.span()),
                    table: table.to_owned(),
                    key: key.to_owned(),
                    expected: "a table",
                    found: other.type_str(),
                });
                None
            }
        }
    }

    /// A non-empty string without control characters, for ids, versions
    /// and sources.
    fn text_value(
        &mut self,
        table: &str,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<String> {
        let s = self.string(table, key, value)?;
        if s.trim().is_empty() || s.chars().any(char::is_control) {
            self.errors.push(PolicyError::BadValue {
                at: self.at(&value.span()),
                table: table.to_owned(),
                key: key.to_owned(),
                reason: "must be non-empty text on one line".to_owned(),
            });
            return None;
        }
        Some(s)
    }

    fn missing(&mut self, span: &Range<usize>, table: &str, key: &'static str) {
        self.errors.push(PolicyError::MissingKey {
            at: self.at(span),
            table: table.to_owned(),
            key,
        });
    }

    fn unknown(&mut self, span: &Range<usize>, table: &str, key: &str, expected: &'static str) {
        self.errors.push(PolicyError::UnknownKey {
            at: self.at(span),
            table: table.to_owned(),
            key: key.to_owned(),
            expected,
        });
    }
}

/// Parses and checks one policy file.
///
/// `file` is how messages name it; `stem` is the id the file must declare
/// (its name without `.toml`). On failure, every error found is returned,
/// sorted by position; on success, every invariant of [`Policy`] holds.
pub fn parse_policy(file: &str, stem: &str, text: &str) -> Result<Policy, Vec<PolicyError>> {
    let doc = DeTable::parse(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        vec![PolicyError::Syntax {
            at: Location::of_offset(file, text, offset),
            table: enclosing_table(text, offset),
            message: e.message().trim().to_owned(),
        }]
    })?;
    let mut w = Walk {
        file,
        text,
        errors: Vec::new(),
    };
    let top = "top level";
    let start = 0..0;
    let (mut id, mut version, mut description, mut safe_harbor) = (None, None, None, false);
    let mut retention = None;
    let mut fields = None;
    let mut seen = Vec::new();
    for (key, value) in doc.get_ref().iter() {
        let name = key.get_ref().as_ref();
        seen.push(name.to_owned());
        match name {
            "id" => {
                id = w.text_value(top, name, value);
                if let Some(got) = &id
                    && got != stem
                {
                    w.errors.push(PolicyError::BadValue {
                        at: w.at(&value.span()),
                        table: top.to_owned(),
                        key: "id".to_owned(),
                        reason: format!(
                            "is `{got}` but the file is named `{stem}.toml`; they must match"
                        ),
                    });
                }
            }
            "version" => version = w.text_value(top, name, value),
            "description" => description = w.text_value(top, name, value),
            "safe_harbor" => safe_harbor = w.boolean(top, name, value).unwrap_or(false),
            "retention" => {
                if let Some(t) = w.table(top, name, value) {
                    retention = read_retention(&mut w, &value.span(), t);
                }
            }
            "fields" => {
                if let Some(t) = w.table(top, name, value) {
                    fields = Some((value.span(), t));
                }
            }
            _ => w.unknown(&key.span(), top, name, TOP_KEYS),
        }
    }
    for key in ["id", "version", "retention", "fields"] {
        if !seen.iter().any(|k| k == key) {
            w.missing(&start, top, key);
        }
    }
    let rules = match fields {
        Some((span, table)) => read_fields(&mut w, &span, table, safe_harbor),
        None => None,
    };
    let mut errors = w.errors;
    match (id, version, retention, rules, errors.is_empty()) {
        (Some(id), Some(version), Some(retention), Some(rules), true) => Ok(Policy {
            id,
            version,
            description,
            safe_harbor,
            retention,
            rules,
            sha256: hex::encode(digest::digest(&digest::SHA256, text.as_bytes())),
            origin: file.to_owned(),
        }),
        _ => {
            errors.sort_by_key(|e| e.location().map(|l| (l.line, l.column)));
            Err(errors)
        }
    }
}

/// The last `[table]` header at or before byte `offset`, as written, or
/// `top level`. A heuristic for messages only: it reads lines, not TOML.
fn enclosing_table(text: &str, offset: usize) -> String {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // Include the whole line the error is on, in case it is a header.
    let end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    text[..end]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.contains(']'))
        .and_then(|l| l.split(']').next().map(|h| format!("{h}]")))
        .unwrap_or_else(|| "top level".to_owned())
}

fn read_retention(w: &mut Walk<'_>, span: &Range<usize>, table: &DeTable<'_>) -> Option<Retention> {
    let name = "[retention]";
    let (mut period, mut anchor) = (None, None);
    let (mut saw_period, mut saw_from) = (false, false);
    for (key, value) in table.iter() {
        match key.get_ref().as_ref() {
            "period" => {
                saw_period = true;
                let Some(raw) = w.string(name, "period", value) else {
                    continue;
                };
                match IsoDuration::parse(&raw) {
                    Ok(p) => period = Some(p),
                    Err(reason) => w.errors.push(PolicyError::BadDuration {
                        at: w.at(&value.span()),
                        value: raw,
                        reason,
                    }),
                }
            }
            "from" => {
                saw_from = true;
                let Some(raw) = w.string(name, "from", value) else {
                    continue;
                };
                match raw.as_str() {
                    "StudyDate" => anchor = Some(RetentionAnchor::StudyDate),
                    "ingestion" => anchor = Some(RetentionAnchor::Ingestion),
                    _ => w.errors.push(PolicyError::BadValue {
                        at: w.at(&value.span()),
                        table: name.to_owned(),
                        key: "from".to_owned(),
                        reason: format!("is `{raw}`; expected \"StudyDate\" or \"ingestion\""),
                    }),
                }
            }
            other => w.unknown(&key.span(), name, other, RETENTION_KEYS),
        }
    }
    if !saw_period {
        w.missing(span, name, "period");
    }
    if !saw_from {
        w.missing(span, name, "from");
    }
    Some(Retention {
        period: period?,
        anchor: anchor?,
    })
}

/// Reads `[fields.*]`: one rule per record field, each checked against the
/// field's value representation, the vault's index requirements and, when
/// asked, the Safe Harbor clear view. `None` when any rule failed.
fn read_fields(
    w: &mut Walk<'_>,
    span: &Range<usize>,
    table: &DeTable<'_>,
    safe_harbor: bool,
) -> Option<[FieldRule; 17]> {
    let mut rules: BTreeMap<RecordField, FieldRule> = BTreeMap::new();
    let before = w.errors.len();
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let Ok(field) = name.parse::<RecordField>() else {
            w.errors.push(PolicyError::UnknownField {
                at: w.at(&key.span()),
                field: name.to_owned(),
            });
            continue;
        };
        let table_name = format!("[fields.{field}]");
        let Some(rule_table) = w.table("[fields]", name, value) else {
            continue;
        };
        if let Some(rule) = read_rule(
            w,
            field,
            &table_name,
            &value.span(),
            rule_table,
            safe_harbor,
        ) {
            rules.insert(field, rule);
        }
    }
    for field in RecordField::ALL {
        let tried = table
            .iter()
            .any(|(k, _)| k.get_ref().as_ref() == field.keyword());
        if !tried {
            w.errors.push(PolicyError::MissingField {
                at: w.at(span),
                field,
            });
        }
    }
    if w.errors.len() != before {
        return None;
    }
    // Every field has a rule here; the fallback is unreachable and is the
    // fail-closed action anyway.
    Some(RecordField::ALL.map(|f| {
        rules.remove(&f).unwrap_or(FieldRule {
            action: Action::Redact,
            indexed: false,
            source: String::new(),
        })
    }))
}

fn read_rule(
    w: &mut Walk<'_>,
    field: RecordField,
    table_name: &str,
    span: &Range<usize>,
    table: &DeTable<'_>,
    safe_harbor: bool,
) -> Option<FieldRule> {
    let (mut action, mut indexed, mut source) = (None, false, None);
    let mut action_span = span.clone();
    let (mut saw_action, mut saw_source) = (false, false);
    let before = w.errors.len();
    for (key, value) in table.iter() {
        match key.get_ref().as_ref() {
            "action" => {
                saw_action = true;
                action_span = value.span();
                let Some(raw) = w.string(table_name, "action", value) else {
                    continue;
                };
                action = parse_action(&raw);
                if action.is_none() {
                    w.errors.push(PolicyError::UnknownAction {
                        at: w.at(&value.span()),
                        field,
                        action: raw,
                    });
                }
            }
            "indexed" => indexed = w.boolean(table_name, "indexed", value).unwrap_or(false),
            "source" => {
                saw_source = true;
                source = w.text_value(table_name, "source", value);
            }
            other => w.unknown(&key.span(), table_name, other, RULE_KEYS),
        }
    }
    if !saw_action {
        w.missing(span, table_name, "action");
    }
    if !saw_source {
        w.missing(span, table_name, "source");
    }
    let action = action?;
    let at = w.at(&action_span);
    if let Some(reason) = not_applicable(field, action) {
        w.errors.push(PolicyError::NotApplicable {
            at: at.clone(),
            field,
            action,
            reason,
        });
    }
    // A missing index is reported only when nothing else in the rule is
    // wrong: after a typo such as `indexd`, the typo is the real cause.
    if let Some(reason) = index_requirement(field)
        && !indexed
        && w.errors.len() == before
    {
        w.errors.push(PolicyError::IndexRequired {
            at: w.at(span),
            field,
            reason,
        });
    }
    if safe_harbor && let Some(v) = clear_view_violation(field, action) {
        w.errors.push(PolicyError::SafeHarbor {
            at,
            field,
            action,
            what: v.what,
            clause: v.clause,
            allowed: v.allowed,
        });
    }
    if w.errors.len() != before {
        return None;
    }
    Some(FieldRule {
        action,
        indexed,
        source: source?,
    })
}

fn parse_action(raw: &str) -> Option<Action> {
    [
        Action::Keep,
        Action::Encrypt,
        Action::Pseudonymize,
        Action::Generalize,
        Action::Shift,
        Action::Redact,
    ]
    .into_iter()
    .find(|a| a.as_str() == raw)
}

/// Why `action` cannot apply to `field`, if it cannot.
fn not_applicable(field: RecordField, action: Action) -> Option<&'static str> {
    match action {
        Action::Generalize if !evaluate::can_generalize(field) => Some(
            "generalize is defined for dates (PatientBirthDate, StudyDate: the year), PatientAge (90+) and StudyTime (the hour)",
        ),
        Action::Shift if field.vr() != "DA" => {
            Some("shift moves dates; only DA fields (PatientBirthDate, StudyDate) take it")
        }
        _ => None,
    }
}

/// What in the vault relies on `field` being indexed, if anything.
fn index_requirement(field: RecordField) -> Option<&'static str> {
    match field {
        RecordField::PatientID => Some(
            "subject access (GDPR Art. 15) and erasure (Art. 17) find a subject's records by it",
        ),
        RecordField::SeriesInstanceUID => {
            Some("a resubmitted series replaces its record, found by this index (SPEC §1)")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
