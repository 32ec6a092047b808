//! Changes that arrive before their dependencies wait in `pending_changes`, bounded per device in
//! count and bytes, and expire by age; a single change is bounded in size. Each bound is tested
//! just past it.

use sotay_server::config::Limits;
use sotay_sync_core::{Edit, Record, RecordId};
use sotay_tests::*;
use sqlx::Row;

/// A record created and synced by Lan's phone, and `n` further edits of it made on that phone
/// but not sent: each depends on the one before.
async fn record_with_unsent_edits(app: &TestApp, lan: &mut TestDevice, n: usize) -> (RecordId, Vec<Vec<u8>>) {
    let id = lan.add_activity(5, 5);
    lan.sync().await;
    let mut server = app.server_record(id).await.unwrap();
    let mut record = Record::load(&server.save(), Some(lan.editor())).unwrap();
    let edits = (0..n)
        .map(|i| record.edit(&[Edit::AttendanceFemale(10 + i as u32)], NOW_MS + i as i64).unwrap().unwrap())
        .collect();
    (id, edits)
}

async fn pending_rows(app: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM pending_changes").fetch_one(&app.state.db.read).await.unwrap().get(0)
}

#[tokio::test]
async fn waiting_changes_are_bounded_per_device_in_count() {
    let app = spawn_app_with(Limits { max_pending_changes: 2, ..Limits::default() }).await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let (id, e) = record_with_unsent_edits(&app, &mut lan, 4).await;
    // Two changes whose dependency (e[0]) has not arrived: at the bound, they wait.
    assert!(lan.push_raw(id, vec![e[1].clone(), e[2].clone()]).await.rejected.is_empty());
    assert_eq!(pending_rows(&app).await, 2);
    // One more is past it: refused with a clear reason, nothing stored.
    let answer = lan.push_raw(id, vec![e[3].clone()]).await;
    assert_eq!(answer.rejected.len(), 1);
    assert!(answer.rejected[0].message.contains("waiting for earlier changes"), "{}", answer.rejected[0].message);
    assert_eq!(pending_rows(&app).await, 2);
    // The missing change arrives: the waiting ones are applied and leave the table.
    assert!(lan.push_raw(id, vec![e[0].clone()]).await.rejected.is_empty());
    assert_eq!(pending_rows(&app).await, 0);
    assert_eq!(app.server_record(id).await.unwrap().view().attendance_female, Some(12));
}

#[tokio::test]
async fn waiting_changes_are_bounded_per_device_in_bytes() {
    let app = spawn_app().await;
    app.commune().await;
    let mut probe = app.device("lan").await;
    let (_, e) = record_with_unsent_edits(&app, &mut probe, 3).await;
    let bound = (e[1].len() + e[2].len()) as i64;
    drop(app);
    for (max_bytes, refused) in [(bound, false), (bound - 1, true)] {
        let app = spawn_app_with(Limits { max_pending_bytes: max_bytes, ..Limits::default() }).await;
        app.commune().await;
        let mut lan = app.device("lan").await;
        let (id, e) = record_with_unsent_edits(&app, &mut lan, 3).await;
        assert_eq!((e[1].len() + e[2].len()) as i64, bound, "the same edits encode to the same size");
        let answer = lan.push_raw(id, vec![e[1].clone(), e[2].clone()]).await;
        assert_eq!(answer.rejected.len() == 1, refused, "bound {max_bytes}: {:?}", answer.rejected);
        assert_eq!(pending_rows(&app).await, if refused { 0 } else { 2 });
    }
}

#[tokio::test]
async fn waiting_changes_expire_by_age() {
    let app = spawn_app_with(Limits { pending_max_age_secs: 0, ..Limits::default() }).await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let (id, e) = record_with_unsent_edits(&app, &mut lan, 2).await;
    assert!(lan.push_raw(id, vec![e[1].clone()]).await.rejected.is_empty());
    assert_eq!(pending_rows(&app).await, 1);
    // Make sure the row is older than "now" by at least a millisecond, then any write expires it.
    sqlx::query("UPDATE pending_changes SET received_at = received_at - 10")
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let other = lan.add_activity(1, 1);
    lan.sync().await;
    assert!(app.server_record(other).await.is_some());
    assert_eq!(pending_rows(&app).await, 0);
}

#[tokio::test]
async fn a_single_change_is_bounded_in_size() {
    // An edit with long notes: larger than the record's creation, which must still pass.
    async fn long_note(app: &TestApp, lan: &mut TestDevice) -> (RecordId, Vec<u8>) {
        let id = lan.add_activity(5, 5);
        lan.sync().await;
        let mut server = app.server_record(id).await.expect("the creation is under the limit");
        let mut record = Record::load(&server.save(), Some(lan.editor())).unwrap();
        (id, record.edit(&[Edit::Notes("Thảo luận nhóm. ".repeat(150))], NOW_MS).unwrap().unwrap())
    }
    let app = spawn_app().await;
    app.commune().await;
    let mut probe = app.device("lan").await;
    let size = long_note(&app, &mut probe).await.1.len();
    drop(app);
    for (limit, refused) in [(size, false), (size - 1, true)] {
        let app = spawn_app_with(Limits { max_change_bytes: limit, ..Limits::default() }).await;
        app.commune().await;
        let mut lan = app.device("lan").await;
        let (id, change) = long_note(&app, &mut lan).await;
        assert_eq!(change.len(), size);
        let answer = lan.push_raw(id, vec![change]).await;
        assert_eq!(answer.rejected.len() == 1, refused, "limit {limit}: {:?}", answer.rejected);
        if refused {
            assert!(answer.rejected[0].message.contains("over the limit"));
        }
    }
}
