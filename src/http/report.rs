//! `GET /v1/reports/compliance` (auditor): the compliance report (SPEC §7)
//! as JSON, or as the self-contained HTML page when the client prefers
//! `text/html`. Producing it is audited (`report_produced`), and the entry
//! is durable before the report is sent.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::error::ApiError;
use super::extract::Principal;
use super::state::AppState;
use crate::report::{CONTENT_SECURITY_POLICY, produce, render_html};

/// The handler: gathers the report on a blocking thread (the audit walk is
/// O(audit entries)), makes its audit entry durable, and answers in the
/// format the `Accept` header prefers.
pub async fn compliance(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let vault = Arc::clone(&state.vault);
    let data_dir = state.data_dir.to_string();
    let actor = principal.actor;
    let now = OffsetDateTime::now_utc();
    let report = tokio::task::spawn_blocking(move || produce(&vault, &data_dir, &actor, now, None))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    state.vault.flush().await?;
    if wants_html(&headers) {
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CONTENT_SECURITY_POLICY),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            render_html(&report),
        )
            .into_response())
    } else {
        Ok(Json(report).into_response())
    }
}

/// Whether `Accept` ranks `text/html` above `application/json` (RFC 9110
/// §12.5.1: the highest `q` wins; JSON when tied, absent or unparsable).
fn wants_html(headers: &HeaderMap) -> bool {
    let mut html = 0.0f32;
    let mut json = 0.0f32;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "text/html" => html = html.max(q),
                "application/json" => json = json.max(q),
                _ => {}
            }
        }
    }
    html > 0.0 && html > json
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn html_only_when_preferred() {
        assert!(wants_html(&accept("text/html")));
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(wants_html(&accept("application/json;q=0.5, text/html")));
        assert!(!wants_html(&HeaderMap::new()));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&accept("text/html, application/json")));
        assert!(!wants_html(&accept("text/html;q=0")));
    }
}
