//! The records and subject routes: ingest one or a batch, read one, and
//! subject access (GDPR Art. 15). Handlers only translate HTTP to vault
//! calls; the vault enforces the policy, the crypto and the audit.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::error::ApiError;
use super::extract::{ApiJson, Principal, PurposeOfUse};
use super::problem::ProblemDocument;
use super::state::AppState;
use crate::domain::{PatientId, Record, ValidationErrors, latest_civil_date};
use crate::store::RecordId;
use crate::vault::{IngestReceipt, IngestStatus, RecordView};

/// Optional request header naming the policy to apply instead of the
/// server's default (`default_policy`).
pub const POLICY_HEADER: &str = "compliance-policy";

/// The policy a request asks for: the header's value or the default.
fn policy_of(headers: &HeaderMap, state: &AppState) -> Result<String, ApiError> {
    match headers.get(POLICY_HEADER) {
        None => Ok(state.config.default_policy.clone()),
        Some(v) => {
            let id = v
                .to_str()
                .map_err(|_| ApiError::UnknownPolicy(String::new()))?
                .trim();
            if state.vault.policies().get(id).is_none() {
                return Err(ApiError::UnknownPolicy(id.to_owned()));
            }
            Ok(id.to_owned())
        }
    }
}

/// `201` for a new series, `200` for a replaced one.
fn status_of(receipt: &IngestReceipt) -> StatusCode {
    match receipt.status {
        IngestStatus::Created => StatusCode::CREATED,
        IngestStatus::Replaced => StatusCode::OK,
    }
}

/// Parses and ingests one record document; validation failures come back
/// as [`ApiError::Validation`] with every failing field.
async fn ingest_one(
    state: &AppState,
    principal: &Principal,
    policy: &str,
    document: &Value,
    now: OffsetDateTime,
) -> Result<IngestReceipt, ApiError> {
    let record =
        Record::from_json(document, latest_civil_date(now)).map_err(ApiError::Validation)?;
    Ok(state
        .vault
        .ingest(&record, policy, &principal.actor, now)
        .await?)
}

/// `POST /v1/records` (ingest): one record; 201 new, 200 replaced.
pub async fn submit(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(document): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let policy = policy_of(&headers, &state)?;
    let now = OffsetDateTime::now_utc();
    let started = std::time::Instant::now();
    let receipt = ingest_one(&state, &principal, &policy, &document, now).await?;
    metrics::histogram!("phivault_ingest_duration_seconds").record(started.elapsed().as_secs_f64());
    record_metrics(&receipt);
    Ok((status_of(&receipt), Json(receipt)).into_response())
}

/// Counts the stored record and the actions applied (labels are policy ids
/// and action names: bounded, never values).
fn record_metrics(receipt: &IngestReceipt) {
    metrics::counter!(
        "phivault_records_ingested_total",
        "policy" => receipt.policy.id.clone(),
        "status" => match receipt.status { IngestStatus::Created => "created", IngestStatus::Replaced => "replaced" },
    )
    .increment(1);
    for report in receipt.fields.values() {
        metrics::counter!("phivault_policy_actions_total", "action" => report.action.as_str())
            .increment(1);
    }
}

/// A validation problem about the whole body (JSON Pointer `""`).
fn whole_document_error(reason: &str) -> ApiError {
    let mut errors = ValidationErrors::default();
    errors.errors.push(crate::domain::FieldError {
        pointer: String::new(),
        reason: reason.to_owned(),
    });
    ApiError::Validation(errors)
}

/// `POST /v1/records/batch` (ingest): each record answered on its own, in
/// order: `[{"status": 201|200|4xx, "id"?, "receipt"?, "problem"?}]`.
pub async fn submit_batch(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(document): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let policy = policy_of(&headers, &state)?;
    let Value::Array(items) = document else {
        return Err(whole_document_error("a batch is a JSON array of records"));
    };
    if items.len() > state.config.batch_max_records {
        return Err(ApiError::BatchTooLarge(state.config.batch_max_records));
    }
    if items.is_empty() {
        return Err(whole_document_error("a batch holds at least one record"));
    }
    let now = OffsetDateTime::now_utc();
    // Records are ingested concurrently so that their durability waits share
    // flushes; the answers keep the submitted order.
    let answers = futures_util::future::join_all(items.iter().enumerate().map(|(i, item)| {
        let state = &state;
        let principal = &principal;
        let policy = policy.as_str();
        async move {
            match ingest_one(state, principal, policy, item, now).await {
                Ok(receipt) => {
                    record_metrics(&receipt);
                    serde_json::json!({
                        "status": status_of(&receipt).as_u16(),
                        "id": receipt.id.to_string(),
                        "receipt": receipt,
                    })
                }
                Err(e) => {
                    if matches!(e, ApiError::Internal(_)) {
                        tracing::error!(index = i, error = %e, "batch item failed");
                    }
                    let problem: ProblemDocument = match e {
                        ApiError::Validation(errors) => {
                            ApiError::Validation(errors.nested_under(&format!("/{i}"))).problem()
                        }
                        other => other.problem(),
                    };
                    serde_json::json!({ "status": problem.status, "problem": problem })
                }
            }
        }
    }))
    .await;
    Ok((StatusCode::OK, Json(Value::Array(answers))).into_response())
}

/// `GET /v1/records/{id}` (reader, Purpose-Of-Use): the record as the
/// policy left it, encrypted fields opened; the read is audited with its
/// purpose before the answer leaves.
pub async fn read(
    State(state): State<AppState>,
    principal: Principal,
    purpose: PurposeOfUse,
    Path(id): Path<String>,
) -> Result<Json<RecordView>, ApiError> {
    let id: RecordId = id.parse().map_err(|_| ApiError::NotFound)?;
    let view = state
        .vault
        .read(
            &id,
            &principal.actor,
            purpose.as_str(),
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok(Json(view))
}

/// The body of the subject routes: the subject named by its PatientID, in
/// the body so that it never appears in a URL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectRequest {
    /// The data subject's PatientID.
    #[serde(rename = "PatientID")]
    pub patient_id: PatientId,
}

/// `POST /v1/subjects/access` (reader, Purpose-Of-Use): every record of the
/// subject (GDPR Art. 15), found by blind index.
pub async fn subject_access(
    State(state): State<AppState>,
    principal: Principal,
    purpose: PurposeOfUse,
    ApiJson(body): ApiJson<SubjectRequest>,
) -> Result<Json<Value>, ApiError> {
    let views = state
        .vault
        .subject_access(
            &body.patient_id,
            &principal.actor,
            purpose.as_str(),
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok(Json(serde_json::json!({ "records": views })))
}
