//! Validation errors: which field failed, where, and why, never with the value.

use schemars::JsonSchema;
use serde::Serialize;

/// A broken value-representation rule. Its message names the rule, never the
/// value, so it is safe to log and to return to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleViolation(pub(crate) String);

impl RuleViolation {
    /// A violation described by `reason` (a rule, not a value).
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }

    /// The human-readable rule that was broken.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

/// One failing field: its JSON Pointer (RFC 6901) within the submitted
/// document and a reason a technician can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FieldError {
    /// JSON Pointer to the failing member, e.g. `/PatientBirthDate` or
    /// `/3/StudyInstanceUID` inside a batch. Empty for the whole document.
    pub pointer: String,
    /// What rule the value broke, without the value itself.
    pub reason: String,
}

/// Every failing field of a document, in document order. Never empty when
/// returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema, thiserror::Error)]
#[error("{} field(s) failed validation", .errors.len())]
pub struct ValidationErrors {
    /// The failing fields.
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    pub(crate) fn push(&mut self, pointer: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(FieldError {
            pointer: pointer.into(),
            reason: reason.into(),
        });
    }

    /// Whether no field failed.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The same errors with every pointer prefixed by `prefix` (e.g. `/3`),
    /// for documents nested in a batch.
    pub fn nested_under(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            e.pointer = format!("{prefix}{}", e.pointer);
        }
        self
    }
}
