//! OpenAPI 3 documents of the registered endpoints.

use serde_json::json;

use crate::registry::{Mode, Registry};

/// OpenAPI 3 document of the endpoints of `registry` under `prefix` (`/app`, `/node`,
/// `/gov`).
pub fn document(registry: &Registry, prefix: &str, title: &str) -> serde_json::Value {
    let endpoints = registry.endpoints();
    let mut paths = serde_json::Map::new();
    for e in endpoints.iter().filter(|e| e.path.starts_with(prefix)) {
        let security: Vec<serde_json::Value> = e
            .auth
            .iter()
            .filter_map(|a| a.openapi_name())
            .map(|n| json!({ n: [] }))
            .collect();
        let params: Vec<serde_json::Value> = e
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.split_once('}')).map(|(n, _)| n))
            .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": e.summary,
            "operationId": format!("{} {}", e.method, e.path),
            "responses": {
                "200": {"description": "Success"},
                "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "x-consort-mode": if e.mode == Mode::ReadOnly { "readonly" } else { "readwrite" },
        });
        if !security.is_empty() {
            op["security"] = json!(security);
        }
        if !params.is_empty() {
            op["parameters"] = json!(params);
        }
        let entry = paths.entry(e.path.clone()).or_insert_with(|| json!({}));
        entry[e.method.as_str().to_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": title, "version": env!("CARGO_PKG_VERSION")},
        "servers": [],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}}}}}
            },
            "securitySchemes": {
                "user_cert": {"type": "http", "scheme": "mutual TLS", "description": "TLS client certificate of a registered user"},
                "member_cert": {"type": "http", "scheme": "mutual TLS", "description": "TLS client certificate of a registered member"},
                "user_cose_sign1": {"type": "http", "scheme": "cose_sign1", "description": "Request body is a COSE Sign1 envelope signed by a registered user (kid = certificate fingerprint)"},
                "member_cose_sign1": {"type": "http", "scheme": "cose_sign1", "description": "Request body is a COSE Sign1 envelope signed by a registered member"},
                "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "node_cert": {"type": "http", "scheme": "mutual TLS", "description": "TLS client certificate carrying the key of a trusted node of the service"}
            }
        }
    })
}
