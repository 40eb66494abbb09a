//! Extractors the handlers take: the authenticated [`Principal`], the
//! stated [`PurposeOfUse`], and [`ApiJson`], a JSON body whose rejections
//! are problem documents.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::AppState;
use super::token::TokenError;
use crate::domain::Actor;

/// The authenticated principal of a request. The authorization middleware
/// puts it in place after checking the token and the route's role; a
/// handler on a route that was not authorised gets 401 (fail closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who acts, as the audit log names them.
    pub actor: Actor,
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthenticated(TokenError::Missing))
    }
}

/// The request header naming the purpose of a PHI read (SPEC §4).
pub const PURPOSE_OF_USE_HEADER: &str = "purpose-of-use";

/// The purpose of use stated for a PHI read: an HL7 v3 PurposeOfUse code
/// from the configured set, recorded in the read's audit entry (HIPAA
/// 164.528 accounting of disclosures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeOfUse(String);

impl PurposeOfUse {
    /// The code, e.g. `TREAT`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromRequestParts<AppState> for PurposeOfUse {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let accepted = &state.config.purpose_of_use;
        let value = parts
            .headers
            .get(PURPOSE_OF_USE_HEADER)
            .ok_or(ApiError::MissingPurposeOfUse)?;
        let unaccepted = || {
            ApiError::UnacceptedPurposeOfUse(
                accepted
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        };
        let code = value.to_str().map_err(|_| unaccepted())?.trim();
        if accepted.contains(code) {
            Ok(Self(code.to_owned()))
        } else {
            Err(unaccepted())
        }
    }
}

/// A JSON request body (`Content-Type: application/json`). Malformed JSON,
/// a wrong content type, an oversize body or a wrong shape are answered as
/// problem documents (400, 415, 413, 422) that never quote the body.
#[derive(Debug, Clone, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);
