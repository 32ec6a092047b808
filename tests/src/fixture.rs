//! The upgrade fixture: a database made by this version of the server, with one of everything a
//! commune's database holds (villages, people of every role, devices, activities in every review
//! state, a conflict, a deleted record, GBV cases, one of them purged, audit rows), committed
//! under `tests/fixtures/` so that every later version must open it, migrate it and sync with it
//! (`tests/tests/api/upgrade.rs`).
//!
//! `cargo run -p sotay-tests --bin make-upgrade-fixture` writes a new one (SQLite file, PostgreSQL
//! dump, and the facts the test checks); a released fixture is never replaced, only joined by the
//! next version's.

use crate::{NOW_MS, TestApp, gbv_edits};
use serde::{Deserialize, Serialize};
use sotay_sync_core::{Edit, RecordKind};

/// What the fixture holds, written beside it and checked after an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// The schema version (number of migrations) the fixture was made with.
    pub schema_version: i64,
    /// Records by kind.
    pub activities: i64,
    /// GBV referrals.
    pub gbv_referrals: i64,
    /// Rows of the change log.
    pub log_rows: i64,
    /// Audit rows.
    pub audit_rows: i64,
    /// The activities a village-A collaborator's new phone is provisioned with (not deleted or
    /// deleted: every activity of village A).
    pub village_a_activities: i64,
    /// The case whose history was purged.
    pub purged_case: String,
    /// A village-A activity with an open conflict on `attendance_female`.
    pub conflicted: String,
}

/// Fills a fresh server with one of everything (see the module docs).
pub async fn populate(app: &TestApp) -> Facts {
    app.commune().await;
    let focal = app.web_login("focal").await;
    let reviewer = app.web_login("reviewer").await;
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let mut minh = app.device("minh").await;

    // Village A: a draft, a submitted, an approved, a returned, a deleted activity, a conflict.
    let draft = lan.device.create(RecordKind::Activity, &[Edit::Unit("hlhpn".into())], NOW_MS).unwrap();
    let submitted = lan.add_activity(12, 8);
    let approved = lan.add_activity(20, 15);
    let returned = lan.add_activity(7, 3);
    let deleted = lan.add_activity(5, 5);
    let conflicted = lan.add_activity(30, 10);
    let today = sotay_sync_core::Date::new(2026, 11, 30).unwrap();
    for id in [submitted, approved, returned] {
        lan.device.submit(id, today, NOW_MS + 1).unwrap();
    }
    lan.device.delete(deleted, NOW_MS + 1).unwrap();
    let _ = draft;
    lan.sync().await;
    hoa.sync().await;
    lan.device.edit(conflicted, &[Edit::AttendanceFemale(31)], NOW_MS + 2).unwrap();
    hoa.device.edit(conflicted, &[Edit::AttendanceFemale(32)], NOW_MS + 2).unwrap();
    lan.sync().await;
    hoa.sync().await;
    let approve =
        app.call("POST", &format!("/api/v1/records/{approved}/approve"), Some(&reviewer), Some(Vec::new())).await;
    assert_eq!(approve.0, 200, "{}", approve.1);
    let comment = r#"{"comment":"Thiếu danh sách người tham dự"}"#.as_bytes().to_vec();
    let back = app.call("POST", &format!("/api/v1/records/{returned}/return"), Some(&reviewer), Some(comment)).await;
    assert_eq!(back.0, 200, "{}", back.1);

    // Village B: activities of another collaborator.
    for i in 0..3 {
        minh.add_activity(10 + i, 10 + i);
    }
    minh.sync().await;

    // GBV cases: one referred, one closed and purged.
    let open = lan.device.create(RecordKind::GbvReferral, &gbv_edits("VV-2026-001"), NOW_MS + 3).unwrap();
    let purged = lan.device.create(RecordKind::GbvReferral, &gbv_edits("VV-2026-002"), NOW_MS + 3).unwrap();
    lan.device.edit(purged, &[Edit::Notes("ghi chú đã sửa".into())], NOW_MS + 4).unwrap();
    lan.sync().await;
    let _ = open;
    let close = br#"{"case_status":"closed"}"#.to_vec();
    let closed = app.call("POST", &format!("/api/v1/records/{purged}/case-status"), Some(&focal), Some(close)).await;
    assert_eq!(closed.0, 200, "{}", closed.1);
    let done =
        app.call("POST", &format!("/api/v1/records/{purged}/purge-history"), Some(&focal), Some(Vec::new())).await;
    assert_eq!(done.0, 200, "{}", done.1);
    lan.sync().await;

    facts(app, purged.to_string(), conflicted.to_string()).await
}

/// Reads the facts of a database.
pub async fn facts(app: &TestApp, purged_case: String, conflicted: String) -> Facts {
    use sqlx::Row;
    let db = &app.state.db.read;
    let count = |sql: &'static str| async move { sqlx::query(sql).fetch_one(db).await.unwrap().get::<i64, _>(0) };
    let village_a: Vec<u8> =
        sqlx::query("SELECT id FROM villages WHERE name = 'Thôn Đông'").fetch_one(db).await.unwrap().get(0);
    let village_a_activities: i64 =
        sqlx::query("SELECT COUNT(*) FROM records WHERE kind = 'activity' AND village_id = $1")
            .bind(village_a)
            .fetch_one(db)
            .await
            .unwrap()
            .get(0);
    Facts {
        schema_version: count("SELECT CAST(MAX(version) AS BIGINT) FROM _sqlx_migrations").await,
        activities: count("SELECT COUNT(*) FROM records WHERE kind = 'activity'").await,
        gbv_referrals: count("SELECT COUNT(*) FROM records WHERE kind = 'gbv_referral'").await,
        log_rows: count("SELECT COUNT(*) FROM changes").await,
        audit_rows: count("SELECT COUNT(*) FROM audit_log").await,
        village_a_activities,
        purged_case,
        conflicted,
    }
}
