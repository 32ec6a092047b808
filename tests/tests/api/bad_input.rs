//! The bad-input matrix: every JSON endpoint with malformed JSON, wrong types, missing and unknown
//! fields, oversized strings and arrays, and the query endpoints with out-of-range and nonsense
//! parameters. Each gets a 4xx with a clear error body (a stable code and one sentence), and the
//! database is unchanged: a digest of every row of every table is the same before and after.

use sotay_tests::*;
use sqlx::{Column, Row};

/// Every row of every table, as text, in a stable order.
async fn digest(app: &TestApp) -> Vec<String> {
    let db = &app.state.db;
    let tables_sql = match backend() {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY table_name"
        }
    };
    let tables: Vec<String> = sqlx::query_scalar(tables_sql).fetch_all(&db.read).await.unwrap();
    let mut out = Vec::new();
    for table in tables {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}"))).fetch_all(&db.read).await.unwrap();
        let mut lines: Vec<String> = rows
            .iter()
            .map(|row| {
                (0..row.columns().len())
                    .map(|i| {
                        row.try_get::<Option<String>, _>(i)
                            .map(|v| format!("{v:?}"))
                            .or_else(|_| row.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| row.try_get::<Option<bool>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| row.try_get::<Option<f64>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| row.try_get::<Option<Vec<u8>>, _>(i).map(|v| format!("{v:?}")))
                            .unwrap_or_else(|e| panic!("{table}.{}: {e}", row.columns()[i].name()))
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        lines.sort();
        out.push(format!("{table}: {}", lines.len()));
        out.extend(lines);
    }
    out
}

#[tokio::test]
async fn malformed_and_oversized_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let id = lan.add_activity(10, 5);
    lan.sync().await;
    let reviewer = app.web_login("reviewer").await;
    let focal = app.web_login("focal").await;
    let admin = app.web_login("admin").await;
    let before = digest(&app).await;

    let long = "x".repeat(200_000);
    let many = format!("[{}]", vec!["\"attendance_female\""; 20_000].join(","));
    let record = format!("/api/v1/records/{id}");
    // (method, path, token, body): each must be answered 4xx with a clear body.
    let bodies: Vec<(&str, String, Option<&str>, String)> = vec![
        ("POST", "/api/v1/enrol".into(), None, "{".into()),
        ("POST", "/api/v1/enrol".into(), None, r#"{"code": 5, "device_name": "a"}"#.into()),
        ("POST", "/api/v1/enrol".into(), None, r#"{"device_name": "a"}"#.into()),
        ("POST", "/api/v1/enrol".into(), None, format!(r#"{{"code": "ABCD-EFGH-JKMN", "device_name": "{long}"}}"#)),
        ("POST", "/api/v1/enrol".into(), None, r#"{"code": "X", "device_name": "a", "device_secret": "short"}"#.into()),
        ("POST", "/api/v1/token".into(), None, "[]".into()),
        ("POST", "/api/v1/token".into(), None, r#"{"device_id": "not-a-uuid", "device_secret": "x"}"#.into()),
        ("POST", "/api/v1/token".into(), None, r#"{"device_secret": "x"}"#.into()),
        ("POST", "/api/v1/login".into(), None, "null".into()),
        ("POST", "/api/v1/login".into(), None, r#"{"username": ["lan"], "password": "x"}"#.into()),
        ("POST", "/api/v1/login".into(), None, format!(r#"{{"username": "{long}", "password": "x"}}"#)),
        ("POST", "/api/v1/login".into(), None, format!(r#"{{"username": "lan", "password": "{long}"}}"#)),
        ("POST", format!("{record}/return"), Some(&reviewer), "{}".into()),
        ("POST", format!("{record}/return"), Some(&reviewer), r#"{"comment": 7}"#.into()),
        ("POST", format!("{record}/case-status"), Some(&focal), r#"{"case_status": "gone"}"#.into()),
        ("POST", format!("{record}/case-status"), Some(&focal), r#"{"case_status": {"a": 1}}"#.into()),
        ("POST", format!("{record}/resolve"), Some(&reviewer), r#"{"field": "attendance_female"}"#.into()),
        ("POST", format!("{record}/resolve"), Some(&reviewer), r#"{"field": "nope", "choice": 0}"#.into()),
        (
            "POST",
            format!("{record}/resolve"),
            Some(&reviewer),
            r#"{"field": "attendance_female", "choice": -1}"#.into(),
        ),
        ("POST", format!("{record}/resolve"), Some(&reviewer), format!(r#"{{"field": {many}, "choice": 0}}"#)),
        ("POST", "/api/v1/duplicates/merge".into(), Some(&reviewer), r#"{"keep": "x", "drop": "y"}"#.into()),
        (
            "POST",
            "/api/v1/duplicates/merge".into(),
            Some(&reviewer),
            format!(r#"{{"keep": "{id}", "drop": "{id}", "take": {many}}}"#),
        ),
        ("POST", "/api/v1/duplicates/dismiss".into(), Some(&reviewer), r#"{"first": 1}"#.into()),
        ("POST", "/api/v1/duplicates/dismiss".into(), Some(&reviewer), "{\"first\": \"\u{0}\"".into()),
    ];
    let queries: Vec<(&str, Option<&str>)> = vec![
        ("/api/v1/records?limit=-1", Some(&reviewer)),
        ("/api/v1/records?limit=99999999999999999999", Some(&reviewer)),
        ("/api/v1/records?kind=spaceship", Some(&reviewer)),
        ("/api/v1/records?village=not-a-uuid", Some(&reviewer)),
        ("/api/v1/records?after=%00", Some(&reviewer)),
        ("/api/v1/reports?month=2026-13", Some(&reviewer)),
        ("/api/v1/reports?year=2026&month=2026-01", Some(&reviewer)),
        ("/api/v1/reports?from=2026-02-30&to=2026-03-01", Some(&reviewer)),
        ("/api/v1/reports?from=2026-03-01&to=2026-01-01", Some(&reviewer)),
        ("/api/v1/reports?quarter=2026-Q5", Some(&reviewer)),
        ("/api/v1/reports?year=2026&by=district", Some(&reviewer)),
        ("/api/v1/reports/completeness?action_month=abcd", Some(&reviewer)),
        ("/api/v1/reports/export?year=2026&format=pdf", Some(&reviewer)),
        ("/api/v1/reports/export?year=2026&exact=maybe", Some(&focal)),
        ("/api/v1/admin/audit?limit=0", Some(&admin)),
        ("/api/v1/admin/audit?after=abc", Some(&admin)),
    ];
    let mut seen = 0;
    let check = |what: &str, status: u16, body: &str| {
        assert!((400..500).contains(&status), "{what}: {status} {}", &body[..body.len().min(300)]);
        let json: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: not a JSON error body: {body:.300}"));
        let (code, message) = (json["error"].as_str().unwrap_or(""), json["message"].as_str().unwrap_or(""));
        assert!(!code.is_empty() && !message.is_empty(), "{what}: {json}");
        assert!(!message.contains('\n') && message.len() < 400, "{what}: one short sentence: {message:.500}");
        assert!(!message.contains("panicked") && !message.contains("sqlx"), "{what}: {message}");
    };
    for (method, path, token, body) in &bodies {
        let (status, answer) = app.call(method, path, *token, Some(body.clone().into_bytes())).await;
        check(&format!("{method} {path} {:.60}", body), status, &answer);
        seen += 1;
    }
    for (path, token) in &queries {
        let (status, answer) = app.call("GET", path, *token, None).await;
        check(path, status, &answer);
        seen += 1;
    }
    assert!(seen >= 40);
    let after = digest(&app).await;
    assert_eq!(before.len(), after.len(), "no row added or removed");
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "the database is unchanged");
    }
}
