//! Prints the size of a typical new activity record (its one change, and saved as a document) and
//! of a one-field edit, uncompressed; SPEC §8's wire budgets are measured on the deflated wire by
//! `tests/tests/api/budgets.rs` and `sotay-bench`. Run: `cargo run --release -p sotay-sync-core --example sizes`.
use sotay_sync_core::schema::*;
use sotay_sync_core::*;
use uuid::Uuid;

fn main() {
    let editor = Editor { device: DeviceId(Uuid::from_u128(1)), user: UserId(Uuid::from_u128(2)) };
    let now = 1_795_000_000_000;
    let (mut r, create) = Record::create(
        RecordKind::Activity,
        RecordId::new_v7(now as u64),
        CommuneId(Uuid::from_u128(3)),
        VillageId(Uuid::from_u128(4)),
        editor,
        &[
            Edit::Unit("hlhpn".into()),
            Edit::PlanItem(PlanItem::CommunicationProgramme),
            Edit::ActivityType(ActivityType::Communication),
            Edit::Format(Some(Format::Club)),
            Edit::AddTopic(Topic::GbvFamily),
            Edit::AddTopic(Topic::GenderEqualityLaw),
            Edit::HeldOn("2026-11-20".parse().unwrap()),
            Edit::Location("Nhà văn hóa thôn Đông".into()),
            Edit::AttendanceFemale(34),
            Edit::AttendanceMale(21),
            Edit::Notes("Sinh hoạt CLB tháng hành động, phát tờ rơi.".into()),
        ],
        now,
    )
    .unwrap();
    let edit = r.edit(&[Edit::AttendanceMale(22)], now + 2000).unwrap().unwrap();
    println!("new activity change (creation with all fields): {} B", create.len());
    println!("saved typical activity: {} B", r.save().len());
    println!("one-field edit change: {} B", edit.len());
}
