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

/// The media type of problem documents (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The base of phivault's problem type URIs; a type is `<base><slug>`.
pub const PROBLEM_TYPE_BASE: &str = "https://phivault.invalid/problems/";

impl ProblemDocument {
    /// A problem of type `<base><slug>` with `title` and optional `detail`.
    pub fn new(
        status: axum::http::StatusCode,
        slug: &str,
        title: &str,
        detail: Option<String>,
    ) -> Self {
        Self {
            problem_type: format!("{PROBLEM_TYPE_BASE}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors: Vec::new(),
        }
    }

    /// A problem that says no more than its status code: `about:blank` with
    /// the status's reason phrase as title (RFC 9457 §4.2.1). Used for
    /// error responses produced by middleware without a body of their own.
    pub fn for_status(status: axum::http::StatusCode) -> Self {
        Self {
            problem_type: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_omits_empty_members() {
        let doc = ProblemDocument::for_status(axum::http::StatusCode::NOT_FOUND);
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            serde_json::json!({"type": "about:blank", "title": "Not Found", "status": 404})
        );
    }
}
