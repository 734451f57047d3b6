//! The OpenAPI document. paperclip collects the operations from the handlers (as OpenAPI 2) and
//! converts them to OpenAPI 3; this module adds what the conversion cannot express: the bearer
//! security schemes, `application/problem+json` error bodies, and the document's info.

use paperclip::v2::models::{DefaultApiRaw, Info};
use serde_json::{json, Map, Value};

/// Where the OpenAPI 3 document is served.
pub const SPEC_PATH: &str = "/api-docs/openapi.json";
/// Where Swagger UI is served (with a trailing slash).
pub const SWAGGER_UI_PATH: &str = "/swagger-ui";

/// The starting point of the document: its info block.
#[must_use]
pub fn base_spec() -> DefaultApiRaw {
    DefaultApiRaw {
        info: Info {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            title: "Concert reservation API".to_owned(),
            description: Some(
                "Contract v1. Every 4xx/5xx answer is application/problem+json (RFC 9457) with \
                 a stable `code` member. Users authenticate with an HS256 JWT \
                 (`Authorization: Bearer <JWT>`, 401 UNAUTHENTICATED otherwise); operators \
                 with `Authorization: Bearer <admin key>` on /api/v1/admin/* (a missing or \
                 wrong key is 403 FORBIDDEN)."
                    .to_owned(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Finishes the converted OpenAPI 3 document: bearer security schemes and problem+json error
/// bodies.
#[must_use]
pub fn finish_v3(mut doc: Value) -> Value {
    if let Some(root) = doc.as_object_mut() {
        root.insert("openapi".to_owned(), json!("3.0.3"));
        let components = root
            .entry("components")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(components) = components.as_object_mut() {
            components.insert(
                "securitySchemes".to_owned(),
                json!({
                    crate::auth::USER_SCHEME: {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "JWT",
                        "description": "HS256 JWT: `sub` is the user id (a positive integer as a string), `exp` is required. Missing or invalid: 401 UNAUTHENTICATED."
                    },
                    crate::auth::ADMIN_SCHEME: {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "The operator key. Missing or wrong: 403 FORBIDDEN."
                    }
                }),
            );
        }
        if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
            for item in paths.values_mut().filter_map(Value::as_object_mut) {
                for op in item.values_mut().filter_map(Value::as_object_mut) {
                    fix_error_media_types(op);
                    prune_error_responses(op);
                    if op.get("operationId") == Some(&json!("metrics")) {
                        document_metrics(op);
                    }
                }
            }
        }
        if let Some(schemas) = root
            .get_mut("components")
            .and_then(|c| c.get_mut("schemas"))
            .and_then(Value::as_object_mut)
        {
            schemas.values_mut().for_each(mark_optional_nullable);
        }
    }
    doc
}

/// Optional members are sent as `null` (answers) or may be `null` (requests): OpenAPI 3.0
/// needs `nullable: true` for that.
fn mark_optional_nullable(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let required: Vec<String> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, prop) in props.iter_mut() {
            if let Some(p) = prop.as_object_mut() {
                if !required.contains(name) && !p.contains_key("$ref") {
                    p.insert("nullable".to_owned(), Value::Bool(true));
                }
            }
            mark_optional_nullable(prop);
        }
    }
    if let Some(items) = obj.get_mut("items") {
        mark_optional_nullable(items);
    }
}

/// Keeps only the error answers an operation can actually give.
fn prune_error_responses(op: &mut Map<String, Value>) {
    let id = op
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let has_body = op.contains_key("requestBody");
    let params: Vec<(String, String)> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let field = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                    (field("name"), field("in"))
                })
                .collect()
        })
        .unwrap_or_default();
    let has_path_param = params.iter().any(|(_, place)| place == "path");
    let idempotent = params.iter().any(|(name, _)| name == "Idempotency-Key");
    let body_names_resources = matches!(id.as_str(), "holdSeats" | "pay");
    let conflicts = matches!(
        id.as_str(),
        "holdSeats" | "cancelReservation" | "pay" | "chargeWallet"
    );
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    responses.retain(|status, _| match status.as_str() {
        "400" => has_body || idempotent || params.iter().any(|(_, place)| place == "query"),
        "401" | "403" => secured,
        "404" => has_path_param || body_names_resources,
        "409" => conflicts,
        "413" | "415" => has_body,
        "422" => idempotent,
        "429" => id == "joinQueue",
        _ => true,
    });
}

/// `/metrics` answers Prometheus text.
fn document_metrics(op: &mut Map<String, Value>) {
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        responses.insert(
            "200".to_owned(),
            json!({
                "description": "The Prometheus text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}}
            }),
        );
    }
}

/// Error responses are `application/problem+json`, not `application/json`.
fn fix_error_media_types(op: &mut Map<String, Value>) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        if !status.starts_with('4') && !status.starts_with('5') {
            continue;
        }
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        let schema = content
            .values()
            .find_map(|media| media.get("schema").cloned());
        content.clear();
        let mut media = Map::new();
        if let Some(schema) = schema {
            media.insert("schema".to_owned(), schema);
        }
        content.insert(crate::errors::PROBLEM_JSON.to_owned(), Value::Object(media));
    }
}

/// The Swagger UI page, pointing at [`SPEC_PATH`]; its assets come from paperclip.
pub const SWAGGER_INDEX_HTML: &str = r##"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Concert reservation API — Swagger UI</title>
    <link rel="stylesheet" type="text/css" href="/swagger-ui/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/swagger-ui/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="/swagger-ui/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script>
      window.onload = function () {
        window.ui = SwaggerUIBundle({
          url: "/api-docs/openapi.json",
          dom_id: "#swagger-ui",
          deepLinking: true,
          presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
          layout: "StandaloneLayout"
        });
      };
    </script>
  </body>
</html>
"##;

/// The files paperclip's Swagger UI bundle has; asking it for any other file would panic a
/// worker, so other names are answered 404 before reaching it.
pub const SWAGGER_FILES: &[&str] = &[
    "favicon-16x16.png",
    "favicon-32x32.png",
    "index.html",
    "oauth2-redirect.html",
    "swagger-ui-bundle.js",
    "swagger-ui-bundle.js.map",
    "swagger-ui-es-bundle-core.js",
    "swagger-ui-es-bundle-core.js.map",
    "swagger-ui-es-bundle.js",
    "swagger-ui-es-bundle.js.map",
    "swagger-ui-standalone-preset.js",
    "swagger-ui-standalone-preset.js.map",
    "swagger-ui.css",
    "swagger-ui.css.map",
    "swagger-ui.js",
    "swagger-ui.js.map",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_problem_json_and_bearer_schemes_are_set() {
        let doc = json!({
            "openapi": "3.0.0",
            "paths": {"/x": {"get": {"responses": {
                "200": {"content": {"application/json": {"schema": {"type": "string"}}}},
                "503": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            }}}}
        });
        let done = finish_v3(doc);
        assert_eq!(
            done["paths"]["/x"]["get"]["responses"]["503"]["content"]["application/problem+json"]
                ["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert!(
            done["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"]
                .is_object()
        );
        assert_eq!(
            done["components"]["securitySchemes"]["userJwt"]["scheme"],
            "bearer"
        );
    }
}
