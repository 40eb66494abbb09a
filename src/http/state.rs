//! The state every handler and middleware shares. The lead extends it with
//! the vault and store handles.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use super::access::RouteMethod;
use super::limits::{IpLimitConfig, PrincipalLimiter, ip_limit_config};
use super::token::{TokenError, TokenVerifier};
use crate::config::Config;
use crate::domain::Actor;
use crate::vault::Vault;

/// Why a request was refused by authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialReason {
    /// 401: no, invalid or expired token.
    Unauthenticated(TokenError),
    /// 403: valid token, role not allowed on the route.
    WrongRole,
}

/// An access-denied event (SPEC §6 lists it among audited events). Holds
/// the route template, never the raw path (which may hold an id), and the
/// principal when the token was valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessDenial {
    /// The method of the refused request.
    pub method: RouteMethod,
    /// The route template, e.g. `/v1/records/{id}`.
    pub route: &'static str,
    /// The principal, when the token was valid (403).
    pub actor: Option<Actor>,
    /// Why.
    pub reason: DenialReason,
}

/// Receives access-denied events. The default writes a tracing event; the
/// lead plugs the audit log in here. Called on the request's task: an
/// implementation must not block for long (append to a channel or a
/// buffered log, do not flush to disk inline).
pub trait AccessDenialSink: Send + Sync + 'static {
    /// Records one refusal.
    fn access_denied(&self, denial: &AccessDenial);
}

/// The default sink: one `warn` event per refusal, without any token.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogDenials;

impl AccessDenialSink for LogDenials {
    fn access_denied(&self, d: &AccessDenial) {
        tracing::warn!(
            method = d.method.as_str(),
            route = d.route,
            sub = d.actor.as_ref().map(|a| a.sub.as_str()),
            role = d.actor.as_ref().map(|a| a.role.as_str()),
            reason = ?d.reason,
            "access denied"
        );
    }
}

/// Shared application state: cheap to clone (every member is an `Arc`).
#[derive(Clone)]
pub struct AppState {
    /// The resolved configuration.
    pub config: Arc<Config>,
    /// Bearer-token verification.
    pub verifier: Arc<TokenVerifier>,
    /// The Prometheus registry's handle, rendered by `GET /metrics`.
    pub metrics: PrometheusHandle,
    /// Per-principal request rate.
    pub principal_limiter: Arc<PrincipalLimiter>,
    /// Per-IP request rate (shared by every route's layer).
    pub ip_limit: IpLimitConfig,
    /// Where access-denied events go.
    pub denials: Arc<dyn AccessDenialSink>,
    /// The vault: records, keys, audit log.
    pub vault: Arc<Vault>,
    /// The data directory as the server was given it (shown in reports);
    /// empty until [`AppState::with_data_dir`] sets it.
    pub data_dir: Arc<str>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for `config`, verifying tokens with `verifier`, reporting
    /// refusals to the log until [`AppState::with_denials`] replaces the sink.
    pub fn new(
        config: Config,
        verifier: TokenVerifier,
        metrics: PrometheusHandle,
        vault: Arc<Vault>,
    ) -> Self {
        Self {
            denials: Arc::new(AuditDenials {
                vault: Arc::clone(&vault),
            }),
            vault,
            data_dir: Arc::from(""),
            principal_limiter: Arc::new(PrincipalLimiter::new(config.rate_per_principal)),
            ip_limit: ip_limit_config(config.rate_per_ip),
            config: Arc::new(config),
            verifier: Arc::new(verifier),
            metrics,
        }
    }

    /// The same state naming `data_dir` as the directory it serves (shown
    /// in the compliance report).
    pub fn with_data_dir(mut self, data_dir: &std::path::Path) -> Self {
        self.data_dir = Arc::from(data_dir.display().to_string());
        self
    }

    /// The same state reporting refusals to `sink` instead of the audit log.
    pub fn with_denials(mut self, sink: Arc<dyn AccessDenialSink>) -> Self {
        self.denials = sink;
        self
    }
}

/// The product's sink: every refusal goes to the log, and a refusal of an
/// authenticated principal (403) also becomes an `access_denied` audit
/// entry. Unauthenticated refusals (401) are not audited: anyone on the
/// network could otherwise grow the tamper-evident log without bound; they
/// are counted in the request metrics instead.
pub struct AuditDenials {
    /// The vault whose audit log receives the entries.
    pub vault: Arc<Vault>,
}

impl AccessDenialSink for AuditDenials {
    fn access_denied(&self, denial: &AccessDenial) {
        LogDenials.access_denied(denial);
        if let (Some(actor), DenialReason::WrongRole) = (&denial.actor, &denial.reason) {
            let detail = serde_json::json!({
                "method": denial.method.as_str(),
                "route": denial.route,
                "reason": "role not allowed on this route",
            });
            if let Err(e) =
                self.vault
                    .audit_access_denied(actor, detail, time::OffsetDateTime::now_utc())
            {
                tracing::error!(error = %e, "cannot audit an access denial");
            }
        }
    }
}
