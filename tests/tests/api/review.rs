//! The reviewer's work without a phone, end to end: suspected duplicates detected when stored,
//! merged on the server with a per-field choice (the phones converge on the result) or dismissed
//! for good; conflicts resolved by choosing or entering a value; a deleted record restored by an
//! admin; and a record's field history.

use serde_json::Value;
use sotay_sync_core::schema::*;
use sotay_sync_core::{Date, Edit, Field, RecordId};
use sotay_tests::*;

/// The typical activity of `activity_edits`, held on `day` of November at `place`.
fn session(female: u32, male: u32, place: &str, day: u8) -> Vec<Edit> {
    let mut edits = activity_edits(female, male);
    edits.retain(|e| !matches!(e, Edit::HeldOn(_) | Edit::Location(_)));
    edits.extend([Edit::HeldOn(Date::new(2026, 11, day).unwrap()), Edit::Location(place.into())]);
    edits
}

async fn json(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let (status, text) = app.call(method, path, Some(token), body.map(|b| b.to_string().into_bytes())).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn duplicates_are_found_merged_field_by_field_and_the_phones_converge() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let kept = lan.device.create(RecordKind::Activity, &session(30, 20, "Nhà văn hóa thôn Đông", 18), NOW_MS).unwrap();
    let dropped = hoa.device.create(RecordKind::Activity, &session(32, 20, "Sân đình", 18), NOW_MS + 1).unwrap();
    // Same day and type but far apart in attendance, and another day: not suspects.
    lan.device.create(RecordKind::Activity, &session(60, 20, "Chợ xã", 18), NOW_MS + 2).unwrap();
    lan.device.create(RecordKind::Activity, &session(30, 20, "Chợ xã", 19), NOW_MS + 3).unwrap();
    lan.sync().await;
    hoa.sync().await;
    let reviewer = app.web_login("reviewer").await;
    let (status, queue) = json(&app, "GET", "/api/v1/duplicates", &reviewer, None).await;
    assert_eq!(status, 200);
    let pairs = queue.as_array().unwrap();
    assert_eq!(pairs.len(), 1, "{queue}");
    let ids = [pairs[0]["first"]["id"].as_str().unwrap(), pairs[0]["second"]["id"].as_str().unwrap()];
    assert!(ids.contains(&kept.to_string().as_str()) && ids.contains(&dropped.to_string().as_str()));

    let merge = serde_json::json!({ "keep": kept, "drop": dropped, "take": ["attendance_female", "location"] });
    let (status, view) = json(&app, "POST", "/api/v1/duplicates/merge", &reviewer, Some(merge.clone())).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["attendance_female"], 32);
    assert_eq!(view["location"], "Sân đình");
    assert_eq!(view["attendance_male"], 20, "fields not taken keep the kept record's value");
    let (_, queue) = json(&app, "GET", "/api/v1/duplicates", &reviewer, None).await;
    assert_eq!(queue.as_array().unwrap().len(), 0);
    let (status, _) = json(&app, "POST", "/api/v1/duplicates/merge", &reviewer, Some(merge)).await;
    assert_eq!(status, 404, "a decided pair cannot be merged twice");

    // Both phones receive the merge as ordinary edits.
    lan.sync().await;
    hoa.sync().await;
    for phone in [&lan, &hoa] {
        let views = phone.views();
        let k = views.iter().find(|v| v.id == kept).unwrap();
        assert_eq!((k.attendance_female, k.location.as_deref()), (Some(32), Some("Sân đình")));
        assert!(views.iter().find(|v| v.id == dropped).unwrap().deleted);
    }
    assert_eq!(lan.views(), hoa.views(), "the phones converge");
    assert_eq!(app.audit_count("duplicate.merge").await, 1);
}

#[tokio::test]
async fn a_dismissed_pair_is_never_suggested_again() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let a = lan.device.create(RecordKind::Activity, &session(30, 20, "Nhà văn hóa", 18), NOW_MS).unwrap();
    let b = lan.device.create(RecordKind::Activity, &session(31, 20, "Nhà văn hóa", 18), NOW_MS + 1).unwrap();
    lan.sync().await;
    let reviewer = app.web_login("reviewer").await;
    let (_, queue) = json(&app, "GET", "/api/v1/duplicates", &reviewer, None).await;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    let (status, _) = json(
        &app,
        "POST",
        "/api/v1/duplicates/dismiss",
        &reviewer,
        Some(serde_json::json!({ "first": b, "second": a })),
    )
    .await;
    assert_eq!(status, 200);
    // An edit of either record stores it again: still not suggested.
    lan.device.edit(a, &[Edit::AttendanceMale(21)], NOW_MS + 2).unwrap();
    lan.sync().await;
    let (_, queue) = json(&app, "GET", "/api/v1/duplicates", &reviewer, None).await;
    assert_eq!(queue.as_array().unwrap().len(), 0, "{queue}");
    assert_eq!(app.audit_count("duplicate.dismiss").await, 1);
}

/// Two phones of one village set the same field of one record concurrently; returns the record.
async fn conflicted(lan: &mut TestDevice, hoa: &mut TestDevice, a: u32, b: u32) -> RecordId {
    let id = lan.add_activity(10, 5);
    lan.sync().await;
    hoa.sync().await;
    lan.device.edit(id, &[Edit::AttendanceFemale(a)], NOW_MS + 10).unwrap();
    hoa.device.edit(id, &[Edit::AttendanceFemale(b)], NOW_MS + 11).unwrap();
    lan.sync().await;
    hoa.sync().await;
    lan.sync().await;
    id
}

#[tokio::test]
async fn a_reviewer_resolves_a_conflict_by_choosing_or_entering_a_value_and_the_phones_see_it_cleared() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let reviewer = app.web_login("reviewer").await;
    let id = conflicted(&mut lan, &mut hoa, 11, 12).await;
    let (_, view) = json(&app, "GET", &format!("/api/v1/records/{id}"), &reviewer, None).await;
    let values = view["conflicts"][0]["values"].as_array().unwrap().clone();
    assert_eq!(values.len(), 2, "{view}");
    let pick = values.iter().position(|v| v["value"] == "12").unwrap();
    let path = format!("/api/v1/records/{id}/resolve");
    let (status, after) =
        json(&app, "POST", &path, &reviewer, Some(serde_json::json!({ "field": "attendance_female", "choice": pick })))
            .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["attendance_female"], 12);
    assert!(after.get("conflicts").is_none_or(|c| c.as_array().unwrap().is_empty()));
    lan.sync().await;
    hoa.sync().await;
    for phone in [&lan, &hoa] {
        let v = phone.views().into_iter().find(|v| v.id == id).unwrap();
        assert!(v.conflicts.is_empty() && v.attendance_female == Some(12));
    }

    let id = conflicted(&mut lan, &mut hoa, 21, 22).await;
    let path = format!("/api/v1/records/{id}/resolve");
    let (status, after) =
        json(&app, "POST", &path, &reviewer, Some(serde_json::json!({ "field": "attendance_female", "value": 20 })))
            .await;
    assert_eq!(status, 200, "{after}");
    lan.sync().await;
    assert_eq!(lan.views().into_iter().find(|v| v.id == id).unwrap().attendance_female, Some(20));
    for (body, status) in [
        (serde_json::json!({ "field": "nonsense", "value": 1 }), 400),
        (serde_json::json!({ "field": "attendance_female", "value": 1, "choice": 0 }), 400),
        (serde_json::json!({ "field": "attendance_female" }), 400),
        (serde_json::json!({ "field": "attendance_female", "value": "many" }), 422),
        (serde_json::json!({ "field": "held_on", "value": "2026-02-30" }), 422),
        (serde_json::json!({ "field": "review", "value": "approved" }), 422),
    ] {
        let (got, text) = json(&app, "POST", &path, &reviewer, Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {text}");
    }
}

#[tokio::test]
async fn an_admin_restores_a_deleted_record_and_the_phones_get_it_back() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let id = lan.add_activity(10, 5);
    lan.device.delete(id, NOW_MS + 1).unwrap();
    lan.sync().await;
    let admin = app.web_login("admin").await;
    let (status, view) = json(&app, "POST", &format!("/api/v1/records/{id}/restore"), &admin, None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["deleted"], false);
    lan.sync().await;
    assert!(!lan.views().into_iter().find(|v| v.id == id).unwrap().deleted);
    assert_eq!(app.audit_count("record.restore").await, 1);
    let (status, _) = json(&app, "POST", &format!("/api/v1/records/{id}/restore"), &admin, None).await;
    assert_eq!(status, 422, "not deleted any more");
}

#[tokio::test]
async fn the_history_says_who_changed_what_when_and_gbv_history_is_for_focal_points_only() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let id = lan.add_activity(10, 5);
    lan.sync().await;
    hoa.sync().await;
    hoa.device.edit(id, &[Edit::AttendanceFemale(14), Edit::AddTopic(Topic::Other)], NOW_MS + 60_000).unwrap();
    hoa.sync().await;
    let reviewer = app.web_login("reviewer").await;
    let (status, history) = json(&app, "GET", &format!("/api/v1/records/{id}/history"), &reviewer, None).await;
    assert_eq!(status, 200, "{history}");
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{history}");
    let hoa_id = c.users.iter().find(|(n, _)| n == "hoa").unwrap().1;
    let edit = &entries[1];
    assert_eq!(edit["user"], hoa_id.to_string());
    assert_eq!(edit["device"], hoa.device.identity().device.to_string());
    assert_eq!(edit["at_ms"], NOW_MS + 60_000);
    let changes = edit["changes"].as_array().unwrap();
    let female = changes.iter().find(|c| c["field"] == Field::AttendanceFemale.code()).unwrap();
    assert_eq!((female["from"].clone(), female["to"].clone()), (Value::from(10), Value::from(14)));
    let topics = changes.iter().find(|c| c["field"] == "topics").unwrap();
    assert_eq!(topics["to"], serde_json::json!(["gbv_family", "other"]));

    let case = lan.device.create(RecordKind::GbvReferral, &gbv_edits("TY-0009"), NOW_MS).unwrap();
    lan.sync().await;
    let path = format!("/api/v1/records/{case}/history");
    assert_eq!(json(&app, "GET", &path, &reviewer, None).await.0, 404, "reviewers never see GBV details");
    let focal = app.web_login("focal").await;
    let before = app.audit_count("gbv.view").await;
    let (status, history) = json(&app, "GET", &path, &focal, None).await;
    assert_eq!(status, 200);
    assert!(history.to_string().contains("TY-0009"));
    assert_eq!(app.audit_count("gbv.view").await, before + 1, "a focal point's view of a case's history is audited");
}

#[tokio::test]
async fn a_case_update_and_its_audit_row_are_one_transaction() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let case = lan.device.create(RecordKind::GbvReferral, &gbv_edits("TY-0011"), NOW_MS).unwrap();
    lan.sync().await;
    let focal = app.web_login("focal").await;
    // The audit log refuses this one action: the update must not be stored without its row.
    let refuse = match backend() {
        Backend::Sqlite => vec![
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log WHEN NEW.action = 'gbv.update'
             BEGIN SELECT RAISE(ABORT, 'audit down'); END",
        ],
        Backend::Postgres => vec![
            "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.action = 'gbv.update' THEN RAISE EXCEPTION 'audit down'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_down()",
        ],
    };
    for sql in refuse {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&app.state.db.write).await.unwrap();
    }
    let path = format!("/api/v1/records/{case}/case-status");
    let (status, _) = json(&app, "POST", &path, &focal, Some(serde_json::json!({ "case_status": "closed" }))).await;
    assert_eq!(status, 500);
    let stored = app.server_record(case).await.unwrap().view();
    assert_eq!(stored.case_status, Some(CaseStatus::Referred), "no update without its audit row");
    sqlx::raw_sql("DROP TRIGGER audit_down ON audit_log; DROP FUNCTION audit_down()")
        .execute(&app.state.db.write)
        .await
        .or(sqlx::raw_sql("DROP TRIGGER audit_down").execute(&app.state.db.write).await)
        .unwrap();
    let (status, _) = json(&app, "POST", &path, &focal, Some(serde_json::json!({ "case_status": "closed" }))).await;
    assert_eq!(status, 200);
    assert_eq!(app.server_record(case).await.unwrap().view().case_status, Some(CaseStatus::Closed));
}

#[tokio::test]
async fn a_person_keeps_one_session_device_across_logins() {
    let app = spawn_app().await;
    app.commune().await;
    let first = app.web_login("reviewer").await;
    let second = app.web_login("reviewer").await;
    let me = |t: String| {
        let app = &app;
        async move { serde_json::from_str::<Value>(&app.call("GET", "/api/v1/me", Some(&t), None).await.1).unwrap() }
    };
    let (a, b) = (me(first).await, me(second).await);
    assert_eq!(a["device_id"], b["device_id"], "their web edits come from one Automerge actor");
    let devices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE kind = 'web'")
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    assert_eq!(devices, 1);
}
