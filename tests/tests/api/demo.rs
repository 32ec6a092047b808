//! `--demo` seeds an empty database with a commune a newcomer can explore, through the real
//! ingest, and never touches a database that already holds one.

use sotay_server::demo::{DEMO_PASSWORD, DemoSize, seed};
use sotay_tests::*;
use sqlx::Row;

#[tokio::test]
async fn the_demo_commune_is_real_data_with_conflicts_duplicates_and_reviews() {
    let app = spawn_app().await;
    let size = DemoSize { villages: 2, activities_per_village: 40 };
    let summary = seed(&app.state, size).await.unwrap().expect("an empty database is seeded");
    assert_eq!(summary.records, 2 * (40 + 10));
    assert_eq!(app.record_count().await, 100);
    let count = |sql: &'static str| {
        let db = app.state.db.read.clone();
        async move { sqlx::query(sql).fetch_one(&db).await.unwrap().get::<i64, _>(0) }
    };
    assert_eq!(count("SELECT COUNT(*) FROM records WHERE kind = 'gbv_referral'").await, 10);
    assert_eq!(count("SELECT COUNT(*) FROM records WHERE conflicted = TRUE").await, 16, "8 conflicts per village");
    assert!(count("SELECT COUNT(*) FROM records WHERE review_state = 'approved'").await > 0);
    assert!(count("SELECT COUNT(*) FROM records WHERE review_state = 'submitted'").await > 0);
    assert!(seed(&app.state, size).await.unwrap().is_none(), "a seeded database is left alone");
    assert_eq!(app.record_count().await, 100);

    // The accounts work: the reviewer signs in and sees activities; a new phone of a village
    // collaborator is provisioned with that village's records.
    let (status, body) = app.login("vhxh", DEMO_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let mut phone = app.device("ctv1").await;
    phone.sync().await;
    assert_eq!(phone.views().len(), 45, "the village's 40 + 5 duplicates; GBV stays on its phone");
    assert!(phone.views().iter().any(|v| !v.conflicts.is_empty()));
}
