//! Stored-record compatibility and hostile input: the committed schema-v1 fixtures in
//! `tests/fixtures/` must load with exactly the expected field values (so a schema change cannot
//! silently break records already on phones and servers), and garbage bytes must be refused
//! with an error, never a panic.
//!
//! The fixtures are data, generated once by [`regenerate_fixtures`] and committed. That test does
//! nothing unless `SOTAY_REGENERATE_FIXTURES=1` is set; never regenerate a shipped version
//! (`*_v1`): add a `*_v2` fixture beside it instead, so the old bytes keep being checked.

use proptest::prelude::*;
use sotay_sync_core::schema::*;
use sotay_sync_core::*;
use std::path::PathBuf;
use uuid::Uuid;

const ACTIVITY_V1: &str = "activity_v1.automerge";
const GBV_REFERRAL_V1: &str = "gbv_referral_v1.automerge";

/// 2026-11-25T09:46:40Z, the creation time of both fixtures.
const T0: i64 = 1_795_600_000_000;
const MINUTE: i64 = 60_000;

fn uuid(s: &str) -> Uuid {
    s.parse().unwrap()
}

fn phone_a() -> Editor {
    Editor {
        device: DeviceId(uuid("00000000-0000-4000-8000-0000000000a1")),
        user: UserId(uuid("00000000-0000-4000-8000-0000000001a1")),
    }
}

fn phone_b() -> Editor {
    Editor {
        device: DeviceId(uuid("00000000-0000-4000-8000-0000000000b2")),
        user: UserId(uuid("00000000-0000-4000-8000-0000000001b2")),
    }
}

fn reviewer() -> Editor {
    Editor {
        device: DeviceId(uuid("00000000-0000-4000-8000-0000000000c3")),
        user: UserId(uuid("00000000-0000-4000-8000-0000000001c3")),
    }
}

fn admin() -> Editor {
    Editor {
        device: DeviceId(uuid("00000000-0000-4000-8000-0000000000d4")),
        user: UserId(uuid("00000000-0000-4000-8000-0000000001d4")),
    }
}

fn commune() -> CommuneId {
    CommuneId(uuid("00000000-0000-4000-8000-00000000c0c0"))
}

fn village() -> VillageId {
    VillageId(uuid("00000000-0000-4000-8000-00000000d0d0"))
}

fn activity_id() -> RecordId {
    RecordId(uuid("019ab9a2-8000-7000-8000-000000000001"))
}

fn gbv_id() -> RecordId {
    RecordId(uuid("019ab9a2-8000-7000-8000-000000000002"))
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap_or_else(|e| panic!("{}: {e}", path(name).display()))
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

fn today() -> Date {
    Date::from_unix_ms(T0)
}

/// An attribution, from literal ids (not the helpers above, so the expectations stay fixed).
fn by(device: &str, user: &str, at_ms: i64) -> Attribution {
    Attribution { device: Some(DeviceId(uuid(device))), user: Some(UserId(uuid(user))), at_ms }
}

const DEVICE_A: &str = "00000000-0000-4000-8000-0000000000a1";
const USER_A: &str = "00000000-0000-4000-8000-0000000001a1";
const DEVICE_B: &str = "00000000-0000-4000-8000-0000000000b2";
const USER_B: &str = "00000000-0000-4000-8000-0000000001b2";
const DEVICE_R: &str = "00000000-0000-4000-8000-0000000000c3";
const USER_R: &str = "00000000-0000-4000-8000-0000000001c3";
const DEVICE_D: &str = "00000000-0000-4000-8000-0000000000d4";
const USER_D: &str = "00000000-0000-4000-8000-0000000001d4";

/// Who made each change of the document, sorted (history order is causal, not total).
fn history(r: &mut Record) -> Vec<(String, String, i64)> {
    let mut h: Vec<_> = r
        .history()
        .into_iter()
        .map(|(a, _)| (a.device.unwrap().to_string(), a.user.unwrap().to_string(), a.at_ms))
        .collect();
    h.sort();
    h
}

/// Phone A records a club session and submits it; the reviewer approves it while phone A
/// (concurrently) corrects the count and the location and phone B (concurrently) sets another
/// location, adds a topic and appends to the notes. Saved from phone A once all have merged.
fn build_activity() -> Vec<u8> {
    let (mut a, _) = Record::create(
        RecordKind::Activity,
        activity_id(),
        commune(),
        village(),
        phone_a(),
        &[
            Edit::Unit("hlhpn".into()),
            Edit::PlanItem(PlanItem::CommunicationProgramme),
            Edit::ActivityType(ActivityType::Communication),
            Edit::Format(Some(Format::Club)),
            Edit::AddTopic(Topic::GbvFamily),
            Edit::AddTopic(Topic::GenderEqualityLaw),
            Edit::AddTopic(Topic::WomenLeadership),
            Edit::HeldOn(date("2026-11-20")),
            Edit::Location("Nhà văn hóa thôn Đông".into()),
            Edit::Gps(Some(GeoPoint { lat: 21.028511, lon: 105.854167 })),
            Edit::AttendanceFemale(34),
            Edit::AttendanceMale(21),
            Edit::AttendanceEthnicMinority(Some(12)),
            Edit::Notes("Sinh hoạt CLB tháng hành động, phát tờ rơi.".into()),
        ],
        T0,
    )
    .unwrap();
    a.submit(today(), T0 + MINUTE).unwrap();
    let mut b = Record::from_changes(&a.changes(), Some(phone_b())).unwrap();
    let mut r = Record::from_changes(&a.changes(), Some(reviewer())).unwrap();
    a.edit(&[Edit::AttendanceMale(22), Edit::Location("Sân nhà văn hóa thôn Đông".into())], T0 + 50 * MINUTE)
        .unwrap()
        .unwrap();
    b.edit(
        &[
            Edit::Location("Hội trường thôn Đông".into()),
            Edit::AddTopic(Topic::HarmfulCustoms),
            Edit::Notes("Sinh hoạt CLB tháng hành động, phát tờ rơi. Có 5 hộ mới đăng ký.".into()),
        ],
        T0 + 55 * MINUTE,
    )
    .unwrap()
    .unwrap();
    r.approve(T0 + 60 * MINUTE).unwrap();
    a.apply_changes(&b.changes()).unwrap();
    a.apply_changes(&r.changes()).unwrap();
    a.save()
}

/// Phone A records a referral and submits it; the reviewer returns it with a comment; phone A
/// updates the case; an admin deletes it by mistake and restores it. Saved from phone A.
fn build_gbv_referral() -> Vec<u8> {
    let (mut a, _) = Record::create(
        RecordKind::GbvReferral,
        gbv_id(),
        commune(),
        village(),
        phone_a(),
        &[
            Edit::Unit("hlhpn".into()),
            Edit::PlanItem(PlanItem::GbvProgramme),
            Edit::CaseCode("BL-2026-0007".into()),
            Edit::ReportedOn(date("2026-11-24")),
            Edit::SurvivorSex(Sex::Female),
            Edit::SurvivorAgeGroup(AgeGroup::From18To59),
            Edit::AddViolenceType(ViolenceType::Physical),
            Edit::AddViolenceType(ViolenceType::Psychological),
            Edit::Setting(Setting::Family),
            Edit::AddReferredTo(Service::Health),
            Edit::AddReferredTo(Service::TrustedAddress),
            Edit::CaseStatus(CaseStatus::Referred),
            Edit::ConsentToShare(false),
            Edit::Notes("Đã chuyển đến trạm y tế xã.".into()),
        ],
        T0,
    )
    .unwrap();
    a.submit(today(), T0 + MINUTE).unwrap();
    let mut r = Record::from_changes(&a.changes(), Some(reviewer())).unwrap();
    r.return_to_author("Bổ sung tình trạng vụ việc", T0 + 30 * MINUTE).unwrap();
    a.apply_changes(&r.changes()).unwrap();
    a.edit(
        &[
            Edit::CaseStatus(CaseStatus::ReceivingSupport),
            Edit::AddReferredTo(Service::LegalAid),
            Edit::RemoveReferredTo(Service::Health),
            Edit::AddViolenceType(ViolenceType::Economic),
            Edit::ConsentToShare(true),
        ],
        T0 + 40 * MINUTE,
    )
    .unwrap()
    .unwrap();
    let mut d = Record::from_changes(&a.changes(), Some(admin())).unwrap();
    d.delete(T0 + 50 * MINUTE).unwrap();
    d.restore(T0 + 51 * MINUTE).unwrap().unwrap();
    a.apply_changes(&d.changes()).unwrap();
    a.save()
}

/// Writes the fixtures, only when `SOTAY_REGENERATE_FIXTURES=1`; otherwise does nothing.
///
/// `SOTAY_REGENERATE_FIXTURES=1 cargo test -p sotay-sync-core --test fixtures regenerate_fixtures`
///
/// Regenerating changes the documents' heads, so the expectations below must be updated too;
/// do it only to add a new fixture version, never to make a failing v1 test pass.
#[test]
fn regenerate_fixtures() {
    if std::env::var("SOTAY_REGENERATE_FIXTURES").as_deref() != Ok("1") {
        return;
    }
    std::fs::create_dir_all(path("")).unwrap();
    std::fs::write(path(ACTIVITY_V1), build_activity()).unwrap();
    std::fs::write(path(GBV_REFERRAL_V1), build_gbv_referral()).unwrap();
}

// ---- the fixtures load with exactly the expected values ----

#[test]
fn activity_v1_loads_with_every_field() {
    let mut r = Record::load(&read(ACTIVITY_V1), None).unwrap();
    assert_eq!(r.id().to_string(), "019ab9a2-8000-7000-8000-000000000001");
    assert_eq!(r.kind(), RecordKind::Activity);
    // Destructured without `..`: a new RecordView field must be given its expected value for
    // old documents here.
    let RecordView {
        id,
        kind,
        schema_version,
        commune,
        village,
        created,
        unit,
        plan_item,
        activity_type,
        format,
        topics,
        held_on,
        location,
        gps,
        attendance_female,
        attendance_male,
        attendance_ethnic_minority,
        attendance_total,
        case_code,
        reported_on,
        survivor_sex,
        survivor_age_group,
        violence_types,
        setting,
        referred_to,
        case_status,
        consent_to_share,
        notes,
        review_state,
        review_comment,
        changed_after_approval,
        deleted,
        delete_conflict,
        conflicts,
        edit_count,
        heads,
    } = r.view();
    assert_eq!(id.to_string(), "019ab9a2-8000-7000-8000-000000000001");
    assert_eq!(kind, RecordKind::Activity);
    assert_eq!(schema_version, 1);
    assert_eq!(commune.to_string(), "00000000-0000-4000-8000-00000000c0c0");
    assert_eq!(village.to_string(), "00000000-0000-4000-8000-00000000d0d0");
    assert_eq!(created, by(DEVICE_A, USER_A, 1_795_600_000_000));
    assert_eq!(unit.as_deref(), Some("hlhpn"));
    assert_eq!(plan_item, Some(PlanItem::CommunicationProgramme));
    assert_eq!(activity_type, Some(ActivityType::Communication));
    assert_eq!(format, Some(Format::Club));
    assert_eq!(topics, [Topic::WomenLeadership, Topic::GbvFamily, Topic::HarmfulCustoms, Topic::GenderEqualityLaw]);
    assert_eq!(held_on, Some(Date { year: 2026, month: 11, day: 20 }));
    // Phone A's location is shown; phone B's concurrent one is kept in the conflict below.
    assert_eq!(location.as_deref(), Some("Sân nhà văn hóa thôn Đông"));
    assert_eq!(gps, Some(GeoPoint { lat: 21.028511, lon: 105.854167 }));
    assert_eq!(attendance_female, Some(34));
    assert_eq!(attendance_male, Some(22));
    assert_eq!(attendance_ethnic_minority, Some(12));
    assert_eq!(attendance_total, Some(56));
    assert_eq!(case_code, None);
    assert_eq!(reported_on, None);
    assert_eq!(survivor_sex, None);
    assert_eq!(survivor_age_group, None);
    assert_eq!(violence_types, []);
    assert_eq!(setting, None);
    assert_eq!(referred_to, []);
    assert_eq!(case_status, None);
    assert_eq!(consent_to_share, None);
    assert_eq!(notes, "Sinh hoạt CLB tháng hành động, phát tờ rơi. Có 5 hộ mới đăng ký.");
    assert_eq!(review_state, ReviewState::Submitted);
    assert_eq!(review_comment, None);
    assert!(changed_after_approval);
    assert!(!deleted);
    assert!(!delete_conflict);
    assert_eq!(
        conflicts,
        [Conflict {
            field: Field::Location,
            values: vec![
                ConflictValue {
                    value: "Hội trường thôn Đông".into(),
                    by: by(DEVICE_B, USER_B, 1_795_603_300_000),
                    shown: false,
                },
                ConflictValue {
                    value: "Sân nhà văn hóa thôn Đông".into(),
                    by: by(DEVICE_A, USER_A, 1_795_603_000_000),
                    shown: true,
                },
            ],
        }]
    );
    assert_eq!(edit_count, 3);
    assert_eq!(
        heads,
        [
            "1ff9bd8ab050fa1127caa3e13704bab1eedefecd23a2f7a8271483a76f1e758d",
            "f07028feed14dac845071bc46ca8a43ef02f8d682d2f0d625ab28099a4a17bea",
            "f302310f666762ac14b5a8a1c3b96119615973133b57470e05cc29361e3ce4c5",
        ]
    );
    let t = |min: i64| 1_795_600_000_000 + min * 60_000;
    let s = |x: &str| x.to_string();
    assert_eq!(
        history(&mut r),
        [
            (s(DEVICE_A), s(USER_A), t(0)),
            (s(DEVICE_A), s(USER_A), t(1)),
            (s(DEVICE_A), s(USER_A), t(50)),
            (s(DEVICE_B), s(USER_B), t(55)),
            (s(DEVICE_R), s(USER_R), t(60)),
        ]
    );
}

#[test]
fn gbv_referral_v1_loads_with_every_field() {
    let mut r = Record::load(&read(GBV_REFERRAL_V1), None).unwrap();
    assert_eq!(r.id().to_string(), "019ab9a2-8000-7000-8000-000000000002");
    assert_eq!(r.kind(), RecordKind::GbvReferral);
    let RecordView {
        id,
        kind,
        schema_version,
        commune,
        village,
        created,
        unit,
        plan_item,
        activity_type,
        format,
        topics,
        held_on,
        location,
        gps,
        attendance_female,
        attendance_male,
        attendance_ethnic_minority,
        attendance_total,
        case_code,
        reported_on,
        survivor_sex,
        survivor_age_group,
        violence_types,
        setting,
        referred_to,
        case_status,
        consent_to_share,
        notes,
        review_state,
        review_comment,
        changed_after_approval,
        deleted,
        delete_conflict,
        conflicts,
        edit_count,
        heads,
    } = r.view();
    assert_eq!(id.to_string(), "019ab9a2-8000-7000-8000-000000000002");
    assert_eq!(kind, RecordKind::GbvReferral);
    assert_eq!(schema_version, 1);
    assert_eq!(commune.to_string(), "00000000-0000-4000-8000-00000000c0c0");
    assert_eq!(village.to_string(), "00000000-0000-4000-8000-00000000d0d0");
    assert_eq!(created, by(DEVICE_A, USER_A, 1_795_600_000_000));
    assert_eq!(unit.as_deref(), Some("hlhpn"));
    assert_eq!(plan_item, Some(PlanItem::GbvProgramme));
    assert_eq!(activity_type, None);
    assert_eq!(format, None);
    assert_eq!(topics, []);
    assert_eq!(held_on, None);
    assert_eq!(location, None);
    assert_eq!(gps, None);
    assert_eq!(attendance_female, None);
    assert_eq!(attendance_male, None);
    assert_eq!(attendance_ethnic_minority, None);
    assert_eq!(attendance_total, None);
    assert_eq!(case_code.as_deref(), Some("BL-2026-0007"));
    assert_eq!(reported_on, Some(Date { year: 2026, month: 11, day: 24 }));
    assert_eq!(survivor_sex, Some(Sex::Female));
    assert_eq!(survivor_age_group, Some(AgeGroup::From18To59));
    assert_eq!(violence_types, [ViolenceType::Physical, ViolenceType::Psychological, ViolenceType::Economic]);
    assert_eq!(setting, Some(Setting::Family));
    assert_eq!(referred_to, [Service::LegalAid, Service::TrustedAddress]);
    assert_eq!(case_status, Some(CaseStatus::ReceivingSupport));
    assert_eq!(consent_to_share, Some(true));
    assert_eq!(notes, "Đã chuyển đến trạm y tế xã.");
    // Returned with a comment, then edited on the phone: effectively submitted again.
    assert_eq!(review_state, ReviewState::Submitted);
    assert_eq!(review_comment.as_deref(), Some("Bổ sung tình trạng vụ việc"));
    assert!(!changed_after_approval);
    // Deleted by mistake and restored.
    assert!(!deleted);
    assert!(!delete_conflict);
    assert_eq!(conflicts, []);
    assert_eq!(edit_count, 2);
    assert_eq!(heads, ["673f2fd17c7f30b2666f5c2320bb9d003102bc725207f11aff9e3ff7031e32ff"]);
    let t = |min: i64| 1_795_600_000_000 + min * 60_000;
    let s = |x: &str| x.to_string();
    assert_eq!(
        history(&mut r),
        [
            (s(DEVICE_A), s(USER_A), t(0)),
            (s(DEVICE_A), s(USER_A), t(1)),
            (s(DEVICE_A), s(USER_A), t(40)),
            (s(DEVICE_R), s(USER_R), t(30)),
            (s(DEVICE_D), s(USER_D), t(50)),
            (s(DEVICE_D), s(USER_D), t(51)),
        ]
    );
}

#[test]
fn the_fixtures_are_valid_and_their_json_uses_codes() {
    let today = Date { year: 2026, month: 11, day: 25 };
    for name in [ACTIVITY_V1, GBV_REFERRAL_V1] {
        let view = Record::load(&read(name), None).unwrap().view();
        assert_eq!(validate(&view, today), [], "{name}");
    }
    let view = Record::load(&read(ACTIVITY_V1), None).unwrap().view();
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["kind"], "activity");
    assert_eq!(json["plan_item"], "II.7.1");
    assert_eq!(json["format"], "club");
    assert_eq!(
        json["topics"],
        serde_json::json!(["women_leadership", "gbv_family", "harmful_customs", "gender_equality_law"])
    );
    assert_eq!(json["held_on"], "2026-11-20");
    assert_eq!(json["review_state"], "submitted");
    assert_eq!(json["conflicts"][0]["field"], "location");
    let view = Record::load(&read(GBV_REFERRAL_V1), None).unwrap().view();
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["survivor_age_group"], "18_59");
    assert_eq!(json["referred_to"], serde_json::json!(["legal_aid", "trusted_address"]));
}

#[test]
fn the_fixtures_stay_editable_and_mergeable() {
    // Phone B resolves the activity's location conflict; a read-only replica (the server)
    // loaded from the same bytes applies the resolution.
    let bytes = read(ACTIVITY_V1);
    let mut phone = Record::load(&bytes, Some(phone_b())).unwrap();
    let mut server = Record::load(&bytes, None).unwrap();
    let conflict = phone.conflicts().remove(0);
    let choice = conflict.values.iter().position(|v| v.value == "Hội trường thôn Đông").unwrap();
    let change = phone.resolve(Field::Location, choice, T0 + 120 * MINUTE).unwrap();
    server.apply_changes(&[change]).unwrap();
    let view = server.view();
    assert_eq!(view.location.as_deref(), Some("Hội trường thôn Đông"));
    assert_eq!(view.conflicts, []);
    assert_eq!(view, phone.view());
    // Saving and loading again, and rebuilding from the change list, give the same record.
    assert_eq!(Record::load(&server.save(), None).unwrap().view(), view);
    assert_eq!(Record::from_changes(&server.changes(), None).unwrap().view(), view);

    let bytes = read(GBV_REFERRAL_V1);
    let mut phone = Record::load(&bytes, Some(phone_a())).unwrap();
    phone.edit(&[Edit::CaseStatus(CaseStatus::Closed)], T0 + 120 * MINUTE).unwrap().unwrap();
    let view = phone.view();
    assert_eq!(view.case_status, Some(CaseStatus::Closed));
    assert_eq!(view.edit_count, 3);
    assert_eq!(Record::load(&phone.save(), None).unwrap().view(), view);
}

// ---- garbage in: an error, never a panic ----

/// The reason a load failed, as text (RecordError is not PartialEq).
fn refused(result: Result<Record, RecordError>) -> String {
    match result {
        Ok(mut r) => panic!("accepted garbage as {:?}", r.view()),
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn empty_bytes_are_refused() {
    let why = refused(Record::load(&[], None));
    assert!(why.starts_with("NotARecord") || why.starts_with("Corrupt"), "{why}");
    refused(Record::from_changes(&[], None));
    refused(Record::from_changes(&[Vec::new()], None));
}

#[test]
fn every_truncation_of_a_valid_document_is_refused() {
    for name in [ACTIVITY_V1, GBV_REFERRAL_V1] {
        let bytes = read(name);
        for len in 0..bytes.len() {
            let why = refused(Record::load(&bytes[..len], None));
            assert!(why.starts_with("Corrupt") || why.starts_with("NotARecord"), "{name}[..{len}]: {why}");
        }
        // The whole document does load.
        Record::load(&bytes, None).unwrap();
    }
}

#[test]
fn truncated_changes_are_refused_and_leave_the_record_untouched() {
    let mut source = Record::load(&read(ACTIVITY_V1), None).unwrap();
    let changes = source.changes();
    let mut target = Record::load(&read(GBV_REFERRAL_V1), None).unwrap();
    let before = target.view();
    for change in &changes {
        for len in [0, 1, change.len() / 2, change.len() - 1] {
            let why = refused(Record::from_changes(&[change[..len].to_vec()], None));
            assert!(why.starts_with("Corrupt"), "{why}");
            assert!(target.apply_changes(&[change[..len].to_vec()]).is_err());
            assert_eq!(target.view(), before);
        }
    }
}

/// Saves an Automerge document built by `build`.
fn automerge_doc(build: impl FnOnce(&mut automerge::AutoCommit)) -> Vec<u8> {
    let mut doc = automerge::AutoCommit::new();
    build(&mut doc);
    doc.save()
}

#[test]
fn valid_automerge_documents_that_are_not_records_are_refused() {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ScalarValue};
    let bytes16 = |b: u8| ScalarValue::Bytes(vec![b; 16]);
    let header = |d: &mut automerge::AutoCommit, version: ScalarValue| {
        d.put(ROOT, "schema_version", version).unwrap();
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("NotARecord(\"schema_version\")", automerge_doc(|_| {})),
        (
            "NotARecord(\"schema_version\")",
            automerge_doc(|d| {
                d.put(ROOT, "title", "Biên bản họp").unwrap();
                let list = d.put_object(ROOT, "items", ObjType::List).unwrap();
                d.insert(&list, 0, 42).unwrap();
            }),
        ),
        ("NotARecord(\"schema_version\")", automerge_doc(|d| header(d, "1".into()))),
        (
            "NotARecord(\"schema_version\")",
            automerge_doc(|d| {
                d.put_object(ROOT, "schema_version", ObjType::Map).unwrap();
            }),
        ),
        ("UnsupportedSchema(2)", automerge_doc(|d| header(d, ScalarValue::Uint(2)))),
        ("NotARecord(\"id\")", automerge_doc(|d| header(d, ScalarValue::Uint(1)))),
        (
            "NotARecord(\"id\")",
            automerge_doc(|d| {
                header(d, ScalarValue::Uint(1));
                d.put(ROOT, "id", ScalarValue::Bytes(vec![1; 15])).unwrap();
            }),
        ),
        (
            "NotARecord(\"id\")",
            automerge_doc(|d| {
                header(d, ScalarValue::Uint(1));
                d.put(ROOT, "id", "019ab9a2-8000-7000-8000-000000000001").unwrap();
            }),
        ),
        (
            "NotARecord(\"kind\")",
            automerge_doc(|d| {
                header(d, ScalarValue::Uint(1));
                d.put(ROOT, "id", bytes16(1)).unwrap();
                d.put(ROOT, "kind", "meeting").unwrap();
            }),
        ),
        (
            "NotARecord(\"commune\")",
            automerge_doc(|d| {
                header(d, ScalarValue::Uint(1));
                d.put(ROOT, "id", bytes16(1)).unwrap();
                d.put(ROOT, "kind", "activity").unwrap();
                d.put(ROOT, "village", bytes16(3)).unwrap();
            }),
        ),
        (
            "NotARecord(\"village\")",
            automerge_doc(|d| {
                header(d, ScalarValue::Uint(1));
                d.put(ROOT, "id", bytes16(1)).unwrap();
                d.put(ROOT, "kind", "gbv_referral").unwrap();
                d.put(ROOT, "commune", bytes16(2)).unwrap();
                d.put(ROOT, "village", ScalarValue::Bytes(vec![3; 3])).unwrap();
            }),
        ),
    ];
    for (want, bytes) in cases {
        assert_eq!(refused(Record::load(&bytes, None)), want);
        // The same document arriving as changes is refused the same way.
        let mut doc = automerge::AutoCommit::load(&bytes).unwrap();
        let changes: Vec<Vec<u8>> = doc.get_changes(&[]).into_iter().map(|mut c| c.bytes().into_owned()).collect();
        if !changes.is_empty() {
            assert_eq!(refused(Record::from_changes(&changes, None)), want);
        }
    }
}

#[test]
fn a_minimal_foreign_record_loads_and_projects_without_panicking() {
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ScalarValue};
    let bytes = automerge_doc(|d| {
        d.put(ROOT, "schema_version", ScalarValue::Uint(1)).unwrap();
        d.put(ROOT, "id", ScalarValue::Bytes(vec![1; 16])).unwrap();
        d.put(ROOT, "kind", "activity").unwrap();
        d.put(ROOT, "commune", ScalarValue::Bytes(vec![2; 16])).unwrap();
        d.put(ROOT, "village", ScalarValue::Bytes(vec![3; 16])).unwrap();
    });
    let mut r = Record::load(&bytes, Some(phone_a())).unwrap();
    let v = r.view();
    assert_eq!((v.kind, v.edit_count, v.notes.as_str()), (RecordKind::Activity, 0, ""));
    assert_eq!(v.review_state, ReviewState::Draft);
    assert_eq!(v.created.user, None, "no author was recorded on this document");
    // It lacks the sets and the edit counter: edits are refused, not a panic.
    assert!(r.edit(&[Edit::AddTopic(Topic::Other)], T0).is_err());
    assert!(r.edit(&[Edit::AttendanceFemale(3)], T0).is_err());
}

/// BUG (record.rs `edit`): when `finish_edit` fails (here: no `edits` counter to increment),
/// the ops already written stay in the open transaction and the next `save()`, `commit` or
/// `apply_changes` commits them, so a refused edit ends up in the document after all.
#[test]

fn a_refused_edit_leaves_nothing_behind() {
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ScalarValue};
    let bytes = automerge_doc(|d| {
        d.put(ROOT, "schema_version", ScalarValue::Uint(1)).unwrap();
        d.put(ROOT, "id", ScalarValue::Bytes(vec![1; 16])).unwrap();
        d.put(ROOT, "kind", "activity").unwrap();
        d.put(ROOT, "commune", ScalarValue::Bytes(vec![2; 16])).unwrap();
        d.put(ROOT, "village", ScalarValue::Bytes(vec![3; 16])).unwrap();
    });
    let mut r = Record::load(&bytes, Some(phone_a())).unwrap();
    assert!(r.edit(&[Edit::AttendanceFemale(3)], T0).is_err());
    let saved = r.save();
    assert_eq!(Record::load(&saved, None).unwrap().view().attendance_female, None);
}

/// BUG (automerge 0.12, unguarded in record.rs `apply_raw`): a change whose actor the document
/// has never seen, at seq > 1, with its dependencies present, panics inside automerge
/// (`op_set2/change/batch.rs:1121`, `lookup_actor(..).unwrap()`) instead of returning an error.
/// One flipped bit in the actor id of an ordinary edit is enough; a hostile device can send
/// such a change on purpose and crash whoever applies it (the server).
#[test]

fn a_change_from_an_unknown_actor_is_refused_not_a_panic() {
    let (mut phone, creation) = Record::create(
        RecordKind::Activity,
        activity_id(),
        commune(),
        village(),
        phone_a(),
        &[Edit::Unit("hlhpn".into())],
        T0,
    )
    .unwrap();
    let mut edit = phone.edit(&[Edit::AttendanceFemale(12)], T0 + MINUTE).unwrap().unwrap();
    // Flip one bit of the actor id (the device id) inside the change.
    let device = phone_a().device;
    let at = edit.windows(16).position(|w| w == device.as_bytes()).expect("actor id in change");
    edit[at + 3] ^= 1;
    let mut server = Record::from_changes(&[creation], None).unwrap();
    let before = server.view();
    assert!(server.apply_changes(&[edit]).is_err());
    assert_eq!(server.view(), before);
}

/// BUG (record.rs `apply_changes`): a change of a different record is not refused cleanly.
/// Depending on which actor id sorts higher, either the foreign creation wins the `id` key and
/// `apply_changes` returns `NotARecord("id")` having replaced the document with an empty one
/// (`std::mem::take`), so the next `view()` panics ("checked on load"); or this record's id wins
/// and the foreign record's fields are silently merged in (duplicate `notes` text and set
/// objects, conflicting identity keys that `conflicts()` does not report), returning `Ok`.
#[test]

fn a_change_of_another_record_is_refused_and_leaves_this_record_intact() {
    for (ours, theirs) in [(phone_a(), phone_b()), (phone_b(), phone_a())] {
        let (mut mine, _) = Record::create(
            RecordKind::Activity,
            activity_id(),
            commune(),
            village(),
            ours,
            &[Edit::Unit("hlhpn".into())],
            T0,
        )
        .unwrap();
        let (_, foreign) = Record::create(
            RecordKind::Activity,
            gbv_id(),
            commune(),
            village(),
            theirs,
            &[Edit::Unit("mttq".into())],
            T0,
        )
        .unwrap();
        let before = mine.view();
        assert!(mine.apply_changes(&[foreign]).is_err(), "a foreign record's change was accepted");
        assert_eq!(mine.view(), before);
    }
}

/// A document's saved form starts with these four bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::with_cases(cases)
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(Record::load(&bytes, None).is_err());
        prop_assert!(Record::from_changes(std::slice::from_ref(&bytes), None).is_err());
    }

    #[test]
    fn random_bytes_after_the_magic_number_are_refused(
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let bytes: Vec<u8> = MAGIC.iter().copied().chain(tail).collect();
        prop_assert!(Record::load(&bytes, None).is_err());
        prop_assert!(Record::from_changes(&[bytes], None).is_err());
    }

    #[test]
    fn corrupted_documents_are_refused(
        activity in any::<bool>(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = read(if activity { ACTIVITY_V1 } else { GBV_REFERRAL_V1 });
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        prop_assert!(Record::load(&bytes, None).is_err(), "flipping byte {} with {:#x} was accepted", i, xor);
        let len = cut.index(bytes.len());
        prop_assert!(Record::load(&bytes[..len], None).is_err());
    }

    /// Some one-bit corruptions of a change used to panic inside automerge; now they are refused.
    #[test]

    fn corrupted_changes_are_refused_and_leave_the_record_untouched(
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut source = Record::load(&read(ACTIVITY_V1), None).unwrap();
        let changes = source.changes();
        let mut change = changes[which.index(changes.len())].clone();
        let i = at.index(change.len());
        change[i] ^= xor;
        let mut target = Record::load(&read(ACTIVITY_V1), None).unwrap();
        let before = target.view();
        // Refused, or ignored as a change it already has: never a panic, never a different record.
        let _ = target.apply_changes(&[change]);
        prop_assert_eq!(target.view(), before);
    }
}

/// A later change that overwrites the village (or commune) with a single new value is refused too,
/// not only concurrent second values: both are fixed at creation.
#[test]
fn a_change_that_moves_a_record_to_another_village_is_refused() {
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{ActorId, ROOT, ScalarValue};
    let (mut mine, creation) =
        Record::create(RecordKind::Activity, activity_id(), commune(), village(), phone_a(), &[], T0).unwrap();
    for key in ["village", "commune"] {
        let mut forger = automerge::AutoCommit::load(&mine.save()).unwrap();
        forger.set_actor(ActorId::from(phone_a().device.as_bytes().as_slice()));
        forger.put(ROOT, key, ScalarValue::Bytes(vec![0xee; 16])).unwrap();
        forger.commit_with(CommitOptions::default().with_time(T0 + MINUTE));
        let change = forger.get_last_local_change().unwrap().raw_bytes().to_vec();
        let mut replica = Record::from_changes(std::slice::from_ref(&creation), None).unwrap();
        let before = replica.view();
        assert!(replica.apply_changes(&[change]).is_err(), "moving the record's {key} is refused");
        assert_eq!(replica.view(), before);
    }
    assert_eq!(mine.view().village, village());
}
