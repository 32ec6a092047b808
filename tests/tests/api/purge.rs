//! Purging the history of GBV cases, through the real server: only the present stays, on the
//! server and on the creating phone; the two converge; edits after a purge merge as usual; a
//! phone that missed the purge converges too and keeps its offline edit aside; the retention job.

use sotay_sync_core::device::DeviceStore;
use sotay_sync_core::schema::CaseStatus;
use sotay_sync_core::{Edit, RecordId, RecordKind};
use sotay_tests::*;
use sqlx::Row;

const OLD_NOTE: &str = "GHI-CHU-CU: chồng đánh lúc 22 giờ";
const DAY_MS: i64 = 86_400_000;

/// Whether `text` can be read from `bytes` (a saved document or concatenated changes) in any
/// form: as raw bytes, or anywhere in the history Automerge decodes from them (columns may be
/// compressed, so the raw search alone proves nothing).
fn contains(bytes: &[u8], text: &str) -> bool {
    if bytes.windows(text.len()).any(|w| w == text.as_bytes()) {
        return true;
    }
    match sotay_sync_core::Record::load(bytes, None) {
        Ok(mut record) => serde_json::to_string(&record.field_history()).unwrap().contains(text),
        Err(_) => false,
    }
}

/// What the server keeps of a record, each part readable on its own: its document, its log rows
/// (together), its waiting changes (together).
async fn server_bytes(app: &TestApp, id: RecordId) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let rid = id.as_bytes().to_vec();
    for sql in [
        "SELECT doc FROM records WHERE id = $1",
        "SELECT bytes FROM changes WHERE record_id = $1 ORDER BY seq",
        "SELECT bytes FROM pending_changes WHERE record_id = $1",
    ] {
        let mut part = Vec::new();
        for row in sqlx::query(sql).bind(rid.clone()).fetch_all(&app.state.db.read).await.unwrap() {
            part.extend(row.get::<Vec<u8>, _>(0));
        }
        parts.push(part);
    }
    parts
}

async fn server_mentions(app: &TestApp, id: RecordId, text: &str) -> bool {
    server_bytes(app, id).await.iter().any(|part| contains(part, text))
}

/// A record's values, without its heads (which a purge changes by design).
fn present(mut view: sotay_sync_core::RecordView) -> sotay_sync_core::RecordView {
    view.heads.clear();
    view
}

async fn purge(app: &TestApp, focal: &str, id: RecordId) -> (u16, String) {
    app.call("POST", &format!("/api/v1/records/{id}/purge-history"), Some(focal), Some(Vec::new())).await
}

/// Lan's case, created with a note and corrected twice, synced.
async fn case_with_history(lan: &mut TestDevice) -> RecordId {
    let mut edits = gbv_edits("VV-0042");
    edits.push(Edit::Notes(OLD_NOTE.into()));
    let id = lan.device.create(RecordKind::GbvReferral, &edits, NOW_MS).unwrap();
    lan.device.edit(id, &[Edit::Notes("đã chuyển gửi".into())], NOW_MS + 1).unwrap();
    lan.device.edit(id, &[Edit::Notes("đã chuyển gửi, đang hỗ trợ".into())], NOW_MS + 2).unwrap();
    assert_eq!(lan.sync().await.acked, 3);
    id
}

/// A commune, Lan's phone, a focal point's session and Lan's case with its history.
async fn lans_case() -> (TestApp, TestDevice, String, RecordId) {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let focal = app.web_login("focal").await;
    let case = case_with_history(&mut lan).await;
    (app, lan, focal, case)
}

#[tokio::test]
async fn a_purged_case_keeps_only_its_present_on_the_server_and_the_phone() {
    let (app, mut lan, focal, case) = lans_case().await;
    assert!(server_mentions(&app, case, OLD_NOTE).await, "the history holds the first note");
    let before = present(app.server_record(case).await.unwrap().view());
    let (_, report_before) = app.call("GET", "/api/v1/reports/gbv", Some(&focal), None).await;

    let (status, body) = purge(&app, &focal, case).await;
    assert_eq!((status, body.as_str()), (200, r#"{"purged":true}"#));
    assert!(!server_mentions(&app, case, OLD_NOTE).await, "nothing of the old note on the server");
    assert_eq!(
        present(app.server_record(case).await.unwrap().view()),
        before,
        "the present, creation included, unchanged"
    );
    assert_eq!(app.call("GET", "/api/v1/reports/gbv", Some(&focal), None).await.1, report_before);
    assert_eq!(app.audit_count("gbv.purge").await, 1);
    let (status, body) = purge(&app, &focal, case).await;
    assert_eq!((status, body.as_str()), (200, r#"{"purged":false}"#), "nothing left to purge");

    // The creating phone replaces its copy on its next sync.
    lan.sync().await;
    let on_phone = lan.device.store().load_record(case).unwrap().unwrap();
    assert!(!contains(&on_phone, OLD_NOTE), "nothing of the old note on the phone");
    assert_eq!(present(lan.device.view(case).unwrap()), before);

    // Edits after the purge merge both ways.
    lan.device.edit(case, &[Edit::Notes("gặp lại ngày 5".into())], NOW_MS + 3).unwrap();
    assert_eq!(lan.sync().await.acked, 1);
    let path = format!("/api/v1/records/{case}/case-status");
    let (status, _) = app.call("POST", &path, Some(&focal), Some(br#"{"case_status":"closed"}"#.to_vec())).await;
    assert_eq!(status, 200);
    lan.sync().await;
    let server = app.server_record(case).await.unwrap().view();
    assert_eq!((server.notes.as_str(), server.case_status), ("gặp lại ngày 5", Some(CaseStatus::Closed)));
    assert_eq!(lan.device.view(case).unwrap(), server, "converged");

    // A second purge takes the edits since into the present, and the phone follows again.
    assert_eq!(purge(&app, &focal, case).await.1, r#"{"purged":true}"#);
    lan.sync().await;
    assert_eq!(lan.device.view(case).unwrap(), app.server_record(case).await.unwrap().view());
    assert_eq!(lan.device.pending().unwrap(), 0);
    assert!(lan.device.rejected().unwrap().is_empty());
}

#[tokio::test]
async fn a_phone_that_missed_the_purge_converges_and_keeps_its_offline_edit_aside() {
    let (app, mut lan, focal, case) = lans_case().await;
    // Offline, Lan corrects the note again; meanwhile the office purges the case.
    lan.device.edit(case, &[Edit::Notes("sửa khi mất sóng".into())], NOW_MS + 3).unwrap();
    assert_eq!(purge(&app, &focal, case).await.0, 200);

    let report = lan.sync().await;
    assert_eq!(report.rejected, 1, "built on the purged history: {report:?}");
    let server = app.server_record(case).await.unwrap().view();
    assert_eq!(lan.device.view(case).unwrap(), server, "converged on what the server holds");
    assert_eq!(lan.device.rejected().unwrap().len(), 1, "the offline edit is kept aside, not lost");
    assert!(!contains(&lan.device.store().load_record(case).unwrap().unwrap(), OLD_NOTE));

    // She enters it again on the record as it is now, and it goes through.
    lan.device.edit(case, &[Edit::Notes("sửa khi mất sóng".into())], NOW_MS + 4).unwrap();
    assert_eq!(lan.sync().await.rejected, 0);
    assert_eq!(app.server_record(case).await.unwrap().view().notes, "sửa khi mất sóng");
}

#[tokio::test]
async fn closed_cases_are_purged_after_the_retention_period_and_open_ones_are_not() {
    let (app, mut lan, focal, closed) = lans_case().await;
    let open = lan.device.create(RecordKind::GbvReferral, &gbv_edits("VV-0043"), NOW_MS).unwrap();
    lan.device.edit(open, &[Edit::Notes(OLD_NOTE.into())], NOW_MS + 1).unwrap();
    lan.device.edit(open, &[Edit::Notes("khác".into())], NOW_MS + 2).unwrap();
    lan.sync().await;
    let path = format!("/api/v1/records/{closed}/case-status");
    let (status, _) = app.call("POST", &path, Some(&focal), Some(br#"{"case_status":"closed"}"#.to_vec())).await;
    assert_eq!(status, 200);

    let now = sotay_server::now_ms();
    let db = &app.state.db;
    assert_eq!(sotay_server::store::purge_expired(db, 30, now + 29 * DAY_MS).await.unwrap(), 0, "not yet");
    assert_eq!(sotay_server::store::purge_expired(db, 30, now + 31 * DAY_MS).await.unwrap(), 1);
    assert_eq!(sotay_server::store::purge_expired(db, 30, now + 32 * DAY_MS).await.unwrap(), 0, "once");
    assert!(!server_mentions(&app, closed, OLD_NOTE).await);
    assert!(server_mentions(&app, open, OLD_NOTE).await, "an open case keeps its history");
    assert_eq!(app.audit_count("gbv.purge").await, 1);
    lan.sync().await;
    assert_eq!(lan.device.view(closed).unwrap(), app.server_record(closed).await.unwrap().view());
}

#[tokio::test]
async fn the_retention_period_counts_from_closure_and_reopening_stops_it() {
    let (app, mut lan, focal, case) = lans_case().await;
    let set_status = |status: &'static str| {
        let (app, focal) = (&app, &focal);
        async move {
            let body = format!(r#"{{"case_status":"{status}"}}"#).into_bytes();
            let path = format!("/api/v1/records/{case}/case-status");
            assert_eq!(app.call("POST", &path, Some(focal), Some(body)).await.0, 200);
        }
    };
    let closed_at = || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT closed_at FROM record_facts WHERE record_id = $1")
            .bind(case.as_bytes().as_slice())
            .fetch_one(&app.state.db.read)
            .await
            .unwrap()
    };
    let db = &app.state.db;
    set_status("closed").await;
    let first = closed_at().await.expect("stamped when closed");
    // Closed ten days ago (as if); Lan edits the note today: the clock does not restart.
    sqlx::query("UPDATE record_facts SET closed_at = closed_at - $1 WHERE record_id = $2")
        .bind(10 * DAY_MS)
        .bind(case.as_bytes().as_slice())
        .execute(&db.write)
        .await
        .unwrap();
    lan.sync().await;
    lan.device.edit(case, &[Edit::Notes("đã kết thúc hỗ trợ".into())], NOW_MS + 5).unwrap();
    assert_eq!(lan.sync().await.rejected, 0);
    assert_eq!(app.server_record(case).await.unwrap().view().notes, "đã kết thúc hỗ trợ");
    assert_eq!(closed_at().await, Some(first - 10 * DAY_MS), "kept while it stays closed");
    let now = sotay_server::now_ms();
    assert_eq!(sotay_server::store::purge_expired(db, 30, now + 19 * DAY_MS).await.unwrap(), 0, "29 days closed");
    let purged = sotay_server::store::purge_expired(db, 30, now + 21 * DAY_MS).await.unwrap();
    assert_eq!(purged, 1, "31 days closed, though last changed 21 days before");
    assert!(!server_mentions(&app, case, OLD_NOTE).await);
    // Reopened, then closed again: the clock stops, then starts again.
    set_status("receiving_support").await;
    assert_eq!(closed_at().await, None, "reopened");
    assert_eq!(
        sotay_server::store::purge_expired(db, 30, now + 100 * DAY_MS).await.unwrap(),
        0,
        "open cases keep history"
    );
    set_status("closed").await;
    let again = closed_at().await.expect("closed again");
    assert!(again >= first, "a new closure, stamped anew");
}

/// The retention job looks at every commune's cases: it must read the index of closed cases
/// (migration 0013), not every record. SQLite's plan says so whatever the table sizes; on
/// PostgreSQL the planner rightly scans tables this small, and the province benchmark shows the
/// index at work (docs/benchmarks.md).
#[tokio::test]
async fn the_retention_job_reads_only_the_index_of_closed_cases() {
    if backend() == Backend::Postgres {
        return;
    }
    let (app, _lan, _focal, _case) = lans_case().await;
    let plan: Vec<String> =
        sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {}", sotay_server::store::EXPIRED_CASES)))
            .bind(0i64)
            .fetch_all(&app.state.db.read)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(3))
            .collect();
    assert!(plan.iter().any(|step| step.contains("USING INDEX record_facts_closed")), "{plan:?}");
    assert!(!plan.iter().any(|step| step.starts_with("SCAN")), "no table scanned whole: {plan:?}");
}
