//! The route set: mounting checks each route against the access table, and
//! [`product_routes`] is the one place where the product's routes are
//! listed. Add a route with one line there (and one in `access::ROUTES`).

use std::collections::BTreeSet;

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::handler::Handler;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use serde_json::json;

use super::access::{RouteMethod, rule_for};
use super::error::ApiError;
use super::state::AppState;

/// A route that cannot be mounted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The route is not in `access::ROUTES`, so nobody could be authorised for it.
    #[error("{method} {path} is not in the access table")]
    NotInAccessTable {
        /// The method.
        method: &'static str,
        /// The path template.
        path: String,
    },
    /// The route is already mounted.
    #[error("{method} {path} is mounted twice")]
    Duplicate {
        /// The method.
        method: &'static str,
        /// The path template.
        path: String,
    },
}

/// Routes being assembled. Every route must be in the access table and is
/// mounted once.
pub struct RouteSet {
    router: Router<AppState>,
    mounted: BTreeSet<(RouteMethod, &'static str)>,
}

impl std::fmt::Debug for RouteSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteSet")
            .field("mounted", &self.mounted)
            .finish()
    }
}

impl Default for RouteSet {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteSet {
    /// An empty set.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            mounted: BTreeSet::new(),
        }
    }

    /// Mounts `handler` for `method` on `path`; refused unless the access
    /// table lists `method path` and it is not mounted yet.
    pub fn mount<H: Handler<T, AppState>, T: 'static>(
        mut self,
        method: RouteMethod,
        path: &str,
        handler: H,
    ) -> Result<Self, RouteError> {
        let rule = rule_for(method, path).ok_or_else(|| RouteError::NotInAccessTable {
            method: method.as_str(),
            path: path.to_owned(),
        })?;
        if !self.mounted.insert((method, rule.path)) {
            return Err(RouteError::Duplicate {
                method: method.as_str(),
                path: path.to_owned(),
            });
        }
        // The path comes from the access table, whose templates are valid
        // (a test mounts every one), and the method is new for it, so axum's
        // overlap check cannot fire.
        let filter = match method {
            RouteMethod::Get => MethodFilter::GET,
            RouteMethod::Post => MethodFilter::POST,
            RouteMethod::Put => MethodFilter::PUT,
            RouteMethod::Delete => MethodFilter::DELETE,
        };
        self.router = self.router.route(rule.path, on(filter, handler));
        Ok(self)
    }

    /// Mounts `handler` for `GET` (and `HEAD`) on `path`.
    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &str,
        handler: H,
    ) -> Result<Self, RouteError> {
        self.mount(RouteMethod::Get, path, handler)
    }

    /// Mounts `handler` for `POST` on `path`.
    pub fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &str,
        handler: H,
    ) -> Result<Self, RouteError> {
        self.mount(RouteMethod::Post, path, handler)
    }

    /// Mounts `handler` for `PUT` on `path`.
    pub fn put<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &str,
        handler: H,
    ) -> Result<Self, RouteError> {
        self.mount(RouteMethod::Put, path, handler)
    }

    /// Mounts `handler` for `DELETE` on `path`.
    pub fn delete<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &str,
        handler: H,
    ) -> Result<Self, RouteError> {
        self.mount(RouteMethod::Delete, path, handler)
    }

    /// Whether `method path` is mounted.
    pub fn is_mounted(&self, method: RouteMethod, path: &str) -> bool {
        self.mounted.iter().any(|(m, p)| *m == method && *p == path)
    }

    /// The assembled router, still needing its state.
    pub(super) fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// The product's routes. The lead adds the records, subjects, reports and
/// audit routes here, one line each, e.g.
/// `.post("/v1/records", records::submit)?`.
pub fn product_routes() -> Result<RouteSet, RouteError> {
    RouteSet::new()
        .get("/healthz", healthz)?
        .get("/metrics", super::metrics::render)?
        .get("/openapi.json", openapi)?
        .get("/v1/schemas", list_schemas)?
        .get("/v1/schemas/{name}", one_schema)?
        .post("/v1/records", super::records::submit)?
        .post("/v1/records/batch", super::records::submit_batch)?
        .get("/v1/records/{id}", super::records::read)?
        .post("/v1/subjects/access", super::records::subject_access)?
        .get("/v1/reports/compliance", super::report::compliance)?
        .put("/v1/records/{id}/hold", super::admin::place_hold)?
        .delete("/v1/records/{id}/hold", super::admin::release_hold)?
        .post("/v1/subjects/erasure", super::admin::erasure)?
        .get("/v1/audit", super::admin::audit_list)?
        .post("/v1/audit/verify", super::admin::audit_verify)?
        .post("/v1/audit/sign", super::admin::audit_sign)?
        .post("/v1/admin/purge", super::admin::purge)?
        .post("/v1/admin/keys/rotate", super::admin::keys_rotate)?
        .get("/v1/admin/keys", super::admin::keys_status)?
        .get("/v1/admin/records/{id}/stored", super::admin::record_stored)
}

/// `GET /healthz`: the process is up and serving.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /openapi.json`.
async fn openapi() -> Json<&'static serde_json::Value> {
    Json(super::openapi::document())
}

/// `GET /v1/schemas`: the name, `$id` and link of every published schema.
async fn list_schemas() -> Json<serde_json::Value> {
    let schemas: Vec<_> = crate::schema::all()
        .into_iter()
        .map(|s| {
            json!({
                "name": s.name,
                "$id": s.schema.get("$id"),
                "href": format!("/v1/schemas/{}", s.name),
            })
        })
        .collect();
    Json(json!({ "schemas": schemas }))
}

/// `GET /v1/schemas/{name}`: one schema, as `application/schema+json`.
async fn one_schema(Path(name): Path<String>) -> Result<Response, ApiError> {
    let schema = crate::schema::all()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or(ApiError::NotFound)?;
    let body = crate::schema::to_file_bytes(&schema.schema).map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/schema+json"),
        )],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn noop() {}

    #[test]
    fn mounting_outside_the_table_or_twice_is_refused() {
        assert!(matches!(
            RouteSet::new().get("/v1/secret", noop),
            Err(RouteError::NotInAccessTable { .. })
        ));
        assert!(matches!(
            RouteSet::new().post("/v1/schemas", noop),
            Err(RouteError::NotInAccessTable { .. })
        ));
        let twice = RouteSet::new()
            .get("/healthz", noop)
            .and_then(|r| r.get("/healthz", noop));
        assert!(matches!(twice, Err(RouteError::Duplicate { .. })));
    }

    #[test]
    fn every_table_route_can_be_mounted() {
        let mut set = RouteSet::new();
        for rule in super::super::access::ROUTES {
            set = set.mount(rule.method, rule.path, noop).unwrap();
        }
        let _router: Router = set.into_router().with_state::<()>(test_state());
    }

    fn test_state() -> AppState {
        let dir = tempfile::tempdir().unwrap();
        let data = crate::config::DataDir::new(dir.path());
        data.prepare(false).unwrap();
        let config = crate::config::Config::defaults().unwrap();
        let verifier = super::super::TokenVerifier::new(&config.jwt, &data.jwt_secret()).unwrap();
        let metrics = super::super::metrics::install_recorder().unwrap();
        let (vault, _) =
            crate::vault::Vault::open(dir.path(), crate::policy::PolicySet::embedded().unwrap())
                .unwrap();
        AppState::new(config, verifier, metrics, std::sync::Arc::new(vault))
    }
}
