//! The access table: every route of SPEC §4 with the one role allowed to
//! use it. Authorization reads only this table, the router refuses to mount
//! a route missing from it, and the OpenAPI document is generated from it,
//! so the three cannot disagree.

use axum::http::Method;

use crate::domain::Role;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (liveness, metrics, the API description).
    Public,
    /// Any valid token, whatever its role.
    AnyRole,
    /// A valid token with exactly this role.
    Only(Role),
}

/// The methods the API uses. HEAD is answered as GET and authorised as GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteMethod {
    /// GET (and HEAD).
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl RouteMethod {
    /// The method's name, upper case as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    /// The table method a request method is authorised as; `None` for any
    /// method the API never serves.
    pub fn of(method: &Method) -> Option<Self> {
        match *method {
            Method::GET | Method::HEAD => Some(Self::Get),
            Method::POST => Some(Self::Post),
            Method::PUT => Some(Self::Put),
            Method::DELETE => Some(Self::Delete),
            _ => None,
        }
    }
}

/// One route: method, path template (axum syntax, `{id}`), who may use it,
/// and what the OpenAPI document says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRule {
    /// The method.
    pub method: RouteMethod,
    /// The path template, as mounted and as used for metrics labels.
    pub path: &'static str,
    /// Who may use it.
    pub access: Access,
    /// Whether the route returns decrypted PHI and so needs a
    /// `Purpose-Of-Use` header (SPEC §4; HIPAA 164.528 accounting).
    pub purpose_of_use: bool,
    /// One line for the API description.
    pub summary: &'static str,
    /// The request body's schema name in `crate::schema::all()`, if any.
    pub request_schema: Option<&'static str>,
}

const fn rule(
    method: RouteMethod,
    path: &'static str,
    access: Access,
    summary: &'static str,
) -> RouteRule {
    RouteRule {
        method,
        path,
        access,
        purpose_of_use: false,
        summary,
        request_schema: None,
    }
}

const fn with_body(mut r: RouteRule, schema: &'static str) -> RouteRule {
    r.request_schema = Some(schema);
    r
}

const fn phi(mut r: RouteRule) -> RouteRule {
    r.purpose_of_use = true;
    r
}

use Access::{AnyRole, Only, Public};
use RouteMethod::{Delete, Get, Post, Put};

/// Every route of SPEC §4. A route not listed here cannot be mounted.
pub const ROUTES: &[RouteRule] = &[
    with_body(
        rule(Post, "/v1/records", Only(Role::Ingest), "Submit one record"),
        "record",
    ),
    with_body(
        rule(
            Post,
            "/v1/records/batch",
            Only(Role::Ingest),
            "Submit an array of records, each answered on its own",
        ),
        "record-batch",
    ),
    phi(rule(
        Get,
        "/v1/records/{id}",
        Only(Role::Reader),
        "Read a record, encrypted fields opened",
    )),
    rule(
        Put,
        "/v1/records/{id}/hold",
        Only(Role::Admin),
        "Place a legal hold on a record",
    ),
    rule(
        Delete,
        "/v1/records/{id}/hold",
        Only(Role::Admin),
        "Release a legal hold",
    ),
    phi(rule(
        Post,
        "/v1/subjects/access",
        Only(Role::Reader),
        "Subject access (GDPR Art. 15): the subject's records",
    )),
    rule(
        Post,
        "/v1/subjects/erasure",
        Only(Role::Admin),
        "Erasure (GDPR Art. 17): delete records, shred the key, signed receipt",
    ),
    rule(
        Get,
        "/v1/schemas",
        AnyRole,
        "List the published JSON Schemas",
    ),
    rule(
        Get,
        "/v1/schemas/{name}",
        AnyRole,
        "One published JSON Schema (draft 2020-12)",
    ),
    rule(
        Get,
        "/v1/reports/compliance",
        Only(Role::Auditor),
        "The policy report (JSON, or HTML with Accept: text/html)",
    ),
    rule(
        Get,
        "/v1/audit",
        Only(Role::Auditor),
        "Audit log entries, paged",
    ),
    rule(
        Post,
        "/v1/audit/verify",
        Only(Role::Auditor),
        "Verify the whole audit chain and its signed heads",
    ),
    rule(
        Post,
        "/v1/audit/sign",
        Only(Role::Admin),
        "Sign the audit chain head now",
    ),
    rule(
        Post,
        "/v1/admin/purge",
        Only(Role::Admin),
        "Purge records whose retention ended (phivault purge)",
    ),
    rule(
        Post,
        "/v1/admin/keys/rotate",
        Only(Role::Admin),
        "New master key version; re-wrap every data key",
    ),
    rule(
        Get,
        "/v1/admin/keys",
        Only(Role::Admin),
        "Key versions and how many data keys each wraps",
    ),
    rule(
        Get,
        "/v1/admin/records/{id}/stored",
        Only(Role::Auditor),
        "A record exactly as stored (ciphertexts; nothing decrypted)",
    ),
    rule(Get, "/healthz", Public, "Liveness"),
    rule(Get, "/metrics", Public, "Prometheus metrics (text format)"),
    rule(
        Get,
        "/openapi.json",
        Public,
        "This API description (OpenAPI 3.1)",
    ),
];

/// The rule for `method` on the matched path template, if the table has one.
pub fn rule_for(method: RouteMethod, path: &str) -> Option<&'static RouteRule> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

/// The `Allow` header value for a path template (RFC 9110 §10.2.1): its
/// table methods, with HEAD beside GET.
pub fn allow_header(path: &str) -> String {
    let mut methods = Vec::new();
    for r in ROUTES.iter().filter(|r| r.path == path) {
        methods.push(r.method.as_str());
        if r.method == Get {
            methods.push("HEAD");
        }
    }
    methods.join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn table_has_no_duplicates_and_every_spec_route() {
        let mut seen = HashSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "duplicate {r:?}");
        }
        // SPEC §4, as written there.
        for (m, p) in [
            (Post, "/v1/records"),
            (Post, "/v1/records/batch"),
            (Get, "/v1/records/{id}"),
            (Put, "/v1/records/{id}/hold"),
            (Delete, "/v1/records/{id}/hold"),
            (Post, "/v1/subjects/access"),
            (Post, "/v1/subjects/erasure"),
            (Get, "/v1/schemas"),
            (Get, "/v1/schemas/{name}"),
            (Get, "/v1/reports/compliance"),
            (Get, "/v1/audit"),
            (Get, "/healthz"),
            (Get, "/metrics"),
            (Get, "/openapi.json"),
        ] {
            assert!(rule_for(m, p).is_some(), "{m:?} {p} missing");
        }
    }

    #[test]
    fn roles_follow_the_spec() {
        let role = |m, p| rule_for(m, p).map(|r| r.access);
        assert_eq!(role(Post, "/v1/records"), Some(Only(Role::Ingest)));
        assert_eq!(role(Get, "/v1/records/{id}"), Some(Only(Role::Reader)));
        assert_eq!(role(Post, "/v1/subjects/erasure"), Some(Only(Role::Admin)));
        assert_eq!(role(Get, "/v1/audit"), Some(Only(Role::Auditor)));
        assert_eq!(role(Get, "/v1/schemas"), Some(AnyRole));
        assert_eq!(role(Get, "/healthz"), Some(Public));
        // Only the PHI-returning routes ask for a purpose.
        let phi: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.purpose_of_use)
            .map(|r| r.path)
            .collect();
        assert_eq!(phi, ["/v1/records/{id}", "/v1/subjects/access"]);
    }

    #[test]
    fn head_is_authorised_as_get_and_other_methods_are_unknown() {
        assert_eq!(RouteMethod::of(&Method::HEAD), Some(Get));
        assert_eq!(RouteMethod::of(&Method::OPTIONS), None);
        assert_eq!(allow_header("/v1/records/{id}/hold"), "PUT, DELETE");
        assert_eq!(allow_header("/v1/schemas"), "GET, HEAD");
    }

    #[test]
    fn request_schemas_exist() {
        let names: Vec<_> = crate::schema::all().iter().map(|s| s.name).collect();
        for r in ROUTES {
            if let Some(name) = r.request_schema {
                assert!(names.contains(&name), "{name}");
            }
        }
    }
}
