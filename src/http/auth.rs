//! Authorization middleware: looks the matched route up in the access
//! table, checks the bearer token and the role, applies the per-principal
//! rate limit, and hands the principal to the handler as an extension.
//! Fails closed: a matched route absent from the table is refused.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::access::{Access, RouteMethod, allow_header, rule_for};
use super::error::ApiError;
use super::extract::Principal;
use super::state::{AccessDenial, AppState, DenialReason};
use super::token::TokenError;

/// The bearer token of a request (RFC 6750 §2.1; the scheme name is
/// case-insensitive, RFC 9110 §11.1).
fn bearer_token(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The authorization middleware (installed by [`super::app`] on every route).
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // No matched path: the fallback answers 404, nothing to authorise.
    let Some(path) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return next.run(request).await;
    };
    let method = RouteMethod::of(request.method());
    let Some(rule) = method.and_then(|m| rule_for(m, &path)) else {
        return ApiError::MethodNotAllowed(allow_header(&path)).into_response();
    };
    let required = match rule.access {
        Access::Public => return next.run(request).await,
        Access::AnyRole => None,
        Access::Only(role) => Some(role),
    };
    let deny = |actor, reason| {
        state.denials.access_denied(&AccessDenial {
            method: rule.method,
            route: rule.path,
            actor,
            reason,
        });
    };
    let verified = match bearer_token(&request) {
        None => Err(TokenError::Missing),
        Some(token) => state.verifier.verify(token),
    };
    let actor = match verified {
        Ok(actor) => actor,
        Err(e) => {
            deny(None, DenialReason::Unauthenticated(e));
            return ApiError::Unauthenticated(e).into_response();
        }
    };
    if let Some(role) = required
        && actor.role != role
    {
        let refused = actor.role;
        deny(Some(actor), DenialReason::WrongRole);
        return ApiError::Forbidden(refused).into_response();
    }
    if let Err(secs) = state.principal_limiter.check(&actor.sub) {
        return ApiError::TooManyRequests(secs).into_response();
    }
    request.extensions_mut().insert(Principal { actor });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> Request {
        Request::builder()
            .header(header::AUTHORIZATION, value)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(bearer_token(&with_auth("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with_auth("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with_auth("Basic abc")), None);
        assert_eq!(bearer_token(&with_auth("Bearer ")), None);
        assert_eq!(bearer_token(&with_auth("Bearerabc")), None);
    }
}
