//! The OpenAPI 3.1 description, assembled from the access table (paths,
//! methods, roles, Purpose-Of-Use) and from `crate::schema::all()` (the same
//! schemars schemas that are published as JSON Schema), so it cannot drift
//! from what the server enforces.
//!
//! Why not aide's router: aide derives operations from handler types, so
//! every extractor and response type would need aide trait impls, and its
//! routes would bypass the access table. Assembling from the table keeps
//! one source of truth; the schemas are the schemars types either way.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::access::{Access, ROUTES, RouteRule};

/// The OpenAPI document, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": { "$ref": "#/components/schemas/problem" }
            }
        }
    })
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": { "type": "string" }
            })
        })
        .collect()
}

fn operation(rule: &RouteRule) -> Value {
    let mut parameters = path_parameters(rule.path);
    if rule.purpose_of_use {
        parameters.push(json!({
            "name": "Purpose-Of-Use",
            "in": "header",
            "required": true,
            "description": "HL7 v3 PurposeOfUse code (e.g. TREAT); the accepted set is configurable",
            "schema": { "type": "string", "pattern": "^[A-Z]{1,32}$" }
        }));
    }
    let mut responses = Map::new();
    responses.insert("2XX".into(), json!({ "description": "Success" }));
    let role_note = match rule.access {
        Access::Public => "No token needed.".to_owned(),
        Access::AnyRole => "Any valid bearer token.".to_owned(),
        Access::Only(role) => format!("Bearer token with role `{}`.", role.as_str()),
    };
    let mut op = Map::new();
    op.insert(
        "operationId".into(),
        format!("{} {}", rule.method.as_str(), rule.path).into(),
    );
    op.insert("summary".into(), rule.summary.into());
    op.insert("description".into(), role_note.into());
    if rule.access != Access::Public {
        op.insert("security".into(), json!([{ "bearer": [] }]));
        responses.insert(
            "401".into(),
            problem_response("Missing, invalid or expired token"),
        );
        responses.insert("429".into(), problem_response("Rate limit reached"));
    }
    if let Access::Only(role) = rule.access {
        op.insert("x-phivault-role".into(), role.as_str().into());
        responses.insert("403".into(), problem_response("Role not allowed"));
    }
    if let Some(schema) = rule.request_schema {
        op.insert(
            "requestBody".into(),
            json!({
                "required": true,
                "content": { "application/json": {
                    "schema": { "$ref": format!("#/components/schemas/{schema}") }
                }}
            }),
        );
        responses.insert("413".into(), problem_response("Body too large"));
        responses.insert("422".into(), problem_response("Validation failed"));
    }
    if rule.purpose_of_use {
        responses.insert(
            "400".into(),
            problem_response("Missing or unaccepted Purpose-Of-Use"),
        );
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), parameters.into());
    }
    op.insert("responses".into(), responses.into());
    op.into()
}

fn build() -> Value {
    let mut paths = Map::new();
    for rule in ROUTES {
        let item = paths
            .entry(rule.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(rule.method.as_str().to_ascii_lowercase(), operation(rule));
        }
    }
    let schemas: Map<String, Value> = crate::schema::all()
        .into_iter()
        .map(|s| (s.name.to_owned(), s.schema.to_value()))
        .collect();
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "phivault",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Compliance-aware vault for medical-imaging metadata. Errors are RFC 9457 problem documents (application/problem+json)."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_route_is_described_with_its_role() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        for rule in ROUTES {
            let op = &doc["paths"][rule.path][rule.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {}", rule.method.as_str(), rule.path);
            assert_eq!(op["security"].is_array(), rule.access != Access::Public);
        }
        assert_eq!(
            doc["paths"]["/v1/records"]["post"]["x-phivault-role"],
            "ingest"
        );
        assert_eq!(
            doc["paths"]["/v1/records/{id}"]["get"]["parameters"][0]["name"],
            "id"
        );
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{name}");
        }
    }
}
