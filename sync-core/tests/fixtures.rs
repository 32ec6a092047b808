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

fn by(e: Editor, at_ms: i64) -> Attribution {
    Attribution { device: Some(e.device), user: Some(e.user), at_ms }
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
    a.edit(
        &[Edit::AttendanceMale(22), Edit::Location("Sân nhà văn hóa thôn Đông".into())],
        T0 + 50 * MINUTE,
    )
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

#[test]
fn zz_print() {
    for n in [ACTIVITY_V1, GBV_REFERRAL_V1] {
        let mut r = Record::load(&read(n), None).unwrap();
        eprintln!("{:#?}", r.view());
    }
}
