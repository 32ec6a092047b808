//! Who may write what, through the real server: changes crafted with Automerge the way a
//! modified client would (any bytes, under the device's own actor), pushed by sync, and the
//! review workflow attacks found by an outside tester. Each test fails on a server that only
//! checks scope and attribution.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use sotay_sync_core::schema::*;
use sotay_sync_core::wire::SyncResponse;
use sotay_sync_core::{Date, Edit, Editor, Field, Record, RecordId, ReviewState};
use sotay_tests::*;
use sqlx::Row;

/// A change made on the server's current copy of the record by `who`'s device, as a modified
/// client could make it.
async fn craft(app: &TestApp, id: RecordId, who: &TestDevice, f: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
    let mut record = app.server_record(id).await.expect("record on the server");
    let mut doc = AutoCommit::load(&record.save()).unwrap();
    as_device(&mut doc, who);
    f(&mut doc);
    doc.commit_with(CommitOptions::default().with_time(NOW_MS));
    doc.get_last_local_change().expect("the change wrote something").raw_bytes().to_vec()
}

fn as_device(doc: &mut AutoCommit, who: &TestDevice) {
    let identity = who.device.identity();
    doc.set_author(Some(automerge::Author::from(identity.user.as_bytes().to_vec())));
    doc.set_actor(ActorId::from(identity.device.as_bytes().as_slice()));
}

async fn push(who: &TestDevice, id: RecordId, changes: Vec<Vec<u8>>) -> SyncResponse {
    who.push_raw(id, changes).await
}

/// The one refusal of an answer: (code, reason, field).
fn refusal(answer: &SyncResponse) -> Option<(String, Option<String>, Option<String>)> {
    assert!(answer.rejected.len() <= 1, "{:?}", answer.rejected);
    answer.rejected.first().map(|r| (r.code.clone(), r.reason.clone(), r.field.clone()))
}

fn refused(code: &str, reason: &str, field: Option<&str>) -> Option<(String, Option<String>, Option<String>)> {
    Some((code.to_string(), Some(reason.to_string()), field.map(str::to_string)))
}

fn put(doc: &mut AutoCommit, key: &str, v: impl Into<ScalarValue>) {
    doc.put(ROOT, key, v.into()).unwrap();
}

fn bump(doc: &mut AutoCommit) {
    doc.increment(ROOT, "edits", 1).unwrap();
}

fn set_add(doc: &mut AutoCommit, set: &str, member: &str) {
    let Some((Value::Object(ObjType::Map), obj)) = doc.get(ROOT, set).unwrap() else { panic!("no set {set}") };
    doc.put(&obj, member, true).unwrap();
}

fn notes_append(doc: &mut AutoCommit, text: &str) {
    let Some((Value::Object(ObjType::Text), obj)) = doc.get(ROOT, "notes").unwrap() else { panic!("no notes") };
    let len = doc.length(&obj);
    doc.splice_text(&obj, len, 0, text).unwrap();
}

/// A valid value for each field, written the way the app writes it.
fn write_field(doc: &mut AutoCommit, field: Field) {
    let k = field.code();
    match field {
        Field::Unit => put(doc, k, "mttq"),
        Field::PlanItem => put(doc, k, "II.3"),
        Field::ActivityType => put(doc, k, "training"),
        Field::Format => put(doc, k, Format::ALL[1].code()),
        Field::HeldOn => put(doc, k, "2026-11-10"),
        Field::ReportedOn => put(doc, k, "2026-11-12"),
        Field::Location => put(doc, k, "Hội trường thôn"),
        Field::Gps => put(doc, k, "21.300000,106.100000"),
        Field::AttendanceFemale | Field::AttendanceMale | Field::AttendanceEthnicMinority => {
            put(doc, k, ScalarValue::Int(3))
        }
        Field::CaseCode => put(doc, k, "AB-9876"),
        Field::SurvivorSex => put(doc, k, Sex::ALL[1].code()),
        Field::SurvivorAgeGroup => put(doc, k, AgeGroup::ALL[0].code()),
        Field::Setting => put(doc, k, Setting::ALL[2].code()),
        Field::CaseStatus => put(doc, k, "receiving_support"),
        Field::ConsentToShare => put(doc, k, true),
        Field::Topics => set_add(doc, k, Topic::ALL[0].code()),
        Field::ViolenceTypes => set_add(doc, k, ViolenceType::ALL[0].code()),
        Field::ReferredTo => set_add(doc, k, Service::ALL[0].code()),
        Field::Notes => notes_append(doc, " thêm"),
        Field::Review | Field::Deleted => unreachable!(),
    }
    bump(doc);
}

/// A valid activity created, submitted and synced by this phone.
async fn submitted_activity(phone: &mut TestDevice) -> RecordId {
    let id = phone.add_activity(12, 8);
    phone.device.submit(id, Date::from_unix_ms(NOW_MS), NOW_MS).unwrap();
    phone.sync().await;
    id
}

async fn reviewer_call(app: &TestApp, token: &str, id: RecordId, action: &str, body: Option<&str>) -> (u16, String) {
    app.call("POST", &format!("/api/v1/records/{id}/{action}"), Some(token), body.map(|b| b.as_bytes().to_vec())).await
}

#[tokio::test]
async fn a_collaborator_cannot_approve_her_own_record_and_the_reviewer_still_sees_it_submitted() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let id = submitted_activity(&mut lan).await;
    // `sotay approve ID` on her phone, then `sotay sync`.
    lan.device.approve(id, NOW_MS + 1).unwrap();
    let report = lan.sync().await;
    assert_eq!(report.rejected, 1, "the approval is refused: {report:?}");
    let mut server = app.server_record(id).await.unwrap();
    assert_eq!(server.view().review_state, ReviewState::Submitted);
    let reviewer = app.web_login("reviewer").await;
    let (status, body) = app.call("GET", &format!("/api/v1/records/{id}"), Some(&reviewer), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"review_state\":\"submitted\""), "{body}");
    // `sotay approve` on a reviewer's phone goes through the API, and the approval syncs back.
    let mut reviewer_phone = app.device("reviewer").await;
    reviewer_phone.sync().await;
    reviewer_phone.client.review(&reviewer_phone.token, id, None).await.unwrap();
    let collaborator_review = lan.client.review(&lan.token, id, None).await;
    assert!(collaborator_review.is_err(), "a collaborator's token may not approve through the API either");
    lan.sync().await;
    assert_eq!(lan.device.view(id).unwrap().review_state, ReviewState::Approved);
}

#[tokio::test]
async fn a_review_map_written_directly_cannot_approve_or_submit_an_invalid_draft() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let id = lan.device.create(RecordKind::Activity, &[Edit::Unit("hlhpn".into())], NOW_MS).unwrap();
    lan.sync().await;
    for state in ["approved", "submitted"] {
        let change = craft(&app, id, &lan, |doc| {
            let review = doc.put_object(ROOT, "review", ObjType::Map).unwrap();
            doc.put(&review, "state", state).unwrap();
            doc.put(&review, "at", ScalarValue::Int(99)).unwrap();
        })
        .await;
        let expected = if state == "approved" {
            refused("forbidden", "not_allowed", Some("review"))
        } else {
            refused("unprocessable", "invalid_record", Some("review"))
        };
        assert_eq!(refusal(&push(&lan, id, vec![change]).await), expected, "{state}");
    }
    assert_eq!(app.server_record(id).await.unwrap().view().review_state, ReviewState::Draft);
}

#[tokio::test]
async fn an_edit_after_approval_that_skips_the_edit_counter_still_reopens_the_record() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let id = submitted_activity(&mut lan).await;
    let reviewer = app.web_login("reviewer").await;
    assert_eq!(reviewer_call(&app, &reviewer, id, "approve", None).await.0, 200);
    lan.sync().await;
    let change = craft(&app, id, &lan, |doc| put(doc, "attendance_female", ScalarValue::Int(999))).await;
    assert_eq!(refusal(&push(&lan, id, vec![change]).await), None, "collaborators may edit their village's records");
    let view = app.server_record(id).await.unwrap().view();
    assert_eq!(view.attendance_female, Some(999));
    assert_eq!(view.review_state, ReviewState::Submitted);
    assert!(view.changed_after_approval, "derived from the history, not from a counter the phone writes");
}

#[tokio::test]
async fn nobody_rewrites_identity_even_with_the_same_value() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let mut lan = app.device("lan").await;
    let hoa = app.device("hoa").await;
    let id = lan.add_activity(5, 5);
    lan.sync().await;
    for key in ["kind", "id", "commune", "village", "schema_version"] {
        let change = craft(&app, id, &hoa, |doc| {
            let value = match doc.get(ROOT, key).unwrap() {
                Some((Value::Scalar(v), _)) => v.into_owned(),
                other => panic!("{key}: {other:?}"),
            };
            doc.delete(ROOT, key).unwrap();
            doc.put(ROOT, key, value).unwrap();
        })
        .await;
        let answer = push(&hoa, id, vec![change]).await;
        assert_eq!(answer.rejected.len(), 1, "{key}");
        assert_eq!(answer.rejected[0].code, "forbidden", "{key}: {:?}", answer.rejected);
    }
    let view = app.server_record(id).await.unwrap().view();
    let lan_id = c.users.iter().find(|(n, _)| n == "lan").unwrap().1;
    assert_eq!(view.created.user, Some(lan_id), "the creator is still Lan");
}

#[tokio::test]
async fn values_of_the_wrong_type_or_outside_their_domain_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let id = lan.add_activity(5, 5);
    lan.sync().await;
    type Craft = Box<dyn FnOnce(&mut AutoCommit)>;
    let cases: Vec<(&str, &str, Craft)> = vec![
        (
            "location",
            "invalid_value",
            Box::new(|doc| {
                let t = doc.put_object(ROOT, "location", ObjType::Text).unwrap();
                doc.splice_text(&t, 0, 0, "Hội trường").unwrap();
            }),
        ),
        ("attendance_female", "invalid_value", Box::new(|doc| put(doc, "attendance_female", 2.5))),
        ("attendance_male", "invalid_value", Box::new(|doc| put(doc, "attendance_male", ScalarValue::Int(-3)))),
        ("attendance_male", "invalid_value", Box::new(|doc| put(doc, "attendance_male", ScalarValue::Uint(3)))),
        ("held_on", "invalid_value", Box::new(|doc| put(doc, "held_on", "2026-13-45"))),
        ("activity_type", "invalid_value", Box::new(|doc| put(doc, "activity_type", "party"))),
        ("topics", "invalid_value", Box::new(|doc| set_add(doc, "topics", "astrology"))),
        ("consent_to_share", "not_in_schema", Box::new(|doc| put(doc, "consent_to_share", true))),
        ("location", "invalid_value", Box::new(|doc| doc.delete(ROOT, "location").unwrap())),
    ];
    for (field, reason, f) in cases {
        let change = craft(&app, id, &lan, f).await;
        let (code, got_reason, got_field) = refusal(&push(&lan, id, vec![change]).await).expect(field);
        assert_eq!(code, "unprocessable", "{field}");
        assert_eq!(got_reason.as_deref(), Some(reason), "{field}");
        if reason == "invalid_value" {
            assert_eq!(got_field.as_deref(), Some(field));
        }
    }
    // Keys outside the schema and objects nested where the schema has none.
    let unknown = craft(&app, id, &lan, |doc| put(doc, "owner", "lan")).await;
    assert_eq!(refusal(&push(&lan, id, vec![unknown]).await), refused("unprocessable", "not_in_schema", None));
    let nested = craft(&app, id, &lan, |doc| {
        let Some((_, topics)) = doc.get(ROOT, "topics").unwrap() else { unreachable!() };
        doc.put_object(&topics, "gbv_family", ObjType::Map).unwrap();
    })
    .await;
    assert_eq!(refusal(&push(&lan, id, vec![nested]).await).unwrap().0, "unprocessable");
    // Nothing of it reached the log or the record, and the phone's copy agrees with the server.
    let server = app.server_record(id).await.unwrap().view();
    assert_eq!(server.attendance_female, Some(5));
    assert_eq!(server.location.as_deref(), Some("Nhà văn hóa thôn Đông"));
    lan.sync().await;
    assert_eq!(lan.device.view(id).unwrap(), server);
}

#[tokio::test]
async fn a_new_record_with_a_bad_value_in_its_first_change_is_refused_whole() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let lan = app.device("lan").await;
    let editor = Editor { device: lan.device.identity().device, user: lan.device.identity().user };
    let id = RecordId::new_v7(NOW_MS as u64);
    let (mut record, _) =
        Record::create(RecordKind::Activity, id, c.commune, c.village_a, editor, &activity_edits(3, 4), NOW_MS)
            .unwrap();
    let doc = AutoCommit::load(&record.save()).unwrap();
    // A creation change made by hand, with a fractional attendance.
    let mut fresh = AutoCommit::new();
    as_device(&mut fresh, &lan);
    for key in ["schema_version", "id", "kind", "commune", "village"] {
        let Some((Value::Scalar(v), _)) = doc.get(ROOT, key).unwrap() else { unreachable!() };
        fresh.put(ROOT, key, v.into_owned()).unwrap();
    }
    fresh.put(ROOT, "edits", ScalarValue::counter(0)).unwrap();
    fresh.put(ROOT, "attendance_female", 2.5).unwrap();
    fresh.commit_with(CommitOptions::default().with_time(NOW_MS));
    let change = fresh.get_last_local_change().unwrap().raw_bytes().to_vec();
    let answer = push(&lan, id, vec![change]).await;
    assert_eq!(refusal(&answer), refused("unprocessable", "invalid_value", Some("attendance_female")));
    assert_eq!(app.record_count().await, 0);
}

#[tokio::test]
async fn only_focal_points_change_a_case_status_after_creation() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let id = lan.device.create(RecordKind::GbvReferral, &gbv_edits("AB-1234"), NOW_MS).unwrap();
    lan.sync().await;
    let change = craft(&app, id, &lan, |doc| {
        put(doc, "case_status", "closed");
        bump(doc);
    })
    .await;
    assert_eq!(refusal(&push(&lan, id, vec![change]).await), refused("forbidden", "not_allowed", Some("case_status")));
    let focal = app.web_login("focal").await;
    let (status, _) = reviewer_call(&app, &focal, id, "case-status", Some(r#"{"case_status":"closed"}"#)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn approving_needs_a_valid_record_and_a_reviewer_approves_through_the_web_only() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let mut reviewer_phone = app.device("reviewer").await;
    let id = submitted_activity(&mut lan).await;
    // A reviewer's phone may correct data, but approving is a web-session action.
    reviewer_phone.sync().await;
    reviewer_phone.device.approve(id, NOW_MS).unwrap();
    assert_eq!(reviewer_phone.sync().await.rejected, 1);
    // Submitted, then edited into an invalid state (more minority attendees than attendees).
    lan.device.edit(id, &[Edit::AttendanceEthnicMinority(Some(500))], NOW_MS).unwrap();
    lan.sync().await;
    let reviewer = app.web_login("reviewer").await;
    let (status, body) = reviewer_call(&app, &reviewer, id, "approve", None).await;
    assert_eq!(status, 422, "{body}");
    crate::access::assert_documented(&app, "POST", "/api/v1/records/{id}/approve", 422).await;
    lan.device.edit(id, &[Edit::AttendanceEthnicMinority(Some(5))], NOW_MS).unwrap();
    lan.sync().await;
    assert_eq!(reviewer_call(&app, &reviewer, id, "approve", None).await.0, 200);
    // Returning needs a comment; a GBV focal point does not approve activities.
    let focal = app.web_login("focal").await;
    let other = lan.add_activity(1, 1);
    lan.device.submit(other, Date::from_unix_ms(NOW_MS), NOW_MS).unwrap();
    lan.sync().await;
    assert_eq!(reviewer_call(&app, &focal, other, "approve", None).await.0, 403);
}

/// The matrix "may this role write this field", by sync, for every field of both kinds.
#[tokio::test]
async fn write_matrix_every_role_against_every_field_by_sync() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let activity = lan.add_activity(5, 5);
    let case = lan.device.create(RecordKind::GbvReferral, &gbv_edits("CD-5678"), NOW_MS).unwrap();
    lan.sync().await;
    // "lan" is the creating phone; "lan2" another phone of the same collaborator.
    let mut phones = vec![("lan", lan), ("lan2", app.device("lan").await)];
    for name in ["hoa", "minh", "reviewer", "focal"] {
        phones.push((name, app.device(name).await));
    }
    // Expected, written out: who may write which kind's fields from a phone (SPEC §5).
    let may = |name: &str, kind: RecordKind, field: Field| -> bool {
        match (name, kind) {
            ("lan" | "lan2" | "hoa" | "reviewer", RecordKind::Activity) => true,
            // Only the creating phone sees a case; its status is the focal point's, in the web app.
            ("lan", RecordKind::GbvReferral) => field != Field::CaseStatus,
            _ => false,
        }
    };
    for (name, phone) in &phones {
        for (kind, id) in [(RecordKind::Activity, activity), (RecordKind::GbvReferral, case)] {
            for &field in Field::of_kind(kind) {
                let change = craft(&app, id, phone, |doc| write_field(doc, field)).await;
                let answer = push(phone, id, vec![change]).await;
                let accepted = answer.rejected.is_empty();
                assert_eq!(accepted, may(name, kind, field), "{name} writing {kind} {field:?}: {:?}", answer.rejected);
                if !accepted {
                    assert_eq!(answer.rejected[0].code, "forbidden", "{name} {field:?}");
                }
            }
        }
    }
}

/// A record is named by its commune and its id (migration 0011): a phone of another commune that
/// sends a record under an id already taken cannot reach the first commune's record, whatever
/// commune its change claims; under its own commune it makes a record of its own.
#[tokio::test]
async fn an_id_taken_in_another_commune_never_reaches_that_communes_record() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let db = &app.state.db;
    let other = sotay_server::admin::create_commune(db, "Phúc Hoà").await.unwrap();
    let village = sotay_server::admin::create_village(db, other, "Thôn Bắc").await.unwrap();
    let role = sotay_server::auth::Role::Collaborator;
    let user = sotay_server::admin::NewUser {
        username: "tuan",
        display_name: "Tuấn",
        role,
        commune: other,
        village: Some(village),
    };
    sotay_server::admin::create_user(db, user).await.unwrap();
    let mut lan = app.device("lan").await;
    let id = lan.device.create(RecordKind::Activity, &activity_edits(12, 3), NOW_MS).unwrap();
    lan.sync().await;
    let before = app.server_record(id).await.unwrap().view();

    let tuan = app.device("tuan").await;
    let editor = Editor { device: tuan.device.identity().device, user: tuan.device.identity().user };
    // Claiming the first commune's record: outside the phone's scope.
    let (_, claim) =
        Record::create(RecordKind::Activity, id, c.commune, c.village_a, editor, &activity_edits(99, 99), NOW_MS)
            .unwrap();
    assert_eq!(refusal(&push(&tuan, id, vec![claim]).await).unwrap().0, "forbidden");
    // Under its own commune: a record of its own with the same id.
    let (_, own) =
        Record::create(RecordKind::Activity, id, other, village, editor, &activity_edits(7, 7), NOW_MS).unwrap();
    assert_eq!(refusal(&push(&tuan, id, vec![own]).await), None);

    let rows = sqlx::query("SELECT commune_id, view FROM records WHERE id = $1 ORDER BY view")
        .bind(id.as_bytes().as_slice())
        .fetch_all(&db.read)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "one record in each commune");
    for row in rows {
        let view: sotay_sync_core::RecordView = serde_json::from_str(&row.get::<String, _>(1)).unwrap();
        if row.get::<Vec<u8>, _>(0) == c.commune.as_bytes().to_vec() {
            assert_eq!(view, before, "the first commune's record is untouched");
        } else {
            assert_eq!(view.attendance_female, Some(7));
        }
    }
    // The first commune's phone and reviewer still see only their own.
    lan.sync().await;
    assert_eq!(lan.device.view(id).unwrap(), before);
    let reviewer = app.web_login("reviewer").await;
    let (status, body) = app.call("GET", &format!("/api/v1/records/{id}"), Some(&reviewer), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"attendance_female\":12"), "{body}");
}
