//! Why a policy was refused. Every refusal names the file, the line and
//! column, and the record field or key concerned, so that the compliance
//! officer who edits the file can go straight to it (SPEC §2, fail closed).
//!
//! Policy files hold no PHI, so their values may appear in messages.

use std::fmt;
use std::path::PathBuf;

use super::DurationError;
use super::plan::Action;
use crate::domain::RecordField;

/// A position in a policy file: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it (a path, or `compliance/NAME.toml` for
    /// a policy embedded in the binary).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (clamped to its end).
    pub fn of_offset(file: &str, text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self {
            file: file.to_owned(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A policy refused by the loader, or a policy directory that cannot be
/// read. Any of these stops the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy directory cannot be listed.
    #[error("{}: cannot read the policy directory: {source}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A policy file cannot be read.
    #[error("{}: cannot read the policy file: {source}", file.display())]
    ReadFile {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A policy file is not UTF-8 (TOML 1.0 §"Spec": a TOML file must be).
    #[error("{}: a policy file must be UTF-8 text", file.display())]
    NotUtf8 {
        /// The file.
        file: PathBuf,
    },
    /// The directory holds no `*.toml` file: running without any policy
    /// would store records under no rule at all.
    #[error("{}: no policy files (*.toml); refusing to run without a policy", dir.display())]
    NoPolicies {
        /// The directory.
        dir: PathBuf,
    },
    /// The file is not valid TOML.
    #[error("{at}: {table}: TOML syntax error: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The table header above the error (`[fields.PatientName]`), so
        /// the message names the field even when the file does not parse;
        /// `top level` above the first header.
        table: String,
        /// The parser's explanation.
        message: String,
    },
    /// A required key is missing.
    #[error("{at}: {table}: missing key `{key}`")]
    MissingKey {
        /// The table that should hold it.
        at: Location,
        /// `top level`, `[retention]` or `[fields.NAME]`.
        table: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key the format does not define (a typo such as `indexd` must not
    /// silently turn a blind index off).
    #[error("{at}: {table}: unknown key `{key}` (expected one of: {expected})")]
    UnknownKey {
        /// Where the key is.
        at: Location,
        /// The table holding it.
        table: String,
        /// The key.
        key: String,
        /// The keys that table accepts.
        expected: &'static str,
    },
    /// A value of the wrong TOML type.
    #[error("{at}: {table}: `{key}` must be {expected}, not {found}")]
    WrongType {
        /// Where the value is.
        at: Location,
        /// The table holding it.
        table: String,
        /// The key.
        key: String,
        /// What the format wants.
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A value that breaks a rule of the format (an empty id, an id that
    /// does not match the file name…).
    #[error("{at}: {table}: `{key}` {reason}")]
    BadValue {
        /// Where the value is.
        at: Location,
        /// The table holding it.
        table: String,
        /// The key.
        key: String,
        /// The broken rule.
        reason: String,
    },
    /// A record field has no rule.
    #[error(
        "{at}: field {field}: no rule; every record field needs exactly one action (add a [fields.{field}] table)"
    )]
    MissingField {
        /// The `[fields]` table, or the top of the file.
        at: Location,
        /// The field left without a rule.
        field: RecordField,
    },
    /// A rule names no record field (SPEC §1 lists them).
    #[error(
        "{at}: field {field}: unknown field; a record holds only the DICOM keywords of SPEC §1"
    )]
    UnknownField {
        /// Where the rule is.
        at: Location,
        /// The name as written.
        field: String,
    },
    /// An action that does not exist.
    #[error(
        "{at}: field {field}: unknown action `{action}` (expected keep, encrypt, pseudonymize, generalize, shift or redact)"
    )]
    UnknownAction {
        /// Where the action is.
        at: Location,
        /// The field.
        field: RecordField,
        /// The action as written.
        action: String,
    },
    /// An action the field's value representation cannot take.
    #[error("{at}: field {field}: `{}` does not apply to a {} field: {reason}", action.as_str(), field.vr())]
    NotApplicable {
        /// Where the action is.
        at: Location,
        /// The field.
        field: RecordField,
        /// The action.
        action: Action,
        /// Which fields can take it.
        reason: &'static str,
    },
    /// A field the vault must find records by is not indexed.
    #[error("{at}: field {field}: must be `indexed = true`: {reason}")]
    IndexRequired {
        /// Where the rule is.
        at: Location,
        /// The field.
        field: RecordField,
        /// What relies on the index.
        reason: &'static str,
    },
    /// Under `safe_harbor = true`, a rule that would leave a Safe Harbor
    /// identifier readable without decryption.
    #[error(
        "{at}: field {field}: `{}` leaves {what} readable in the clear, which the Safe Harbor method forbids (45 CFR 164.514(b)(2)(i)({clause})); use {allowed}",
        action.as_str()
    )]
    SafeHarbor {
        /// Where the action is.
        at: Location,
        /// The field.
        field: RecordField,
        /// The action.
        action: Action,
        /// What the clear value would reveal.
        what: &'static str,
        /// The identifier clause, `A` to `R`.
        clause: &'static str,
        /// The actions that would be accepted.
        allowed: &'static str,
    },
    /// The retention period is not an accepted ISO 8601 duration.
    #[error("{at}: [retention]: bad period `{value}`: {reason}")]
    BadDuration {
        /// Where the period is.
        at: Location,
        /// The period as written.
        value: String,
        /// The broken rule.
        reason: DurationError,
    },
}

impl PolicyError {
    /// Where in a policy file the error is, when it is about one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::ReadDir { .. }
            | Self::ReadFile { .. }
            | Self::NotUtf8 { .. }
            | Self::NoPolicies { .. } => None,
            Self::Syntax { at, .. }
            | Self::MissingKey { at, .. }
            | Self::UnknownKey { at, .. }
            | Self::WrongType { at, .. }
            | Self::BadValue { at, .. }
            | Self::MissingField { at, .. }
            | Self::UnknownField { at, .. }
            | Self::UnknownAction { at, .. }
            | Self::NotApplicable { at, .. }
            | Self::IndexRequired { at, .. }
            | Self::SafeHarbor { at, .. }
            | Self::BadDuration { at, .. } => Some(at),
        }
    }
}

/// Every error found while loading a policy set, in file order and, within
/// a file, in order of position. Never empty.
#[derive(Debug, thiserror::Error)]
#[error("{}", summary(.0))]
pub struct PolicyErrors(pub Vec<PolicyError>);

fn summary(errors: &[PolicyError]) -> String {
    match errors {
        [] => "no error".to_owned(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!(
            "{first} (and {} more error(s); run `phivault policy check DIR` to list them)",
            rest.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based_in_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(Location::of_offset("f", text, 0).to_string(), "f:1:1");
        assert_eq!(Location::of_offset("f", text, 6).to_string(), "f:2:1");
        // `é` is two bytes but one column.
        assert_eq!(Location::of_offset("f", text, 9).to_string(), "f:2:3");
        assert_eq!(Location::of_offset("f", text, 999).line, 3);
    }
}
