//! RFC 9457 problem documents (`application/problem+json`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::FieldError;

/// An RFC 9457 problem document. Every error the API returns has this shape;
/// its text never contains a submitted value (values may be PHI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "Problem",
    description = "RFC 9457 problem details, as every phivault error is answered."
)]
pub struct ProblemDocument {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// An explanation specific to this occurrence, without PHI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every failing field, with its JSON Pointer, for validation problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldErrorDocument>,
}

/// One failing field of a validation problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldErrorDocument {
    /// JSON Pointer (RFC 6901) to the failing member of the request body.
    pub pointer: String,
    /// The rule the value broke, without the value.
    pub reason: String,
}

impl From<FieldError> for FieldErrorDocument {
    fn from(e: FieldError) -> Self {
        Self {
            pointer: e.pointer,
            reason: e.reason,
        }
    }
}
