//! Access control (SPEC §5, §9): the authorization matrix over every route of the router, JWT
//! rules of RFC 8725, login with Argon2id and throttling, GBV need-to-know, and the audit log;
//! and `/openapi.json` against the route table and the statuses the matrix observes.

use base64::Engine;
use sotay_server::routes::route_table;
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Edit, wire};
use sotay_tests::*;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};

const IDENTITIES: [&str; 8] = [
    "anonymous",
    "collaborator A",
    "collaborator B",
    "reviewer",
    "focal point",
    "admin",
    "revoked device",
    "expired token",
];

/// `/openapi.json`, as the server answers it.
async fn openapi_document(app: &TestApp) -> serde_json::Value {
    let (status, text) = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Asserts the OpenAPI document lists `status` among the answers of `method template`.
#[track_caller]
fn assert_documented_in(doc: &serde_json::Value, method: &str, template: &str, status: u16) {
    let responses = &doc["paths"][template][method.to_lowercase()]["responses"];
    let listed: Vec<&String> = responses.as_object().map(|r| r.keys().collect()).unwrap_or_default();
    assert!(
        responses.get(status.to_string()).is_some(),
        "{method} {template} answered {status}, which /openapi.json does not document for it (it lists \
         {listed:?}): add it to the handler's #[utoipa::path(responses(...))]"
    );
}

/// Asserts `/openapi.json` documents `status` for the route `method template` (as in the route
/// table, e.g. `/api/v1/records/{id}`). For statuses observed in other tests.
pub(crate) async fn assert_documented(app: &TestApp, method: &str, template: &str, status: u16) {
    assert_documented_in(&openapi_document(app).await, method, template, status);
}

#[tokio::test]
async fn every_route_against_every_role() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let minh = app.device("minh").await;
    let activity = lan.add_activity(10, 5);
    let case = lan.device.create(RecordKind::GbvReferral, &gbv_edits("TY-0007"), NOW_MS).unwrap();
    let (to_approve, to_return) = (lan.add_activity(1, 1), lan.add_activity(2, 2));
    let deleted = lan.add_activity(3, 3);
    lan.device.delete(deleted, NOW_MS + 1).unwrap();
    let today = sotay_sync_core::Date::new(2026, 11, 29).unwrap();
    lan.device.submit(to_approve, today, NOW_MS).unwrap();
    lan.device.submit(to_return, today, NOW_MS).unwrap();
    lan.sync().await;
    let revoked = app.device("lan").await;
    sotay_server::admin::revoke_device(&app.state.db, revoked.device.identity().device).await.unwrap();
    let id = lan.device.identity();
    let expired = app.state.keys.issue(id.user, id.device, sotay_server::now_ms() as u64 / 1000 - 7200, 600);
    let tokens: HashMap<&str, Option<String>> = HashMap::from([
        ("anonymous", None),
        ("collaborator A", Some(lan.token.clone())),
        ("collaborator B", Some(minh.token.clone())),
        ("reviewer", Some(app.web_login("reviewer").await)),
        ("focal point", Some(app.web_login("focal").await)),
        ("admin", Some(app.web_login("admin").await)),
        ("revoked device", Some(revoked.token.clone())),
        ("expired token", Some(expired)),
    ]);
    let admin_password = "admin-mật-khẩu-dài";
    let noop_sync = wire::encode(&wire::SyncRequest {
        epoch: None,
        cursor: 0,
        snapshot: None,
        fresh: true,
        outbox_through: 0,
        push: vec![],
    });

    // Expected status for each identity, in the order of IDENTITIES.
    type Row = [u16; 8];
    let expected: HashMap<(&str, &str), Row> = HashMap::from([
        (("GET", "/healthz"), [200; 8]),
        (("GET", "/readyz"), [200; 8]),
        (("GET", "/openapi.json"), [200; 8]),
        (("POST", "/api/v1/enrol"), [401; 8]),
        (("POST", "/api/v1/token"), [401; 8]),
        (("POST", "/api/v1/login"), [200; 8]),
        (("POST", "/api/v1/sync"), [401, 200, 200, 200, 200, 403, 403, 401]),
        (("GET", "/api/v1/me"), [401, 200, 200, 200, 200, 200, 403, 401]),
        (("GET", "/api/v1/records"), [401, 200, 200, 200, 200, 403, 403, 401]),
        (("GET", "/api/v1/records/{id}"), [401, 200, 404, 200, 200, 404, 403, 401]),
        (("POST", "/api/v1/records/{id}/approve"), [401, 403, 403, 200, 403, 403, 403, 401]),
        (("POST", "/api/v1/records/{id}/return"), [401, 403, 403, 200, 403, 403, 403, 401]),
        (("POST", "/api/v1/records/{id}/case-status"), [401, 403, 403, 403, 200, 403, 403, 401]),
        (("POST", "/api/v1/records/{id}/purge-history"), [401, 403, 403, 403, 200, 403, 403, 401]),
        (("GET", "/api/v1/reports/gbv"), [401, 403, 403, 200, 200, 403, 403, 401]),
        (("POST", "/api/v1/records/{id}/resolve"), [401, 200, 404, 200, 403, 403, 403, 401]),
        (("POST", "/api/v1/records/{id}/restore"), [401, 403, 403, 403, 403, 200, 403, 401]),
        (("GET", "/api/v1/records/{id}/history"), [401, 200, 404, 200, 200, 403, 403, 401]),
        (("GET", "/api/v1/duplicates"), [401, 403, 403, 200, 403, 403, 403, 401]),
        (("POST", "/api/v1/duplicates/merge"), [401, 403, 403, 404, 403, 403, 403, 401]),
        (("POST", "/api/v1/duplicates/dismiss"), [401, 403, 403, 404, 403, 403, 403, 401]),
        (("GET", "/api/v1/reports"), [401, 403, 403, 200, 200, 403, 403, 401]),
        (("GET", "/api/v1/reports/completeness"), [401, 403, 403, 200, 200, 200, 403, 401]),
        (("GET", "/api/v1/reports/export"), [401, 403, 403, 200, 200, 403, 403, 401]),
        (("GET", "/api/v1/villages"), [401, 200, 200, 200, 200, 200, 403, 401]),
        (("GET", "/api/v1/units"), [401, 200, 200, 200, 200, 200, 403, 401]),
        (("GET", "/api/v1/admin/users/{username}/devices"), [401, 403, 403, 403, 403, 200, 403, 401]),
        (("POST", "/api/v1/admin/devices/{id}/revoke"), [401, 403, 403, 403, 403, 200, 403, 401]),
        (("GET", "/api/v1/admin/audit"), [401, 403, 403, 403, 403, 200, 403, 401]),
        (("PUT", "/api/v1/admin/report-deadline"), [401, 403, 403, 403, 403, 200, 403, 401]),
    ]);

    let mut table = Vec::new();
    let mut observed = BTreeSet::new();
    for (method, path, _) in route_table() {
        let row =
            expected.get(&(method, path)).unwrap_or_else(|| panic!("route {method} {path} has no row in the matrix"));
        for (i, who) in IDENTITIES.iter().enumerate() {
            let token = tokens[who].as_deref();
            let (url, body): (String, Option<Vec<u8>>) = match path {
                "/api/v1/enrol" => {
                    // Eight wrong codes from one address would be throttled after five (tested in
                    // abuse.rs); here each identity starts afresh.
                    sqlx::query("DELETE FROM throttle").execute(&app.state.db.write).await.unwrap();
                    (path.into(), Some(br#"{"code":"AAAA-BBBB-CCCC","device_name":"x"}"#.to_vec()))
                }
                "/api/v1/token" => (
                    path.into(),
                    Some(format!(r#"{{"device_id":"{}","device_secret":"wrong"}}"#, id.device).into_bytes()),
                ),
                "/api/v1/login" => (
                    path.into(),
                    Some(serde_json::json!({"username": "admin", "password": admin_password}).to_string().into_bytes()),
                ),
                "/api/v1/sync" => (path.into(), Some(noop_sync.clone())),
                "/api/v1/records/{id}" => (format!("/api/v1/records/{activity}"), None),
                "/api/v1/records/{id}/approve" => (format!("/api/v1/records/{to_approve}/approve"), Some(Vec::new())),
                "/api/v1/records/{id}/return" => (
                    format!("/api/v1/records/{to_return}/return"),
                    Some(r#"{"comment":"Thiếu số liệu"}"#.as_bytes().to_vec()),
                ),
                "/api/v1/records/{id}/case-status" => (
                    format!("/api/v1/records/{case}/case-status"),
                    Some(format!(r#"{{"case_status":"{}"}}"#, ["receiving_support", "closed"][i % 2]).into_bytes()),
                ),
                "/api/v1/records/{id}/purge-history" => {
                    (format!("/api/v1/records/{case}/purge-history"), Some(Vec::new()))
                }
                "/api/v1/admin/users/{username}/devices" => ("/api/v1/admin/users/lan/devices".into(), None),
                "/api/v1/records/{id}/resolve" => (
                    format!("/api/v1/records/{activity}/resolve"),
                    Some(format!(r#"{{"field":"attendance_female","value":{}}}"#, 20 + i).into_bytes()),
                ),
                "/api/v1/records/{id}/restore" => (format!("/api/v1/records/{deleted}/restore"), Some(Vec::new())),
                "/api/v1/records/{id}/history" => (format!("/api/v1/records/{activity}/history"), None),
                "/api/v1/duplicates/merge" => {
                    (path.into(), Some(format!(r#"{{"keep":"{activity}","drop":"{to_approve}"}}"#).into_bytes()))
                }
                "/api/v1/duplicates/dismiss" => {
                    (path.into(), Some(format!(r#"{{"first":"{activity}","second":"{to_approve}"}}"#).into_bytes()))
                }
                "/api/v1/reports" | "/api/v1/reports/completeness" | "/api/v1/reports/export" => {
                    (format!("{path}?year=2026"), None)
                }
                "/api/v1/admin/report-deadline" => (path.into(), Some(br#"{"deadline":"12-15"}"#.to_vec())),
                "/api/v1/admin/devices/{id}/revoke" => {
                    let victim = app.device("hoa").await.device.identity().device;
                    (format!("/api/v1/admin/devices/{victim}/revoke"), Some(Vec::new()))
                }
                _ => (path.into(), None),
            };
            let (status, text) = app.call(method, &url, token, body).await;
            assert_eq!(status, row[i], "{method} {path} as {who}: {text}");
            table.push(format!("{method} {path} as {who}: {status}"));
            observed.insert((method, path, status));
        }
    }
    assert_eq!(table.len(), route_table().len() * IDENTITIES.len());

    // The OpenAPI document describes exactly the routes of the table, and for each every status
    // the matrix observed.
    let doc = openapi_document(&app).await;
    let routes: BTreeSet<(String, String)> =
        route_table().into_iter().map(|(m, p, _)| (m.to_lowercase(), p.to_string())).collect();
    let described: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    assert_eq!(
        described.difference(&routes).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "/openapi.json describes operations that are not in the route table"
    );
    assert_eq!(
        routes.difference(&described).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes of the route table missing from /openapi.json"
    );
    for (method, path, status) in observed {
        assert_documented_in(&doc, method, path, status);
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs a token by hand, so every field can be wrong on purpose.
fn token(header: serde_json::Value, claims: serde_json::Value, alg: jsonwebtoken::Algorithm, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
        alg,
    )
    .unwrap();
    format!("{signing_input}.{signature}")
}

#[tokio::test]
async fn tokens_that_break_any_rule_of_rfc_8725_get_401() {
    let app = spawn_app().await;
    app.commune().await;
    let lan = app.device("lan").await;
    let secret: Vec<u8> = sqlx::query("SELECT secret FROM server_keys WHERE name = 'jwt_hs256'")
        .fetch_one(&app.state.db.read)
        .await
        .unwrap()
        .get(0);
    let id = lan.device.identity();
    let now = sotay_server::now_ms() / 1000;
    let claims = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = serde_json::json!({
            "sub": id.user.to_string(), "did": id.device.to_string(), "iss": "sotay", "aud": "sotay-api",
            "exp": now + 600, "nbf": now - 10, "iat": now - 10,
        });
        f(&mut c);
        c
    };
    let header = |alg: &str, typ: &str| serde_json::json!({ "alg": alg, "typ": typ });
    use jsonwebtoken::Algorithm::{HS256, HS512};
    let good = token(header("HS256", "at+jwt"), claims(&|_| {}), HS256, &secret);
    let none = format!(
        "{}.{}.",
        b64(header("none", "at+jwt").to_string().as_bytes()),
        b64(claims(&|_| {}).to_string().as_bytes())
    );
    let cases: Vec<(&str, String)> = vec![
        ("alg none", none),
        ("another algorithm, same key", token(header("HS512", "at+jwt"), claims(&|_| {}), HS512, &secret)),
        ("another key", token(header("HS256", "at+jwt"), claims(&|_| {}), HS256, b"someone else's key")),
        ("wrong iss", token(header("HS256", "at+jwt"), claims(&|c| c["iss"] = "evil".into()), HS256, &secret)),
        ("wrong aud", token(header("HS256", "at+jwt"), claims(&|c| c["aud"] = "other".into()), HS256, &secret)),
        ("expired", token(header("HS256", "at+jwt"), claims(&|c| c["exp"] = (now - 3600).into()), HS256, &secret)),
        (
            "nbf in the future",
            token(header("HS256", "at+jwt"), claims(&|c| c["nbf"] = (now + 3600).into()), HS256, &secret),
        ),
        (
            "missing exp",
            token(
                header("HS256", "at+jwt"),
                claims(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
                HS256,
                &secret,
            ),
        ),
        ("wrong typ", token(header("HS256", "JWT"), claims(&|_| {}), HS256, &secret)),
        ("no typ", token(serde_json::json!({ "alg": "HS256" }), claims(&|_| {}), HS256, &secret)),
        (
            "another user's device",
            token(
                header("HS256", "at+jwt"),
                claims(&|c| c["sub"] = uuid::Uuid::new_v4().to_string().into()),
                HS256,
                &secret,
            ),
        ),
    ];
    for (what, t) in &cases {
        let (status, body) = app.call("GET", "/api/v1/me", Some(t), None).await;
        assert_eq!(status, 401, "{what}: {body}");
    }
    assert_eq!(app.call("GET", "/api/v1/me", Some(&good), None).await.0, 200, "the control token works");
    let lower = sotay_client::http::plain_client()
        .get(format!("{}/api/v1/me", app.base))
        .header("authorization", format!("bearer {good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status().as_u16(), 200, "the scheme is case-insensitive (RFC 9110)");
}

#[tokio::test]
async fn passwords_are_argon2id_and_failed_logins_are_throttled_with_growing_delays() {
    let app = spawn_app().await;
    app.commune().await;
    app.web_login("reviewer").await;
    let hash: String = sqlx::query("SELECT password_hash FROM users WHERE username = 'reviewer'")
        .fetch_one(&app.state.db.read)
        .await
        .unwrap()
        .get(0);
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    for attempt in 1..=5 {
        assert_eq!(app.login("reviewer", "wrong password").await.0, 401, "attempt {attempt}");
    }
    let (status, _) = app.login("reviewer", "wrong password").await;
    assert_eq!(status, 429, "the sixth failure in a row waits");
    // Even the right password waits: the delay is per account and per address, not a lock-out.
    assert_eq!(app.login("reviewer", "reviewer-mật-khẩu-dài").await.0, 429);
    assert!(app.audit_count("login.failure").await >= 5);
    assert_eq!(
        app.audit_count("login.throttled").await,
        2,
        "refusals are audited once per key (account and address) per minute, with a count"
    );
    assert_eq!(app.audit_count("login.success").await, 1);
    // The delay grows: once it has passed, one more failure means a longer wait (2 s, then 4 s…).
    sqlx::query("UPDATE throttle SET last_at = last_at - 60000").execute(&app.state.db.write).await.unwrap();
    assert_eq!(
        app.login("reviewer", "reviewer-mật-khẩu-dài").await.0,
        200,
        "after the delay, the right password works"
    );
    // This address has failed five times in the window; the delay (1 s) has passed, so one more
    // attempt is answered, and fails; the next must wait twice as long (2 s), with Retry-After.
    assert_eq!(app.login("nobody", "x").await.0, 401);
    let resp = sotay_client::http::plain_client()
        .post(format!("{}/api/v1/login", app.base))
        .header("content-type", "application/json")
        .body(r#"{"username":"nobody","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "the delay doubled to 2 s: {wait} s");
}

#[tokio::test]
async fn gbv_details_reach_only_the_creating_phone_and_audited_focal_points() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let case = lan.device.create(RecordKind::GbvReferral, &gbv_edits("TY-0042"), NOW_MS).unwrap();
    for i in 0..7 {
        lan.device.create(RecordKind::GbvReferral, &sotay_sync_core::sample::gbv_referral(i, 2026), NOW_MS).unwrap();
    }
    lan.sync().await;
    let path = format!("/api/v1/records/{case}");
    let lan_web = app.web_login("lan").await;
    let reviewer = app.web_login("reviewer").await;
    let focal = app.web_login("focal").await;
    assert_eq!(app.call("GET", &path, Some(&lan.token), None).await.0, 200, "the creating phone");
    assert_eq!(app.call("GET", &path, Some(&lan_web), None).await.0, 404, "not even the same user's web session");
    assert_eq!(app.call("GET", &path, Some(&reviewer), None).await.0, 404, "reviewers see aggregates only");
    let (list_status, list) = app.call("GET", "/api/v1/records?kind=gbv_referral", Some(&reviewer), None).await;
    assert_eq!(list_status, 200);
    assert_eq!(list, "[]");
    let before = app.audit_count("gbv.view").await;
    let (status, body) = app.call("GET", &path, Some(&focal), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("TY-0042"));
    assert_eq!(app.audit_count("gbv.view").await, before + 1, "the focal point's view is audited");
    let (_, list) = app.call("GET", "/api/v1/records?kind=gbv_referral", Some(&focal), None).await;
    assert_eq!(serde_json::from_str::<Vec<serde_json::Value>>(&list).unwrap().len(), 8);
    assert_eq!(app.audit_count("gbv.view").await, before + 9, "every case listed is a view");

    // Reviewers get aggregates, with small cells suppressed.
    let (status, report) = app.call("GET", "/api/v1/reports/gbv", Some(&reviewer), None).await;
    assert_eq!(status, 200);
    assert!(!report.contains("TY-"), "no case codes in aggregates: {report}");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["total"], 8);
    for breakdown in ["by_violence_type", "by_age_group", "by_service", "by_case_status"] {
        let cells = report[breakdown].as_object().unwrap();
        assert!(
            cells.values().all(|c| c == "<5" || c.as_u64().is_some_and(|n| n == 0 || n >= 5)),
            "{breakdown}: {cells:?}"
        );
        let hidden = cells.values().filter(|c| *c == "<5").count();
        assert!(hidden != 1, "{breakdown}: one hidden cell could be computed from the total");
    }
}

#[tokio::test]
async fn the_audit_log_is_append_only_and_records_what_it_must() {
    let app = spawn_app().await;
    app.commune().await;
    let lan = app.device("lan").await;
    sotay_server::admin::revoke_device(&app.state.db, lan.device.identity().device).await.unwrap();
    let user = sotay_server::admin::user_by_name(&app.state.db, "hoa").await.unwrap();
    sotay_server::admin::set_role(&app.state.db, user, sotay_server::auth::Role::Reviewer, None).await.unwrap();
    for action in ["device.enrol", "device.revoke", "user.role", "user.create", "enrolment_code.issue"] {
        assert!(app.audit_count(action).await >= 1, "{action} is audited");
    }
    let update = sqlx::query("UPDATE audit_log SET action = 'nothing happened'").execute(&app.state.db.write).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_log").execute(&app.state.db.write).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert!(app.audit_count("device.revoke").await >= 1);
    let admin = app.web_login("admin").await;
    let (status, log) = app.call("GET", "/api/v1/admin/audit", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert!(log.contains("device.revoke") && log.contains("login.success"));
}

#[tokio::test]
async fn a_sync_payload_over_the_byte_limit_gets_413_and_stores_nothing() {
    let limits = sotay_server::config::Limits { max_sync_payload_bytes: 20_000, ..Default::default() };
    let app = spawn_app_with(limits).await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    for i in 0..60 {
        lan.device.create(RecordKind::Activity, &sotay_sync_core::sample::activity(i, 2026), NOW_MS).unwrap();
    }
    let req = lan.device.prepare_sync(1 << 20).unwrap();
    let body = wire::encode(&req);
    assert!(body.len() < 20_000, "compressed it fits; inflated it does not");
    let (status, text) = app.call("POST", "/api/v1/sync", Some(&lan.token), Some(body)).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(app.record_count().await, 0);
    assert_documented(&app, "POST", "/api/v1/sync", 413).await;
}

#[tokio::test]
async fn reviewers_approve_and_return_and_focal_points_update_cases_through_the_api() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let today = sotay_sync_core::Date::new(2026, 11, 29).unwrap();
    let id = lan.add_activity(20, 10);
    let draft = lan.add_activity(3, 3);
    lan.device.submit(id, today, NOW_MS).unwrap();
    let case = lan.device.create(RecordKind::GbvReferral, &gbv_edits("TY-0099"), NOW_MS).unwrap();
    lan.sync().await;
    let reviewer = app.web_login("reviewer").await;
    let focal = app.web_login("focal").await;

    // Refused transitions and bodies.
    assert_eq!(app.call("POST", &format!("/api/v1/records/{draft}/approve"), Some(&reviewer), None).await.0, 409);
    assert_documented(&app, "POST", "/api/v1/records/{id}/approve", 409).await;
    let (status, _) = app
        .call("POST", &format!("/api/v1/records/{id}/return"), Some(&reviewer), Some(br#"{"comment":" "}"#.to_vec()))
        .await;
    assert_eq!(status, 422, "a return needs a comment");
    assert_documented(&app, "POST", "/api/v1/records/{id}/return", 422).await;
    assert_eq!(app.call("POST", &format!("/api/v1/records/{case}/approve"), Some(&reviewer), None).await.0, 404);
    assert_documented(&app, "POST", "/api/v1/records/{id}/approve", 404).await;

    // Approval reaches the phones; an edit on a phone after it reopens the record.
    let (status, body) = app.call("POST", &format!("/api/v1/records/{id}/approve"), Some(&reviewer), None).await;
    assert_eq!(status, 200, "{body}");
    lan.sync().await;
    hoa.sync().await;
    assert_eq!(hoa.device.view(id).unwrap().review_state, sotay_sync_core::ReviewState::Approved);
    lan.device.edit(id, &[Edit::AttendanceFemale(21)], NOW_MS + 5).unwrap();
    lan.sync().await;
    let view = app.server_record(id).await.unwrap().view();
    assert_eq!(view.review_state, sotay_sync_core::ReviewState::Submitted);
    assert!(view.changed_after_approval);

    // A focal point updates a case: audited, and it reaches the creating phone only.
    let before = app.audit_count("gbv.update").await;
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/records/{case}/case-status"),
            Some(&focal),
            Some(br#"{"case_status":"closed"}"#.to_vec()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.audit_count("gbv.update").await, before + 1);
    lan.sync().await;
    assert_eq!(lan.device.view(case).unwrap().case_status, Some(sotay_sync_core::schema::CaseStatus::Closed));
    hoa.sync().await;
    assert!(hoa.device.view(case).is_err(), "the case stays off other phones");
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/records/{case}/case-status"),
            Some(&focal),
            Some(br#"{"case_status":"gone"}"#.to_vec()),
        )
        .await;
    assert_eq!(status, 422);
    assert_documented(&app, "POST", "/api/v1/records/{id}/case-status", 422).await;
}

#[tokio::test]
async fn metrics_count_by_route_template_and_openapi_describes_every_route() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let id = lan.add_activity(3, 4);
    lan.sync().await;
    assert_eq!(app.call("GET", &format!("/api/v1/records/{id}"), Some(&lan.token), None).await.0, 200);
    assert_eq!(app.call("GET", "/metrics", None, None).await.0, 404, "metrics are not on the public address");
    let text = app.metrics().await;
    assert!(text.contains(r#"sotay_http_requests_total{method="POST",route="/api/v1/sync",status="200"}"#), "{text}");
    assert!(text.contains(r#"route="/api/v1/records/{id}""#));
    assert!(!text.contains(&id.to_string()), "no ids in metrics");
    let (status, doc) = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path, _) in route_table() {
        assert!(doc["paths"][path][method.to_lowercase()].is_object(), "{method} {path} is not described");
    }
}

#[tokio::test]
async fn the_record_list_limit_is_checked_at_both_ends() {
    let app = spawn_app().await;
    app.commune().await;
    let reviewer = app.web_login("reviewer").await;
    for (limit, status) in [(0, 400), (1, 200), (5000, 200), (5001, 400)] {
        let (got, body) = app.call("GET", &format!("/api/v1/records?limit={limit}"), Some(&reviewer), None).await;
        assert_eq!(got, status, "limit={limit}: {body}");
        assert_documented(&app, "GET", "/api/v1/records", got).await;
    }
}
