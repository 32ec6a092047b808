//! `sotay admin backup`: a consistent copy of the live SQLite database taken while phones sync
//! holds everything acknowledged before it began, passes SQLite's integrity check, and opens as a
//! server's database; on PostgreSQL the command refuses with a pointer to pg_dump.

use sotay_server::admin;
use sqlx::Row;

use sotay_tests::*;

#[tokio::test]
async fn a_backup_taken_while_phones_sync_holds_everything_acknowledged_before_it() {
    let app = spawn_app().await;
    app.commune().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    if backend() == Backend::Postgres {
        let err = admin::backup(&app.state.db, &file).await.unwrap_err().to_string();
        assert!(err.contains("pg_dump"), "{err}");
        return;
    }
    let mut phones = [app.device("lan").await, app.device("hoa").await, app.device("minh").await];
    let mut before = Vec::new();
    for (i, phone) in phones.iter_mut().enumerate() {
        for j in 0..20 {
            before.push(phone.add_activity(i as u32 * 100 + j, 1));
        }
        assert_eq!(phone.sync().await.acked, 20);
    }
    // Phones keep syncing new work while the backup is written.
    let syncing = async {
        let mut after = Vec::new();
        for round in 0..5u32 {
            for phone in phones.iter_mut() {
                after.push(phone.add_activity(1000 + round, 2));
                phone.sync().await;
            }
        }
        after
    };
    let (after, backup) = tokio::join!(syncing, admin::backup(&app.state.db, &file));
    backup.unwrap();
    assert!(admin::backup(&app.state.db, &file).await.is_err(), "an existing file is never overwritten");

    let copy = spawn_app_on(&format!("sqlite://{}", file.display())).await;
    let integrity: String = sqlx::query("PRAGMA integrity_check").fetch_one(&copy.state.db.read).await.unwrap().get(0);
    assert_eq!(integrity, "ok");
    for id in &before {
        assert!(copy.server_record(*id).await.is_some(), "acknowledged before the backup: {id}");
    }
    let in_copy = copy.record_count().await;
    assert!(in_copy >= before.len() as i64 && in_copy <= app.record_count().await, "{in_copy}");
    assert_eq!(app.record_count().await, (before.len() + after.len()) as i64, "the live database went on");
}
