//! The OpenAPI 3 description of every route (`GET /openapi.json`). Written by hand, next to the
//! route table it describes; a test checks the two list the same routes, so they cannot drift.
//! The sync body is binary: its format is in `docs/sync-protocol.md`.

use serde_json::{Value, json};

fn body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn reference(schema: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{schema}") })
}

fn errors(codes: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for code in codes {
        out.insert(
            (*code).to_string(),
            json!({ "description": "an error", "content": { "application/json": { "schema": reference("Error") } } }),
        );
    }
    Value::Object(out)
}

/// Answers any route behind the server's bounds may give (`pressure.rs`): a body too slow,
/// too large, the server too busy (with Retry-After), or an internal fault (logged with the
/// request id, never detailed in the answer).
const BOUNDED: [&str; 4] = ["408", "413", "500", "503"];

fn with_errors(mut responses: Value, codes: &[&str]) -> Value {
    if let (Some(r), Value::Object(e)) = (responses.as_object_mut(), errors(codes)) {
        r.extend(e);
    }
    if let (Some(r), Value::Object(e)) = (responses.as_object_mut(), errors(&BOUNDED)) {
        r.extend(e);
    }
    responses
}

fn record_id_param() -> Value {
    json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }])
}

/// The query of the report endpoints: one period and options.
fn report_params() -> Value {
    let text = |name: &str, description: &str| json!({ "name": name, "in": "query", "schema": { "type": "string" }, "description": description });
    json!([
        text("month", "YYYY-MM (exactly one of month, quarter, year, action_month, or from and to)"),
        text("quarter", "YYYY-Qn"),
        text("year", "YYYY"),
        text("action_month", "YYYY: 15 November to 15 December"),
        text("from", "YYYY-MM-DD, with to"),
        text("to", "YYYY-MM-DD, with from"),
        { "name": "approved_only", "in": "query", "schema": { "type": "boolean", "default": false } },
        { "name": "by", "in": "query", "schema": { "type": "string", "enum": ["village", "unit"], "default": "village" } },
        { "name": "lang", "in": "query", "schema": { "type": "string", "enum": ["vi", "en"], "default": "vi" } },
        { "name": "format", "in": "query", "schema": { "type": "string", "enum": ["xlsx", "csv"], "default": "xlsx" }, "description": "export only" },
        { "name": "exact", "in": "query", "schema": { "type": "boolean", "default": false }, "description": "export only; GBV focal points only; audited" }
    ])
}

/// The document.
pub fn document() -> Value {
    let authed = json!([{ "bearer": [] }]);
    let auth_errors = ["401", "403"];
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Sổ Tay",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Offline-first field collection for a commune's gender-equality plan. \
                Phones enrol with a one-time code, exchange their device secret for short-lived JWT access tokens \
                (HS256, typ at+jwt) and sync in one round trip (binary body: docs/sync-protocol.md). \
                Errors are {\"error\": code, \"message\": text}."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error", "message"], "properties": {
                    "error": { "type": "string", "description": "stable code: bad_request, unauthorized, device_revoked, forbidden, not_found, conflict, too_large, unprocessable, too_many_requests, internal, unavailable" },
                    "message": { "type": "string" },
                    "wipe_gbv": { "type": "boolean", "description": "present and true with device_revoked: wipe local GBV data" } } },
                "EnrolRequest": { "type": "object", "required": ["code", "device_name"], "properties": {
                    "code": { "type": "string", "example": "F1XH-Q81D-VSYV" }, "device_name": { "type": "string", "maxLength": 100 } } },
                "EnrolResponse": { "type": "object", "properties": {
                    "device_id": { "type": "string", "format": "uuid" }, "device_secret": { "type": "string" },
                    "user_id": { "type": "string", "format": "uuid" }, "role": { "$ref": "#/components/schemas/Role" },
                    "commune_id": { "type": "string", "format": "uuid" }, "village_id": { "type": "string", "format": "uuid", "nullable": true } } },
                "Role": { "type": "string", "enum": ["collaborator", "reviewer", "gbv_focal_point", "admin"] },
                "TokenRequest": { "type": "object", "required": ["device_id", "device_secret"], "properties": {
                    "device_id": { "type": "string", "format": "uuid" }, "device_secret": { "type": "string" } } },
                "LoginRequest": { "type": "object", "required": ["username", "password"], "properties": {
                    "username": { "type": "string" }, "password": { "type": "string", "format": "password" } } },
                "TokenResponse": { "type": "object", "properties": {
                    "access_token": { "type": "string" }, "expires_in": { "type": "integer", "description": "seconds" } } },
                "MeResponse": { "type": "object", "properties": {
                    "user_id": { "type": "string", "format": "uuid" }, "device_id": { "type": "string", "format": "uuid" },
                    "role": { "$ref": "#/components/schemas/Role" }, "commune_id": { "type": "string", "format": "uuid" },
                    "village_id": { "type": "string", "format": "uuid", "nullable": true } } },
                "RecordView": { "type": "object", "additionalProperties": true,
                    "description": "The flat projection of a record (sotay_sync_core::RecordView): identity, every field of its kind as codes, review state, deletion, open conflicts with who set each value, edit count, heads.",
                    "properties": {
                        "id": { "type": "string", "format": "uuid" }, "kind": { "type": "string", "enum": ["activity", "gbv_referral"] },
                        "commune": { "type": "string", "format": "uuid" }, "village": { "type": "string", "format": "uuid" },
                        "review_state": { "type": "string", "enum": ["draft", "submitted", "approved", "returned"] },
                        "changed_after_approval": { "type": "boolean" }, "deleted": { "type": "boolean" },
                        "delete_conflict": { "type": "boolean" }, "conflicts": { "type": "array", "items": { "type": "object" } },
                        "notes": { "type": "string" } } },
                "ReturnRequest": { "type": "object", "required": ["comment"], "properties": { "comment": { "type": "string", "minLength": 1 } } },
                "CaseStatusRequest": { "type": "object", "required": ["case_status"], "properties": {
                    "case_status": { "type": "string", "enum": ["referred", "receiving_support", "closed"] } } },
                "PurgeAnswer": { "type": "object", "required": ["purged"], "properties": { "purged": { "type": "boolean" } } },
                "Cell": { "oneOf": [ { "type": "integer" }, { "type": "string", "enum": ["<5"] } ] },
                "GbvAggregates": { "type": "object", "properties": {
                    "total": { "$ref": "#/components/schemas/Cell" },
                    "by_violence_type": { "type": "object", "additionalProperties": { "$ref": "#/components/schemas/Cell" } },
                    "by_age_group": { "type": "object", "additionalProperties": { "$ref": "#/components/schemas/Cell" } },
                    "by_service": { "type": "object", "additionalProperties": { "$ref": "#/components/schemas/Cell" } },
                    "by_case_status": { "type": "object", "additionalProperties": { "$ref": "#/components/schemas/Cell" } } } },
                "ReportCell": { "oneOf": [ { "type": "integer" }, { "type": "string", "description": "\"<5\" (suppressed) or text" } ] },
                "ReportRow": { "type": "object", "required": ["label", "cells"], "properties": {
                    "label": { "type": "string" }, "cells": { "type": "array", "items": reference("ReportCell") } } },
                "ReportTable": { "type": "object", "required": ["key", "title", "row_heading", "columns", "rows"], "properties": {
                    "key": { "type": "string", "description": "stable id, e.g. activities_by_type" }, "title": { "type": "string" },
                    "row_heading": { "type": "string" }, "columns": { "type": "array", "items": { "type": "string" } },
                    "rows": { "type": "array", "items": reference("ReportRow") },
                    "totals": { "allOf": [reference("ReportRow")], "nullable": true } } },
                "Report": { "type": "object", "required": ["title", "commune", "period", "generated_at", "tables"], "properties": {
                    "title": { "type": "string" }, "commune": { "type": "string" }, "period": { "type": "string" },
                    "generated_at": { "type": "string" }, "tables": { "type": "array", "items": reference("ReportTable") } } },
                "ResolveRequest": { "type": "object", "required": ["field"], "properties": {
                    "field": { "type": "string", "example": "attendance_female" }, "choice": { "type": "integer", "minimum": 0 },
                    "value": { "description": "a code, number, date, text, or list of codes, as in RecordView" } } },
                "HistoryEntry": { "type": "object", "additionalProperties": true, "properties": {
                    "at_ms": { "type": "integer" }, "device": { "type": "string", "format": "uuid", "nullable": true },
                    "user": { "type": "string", "format": "uuid", "nullable": true },
                    "changes": { "type": "array", "items": { "type": "object", "properties": {
                        "field": { "type": "string" }, "from": {}, "to": {} } } } } },
                "DuplicatePair": { "type": "object", "required": ["first", "second", "detected_at"], "properties": {
                    "first": reference("RecordView"), "second": reference("RecordView"), "detected_at": { "type": "integer" } } },
                "MergeRequest": { "type": "object", "required": ["keep", "drop"], "properties": {
                    "keep": { "type": "string", "format": "uuid" }, "drop": { "type": "string", "format": "uuid" },
                    "take": { "type": "array", "items": { "type": "string" }, "description": "fields whose value comes from drop" } } },
                "DismissRequest": { "type": "object", "required": ["first", "second"], "properties": {
                    "first": { "type": "string", "format": "uuid" }, "second": { "type": "string", "format": "uuid" } } },
                "Village": { "type": "object", "required": ["id", "name"], "properties": {
                    "id": { "type": "string", "format": "uuid" }, "name": { "type": "string" } } },
                "Unit": { "type": "object", "required": ["code", "name"], "properties": {
                    "code": { "type": "string" }, "name": { "type": "string" } } },
                "DeviceInfo": { "type": "object", "properties": {
                    "id": { "type": "string", "format": "uuid" }, "name": { "type": "string" },
                    "enrolled_at": { "type": "integer" }, "revoked_at": { "type": "integer", "nullable": true },
                    "last_seen_at": { "type": "integer", "nullable": true } } },
                "AuditEntry": { "type": "object", "properties": {
                    "id": { "type": "integer", "description": "position in the log" }, "at": { "type": "integer", "description": "Unix ms" }, "user": { "type": "string", "nullable": true },
                    "device": { "type": "string", "nullable": true }, "action": { "type": "string" },
                    "record": { "type": "string", "nullable": true }, "detail": { "type": "string" } } }
            }
        },
        "paths": {
            "/healthz": { "get": { "summary": "The process is up", "responses": { "200": { "description": "ok" } } } },
            "/readyz": { "get": { "summary": "The database answers", "responses": { "200": { "description": "ready" }, "503": { "description": "not ready" } } } },
            "/openapi.json": { "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI 3" } } } },
            "/api/v1/enrol": { "post": { "summary": "Enrol a phone with a one-time code", "requestBody": body("EnrolRequest"),
                "responses": with_errors(json!({ "200": ok("the device credential (shown once)", reference("EnrolResponse")) }), &["400", "401", "409"]) } },
            "/api/v1/token": { "post": { "summary": "Exchange a device secret for an access token", "requestBody": body("TokenRequest"),
                "responses": with_errors(json!({ "200": ok("a bearer token", reference("TokenResponse")) }), &["400", "401", "403"]) } },
            "/api/v1/login": { "post": { "summary": "Web login with a password (throttled)", "requestBody": body("LoginRequest"),
                "responses": with_errors(json!({ "200": ok("a bearer token for a web session", reference("TokenResponse")) }), &["400", "401", "429"]) } },
            "/api/v1/sync": { "post": { "summary": "Push and pull changes in one round trip", "security": authed,
                "description": "Binary body, framing and CBOR messages in docs/sync-protocol.md.",
                "requestBody": { "required": true, "content": { "application/vnd.sotay.sync": { "schema": { "type": "string", "format": "binary" } } } },
                "responses": with_errors(json!({ "200": { "description": "SyncResponse (binary)", "content": { "application/vnd.sotay.sync": { "schema": { "type": "string", "format": "binary" } } } } }), &["400", "401", "403", "413"]) } },
            "/api/v1/me": { "get": { "summary": "Who this token is", "security": authed,
                "responses": with_errors(json!({ "200": ok("the device and its user", reference("MeResponse")) }), &auth_errors) } },
            "/api/v1/records": { "get": { "summary": "Records the caller may see", "security": authed,
                "parameters": [
                    { "name": "kind", "in": "query", "schema": { "type": "string", "enum": ["activity", "gbv_referral"] } },
                    { "name": "village", "in": "query", "schema": { "type": "string", "format": "uuid" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 5000, "default": 500 } },
                    { "name": "after", "in": "query", "schema": { "type": "string", "format": "uuid" } } ],
                "responses": with_errors(json!({ "200": ok("records, by id", json!({ "type": "array", "items": reference("RecordView") })) }), &["400", "401", "403"]) } },
            "/api/v1/records/{id}": { "get": { "summary": "One record (GBV views by focal points are audited)", "security": authed, "parameters": record_id_param(),
                "responses": with_errors(json!({ "200": ok("the record", reference("RecordView")) }), &["401", "403", "404"]) } },
            "/api/v1/records/{id}/approve": { "post": { "summary": "Approve a submitted activity (reviewers)", "security": authed, "parameters": record_id_param(),
                "responses": with_errors(json!({ "200": ok("the record after approval", reference("RecordView")) }), &["401", "403", "404", "409"]) } },
            "/api/v1/records/{id}/return": { "post": { "summary": "Return a submitted activity with a comment (reviewers)", "security": authed, "parameters": record_id_param(),
                "requestBody": body("ReturnRequest"),
                "responses": with_errors(json!({ "200": ok("the record after return", reference("RecordView")) }), &["400", "401", "403", "404", "409", "422"]) } },
            "/api/v1/records/{id}/case-status": { "post": { "summary": "Update a GBV case's status (focal points, audited)", "security": authed, "parameters": record_id_param(),
                "requestBody": body("CaseStatusRequest"),
                "responses": with_errors(json!({ "200": ok("the case after the update", reference("RecordView")) }), &["400", "401", "403", "404", "422"]) } },
            "/api/v1/records/{id}/purge-history": { "post": { "summary": "Purge a GBV case's history now: only its current values stay, on the server and the creating phone (focal points, audited)", "security": authed, "parameters": record_id_param(),
                "responses": with_errors(json!({ "200": ok("whether anything was purged", reference("PurgeAnswer")) }), &["401", "403", "404", "422"]) } },
            "/api/v1/reports/gbv": { "get": { "summary": "GBV aggregates, small cells suppressed (reviewers, focal points)", "security": authed,
                "responses": with_errors(json!({ "200": ok("aggregates", reference("GbvAggregates")) }), &auth_errors) } },
            "/api/v1/records/{id}/resolve": { "post": { "summary": "Resolve a conflict: choose one of its values (choice) or enter one (value)", "security": authed, "parameters": record_id_param(),
                "requestBody": body("ResolveRequest"),
                "responses": with_errors(json!({ "200": ok("the record after the edit", reference("RecordView")) }), &["400", "401", "403", "404", "409", "422"]) } },
            "/api/v1/records/{id}/restore": { "post": { "summary": "Restore a soft-deleted record (admins; audited)", "security": authed, "parameters": record_id_param(),
                "responses": with_errors(json!({ "200": ok("the record after the restore", reference("RecordView")) }), &["401", "403", "404", "409", "422"]) } },
            "/api/v1/records/{id}/history": { "get": { "summary": "Every change of a record: when, device, user, fields from → to (GBV: focal points, audited)", "security": authed, "parameters": record_id_param(),
                "responses": with_errors(json!({ "200": ok("changes, oldest first", json!({ "type": "array", "items": reference("HistoryEntry") })) }), &["401", "403", "404"]) } },
            "/api/v1/duplicates": { "get": { "summary": "Open suspected duplicates (reviewers)", "security": authed,
                "responses": with_errors(json!({ "200": ok("pairs, oldest first", json!({ "type": "array", "items": reference("DuplicatePair") })) }), &auth_errors) } },
            "/api/v1/duplicates/merge": { "post": { "summary": "Merge a pair: keep one with the values chosen per field, soft-delete the other (reviewers)", "security": authed,
                "requestBody": body("MergeRequest"),
                "responses": with_errors(json!({ "200": ok("the kept record", reference("RecordView")) }), &["400", "401", "403", "404", "409", "422"]) } },
            "/api/v1/duplicates/dismiss": { "post": { "summary": "Not a duplicate: never suggested again (reviewers)", "security": authed,
                "requestBody": body("DismissRequest"),
                "responses": with_errors(json!({ "200": { "description": "dismissed" } }), &["400", "401", "403", "404"]) } },
            "/api/v1/reports": { "get": { "summary": "The plan-shaped report of a period (reviewers: GBV suppressed; GBV focal points: exact, audited)", "security": authed,
                "parameters": report_params(),
                "responses": with_errors(json!({ "200": ok("the report", reference("Report")) }), &["400", "401", "403"]) } },
            "/api/v1/reports/completeness": { "get": { "summary": "Which villages and units have reported for the period, against the deadline", "security": authed,
                "parameters": report_params(),
                "responses": with_errors(json!({ "200": ok("a table by village and one by unit", json!({ "type": "array", "items": reference("ReportTable") })) }), &["400", "401", "403"]) } },
            "/api/v1/reports/export": { "get": { "summary": "The report and completeness as XLSX or CSV (GBV suppressed unless a focal point asks exact=true, audited)", "security": authed,
                "parameters": report_params(),
                "responses": with_errors(json!({ "200": { "description": "the file", "content": {
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}, "text/csv": {} } } }), &["400", "401", "403"]) } },
            "/api/v1/villages": { "get": { "summary": "The villages of the caller's commune", "security": authed,
                "responses": with_errors(json!({ "200": ok("villages by name", json!({ "type": "array", "items": reference("Village") })) }), &["401", "403"]) } },
            "/api/v1/units": { "get": { "summary": "The organising units of the caller's commune", "security": authed,
                "responses": with_errors(json!({ "200": ok("units by name", json!({ "type": "array", "items": reference("Unit") })) }), &["401", "403"]) } },
            "/api/v1/admin/users/{username}/devices": { "get": { "summary": "A user's devices (admins)", "security": authed,
                "parameters": [{ "name": "username", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": with_errors(json!({ "200": ok("devices", json!({ "type": "array", "items": reference("DeviceInfo") })) }), &["401", "403", "404"]) } },
            "/api/v1/admin/devices/{id}/revoke": { "post": { "summary": "Revoke a device (admins): refused from its next request", "security": authed, "parameters": record_id_param(),
                "responses": with_errors(json!({ "200": { "description": "revoked" } }), &["401", "403", "404"]) } },
            "/api/v1/admin/audit": { "get": { "summary": "The audit log of the admin's commune, oldest first, in pages (admins)", "security": authed,
                "parameters": [
                    { "name": "after", "in": "query", "schema": { "type": "integer", "minimum": 0 }, "description": "next_cursor of the previous page" },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 200 } }
                ],
                "responses": with_errors(json!({ "200": ok("a page of entries, oldest first", json!({ "type": "object", "properties": {
                    "entries": { "type": "array", "items": reference("AuditEntry") },
                    "next_cursor": { "type": "integer", "nullable": true } } })) }), &["400", "401", "403"]) } }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_described_and_nothing_else() {
        let doc = super::document();
        let paths = doc["paths"].as_object().unwrap();
        let mut described: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
            .collect();
        let mut routes: Vec<(String, String)> =
            crate::routes::route_table().into_iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
        described.sort();
        routes.sort();
        assert_eq!(described, routes);
        // Every reference resolves.
        let text = doc.to_string();
        for name in text.split("#/components/schemas/").skip(1).map(|s| s.split('"').next().unwrap()) {
            assert!(doc["components"]["schemas"].get(name).is_some(), "missing schema {name}");
        }
    }
}
