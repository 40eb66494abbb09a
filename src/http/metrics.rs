//! Prometheus metrics. Labels are bounded and carry nothing a client sent:
//! the route *template* (never the raw path, which may hold an id), a known
//! method name, and the status code.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::access::RouteMethod;
use super::error::ApiError;
use super::state::AppState;

/// Requests answered, by `method`, `route` template and `status`.
pub const REQUESTS_TOTAL: &str = "phivault_http_requests_total";
/// Time to answer, by `method` and `route` template (histogram, seconds).
pub const REQUEST_DURATION: &str = "phivault_http_request_duration_seconds";

/// Histogram buckets for request latency, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A failure to set up the metrics recorder.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The exporter refused its configuration, or another recorder is installed.
    #[error("cannot install the metrics recorder: {0}")]
    Install(String),
}

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// The process-wide Prometheus recorder, installed on first call (the
/// `metrics` facade has one global recorder; servers started in one process,
/// as in the tests, share it). The caller runs [`PrometheusHandle::run_upkeep`]
/// periodically.
pub fn install_recorder() -> Result<PrometheusHandle, MetricsError> {
    let mut slot = HANDLE
        .lock()
        .map_err(|_| MetricsError::Install("recorder lock poisoned".into()))?;
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), LATENCY_BUCKETS)
        .map_err(|e| MetricsError::Install(e.to_string()))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| MetricsError::Install(e.to_string()))?;
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "HTTP requests answered, by route template and status"
    );
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route template"
    );
    *slot = Some(handle.clone());
    Ok(handle)
}

/// Middleware counting each request and timing it.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = RouteMethod::of(request.method()).map_or("OTHER", RouteMethod::as_str);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS_TOTAL, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(REQUEST_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: the Prometheus text exposition format.
pub async fn render(State(state): State<AppState>) -> Response {
    let mut body = Vec::new();
    if let Err(e) = state.metrics.render_to_write(&mut body) {
        return ApiError::internal(e).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
