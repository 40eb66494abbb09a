//! `ApiError`: every failure the API reports, and its RFC 9457 problem
//! document. Client errors say what to fix without echoing any submitted
//! value (values may be PHI); server errors say only that something failed,
//! and their cause goes to the log.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::problem::{FieldErrorDocument, PROBLEM_JSON, ProblemDocument};
use super::token::TokenError;
use crate::domain::{Role, ValidationErrors};

/// A boxed lower-layer error, for causes that are logged but never shown.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every failure the API reports. Each variant maps to one status code and
/// problem type; see [`ApiError::status`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no token, or an invalid or expired one (RFC 6750 §3.1).
    #[error("unauthenticated: {0}")]
    Unauthenticated(TokenError),
    /// 403: the token's role may not use this route.
    #[error("forbidden for role {}", .0.as_str())]
    Forbidden(Role),
    /// 404: no such route or resource.
    #[error("not found")]
    NotFound,
    /// 405: the route exists, not with this method. Holds the `Allow` value.
    #[error("method not allowed")]
    MethodNotAllowed(String),
    /// 400: the body is not well-formed JSON.
    #[error("malformed JSON body")]
    MalformedJson,
    /// 415: the body is not declared `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 413: the body is larger than the configured limit.
    #[error("body too large")]
    BodyTooLarge,
    /// 422: well-formed JSON that is not the expected document (wrong
    /// types, missing or unknown members).
    #[error("unexpected document shape")]
    WrongShape,
    /// 422: the document has the right shape, some values break their rules.
    /// RFC 9110 §15.5.21: the content is understood but cannot be processed.
    #[error(transparent)]
    Validation(ValidationErrors),
    /// 422: a batch holds more records than allowed. Holds the limit.
    #[error("batch too large")]
    BatchTooLarge(usize),
    /// 400: the `Purpose-Of-Use` header is missing.
    #[error("missing Purpose-Of-Use")]
    MissingPurposeOfUse,
    /// 400: the `Purpose-Of-Use` header is not an accepted code. Holds the
    /// accepted codes, comma-separated.
    #[error("unaccepted Purpose-Of-Use")]
    UnacceptedPurposeOfUse(String),
    /// 429: too many requests; retry after this many seconds.
    #[error("rate limited")]
    TooManyRequests(u64),
    /// 408: the request did not complete within the configured timeout.
    #[error("request timed out")]
    Timeout,
    /// 400: the `Compliance-Policy` header names no policy in force.
    #[error("unknown policy")]
    UnknownPolicy(String),
    /// 409: legal holds on these records stop the operation.
    #[error("under legal hold")]
    Held(Vec<String>),
    /// 409: the record has no hold to release.
    #[error("not held")]
    NotHeld,
    /// 500: a failure on our side; the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(Cause),
}

impl From<crate::vault::VaultError> for ApiError {
    fn from(e: crate::vault::VaultError) -> Self {
        use crate::vault::VaultError as V;
        match e {
            V::NotFound(_) | V::SubjectNotFound => Self::NotFound,
            V::UnknownPolicy(id) => Self::UnknownPolicy(id),
            V::Held(ids) => Self::Held(ids.iter().map(ToString::to_string).collect()),
            V::NotHeld(_) => Self::NotHeld,
            other => Self::internal(other),
        }
    }
}

impl ApiError {
    /// Wraps a lower-layer failure as a 500. Its `Display` must not contain
    /// PHI: lower layers guarantee that for their error types.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }

    /// The status code of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::MalformedJson | Self::MissingPurposeOfUse | Self::UnacceptedPurposeOfUse(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::WrongShape | Self::Validation(_) | Self::BatchTooLarge(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::UnknownPolicy(_) => StatusCode::BAD_REQUEST,
            Self::Held(_) | Self::NotHeld => StatusCode::CONFLICT,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document sent to the client.
    pub fn problem(&self) -> ProblemDocument {
        let status = self.status();
        let p = |slug, title, detail: &str| {
            ProblemDocument::new(status, slug, title, Some(detail.to_owned()))
        };
        match self {
            Self::Unauthenticated(TokenError::Missing) => p(
                "unauthenticated",
                "Authentication required",
                "send a bearer token: Authorization: Bearer <JWT>",
            ),
            Self::Unauthenticated(TokenError::Expired) => p(
                "unauthenticated",
                "Authentication required",
                "the bearer token has expired",
            ),
            Self::Unauthenticated(TokenError::Invalid) => p(
                "unauthenticated",
                "Authentication required",
                "the bearer token is not valid",
            ),
            Self::Forbidden(role) => p(
                "forbidden",
                "Forbidden",
                &format!("role {} may not use this route", role.as_str()),
            ),
            Self::NotFound => p("not-found", "Not found", "no such route or resource"),
            Self::MethodNotAllowed(allow) => p(
                "method-not-allowed",
                "Method not allowed",
                &format!("this route accepts: {allow}"),
            ),
            Self::MalformedJson => p(
                "malformed-json",
                "Malformed JSON",
                "the request body is not well-formed JSON",
            ),
            Self::UnsupportedMediaType => p(
                "unsupported-media-type",
                "Unsupported media type",
                "send the body with Content-Type: application/json",
            ),
            Self::BodyTooLarge => p(
                "body-too-large",
                "Request body too large",
                "the request body exceeds the configured limit (body_limit_bytes)",
            ),
            Self::WrongShape => p(
                "invalid-document",
                "Invalid document",
                "the JSON body does not have the expected members and types; see /v1/schemas",
            ),
            Self::Validation(errors) => {
                let mut doc = p(
                    "validation",
                    "Validation failed",
                    &format!("{} field(s) failed validation", errors.errors.len()),
                );
                doc.errors = errors
                    .errors
                    .iter()
                    .cloned()
                    .map(FieldErrorDocument::from)
                    .collect();
                doc
            }
            Self::BatchTooLarge(max) => p(
                "batch-too-large",
                "Batch too large",
                &format!("a batch holds at most {max} records (batch_max_records)"),
            ),
            Self::MissingPurposeOfUse => p(
                "purpose-of-use",
                "Purpose-Of-Use required",
                "this route returns PHI: state the purpose in a Purpose-Of-Use header (HL7 v3 PurposeOfUse code)",
            ),
            Self::UnacceptedPurposeOfUse(accepted) => p(
                "purpose-of-use",
                "Purpose-Of-Use not accepted",
                &format!("accepted Purpose-Of-Use codes: {accepted}"),
            ),
            Self::TooManyRequests(secs) => p(
                "rate-limited",
                "Too many requests",
                &format!("rate limit reached; retry after {secs} s"),
            ),
            Self::Timeout => p(
                "timeout",
                "Request timeout",
                "the request did not complete within the configured timeout",
            ),
            Self::UnknownPolicy(id) => p(
                "unknown-policy",
                "Unknown policy",
                &format!("no policy named {id:?} is in force; see GET /v1/reports/compliance"),
            ),
            Self::Held(ids) => p(
                "legal-hold",
                "Under legal hold",
                &format!("legal holds stop this operation on: {}", ids.join(", ")),
            ),
            Self::NotHeld => p(
                "not-held",
                "Not held",
                "the record has no legal hold to release",
            ),
            Self::Internal(_) => p(
                "internal",
                "Internal error",
                "the server failed to handle the request; the cause is in its log",
            ),
        }
    }
}

/// Turns a problem document into a response with its status and media type.
pub fn problem_response(doc: &ProblemDocument) -> Response {
    let status = StatusCode::from_u16(doc.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::to_vec(doc) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            body,
        )
            .into_response(),
        // Serialising strings and numbers cannot fail; answer the bare status if it does.
        Err(_) => status.into_response(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            // The cause goes to the log only; lower layers keep PHI out of it.
            tracing::error!(error = %cause, "request failed");
        }
        let mut response = problem_response(&self.problem());
        let headers = response.headers_mut();
        match &self {
            Self::Unauthenticated(reason) => {
                // RFC 6750 §3: challenge; `invalid_token` when a token was sent.
                let challenge = match reason {
                    TokenError::Missing => "Bearer realm=\"phivault\"",
                    TokenError::Expired | TokenError::Invalid => {
                        "Bearer realm=\"phivault\", error=\"invalid_token\""
                    }
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            Self::MethodNotAllowed(allow) => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    headers.insert(header::ALLOW, v);
                }
            }
            Self::TooManyRequests(secs) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
            _ => {}
        }
        response
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        // The rejection's own text quotes serde messages, which can contain
        // the offending value: it is never forwarded.
        match rejection {
            JsonRejection::JsonSyntaxError(_) => Self::MalformedJson,
            JsonRejection::JsonDataError(_) => Self::WrongShape,
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::BodyTooLarge,
            // The body could not be read (client went away, timeout): a client error.
            _ => Self::MalformedJson,
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        // An id that does not parse names no resource.
        Self::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FieldError;

    #[test]
    fn validation_errors_become_422_with_pointers() {
        let errors = ValidationErrors {
            errors: vec![
                FieldError {
                    pointer: "/PatientBirthDate".into(),
                    reason: "not a real date".into(),
                },
                FieldError {
                    pointer: "/StudyDate".into(),
                    reason: "in the future".into(),
                },
            ],
        };
        let doc = ApiError::from(errors).problem();
        assert_eq!(doc.status, 422);
        let pointers: Vec<_> = doc.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/PatientBirthDate", "/StudyDate"]);
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::internal(std::io::Error::other("disk on fire at /secret/path"));
        let doc = err.problem();
        assert_eq!(doc.status, 500);
        assert!(!serde_json::to_string(&doc).unwrap().contains("fire"));
    }

    #[test]
    fn unauthenticated_carries_a_bearer_challenge() {
        let response = ApiError::Unauthenticated(TokenError::Expired).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(challenge.starts_with("Bearer"));
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
