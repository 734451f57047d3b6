//! The OpenAPI document. paperclip collects the operations from the handlers (as OpenAPI 2) and
//! converts them to OpenAPI 3; this module adds what the conversion cannot express: the bearer
//! security schemes, `application/problem+json` error bodies, the document's info, and the
//! constraints the server enforces on requests (ranges, lengths, `additionalProperties: false`),
//! so that a request valid by the document is accepted and one invalid by it is refused.

use application::Settings;
use domain::{
    CONCERT_TEXT_MAX, DEFAULT_CHARGE_MAX, DEFAULT_MAX_SEATS_PER_RESERVATION,
    IDEMPOTENCY_KEY_MAX_LEN, MAX_PAGE_LIMIT, MAX_QUEUE_SETTING, MAX_SEATS_PER_SCHEDULE,
    SEAT_PRICE_MAX, SEAT_TEXT_MAX,
};
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
                 wrong key is 401 UNAUTHENTICATED, a user JWT 403 FORBIDDEN). An UNAUTHENTICATED \
                 answer carries `WWW-Authenticate: Bearer`."
                    .to_owned(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The operator-configured limits the document states (they vary with the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocLimits {
    /// Most seats in one hold (`MAX_SEATS_PER_RESERVATION`).
    pub max_seats_per_reservation: u32,
    /// Largest single charge in KRW (`CHARGE_MAX`).
    pub charge_max: i64,
}

impl DocLimits {
    /// The limits in force with `settings`.
    #[must_use]
    pub const fn from_settings(settings: &Settings) -> Self {
        Self {
            max_seats_per_reservation: settings.hold.max_seats_per_reservation(),
            charge_max: settings.wallet.charge_max().won(),
        }
    }
}

impl Default for DocLimits {
    /// The domain's default limits.
    fn default() -> Self {
        Self {
            max_seats_per_reservation: DEFAULT_MAX_SEATS_PER_RESERVATION,
            charge_max: DEFAULT_CHARGE_MAX.won(),
        }
    }
}
/// The document as checked in (`docs/openapi.json`): pretty-printed, keys sorted at every level
/// (so that the text depends only on the content), with a trailing newline.
#[must_use]
pub fn render(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(doc)).unwrap_or_default();
    text.push('\n');
    text
}

/// `value` with the members of every object in key order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(members) => {
            let ordered: std::collections::BTreeMap<&String, Value> =
                members.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// A text without NUL (PostgreSQL cannot store it) with at least one character that trimming
/// keeps: the middle class is exactly what Rust's `str::trim` (Unicode `White_Space`) does not
/// remove, minus NUL; spelled for ECMA-262 regexes.
const NOT_BLANK: &str = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$";
/// An `Idempotency-Key`: visible ASCII characters (its length is stated apart).
const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]+$";

/// Finishes the converted OpenAPI 3 document: bearer security schemes, problem+json error
/// bodies, and the request constraints (with the configured `limits`).
#[must_use]
pub fn finish_v3(mut doc: Value, limits: DocLimits) -> Value {
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
                        "description": "The operator key. Missing or wrong: 401 UNAUTHENTICATED (with `WWW-Authenticate: Bearer`); a user JWT: 403 FORBIDDEN."
                    }
                }),
            );
        }
        if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
            for item in paths.values_mut().filter_map(Value::as_object_mut) {
                for op in item.values_mut().filter_map(Value::as_object_mut) {
                    constrain_parameters(op);
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
            constrain_request_schemas(schemas, limits);
        }
    }
    doc
}

/// Merges `constraints` into `schema` (an object schema).
fn merge(schema: Option<&mut Value>, constraints: &Value) {
    if let (Some(Value::Object(target)), Value::Object(extra)) = (schema, constraints) {
        for (k, v) in extra {
            target.insert(k.clone(), v.clone());
        }
    }
}

/// The schema of property `name` of an object schema.
fn property<'a>(schema: Option<&'a mut Value>, name: &str) -> Option<&'a mut Value> {
    schema?.get_mut("properties")?.get_mut(name)
}

/// States the server's request rules in the request body schemas: every body refuses unknown
/// members (`deny_unknown_fields`), and every range, length and count the handlers check.
fn constrain_request_schemas(schemas: &mut Map<String, Value>, limits: DocLimits) {
    let closed = json!({"additionalProperties": false});
    let id = json!({"minimum": 1});
    let text = |max: usize| json!({"minLength": 1, "maxLength": max, "pattern": NOT_BLANK});
    let queue_setting = json!({"minimum": 1, "maximum": MAX_QUEUE_SETTING});
    for name in [
        "ChargeRequest",
        "CreateConcertRequest",
        "CreateScheduleRequest",
        "DemoSignInRequest",
        "HoldRequest",
        "PayRequest",
        "QueueSettingsPatchRequest",
        "SalePatchRequest",
    ] {
        merge(schemas.get_mut(name), &closed);
    }
    // The opening may be left out (it stays as it is) but not removed: `null` is 400.
    if let Some(Value::Object(opens_at)) =
        property(schemas.get_mut("SalePatchRequest"), "saleOpensAt")
    {
        opens_at.remove("nullable");
    }
    merge(
        property(schemas.get_mut("ChargeRequest"), "amount"),
        &json!({"minimum": 1, "maximum": limits.charge_max}),
    );
    merge(property(schemas.get_mut("HoldRequest"), "scheduleId"), &id);
    merge(
        property(schemas.get_mut("DemoSignInRequest"), "userId"),
        &id,
    );
    let seat_ids = property(schemas.get_mut("HoldRequest"), "seatIds");
    if let Some(seat_ids) = seat_ids {
        merge(
            Some(&mut *seat_ids),
            &json!({"minItems": 1, "maxItems": limits.max_seats_per_reservation, "uniqueItems": true}),
        );
        merge(seat_ids.get_mut("items"), &id);
    }
    for field in ["title", "venue"] {
        merge(
            property(schemas.get_mut("CreateConcertRequest"), field),
            &text(CONCERT_TEXT_MAX),
        );
    }
    if let Some(seats) = property(schemas.get_mut("CreateScheduleRequest"), "seats") {
        merge(
            Some(&mut *seats),
            &json!({"minItems": 1, "maxItems": MAX_SEATS_PER_SCHEDULE}),
        );
        let seat = seats.get_mut("items");
        if let Some(seat) = seat {
            merge(Some(&mut *seat), &closed);
            for field in ["number", "grade"] {
                merge(property(Some(&mut *seat), field), &text(SEAT_TEXT_MAX));
            }
            merge(
                property(Some(seat), "price"),
                &json!({"minimum": 0, "maximum": SEAT_PRICE_MAX.won()}),
            );
        }
    }
    for field in ["admitBatch", "maxActive"] {
        merge(
            property(schemas.get_mut("QueueSettingsPatchRequest"), field),
            &queue_setting,
        );
    }
}

/// States the parameter rules: ids in paths are positive, a page holds 1 to [`MAX_PAGE_LIMIT`]
/// items, a cursor is not empty, an `Idempotency-Key` is 1 to [`IDEMPOTENCY_KEY_MAX_LEN`] visible ASCII characters.
fn constrain_parameters(op: &mut Map<String, Value>) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for param in params {
        let name = param["name"].as_str().unwrap_or_default().to_owned();
        let place = param["in"].as_str().unwrap_or_default().to_owned();
        let constraints = match (place.as_str(), name.as_str()) {
            ("path", "concertId" | "scheduleId") => json!({"minimum": 1}),
            ("query", "limit") => json!({"minimum": 1, "maximum": MAX_PAGE_LIMIT}),
            // An empty cursor is refused (400): only a `nextCursor` the service issued is one.
            ("query", "cursor") => json!({"minLength": 1}),
            ("header", "Idempotency-Key") => {
                json!({"minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LEN, "pattern": IDEMPOTENCY_KEY_PATTERN})
            }
            _ => continue,
        };
        merge(param.get_mut("schema"), &constraints);
    }
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
        "holdSeats"
            | "cancelReservation"
            | "pay"
            | "chargeWallet"
            | "refundReservation"
            | "joinQueue"
            | "joinWaitlist"
            | "updateConcertSale"
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
    fn rendering_sorts_keys_and_ends_with_a_newline() {
        // Arrange
        let doc = json!({"b": 1, "a": {"d": [{"z": 0, "y": 1}], "c": 2}});

        // Act
        let text = render(&doc);

        // Assert
        assert_eq!(
            text,
            "{\n  \"a\": {\n    \"c\": 2,\n    \"d\": [\n      {\n        \"y\": 1,\n        \"z\": 0\n      }\n    ]\n  },\n  \"b\": 1\n}\n"
        );
    }

    #[test]
    fn error_bodies_become_problem_json_and_bearer_schemes_are_set() {
        let doc = json!({
            "openapi": "3.0.0",
            "paths": {"/x": {"get": {"responses": {
                "200": {"content": {"application/json": {"schema": {"type": "string"}}}},
                "503": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            }}}}
        });
        let done = finish_v3(doc, DocLimits::default());
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

    #[test]
    fn request_rules_are_stated_with_the_configured_limits() {
        let doc = json!({
            "openapi": "3.0.0",
            "paths": {"/x/{concertId}": {"post": {
                "parameters": [
                    {"name": "concertId", "in": "path", "schema": {"type": "integer"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}}
                ],
                "responses": {}
            }}},
            "components": {"schemas": {
                "ChargeRequest": {"type": "object", "required": ["amount"],
                    "properties": {"amount": {"type": "integer"}}},
                "HoldRequest": {"type": "object", "required": ["scheduleId", "seatIds"],
                    "properties": {"scheduleId": {"type": "integer"},
                        "seatIds": {"type": "array", "items": {"type": "integer"}}}},
                "ChargeReceiptDto": {"type": "object", "properties": {}},
                "SalePatchRequest": {"type": "object", "properties": {
                    "saleOpensAt": {"type": "string"}, "saleClosesAt": {"type": "string"}}}
            }}
        });
        let limits = DocLimits {
            max_seats_per_reservation: 3,
            charge_max: 500,
        };
        let done = finish_v3(doc, limits);
        let schemas = &done["components"]["schemas"];
        assert_eq!(schemas["ChargeRequest"]["additionalProperties"], false);
        assert_eq!(
            schemas["ChargeRequest"]["properties"]["amount"]["maximum"],
            500
        );
        assert_eq!(
            schemas["ChargeRequest"]["properties"]["amount"]["minimum"],
            1
        );
        let seat_ids = &schemas["HoldRequest"]["properties"]["seatIds"];
        assert_eq!(seat_ids["maxItems"], 3);
        assert_eq!(seat_ids["uniqueItems"], true);
        assert_eq!(seat_ids["items"]["minimum"], 1);
        assert!(schemas["ChargeReceiptDto"]
            .get("additionalProperties")
            .is_none());
        let params = &done["paths"]["/x/{concertId}"]["post"]["parameters"];
        assert_eq!(params[0]["schema"]["minimum"], 1);
        assert_eq!(params[1]["schema"]["maximum"], MAX_PAGE_LIMIT);
        assert_eq!(params[2]["schema"]["maxLength"], IDEMPOTENCY_KEY_MAX_LEN);
        assert_eq!(params[3]["schema"]["minLength"], 1);
        let sale = &schemas["SalePatchRequest"];
        assert_eq!(sale["additionalProperties"], false);
        assert!(sale["properties"]["saleOpensAt"].get("nullable").is_none());
        assert_eq!(sale["properties"]["saleClosesAt"]["nullable"], true);
    }
}
