//! One store conformance suite, the same code run against every backend: SQLite always, and
//! PostgreSQL when it is reachable (`SOTAY_TEST_POSTGRES_URL`). Without PostgreSQL the suite says
//! so and skips it, unless `SOTAY_REQUIRE_POSTGRES=1` (as in `.ci/run`), which makes that a failure.
//! (The whole end-to-end suite also runs on PostgreSQL with `SOTAY_TEST_DATABASE=postgres`.)

use sotay_server::admin::{self, NewUser};
use sotay_server::auth::Role;
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Edit, wire};
use sotay_tests::*;
use sqlx::Row;

async fn conformance(db_url: &str) {
    // Migrations create the schema once and are idempotent.
    let app = spawn_app_on(db_url).await;
    let again = sotay_server::db::Db::open(db_url).await.expect("reopening migrates nothing twice");
    again.close().await;
    let c = app.commune().await;

    // Constraints hold.
    let dup = admin::create_user(
        &app.state.db,
        NewUser { username: "lan", display_name: "x", role: Role::Reviewer, commune: c.commune, village: None },
    )
    .await;
    assert!(dup.is_err(), "usernames are unique");
    let no_village =
        admin::create_village(&app.state.db, sotay_sync_core::CommuneId(uuid::Uuid::new_v4()), "Thôn ma").await;
    assert!(no_village.is_err(), "a village belongs to an existing commune");
    assert!(sqlx::query("DELETE FROM audit_log").execute(&app.state.db.write).await.is_err(), "audit is append-only");
    assert!(sqlx::query("UPDATE audit_log SET detail = 'x'").execute(&app.state.db.write).await.is_err());

    // Sync: two phones converge; a resent batch changes nothing; sequence numbers are dense.
    let (mut a, mut b) = (app.device("lan").await, app.device("hoa").await);
    let id = a.add_activity(4, 5);
    a.device.create(RecordKind::GbvReferral, &gbv_edits("TY-0001"), NOW_MS).unwrap();
    a.device.edit(id, &[Edit::AttendanceMale(6)], NOW_MS + 1).unwrap();
    let body = wire::encode(&a.device.prepare_sync(1 << 20).unwrap());
    a.client.sync_raw(&a.token, body.clone()).await.unwrap();
    a.client.sync_raw(&a.token, body).await.unwrap();
    a.sync().await;
    b.sync().await;
    b.device.edit(id, &[Edit::Location("Hội trường".into())], NOW_MS + 2).unwrap();
    b.sync().await;
    a.sync().await;
    assert_eq!(a.device.view(id).unwrap(), b.device.view(id).unwrap());
    assert_eq!(b.views().len(), 1, "the GBV referral stays on its phone");
    let row =
        sqlx::query("SELECT COUNT(*), MIN(seq), MAX(seq) FROM changes").fetch_one(&app.state.db.read).await.unwrap();
    assert_eq!((row.get::<i64, _>(0), row.get::<i64, _>(1), row.get::<i64, _>(2)), (4, 1, 4));

    // Durable across a restart.
    let app = app.restart().await;
    assert_eq!(app.record_count().await, 2);
    assert_eq!(app.server_record(id).await.unwrap().view(), a.device.view(id).unwrap());
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&format!("sqlite://{}", dir.path().join("c.db").display())).await;
}

#[tokio::test]
async fn postgres_store_conforms() {
    match try_fresh_postgres_database().await {
        Ok(url) => conformance(&url).await,
        Err(e) if std::env::var("SOTAY_REQUIRE_POSTGRES").as_deref() != Ok("1") => {
            eprintln!("SKIPPED: PostgreSQL store conformance: {} is not reachable ({e})", postgres_admin_url());
        }
        Err(e) => panic!("PostgreSQL is required (SOTAY_REQUIRE_POSTGRES=1): {e}"),
    }
}
