//! Deterministic, realistic sample records: what the demo data, the tests and the benchmark use,
//! so that byte and speed figures are measured on records shaped like real ones (different days,
//! places, counts, topics and notes), not on copies of one record.

use crate::field::Edit;
use crate::ids::Date;
use crate::schema::*;

const PLACES: [&str; 6] = [
    "Nhà văn hóa thôn Đông",
    "Hội trường UBND xã",
    "Sân đình thôn Tây",
    "Trường tiểu học Tân Yên",
    "Chợ xã",
    "Nhà văn hóa thôn Trung",
];
const WORDS: [&str; 10] = [
    "tuyên truyền",
    "bình đẳng giới",
    "phòng chống bạo lực gia đình",
    "phụ nữ tham gia lãnh đạo",
    "thanh niên",
    "hòa giải ở cơ sở",
    "phát tờ rơi",
    "hỏi đáp pháp luật",
    "câu lạc bộ gia đình hạnh phúc",
    "mất cân bằng giới tính khi sinh",
];

/// The first values of the `i`-th sample activity of the year `year`.
pub fn activity(i: u32, year: u16) -> Vec<Edit> {
    let types = ActivityType::ALL;
    let activity_type = types[(i as usize * 7) % types.len()];
    let mut edits = vec![
        Edit::Unit(["vhxh", "hlhpn", "mttq", "thon"][i as usize % 4].into()),
        Edit::PlanItem(PlanItem::ALL[(i as usize * 5) % PlanItem::ALL.len()]),
        Edit::ActivityType(activity_type),
        Edit::HeldOn(Date::new(year, 1 + (i % 12) as u8, 1 + (i * 13 % 28) as u8).expect("valid by construction")),
        Edit::Location(format!("{} {}", PLACES[i as usize % PLACES.len()], 1 + i % 9)),
        Edit::AttendanceFemale(5 + (i * 37) % 70),
        Edit::AttendanceMale(2 + (i * 11) % 45),
        Edit::AddTopic(Topic::ALL[i as usize % Topic::ALL.len()]),
        Edit::AddTopic(Topic::ALL[(i as usize * 3 + 1) % Topic::ALL.len()]),
    ];
    if activity_type == ActivityType::Communication {
        edits.push(Edit::Format(Some(Format::ALL[i as usize % Format::ALL.len()])));
    }
    if i.is_multiple_of(3) {
        edits.push(Edit::AttendanceEthnicMinority(Some(i % 5)));
    }
    let words: Vec<&str> = (0..5).map(|k| WORDS[((i * 7 + k * 3) % 10) as usize]).collect();
    edits.push(Edit::Notes(format!("Buổi {}: {}.", i + 1, words.join(", "))));
    edits
}

/// The first values of the `i`-th sample GBV referral (pseudonymous: no names, no numbers).
pub fn gbv_referral(i: u32, year: u16) -> Vec<Edit> {
    vec![
        Edit::Unit("hlhpn".into()),
        Edit::PlanItem(PlanItem::GbvProgramme),
        Edit::CaseCode(format!("TY-{year}-{:04}", i + 1)),
        Edit::ReportedOn(Date::new(year, 1 + (i % 12) as u8, 1 + (i * 7 % 28) as u8).expect("valid by construction")),
        Edit::SurvivorSex(if i.is_multiple_of(9) { Sex::Male } else { Sex::Female }),
        Edit::SurvivorAgeGroup(AgeGroup::ALL[(i as usize * 5 + 2) % AgeGroup::ALL.len()]),
        Edit::AddViolenceType(ViolenceType::ALL[i as usize % ViolenceType::ALL.len()]),
        Edit::Setting(Setting::ALL[(i as usize % 7).min(2)]),
        Edit::AddReferredTo(Service::ALL[i as usize % Service::ALL.len()]),
        Edit::CaseStatus(CaseStatus::ALL[i as usize % CaseStatus::ALL.len()]),
        Edit::ConsentToShare(i.is_multiple_of(2)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CommuneId, DeviceId, RecordId, UserId, VillageId};
    use crate::record::{Editor, Record};
    use uuid::Uuid;

    #[test]
    fn samples_are_valid_records() {
        let editor = Editor { device: DeviceId(Uuid::from_u128(1)), user: UserId(Uuid::from_u128(2)) };
        let today = Date::new(2026, 12, 31).unwrap();
        for i in 0..200 {
            for (kind, edits) in
                [(RecordKind::Activity, activity(i, 2026)), (RecordKind::GbvReferral, gbv_referral(i, 2026))]
            {
                let (mut r, _) = Record::create(
                    kind,
                    RecordId::new_v7(i as u64),
                    CommuneId(Uuid::from_u128(3)),
                    VillageId(Uuid::from_u128(4)),
                    editor,
                    &edits,
                    0,
                )
                .unwrap();
                let errors = crate::validate(&r.view(), today);
                assert!(errors.is_empty(), "sample {kind} {i}: {errors:?}");
            }
        }
    }
}
