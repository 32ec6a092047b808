//! Who gets which GBV figures in an export, as `sotay_server::policy::aggregates` decides: a GBV
//! focal point's exact export (XLSX or CSV) is exact and writes its `gbv.export` audit row, with
//! who and which period; a plain export is suppressed and unaudited; a reviewer asking for exact
//! figures is refused, and nothing is audited.

use sotay_sync_core::sample;
use sotay_sync_core::schema::RecordKind;
use sotay_tests::*;
use sqlx::Row;

/// The `gbv.export` audit rows as (user, device, detail).
async fn export_audits(app: &TestApp) -> Vec<(Option<Vec<u8>>, Option<Vec<u8>>, String)> {
    sqlx::query("SELECT actor_user, device_id, detail FROM audit_log WHERE action = 'gbv.export' ORDER BY id")
        .fetch_all(&app.state.db.read)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn a_focal_points_exact_export_is_audited_and_a_reviewer_asking_for_exact_figures_is_refused() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let mut lan = app.device("lan").await;
    lan.add_activity(10, 5);
    // Three cases in 2026: every GBV figure is small, "<5" unless exact.
    for i in 0..3u32 {
        lan.device.create(RecordKind::GbvReferral, &sample::gbv_referral(i, 2026), NOW_MS).unwrap();
    }
    lan.sync().await;
    let (reviewer, focal) = (app.web_login("reviewer").await, app.web_login("focal").await);
    let export = "/api/v1/reports/export?year=2026";

    // Refused before any figure is built: a reviewer asking for exact figures, in any format;
    // roles without reports at all.
    for format in ["xlsx", "csv"] {
        let (status, body) =
            app.call("GET", &format!("{export}&format={format}&exact=true"), Some(&reviewer), None).await;
        assert_eq!(status, 403, "a reviewer's exact {format} export: {body}");
        assert!(body.contains("exact GBV figures"), "{body}");
    }
    for who in ["lan", "admin"] {
        let token = app.web_login(who).await;
        let (status, body) = app.call("GET", &format!("{export}&exact=true"), Some(&token), None).await;
        assert_eq!(status, 403, "{who}: {body}");
    }
    // Plain exports, the reviewer's and the focal point's: suppressed, unaudited.
    for token in [&reviewer, &focal] {
        let (status, csv) = app.call("GET", &format!("{export}&format=csv"), Some(token), None).await;
        assert_eq!(status, 200, "{csv}");
        assert!(csv.contains("<5"), "a plain export suppresses small GBV figures");
    }
    let (status, csv) = app.call("GET", &format!("{export}&format=csv&exact=false"), Some(&focal), None).await;
    assert_eq!(status, 200);
    assert!(csv.contains("<5"), "exact=false is a plain export");
    assert!(export_audits(&app).await.is_empty(), "nothing exact left the database");
    assert_eq!(app.audit_count("gbv.export").await, 0);

    // The focal point's exact exports: exact figures, one audit row each, naming who and the period.
    let (status, csv) = app.call("GET", &format!("{export}&format=csv&exact=true"), Some(&focal), None).await;
    assert_eq!(status, 200, "{csv}");
    assert!(!csv.contains("<5"), "an exact export hides nothing");
    let (status, xlsx) = app.call("GET", &format!("{export}&exact=true"), Some(&focal), None).await;
    assert_eq!(status, 200, "the exact workbook");
    assert!(!xlsx.is_empty());
    // A bad format is refused before anything exact is built or audited.
    let (status, _) = app.call("GET", &format!("{export}&format=pdf&exact=true"), Some(&focal), None).await;
    assert_eq!(status, 400);
    let focal_user = c.users.iter().find(|(name, _)| name == "focal").unwrap().1;
    let audits = export_audits(&app).await;
    assert_eq!(audits.len(), 2, "one row per exact export: {audits:?}");
    for (user, device, detail) in &audits {
        assert_eq!(user.as_deref(), Some(focal_user.as_bytes().as_slice()), "the focal point is named");
        assert!(device.is_some(), "and the device");
        assert_eq!(detail, "2026-01-01 to 2026-12-31", "and the period");
    }
}
