//! SPEC §8 byte budgets. Bytes are deterministic, so these are asserted here (timings are not:
//! they belong to the benchmark program). "On the wire" means request plus response bodies.

use sotay_sync_core::Edit;
use sotay_tests::*;

#[tokio::test]
async fn a_sync_with_nothing_new_is_one_small_round_trip() {
    let app = spawn_app().await;
    app.commune().await;
    let mut a = app.device("lan").await;
    for i in 0..50 {
        a.add_activity(i, i);
    }
    a.sync().await;
    let report = a.sync().await;
    assert_eq!(report.round_trips, 1);
    let bytes = report.wire.request_bytes + report.wire.response_bytes;
    println!("no-op sync: {bytes} B");
    assert!(bytes <= 1024, "no-op sync {bytes} B > 1 KB");
    // About 33 B up (cursor, empty push and the 16-byte log epoch a restore is detected by) + 16 down.
    assert!(bytes <= 56, "no-op sync grew: {bytes} B");
}

#[tokio::test]
async fn a_one_field_edit_costs_at_most_300_bytes() {
    let app = spawn_app().await;
    app.commune().await;
    let mut a = app.device("lan").await;
    let id = a.add_activity(20, 10);
    a.sync().await;
    a.device.edit(id, &[Edit::AttendanceFemale(21)], NOW_MS + 1).unwrap();
    let report = a.sync().await;
    assert_eq!(report.round_trips, 1);
    let bytes = report.wire.request_bytes + report.wire.response_bytes;
    println!("one-field edit: {} B up + {} B down", report.wire.request_bytes, report.wire.response_bytes);
    assert!(bytes <= 300, "one-field edit {bytes} B > 300 B");
}

#[tokio::test]
async fn a_new_activity_costs_at_most_700_bytes_alone_and_400_in_a_batch_of_100() {
    let app = spawn_app().await;
    app.commune().await;
    let mut a = app.device("lan").await;
    a.sync().await;
    a.add_activity(20, 10);
    let report = a.sync().await;
    let single = report.wire.request_bytes + report.wire.response_bytes;
    println!("new activity: {single} B over {} round trip(s)", report.round_trips);
    assert!(single <= 700, "new record {single} B > 700 B");

    // Varied like real records: different days, places, counts, topics and notes.
    for i in 0..100u32 {
        let edits = sotay_sync_core::sample::activity(i, 2026);
        a.device.create(sotay_sync_core::schema::RecordKind::Activity, &edits, NOW_MS + i64::from(i) * 60_000).unwrap();
    }
    let report = a.sync().await;
    let per_record = (report.wire.request_bytes + report.wire.response_bytes) / 100;
    println!("batch of 100: {per_record} B per record");
    assert!(per_record <= 400, "{per_record} B per record > 400 B");
}
