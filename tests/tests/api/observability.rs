//! What an operator watches: the Prometheus series on the metrics address (`metrics.rs`), fed by
//! real syncs, refusals, logins and the stored data; and the request id in error bodies.

use sotay_tests::*;

/// The value of one series line (`name{labels} value`), if it is there.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn the_metrics_count_syncs_refusals_throttling_and_the_stored_data() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    lan.add_activity(3, 4);
    lan.add_activity(5, 6);
    let report = lan.sync().await;
    assert_eq!(report.rejected, 0);
    let refused =
        lan.push_raw(sotay_sync_core::RecordId::new_v7(NOW_MS as u64), vec![b"not an automerge change".to_vec()]).await;
    assert_eq!(refused.rejected.len(), 1);
    for _ in 0..6 {
        app.login("reviewer", "a wrong password").await;
    }
    assert_eq!(app.login("reviewer", "a wrong password").await.0, 429);

    let text = app.metrics().await;
    let at_least = |series: &str, min: f64| {
        let v = value(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(v >= min, "{series} = {v}, expected at least {min}");
    };
    at_least(r#"sotay_syncs_total{outcome="ok"}"#, 2.0);
    at_least("sotay_sync_received_bytes_total", 100.0);
    at_least("sotay_sync_sent_bytes_total", 10.0);
    at_least("sotay_sync_changes_applied_total", 2.0);
    at_least(r#"sotay_sync_refusals_total{reason="unprocessable"}"#, 1.0);
    at_least(r#"sotay_throttled_total{action="login"}"#, 1.0);
    assert_eq!(value(&text, r#"sotay_records{kind="activity"}"#), Some(2.0), "{text}");
    assert_eq!(value(&text, "sotay_open_conflicts"), Some(0.0));
    assert_eq!(value(&text, "sotay_open_duplicates"), Some(0.0));
    assert_eq!(value(&text, "sotay_pending_changes"), Some(0.0));
    assert!(value(&text, r#"sotay_db_pool_connections{pool="write",state="idle"}"#).is_some(), "{text}");
    at_least("sotay_db_write_wait_seconds_count", 1.0);
    at_least(r#"sotay_http_request_duration_seconds_count{method="POST",route="/api/v1/sync"}"#, 3.0);
    at_least(r#"sotay_http_requests_total{method="POST",route="/api/v1/login",status="429"}"#, 1.0);
    assert!(text.contains("# TYPE sotay_http_request_duration_seconds histogram"));
}

#[tokio::test]
async fn every_error_body_names_its_request() {
    let app = spawn_app().await;
    for (method, path) in [("GET", "/api/v1/records"), ("GET", "/no/such/page"), ("POST", "/api/v1/token")] {
        let (status, body) = app.call(method, path, None, Some(b"{".to_vec())).await;
        assert!(status >= 400, "{method} {path}: {status}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        let id = body["request_id"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 36, "{method} {path}: a UUID request id in {body}");
    }
}
