//! The fields of a record, how each one merges, and the typed edits that write them.
//!
//! A field's merge kind decides what concurrent edits do (SPEC §4): scalars keep every concurrent
//! value and raise a conflict, sets are add-wins, notes merge as text.

use crate::ids::Date;
use crate::schema::*;
use serde::{Deserialize, Serialize};

/// How concurrent edits of a field merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    /// One value; concurrent different values are all kept and flagged as a conflict.
    Scalar,
    /// A set of codes with add-wins semantics: never a conflict.
    Set,
    /// Free text merged character by character: never a conflict.
    Text,
}

// `$code` is a `tt`, not a `literal`: a `literal` fragment reaches derive macros wrapped in an
// invisible group, which utoipa (feature `openapi`) does not read as a serde rename.
macro_rules! coded_field {
    ($($variant:ident = $code:tt, $merge:ident, $vi:literal, $en:literal;)+) => {
        /// A field of a record, named by its stable code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum Field {
            $(#[doc = $en] #[serde(rename = $code)] $variant,)+
        }

        impl Field {
            /// How concurrent edits of this field merge.
            pub fn merge_kind(self) -> MergeKind {
                match self { $(Field::$variant => MergeKind::$merge,)+ }
            }
        }

        impl Coded for Field {
            const ALL: &'static [Self] = &[$(Field::$variant),+];
            fn code(self) -> &'static str {
                match self { $(Field::$variant => $code,)+ }
            }
            fn label(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Field::$variant, Lang::Vi) => $vi, (Field::$variant, Lang::En) => $en,)+
                }
            }
        }
    };
}

coded_field! {
    Unit = "unit", Scalar, "Đơn vị tổ chức", "Organising unit";
    PlanItem = "plan_item", Scalar, "Nội dung kế hoạch", "Plan item";
    ActivityType = "activity_type", Scalar, "Loại hoạt động", "Activity type";
    Format = "format", Scalar, "Hình thức", "Format";
    Topics = "topics", Set, "Chủ đề", "Topics";
    HeldOn = "held_on", Scalar, "Ngày tổ chức", "Date held";
    Location = "location", Scalar, "Địa điểm", "Location";
    Gps = "gps", Scalar, "Tọa độ GPS", "GPS point";
    AttendanceFemale = "attendance_female", Scalar, "Số người tham dự nữ", "Female attendance";
    AttendanceMale = "attendance_male", Scalar, "Số người tham dự nam", "Male attendance";
    AttendanceEthnicMinority = "attendance_ethnic_minority", Scalar, "Số người dân tộc thiểu số", "Ethnic-minority attendance";
    Notes = "notes", Text, "Ghi chú", "Notes";
    CaseCode = "case_code", Scalar, "Mã vụ việc", "Case code";
    ReportedOn = "reported_on", Scalar, "Ngày tiếp nhận", "Date reported";
    SurvivorSex = "survivor_sex", Scalar, "Giới tính nạn nhân", "Survivor's sex";
    SurvivorAgeGroup = "survivor_age_group", Scalar, "Nhóm tuổi nạn nhân", "Survivor's age group";
    ViolenceTypes = "violence_types", Set, "Loại hình bạo lực", "Violence types";
    Setting = "setting", Scalar, "Môi trường xảy ra", "Setting";
    ReferredTo = "referred_to", Set, "Nơi chuyển gửi", "Referred to";
    CaseStatus = "case_status", Scalar, "Tình trạng vụ việc", "Case status";
    ConsentToShare = "consent_to_share", Scalar, "Đồng ý chia sẻ thông tin", "Consent to share";
    Review = "review", Scalar, "Trạng thái duyệt", "Review state";
    Deleted = "deleted", Scalar, "Đã xóa", "Deleted";
}

impl Field {
    /// The fields a record of this kind has (beyond identity, review and deletion).
    pub fn of_kind(kind: RecordKind) -> &'static [Field] {
        use Field::*;
        match kind {
            RecordKind::Activity => &[
                Unit,
                PlanItem,
                ActivityType,
                Format,
                Topics,
                HeldOn,
                Location,
                Gps,
                AttendanceFemale,
                AttendanceMale,
                AttendanceEthnicMinority,
                Notes,
            ],
            RecordKind::GbvReferral => &[
                Unit,
                PlanItem,
                CaseCode,
                ReportedOn,
                SurvivorSex,
                SurvivorAgeGroup,
                ViolenceTypes,
                Setting,
                ReferredTo,
                CaseStatus,
                ConsentToShare,
                Notes,
            ],
        }
    }

    /// Whether a record of this kind has this field.
    pub fn belongs_to(self, kind: RecordKind) -> bool {
        Field::of_kind(kind).contains(&self)
    }
}

/// A point on the map, in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GeoPoint {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
}

impl GeoPoint {
    /// The stored form, `lat,lon` with six decimals (about 10 cm).
    pub fn encode(self) -> String {
        format!("{:.6},{:.6}", self.lat, self.lon)
    }
    /// Reads the stored form.
    pub fn decode(s: &str) -> Option<GeoPoint> {
        let (lat, lon) = s.split_once(',')?;
        let p = GeoPoint { lat: lat.trim().parse().ok()?, lon: lon.trim().parse().ok()? };
        (p.lat.is_finite() && p.lon.is_finite()).then_some(p)
    }
}

/// One typed write to one field of a record. An edit made on a device is a list of these,
/// committed together as one Automerge change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "snake_case")]
pub enum Edit {
    /// Sets the organising unit (a unit code from the commune's list).
    Unit(String),
    /// Sets the plan item.
    PlanItem(PlanItem),
    /// Sets the activity type.
    ActivityType(ActivityType),
    /// Sets or clears the communication format.
    Format(Option<Format>),
    /// Adds a topic.
    AddTopic(Topic),
    /// Removes a topic.
    RemoveTopic(Topic),
    /// Sets the date held.
    HeldOn(Date),
    /// Sets the location.
    Location(String),
    /// Sets or clears the GPS point.
    Gps(Option<GeoPoint>),
    /// Sets the female attendance.
    AttendanceFemale(u32),
    /// Sets the male attendance.
    AttendanceMale(u32),
    /// Sets or clears the ethnic-minority attendance.
    AttendanceEthnicMinority(Option<u32>),
    /// Replaces the notes (merged as a text diff, so concurrent edits of other parts survive).
    Notes(String),
    /// Sets the pseudonymous case code.
    CaseCode(String),
    /// Sets the date the case was reported.
    ReportedOn(Date),
    /// Sets the survivor's sex.
    SurvivorSex(Sex),
    /// Sets the survivor's age group.
    SurvivorAgeGroup(AgeGroup),
    /// Adds a violence type.
    AddViolenceType(ViolenceType),
    /// Removes a violence type.
    RemoveViolenceType(ViolenceType),
    /// Sets the setting.
    Setting(Setting),
    /// Adds a service the case was referred to.
    AddReferredTo(Service),
    /// Removes a service.
    RemoveReferredTo(Service),
    /// Sets the case status.
    CaseStatus(CaseStatus),
    /// Sets consent to share.
    ConsentToShare(bool),
}

/// Why a textual edit could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot set {field}: {reason}")]
pub struct EditParseError {
    /// The field code given.
    pub field: String,
    /// What was wrong with it.
    pub reason: String,
}

impl Edit {
    /// The field this edit writes.
    pub fn field(&self) -> Field {
        match self {
            Edit::Unit(_) => Field::Unit,
            Edit::PlanItem(_) => Field::PlanItem,
            Edit::ActivityType(_) => Field::ActivityType,
            Edit::Format(_) => Field::Format,
            Edit::AddTopic(_) | Edit::RemoveTopic(_) => Field::Topics,
            Edit::HeldOn(_) => Field::HeldOn,
            Edit::Location(_) => Field::Location,
            Edit::Gps(_) => Field::Gps,
            Edit::AttendanceFemale(_) => Field::AttendanceFemale,
            Edit::AttendanceMale(_) => Field::AttendanceMale,
            Edit::AttendanceEthnicMinority(_) => Field::AttendanceEthnicMinority,
            Edit::Notes(_) => Field::Notes,
            Edit::CaseCode(_) => Field::CaseCode,
            Edit::ReportedOn(_) => Field::ReportedOn,
            Edit::SurvivorSex(_) => Field::SurvivorSex,
            Edit::SurvivorAgeGroup(_) => Field::SurvivorAgeGroup,
            Edit::AddViolenceType(_) | Edit::RemoveViolenceType(_) => Field::ViolenceTypes,
            Edit::Setting(_) => Field::Setting,
            Edit::AddReferredTo(_) | Edit::RemoveReferredTo(_) => Field::ReferredTo,
            Edit::CaseStatus(_) => Field::CaseStatus,
            Edit::ConsentToShare(_) => Field::ConsentToShare,
        }
    }

    /// Parses the textual form used by the command line and the mobile bindings:
    /// a field code and a value (`attendance_female` `12`; `topics` `+gbv_family` or `-gbv_family`;
    /// an empty value clears an optional field).
    pub fn parse(field: &str, value: &str) -> Result<Edit, EditParseError> {
        let err = |reason: &str| EditParseError { field: field.to_string(), reason: reason.to_string() };
        fn code<T: Coded>(v: &str) -> Result<T, String> {
            T::from_code(v).ok_or_else(|| {
                let all: Vec<_> = T::ALL.iter().map(|c| c.code()).collect();
                format!("unknown code {v:?}; expected one of {}", all.join(", "))
            })
        }
        let count = |v: &str| v.trim().parse::<u32>().map_err(|_| err("expected a whole number ≥ 0"));
        let date = |v: &str| v.trim().parse::<Date>().map_err(|e| err(&e.to_string()));
        let set_op = |v: &str| -> Result<(bool, String), EditParseError> {
            match v.split_at_checked(1) {
                Some(("+", rest)) => Ok((true, rest.to_string())),
                Some(("-", rest)) => Ok((false, rest.to_string())),
                _ => Err(err("expected +code to add or -code to remove")),
            }
        };
        let f = Field::from_code(field).ok_or_else(|| err("unknown field"))?;
        Ok(match f {
            Field::Unit => Edit::Unit(value.to_string()),
            Field::PlanItem => Edit::PlanItem(code(value).map_err(|e| err(&e))?),
            Field::ActivityType => Edit::ActivityType(code(value).map_err(|e| err(&e))?),
            Field::Format if value.is_empty() => Edit::Format(None),
            Field::Format => Edit::Format(Some(code(value).map_err(|e| err(&e))?)),
            Field::Topics => {
                let (add, c) = set_op(value)?;
                let t = code(&c).map_err(|e| err(&e))?;
                if add { Edit::AddTopic(t) } else { Edit::RemoveTopic(t) }
            }
            Field::HeldOn => Edit::HeldOn(date(value)?),
            Field::Location => Edit::Location(value.to_string()),
            Field::Gps if value.is_empty() => Edit::Gps(None),
            Field::Gps => Edit::Gps(Some(GeoPoint::decode(value).ok_or_else(|| err("expected lat,lon"))?)),
            Field::AttendanceFemale => Edit::AttendanceFemale(count(value)?),
            Field::AttendanceMale => Edit::AttendanceMale(count(value)?),
            Field::AttendanceEthnicMinority if value.is_empty() => Edit::AttendanceEthnicMinority(None),
            Field::AttendanceEthnicMinority => Edit::AttendanceEthnicMinority(Some(count(value)?)),
            Field::Notes => Edit::Notes(value.to_string()),
            Field::CaseCode => Edit::CaseCode(value.to_string()),
            Field::ReportedOn => Edit::ReportedOn(date(value)?),
            Field::SurvivorSex => Edit::SurvivorSex(code(value).map_err(|e| err(&e))?),
            Field::SurvivorAgeGroup => Edit::SurvivorAgeGroup(code(value).map_err(|e| err(&e))?),
            Field::ViolenceTypes => {
                let (add, c) = set_op(value)?;
                let t = code(&c).map_err(|e| err(&e))?;
                if add { Edit::AddViolenceType(t) } else { Edit::RemoveViolenceType(t) }
            }
            Field::Setting => Edit::Setting(code(value).map_err(|e| err(&e))?),
            Field::ReferredTo => {
                let (add, c) = set_op(value)?;
                let t = code(&c).map_err(|e| err(&e))?;
                if add { Edit::AddReferredTo(t) } else { Edit::RemoveReferredTo(t) }
            }
            Field::CaseStatus => Edit::CaseStatus(code(value).map_err(|e| err(&e))?),
            Field::ConsentToShare => Edit::ConsentToShare(match value {
                "true" | "yes" | "1" | "có" => true,
                "false" | "no" | "0" | "không" => false,
                _ => return Err(err("expected true or false")),
            }),
            Field::Review | Field::Deleted => {
                return Err(err("not editable: use submit, approve, return, delete or restore"));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textual_edits_parse() {
        assert_eq!(Edit::parse("attendance_female", "12").unwrap(), Edit::AttendanceFemale(12));
        assert_eq!(Edit::parse("topics", "+gbv_family").unwrap(), Edit::AddTopic(Topic::GbvFamily));
        assert_eq!(Edit::parse("referred_to", "-police").unwrap(), Edit::RemoveReferredTo(Service::Police));
        assert_eq!(Edit::parse("format", "").unwrap(), Edit::Format(None));
        assert_eq!(Edit::parse("plan_item", "II.7.1").unwrap(), Edit::PlanItem(PlanItem::CommunicationProgramme));
    }

    #[test]
    fn garbage_edits_are_rejected_naming_the_field() {
        for (f, v) in [
            ("attendance_male", "-1"),
            ("attendance_male", "ba mươi"),
            ("held_on", "yesterday"),
            ("topics", "gbv_family"),
            ("topics", "+nope"),
            ("no_such_field", "1"),
            ("gps", "north"),
            ("consent_to_share", "maybe"),
            ("review", "approved"),
            ("topics", ""),
        ] {
            let e = Edit::parse(f, v).unwrap_err();
            assert_eq!(e.field, f);
        }
    }

    #[test]
    fn every_field_of_a_kind_is_editable_or_structural() {
        for kind in RecordKind::ALL {
            for f in Field::of_kind(*kind) {
                assert!(f.belongs_to(*kind));
                assert!(!matches!(f, Field::Review | Field::Deleted));
            }
        }
    }
}
