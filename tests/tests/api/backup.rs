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

#[tokio::test]
async fn after_a_restore_to_an_older_backup_the_phones_send_again_what_it_lost_and_converge() {
    if backend() == Backend::Postgres {
        // PostgreSQL restores with pg_restore; the command says so.
        let app = spawn_app().await;
        let err = admin::restore(&app.db_url, std::path::Path::new("x.db")).await.unwrap_err().to_string();
        assert!(err.contains("pg_restore"), "{err}");
        return;
    }
    let mut app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let mut minh = app.device("minh").await;
    let shared = lan.add_activity(10, 10);
    for i in 0..4 {
        lan.add_activity(20 + i, 1);
        minh.add_activity(30 + i, 1);
    }
    lan.sync().await;
    minh.sync().await;
    hoa.sync().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    admin::backup(&app.state.db, &file).await.unwrap();

    // After the backup, work that the restore will lose: new records and edits, on every phone.
    let after_lan = lan.add_activity(40, 4);
    let after_minh = minh.add_activity(50, 5);
    lan.device.edit(shared, &[sotay_sync_core::Edit::AttendanceMale(11)], NOW_MS + 1).unwrap();
    for phone in [&mut lan, &mut minh] {
        assert!(phone.sync().await.acked > 0);
    }
    hoa.sync().await;
    hoa.device.edit(shared, &[sotay_sync_core::Edit::AttendanceFemale(12)], NOW_MS + 2).unwrap();
    assert_eq!(hoa.sync().await.acked, 1);
    let before_restore = app.record_count().await;

    let url = app.db_url.clone();
    let err = admin::restore(&url, &file).await.unwrap_err().to_string();
    assert!(err.contains("stop it first"), "refused while the server runs: {err}");
    app.stop().await;
    // The stopped server's connections go too, as when its process ends (its directory stays).
    app.state.db.write.close().await;
    app.state.db.read.close().await;
    admin::restore(&url, &file).await.unwrap();
    let stopped = app;
    let app = spawn_app_on(&url).await;
    assert!(app.record_count().await < before_restore, "the restore lost the newest records");
    assert!(app.server_record(after_lan).await.is_none());
    assert_eq!(app.audit_count("database.restore").await, 1);

    for phone in [&mut lan, &mut hoa, &mut minh] {
        phone.reconnect(&app.base);
    }
    for _ in 0..2 {
        for phone in [&mut lan, &mut hoa, &mut minh] {
            phone.sync().await;
        }
    }
    assert_eq!(app.record_count().await, before_restore, "every record is back");
    for id in [after_lan, after_minh, shared] {
        assert!(app.server_record(id).await.is_some(), "{id} is back");
    }
    let on_server = app.server_record(shared).await.unwrap().view();
    assert_eq!((on_server.attendance_female, on_server.attendance_male), (Some(12), Some(11)), "both edits are back");
    for phone in [&lan, &hoa] {
        let server_view = app.server_record(shared).await.unwrap().view();
        assert_eq!(phone.device.view(shared).unwrap(), server_view, "converged");
        assert_eq!(phone.device.pending().unwrap(), 0);
    }
    assert!(minh.device.view(after_minh).is_ok());
    drop(stopped);
}
