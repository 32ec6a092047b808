//! Upgrades: the database of an earlier version (`tests/fixtures/`, made by
//! `make-upgrade-fixture`) opens with this server, migrates, and syncs: every record and log row
//! is there, a new phone is provisioned from it, edits and conflict resolution go through, the
//! purged case stays purged, and the reports answer.

use sotay_sync_core::{Field, RecordId};
use sotay_tests::fixture::{Facts, facts};
use sotay_tests::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A database holding the fixture of schema `version`, on this run's engine, and its facts.
async fn restored(version: i64, dir: &tempfile::TempDir) -> (String, Facts) {
    let all: BTreeMap<String, Facts> =
        serde_json::from_slice(&std::fs::read(fixtures().join(format!("schema-{version}.facts.json"))).unwrap())
            .unwrap();
    match backend() {
        Backend::Sqlite => {
            let db = dir.path().join("sotay.db");
            std::fs::copy(fixtures().join(format!("schema-{version}.sqlite")), &db).unwrap();
            (format!("sqlite://{}", db.display()), all["sqlite"].clone())
        }
        Backend::Postgres => {
            let url = fresh_postgres_database().await;
            let dump = std::fs::read_to_string(fixtures().join(format!("schema-{version}.postgres.sql"))).unwrap();
            // psql meta-commands, if a newer pg_dump wrote any, are not SQL.
            let sql: String = dump.lines().filter(|l| !l.starts_with('\\')).collect::<Vec<_>>().join("\n");
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
            (url, all["postgres"].clone())
        }
    }
}

#[tokio::test]
async fn the_schema_7_fixture_opens_migrates_and_syncs() {
    opens_migrates_and_syncs(7).await;
}

#[tokio::test]
async fn the_schema_8_fixture_opens_migrates_and_syncs() {
    opens_migrates_and_syncs(8).await;
}

#[tokio::test]
async fn the_schema_9_fixture_opens_migrates_and_syncs() {
    opens_migrates_and_syncs(9).await;
}

#[tokio::test]
async fn the_schema_10_fixture_opens_migrates_and_syncs() {
    opens_migrates_and_syncs(10).await;
}

#[tokio::test]
async fn the_schema_11_fixture_opens_migrates_and_syncs() {
    opens_migrates_and_syncs(11).await;
}

#[tokio::test]
async fn the_schema_12_fixture_opens_migrates_and_syncs() {
    opens_migrates_and_syncs(12).await;
}

#[tokio::test]
async fn the_schema_13_fixture_opens_migrates_and_syncs() {
    opens_migrates_and_syncs(13).await;
}

async fn opens_migrates_and_syncs(version: i64) {
    let dir = tempfile::tempdir().unwrap();
    let (url, before) = restored(version, &dir).await;
    let app = spawn_app_on(&url).await;
    let after = facts(&app, before.purged_case.clone(), before.conflicted.clone()).await;
    assert!(after.schema_version >= before.schema_version);
    assert_eq!(
        (after.activities, after.gbv_referrals, after.log_rows, after.village_a_activities),
        (before.activities, before.gbv_referrals, before.log_rows, before.village_a_activities),
        "every record and log row is still there"
    );
    assert!(after.audit_rows >= before.audit_rows, "the audit log is kept");

    // A new phone for a village-A collaborator is provisioned from the old database.
    let mut lan = app.device("lan").await;
    lan.sync().await;
    let views = lan.views();
    assert_eq!(views.len() as i64, before.village_a_activities, "village A's activities");
    let conflicted: RecordId = before.conflicted.parse().unwrap();
    let view = lan.device.view(conflicted).unwrap();
    assert_eq!(view.conflicts.len(), 1, "the conflict made before the upgrade is still open");
    // It resolves the conflict and records a new activity: both reach the server.
    lan.device.resolve(conflicted, Field::AttendanceFemale, 0, NOW_MS + 10).unwrap();
    let new = lan.add_activity(4, 4);
    assert_eq!(lan.sync().await.acked, 2);
    assert!(app.server_record(conflicted).await.unwrap().view().conflicts.is_empty());
    assert!(app.server_record(new).await.is_some());

    // The office's side: the purged case has one change, the reports answer.
    let focal = app.web_login("focal").await;
    let case = &before.purged_case;
    let (status, history) = app.call("GET", &format!("/api/v1/records/{case}/history"), Some(&focal), None).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(serde_json::from_str::<Vec<serde_json::Value>>(&history).unwrap().len(), 1, "still purged");
    let reviewer = app.web_login("reviewer").await;
    let (status, report) = app.call("GET", "/api/v1/reports?year=2026", Some(&reviewer), None).await;
    assert_eq!(status, 200, "{report}");
}
