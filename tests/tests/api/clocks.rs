//! Wrong clocks (SPEC §4): phones whose clocks are days ahead or were reset to 2010, and a server
//! whose clock jumps. Timestamps are advisory: nothing is lost, a conflict names who set each
//! value on which phone whatever the clocks said, history follows causality, not the clocks, and
//! tokens are checked against the server's clock with a bounded leeway (30 s).

use sotay_sync_core::Edit;
use sotay_tests::*;

/// 1 January 2010, a phone whose clock was reset.
const RESET: i64 = 1_262_304_000_000;
const DAY: i64 = 86_400_000;

#[tokio::test]
async fn phones_with_wrong_clocks_lose_nothing_and_history_follows_causality() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await; // clock reset to 2010
    let mut hoa = app.device("hoa").await; // clock five days ahead
    let ahead = NOW_MS + 5 * DAY;
    let id = lan.device.create(sotay_sync_core::RecordKind::Activity, &activity_edits(10, 5), RESET).unwrap();
    lan.sync().await;
    hoa.sync().await;
    // Concurrent edits of one field: a conflict, each value attributed to its phone and person.
    lan.device.edit(id, &[Edit::AttendanceFemale(11)], RESET + 1).unwrap();
    hoa.device.edit(id, &[Edit::AttendanceFemale(12)], ahead).unwrap();
    lan.sync().await;
    hoa.sync().await;
    lan.sync().await;
    let view = lan.views().into_iter().find(|v| v.id == id).unwrap();
    let conflict = view.conflicts.iter().find(|c| c.field == sotay_sync_core::Field::AttendanceFemale).unwrap();
    let by_phone: Vec<(String, Option<sotay_sync_core::DeviceId>, i64)> =
        conflict.values.iter().map(|v| (v.value.clone(), v.by.device, v.by.at_ms)).collect();
    assert!(by_phone.contains(&("11".into(), Some(lan.device.identity().device), RESET + 1)), "{by_phone:?}");
    assert!(by_phone.contains(&("12".into(), Some(hoa.device.identity().device), ahead)), "{by_phone:?}");
    // Lan, still in 2010, resolves after seeing both: her change is causally last, and the
    // history lists it last although its clock says 2010.
    lan.device.resolve(id, sotay_sync_core::Field::AttendanceFemale, 1, RESET + 2).unwrap();
    lan.sync().await;
    hoa.sync().await;
    let reviewer = app.web_login("reviewer").await;
    let (status, body) = app.call("GET", &format!("/api/v1/records/{id}/history"), Some(&reviewer), None).await;
    assert_eq!(status, 200);
    let history: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let devices: Vec<String> = history.iter().map(|h| h["device"].as_str().unwrap_or_default().to_string()).collect();
    let last = history.last().unwrap();
    assert_eq!(last["at_ms"], RESET + 2, "the resolution, made last, is listed last: {devices:?}");
    assert!(history.iter().any(|h| h["at_ms"] == ahead), "the change from the future is kept");
    // Nothing lost: both phones and the server agree, with no open conflict.
    for phone in [&lan, &hoa] {
        let v = phone.views().into_iter().find(|v| v.id == id).unwrap();
        assert!(v.conflicts.is_empty());
        assert_eq!(v.heads, view_heads(&app, id).await);
    }
}

async fn view_heads(app: &TestApp, id: sotay_sync_core::RecordId) -> Vec<String> {
    let mut record = app.server_record(id).await.unwrap();
    record.view().heads
}

#[tokio::test]
async fn tokens_from_a_server_whose_clock_jumped_are_checked_with_a_bounded_leeway() {
    let app = spawn_app().await;
    app.commune().await;
    let lan = app.device("lan").await;
    let id = lan.device.identity();
    let now = sotay_server::now_ms() as u64 / 1000;
    let keys = &app.state.keys;
    // Issued by a clock 20 s ahead (not yet valid by 20 s) or 20 s behind (expired by 20 s):
    // inside the leeway. Two minutes either way: refused, and a new token mends it.
    for (issued_at, ttl, expected) in
        [(now + 20, 600, 200), (now - 620, 600, 200), (now + 120, 600, 401), (now - 720, 600, 401)]
    {
        let token = keys.issue(id.user, id.device, issued_at, ttl);
        let (status, body) = app.call("GET", "/api/v1/me", Some(&token), None).await;
        assert_eq!(status, expected, "issued at now{:+} s: {body}", issued_at as i64 - now as i64);
    }
    let fresh = lan.client.token(id.device, &lan.secret).await.unwrap().access_token;
    assert_eq!(app.call("GET", "/api/v1/me", Some(&fresh), None).await.0, 200);
}
