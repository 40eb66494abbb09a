//! Holds, erasure, the audit log, and the admin API that the commands use
//! when a server holds the database (SPEC §4, §5). Handlers translate HTTP
//! to vault calls; long blocking work (purge, rotation, verification) runs
//! on the blocking pool, never on an async worker.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::error::ApiError;
use super::extract::{ApiJson, Principal};
use super::records::SubjectRequest;
use super::state::AppState;
use crate::audit::{AuditAction, AuditContext};
use crate::domain::{FieldError, ValidationErrors};
use crate::store::{RecordId, StoredRecord};
use crate::vault::{
    AUDIT_PAGE_MAX, AuditVerification, HoldReason, HoldView, KeyStatus, PurgeSummary,
    RotationSummary, SignedHeadView, SignedReceipt, Vault, VaultError,
};

/// The default number of audit entries per page.
pub const AUDIT_PAGE_DEFAULT: usize = 100;

/// A record id from the path; one that does not parse names no record.
fn record_id(id: &str) -> Result<RecordId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// One validation error at `pointer`.
fn invalid(pointer: &str, reason: &str) -> ApiError {
    let mut errors = ValidationErrors::default();
    errors.errors.push(FieldError {
        pointer: pointer.to_owned(),
        reason: reason.to_owned(),
    });
    ApiError::Validation(errors)
}

/// Runs blocking vault work on the blocking pool.
async fn blocking<T: Send + 'static>(
    vault: &Arc<Vault>,
    work: impl FnOnce(&Vault) -> Result<T, VaultError> + Send + 'static,
) -> Result<T, ApiError> {
    let vault = Arc::clone(vault);
    tokio::task::spawn_blocking(move || work(&vault))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// The body of `PUT /v1/records/{id}/hold`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Why (1–200 characters, no control characters; not PHI).
    pub reason: String,
}

/// `PUT /v1/records/{id}/hold` (admin): places a legal hold; 404 for an
/// unknown record.
pub async fn place_hold(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HoldRequest>,
) -> Result<Json<HoldView>, ApiError> {
    let id = record_id(&id)?;
    let reason = HoldReason::parse(&body.reason).map_err(|e| invalid("/reason", &e.to_string()))?;
    Ok(Json(
        state
            .vault
            .place_hold(&id, reason, &principal.actor, OffsetDateTime::now_utc())
            .await?,
    ))
}

/// `DELETE /v1/records/{id}/hold` (admin): releases it; 404 for an unknown
/// record, 409 when it is not held.
pub async fn release_hold(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<HoldView>, ApiError> {
    let id = record_id(&id)?;
    Ok(Json(
        state
            .vault
            .release_hold(&id, &principal.actor, OffsetDateTime::now_utc())
            .await?,
    ))
}

/// `POST /v1/subjects/erasure` (admin): erases the subject (GDPR Art. 17)
/// and answers with the signed receipt; 409 naming the held records, 404
/// when the subject has no record.
pub async fn erasure(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<SubjectRequest>,
) -> Result<Json<SignedReceipt>, ApiError> {
    Ok(Json(
        state
            .vault
            .erase_subject(
                &body.patient_id,
                &principal.actor,
                OffsetDateTime::now_utc(),
            )
            .await?,
    ))
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The first seq (default 1).
    pub from: Option<u64>,
    /// Entries per page (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// `GET /v1/audit?from=SEQ&limit=N` (auditor): entries in seq order and the
/// `next` seq to ask for. The read itself is audited (`audit_read`, one
/// entry per request).
pub async fn audit_list(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|_| invalid("", "from and limit are integers"))?;
    let limit = query.limit.unwrap_or(AUDIT_PAGE_DEFAULT);
    if limit == 0 || limit > AUDIT_PAGE_MAX {
        return Err(invalid("/limit", "limit is 1-1000"));
    }
    let from = query.from.unwrap_or(1);
    let page = state.vault.audit_page(from, limit)?;
    state
        .vault
        .store()
        .append_audit(
            AuditContext {
                time: OffsetDateTime::now_utc(),
                actor: principal.actor.clone(),
                subject: None,
                purpose: None,
                detail: Some(json!({ "from": from, "count": page.entries.len() })),
            }
            .into_draft(AuditAction::AuditRead, None),
        )
        .map_err(|e| ApiError::from(VaultError::from(e)))?;
    state.vault.flush().await?;
    Ok(Json(json!({ "entries": page.entries, "next": page.next })))
}

/// `POST /v1/audit/verify` (auditor): verifies the whole chain and every
/// signed head.
pub async fn audit_verify(
    State(state): State<AppState>,
) -> Result<Json<AuditVerification>, ApiError> {
    Ok(Json(blocking(&state.vault, Vault::verify_audit).await?))
}

/// `POST /v1/audit/sign` (admin): signs the chain head now (SPEC §6 "on
/// demand").
pub async fn audit_sign(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<SignedHeadView>, ApiError> {
    let actor = principal.actor;
    Ok(Json(
        blocking(&state.vault, move |v| {
            v.sign_chain_head(&actor, OffsetDateTime::now_utc())
        })
        .await?,
    ))
}

/// The body of `POST /v1/admin/purge`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    /// The time to purge as of (RFC 3339); now when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub as_of: Option<OffsetDateTime>,
    /// Count only; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /v1/admin/purge` (admin): the purge of `phivault purge`.
pub async fn purge(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<PurgeRequest>,
) -> Result<Json<PurgeSummary>, ApiError> {
    let as_of = body.as_of.unwrap_or_else(OffsetDateTime::now_utc);
    let actor = principal.actor;
    Ok(Json(
        blocking(&state.vault, move |v| {
            v.purge(as_of, body.dry_run, &actor, &mut |_, _| {})
        })
        .await?,
    ))
}

/// `POST /v1/admin/keys/rotate` (admin): `phivault keys rotate`.
pub async fn keys_rotate(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<RotationSummary>, ApiError> {
    let actor = principal.actor;
    Ok(Json(
        blocking(&state.vault, move |v| {
            v.rotate_keys(&actor, OffsetDateTime::now_utc(), &mut |_| {})
        })
        .await?,
    ))
}

/// `GET /v1/admin/keys` (admin): `phivault keys status` (no key material).
pub async fn keys_status(State(state): State<AppState>) -> Result<Json<KeyStatus>, ApiError> {
    Ok(Json(blocking(&state.vault, Vault::key_status).await?))
}

/// `GET /v1/admin/records/{id}/stored` (auditor): the record exactly as
/// stored (ciphertexts, pseudonyms, key ids); nothing is decrypted.
pub async fn record_stored(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StoredRecord>, ApiError> {
    let id = record_id(&id)?;
    state
        .vault
        .store()
        .get_record(&id)
        .map_err(|e| ApiError::from(VaultError::from(e)))?
        .map(Json)
        .ok_or(ApiError::NotFound)
}
