//! The middleware stack around the routes, outermost first: sensitive
//! `Authorization` header, request id, trace, metrics, problem documents for
//! bare error statuses, per-IP rate limit, timeout, authorization, and
//! body limit.

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::error::{ApiError, problem_response};
use super::problem::{PROBLEM_JSON, ProblemDocument};
use super::routes::RouteSet;
use super::state::AppState;
use super::{auth, limits, metrics};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The application: `routes` with the fallback and the middleware stack,
/// bound to `state`. Serve it with connect info (see [`super::serve`]).
pub fn app(state: AppState, routes: RouteSet) -> Router {
    let config = &state.config;
    let stack = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        .layer(middleware::from_fn(drop_client_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
        .layer(middleware::from_fn(metrics::track))
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(limits::ip_limit_layer(state.ip_limit.clone()))
        // RFC 9110 §15.5.9: the request did not complete in time.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        // Innermost: the limit wraps the body type, which only handlers read.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes));
    routes
        .into_router()
        .fallback(not_found)
        .layer(stack)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Request ids are ours: a client-sent one could carry anything into the logs.
async fn drop_client_request_id(mut request: Request, next: Next) -> Response {
    request.headers_mut().remove(REQUEST_ID);
    next.run(request).await
}

/// The request's span: method, route template and request id; never the
/// raw path or query (they may hold ids), never a header value.
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
    )
}

/// Error statuses produced by middleware without a problem body (405 from
/// the router, 408 timeout, 413 from the body limit…) get one, keeping
/// their headers (`Allow`, `Retry-After`).
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let doc = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge.problem(),
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout.problem(),
        StatusCode::NOT_FOUND => ApiError::NotFound.problem(),
        other => ProblemDocument::for_status(other),
    };
    let (mut parts, _) = response.into_parts();
    let fresh = problem_response(&doc);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.extend(fresh_parts.headers);
    Response::from_parts(parts, body).into_response()
}
