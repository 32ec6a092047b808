//! [`RecordView`], the flat projection of a record that storage indexes, reports and the UI read.

use super::{Record, SCHEMA_VERSION, get_str, hex};
use crate::field::{Field, GeoPoint};
use crate::ids::{CommuneId, Date, RecordId, VillageId};
use crate::record::{Attribution, Conflict};
use crate::schema::*;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, Value};
use serde::{Deserialize, Serialize};

/// The flat projection of a record: what storage indexes, reports and the UI read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordView {
    /// The record id.
    pub id: RecordId,
    /// Activity or GBV referral.
    pub kind: RecordKind,
    /// Schema version of the document.
    pub schema_version: u64,
    /// Commune, fixed at creation.
    pub commune: CommuneId,
    /// Village, fixed at creation.
    pub village: VillageId,
    /// Who created it, on which device and when.
    pub created: Attribution,
    /// Organising unit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Plan item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_item: Option<PlanItem>,
    /// Activity type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<ActivityType>,
    /// Communication format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Topics (sorted by code order).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub topics: Vec<Topic>,
    /// Date held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_on: Option<Date>,
    /// Location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// GPS point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gps: Option<GeoPoint>,
    /// Female attendance (as stored; validation rejects negatives).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendance_female: Option<i64>,
    /// Male attendance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendance_male: Option<i64>,
    /// Ethnic-minority attendance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendance_ethnic_minority: Option<i64>,
    /// Female + male, derived (never stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendance_total: Option<i64>,
    /// Pseudonymous case code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_code: Option<String>,
    /// Date reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_on: Option<Date>,
    /// Survivor's sex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survivor_sex: Option<Sex>,
    /// Survivor's age group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survivor_age_group: Option<AgeGroup>,
    /// Violence types.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub violence_types: Vec<ViolenceType>,
    /// Setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setting: Option<Setting>,
    /// Services referred to.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub referred_to: Vec<Service>,
    /// Case status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_status: Option<CaseStatus>,
    /// Consent to share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_to_share: Option<bool>,
    /// Notes (restricted for GBV referrals).
    pub notes: String,
    /// The effective review state.
    pub review_state: ReviewState,
    /// The comment of the last return.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_comment: Option<String>,
    /// Edited on a device concurrently with or after an approval.
    pub changed_after_approval: bool,
    /// Soft-deleted.
    pub deleted: bool,
    /// Deleted concurrently with an edit: needs a person to look at it.
    pub delete_conflict: bool,
    /// Open scalar conflicts.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub conflicts: Vec<Conflict>,
    /// Number of content edits merged into the document.
    pub edit_count: i64,
    /// The document heads, hex, sorted.
    pub heads: Vec<String>,
}

impl Record {
    /// The projection of the current document.
    pub fn view(&mut self) -> RecordView {
        let (review_state, review_comment, changed_after_approval) = self.review();
        let doc = &self.doc;
        let code = |f: Field| get_str(doc, f.code());
        let int =
            |f: Field| doc.get(ROOT, f.code()).ok().flatten().and_then(|(v, _)| v.as_scalar().and_then(|s| s.as_i64()));
        let date = |f: Field| code(f).and_then(|s| s.parse::<Date>().ok());
        let (female, male) = (int(Field::AttendanceFemale), int(Field::AttendanceMale));
        let attendance_total = match (female, male) {
            (None, None) => None,
            (f, m) => Some(f.unwrap_or(0).saturating_add(m.unwrap_or(0))),
        };
        let deleted_at = self.deleted_at();
        let edit_count = self.edit_count();
        let mut view = RecordView {
            id: self.id,
            kind: self.kind,
            schema_version: doc
                .get(ROOT, "schema_version")
                .ok()
                .flatten()
                .and_then(|(v, _)| v.as_scalar().and_then(|s| s.as_u64()))
                .unwrap_or(SCHEMA_VERSION),
            commune: self.commune(),
            village: self.village(),
            created: Attribution { device: None, user: None, at_ms: 0 },
            unit: code(Field::Unit),
            plan_item: code(Field::PlanItem).and_then(|c| PlanItem::from_code(&c)),
            activity_type: code(Field::ActivityType).and_then(|c| ActivityType::from_code(&c)),
            format: code(Field::Format).and_then(|c| Format::from_code(&c)),
            topics: set_members(doc, Field::Topics),
            held_on: date(Field::HeldOn),
            location: code(Field::Location),
            gps: code(Field::Gps).and_then(|g| GeoPoint::decode(&g)),
            attendance_female: female,
            attendance_male: male,
            attendance_ethnic_minority: int(Field::AttendanceEthnicMinority),
            attendance_total,
            case_code: code(Field::CaseCode),
            reported_on: date(Field::ReportedOn),
            survivor_sex: code(Field::SurvivorSex).and_then(|c| Sex::from_code(&c)),
            survivor_age_group: code(Field::SurvivorAgeGroup).and_then(|c| AgeGroup::from_code(&c)),
            violence_types: set_members(doc, Field::ViolenceTypes),
            setting: code(Field::Setting).and_then(|c| Setting::from_code(&c)),
            referred_to: set_members(doc, Field::ReferredTo),
            case_status: code(Field::CaseStatus).and_then(|c| CaseStatus::from_code(&c)),
            consent_to_share: doc.get(ROOT, Field::ConsentToShare.code()).ok().flatten().and_then(|(v, _)| v.as_bool()),
            notes: self.notes(),
            review_state,
            review_comment,
            changed_after_approval,
            deleted: deleted_at.is_some(),
            delete_conflict: false,
            conflicts: Vec::new(),
            edit_count,
            heads: Vec::new(),
        };
        view.created = self.creation();
        view.delete_conflict = deleted_at.is_some() && self.delete_conflict();
        view.conflicts = self.conflicts();
        view.heads = self.heads().iter().map(hex).collect();
        view
    }

    fn notes(&self) -> String {
        match self.doc.get(ROOT, "notes") {
            Ok(Some((Value::Object(ObjType::Text), id))) => self.doc.text(&id).unwrap_or_default(),
            Ok(Some((Value::Scalar(s), _))) => s.as_str().unwrap_or_default().to_string(),
            _ => String::new(),
        }
    }

    pub(super) fn edit_count(&self) -> i64 {
        match self.doc.get(ROOT, "edits") {
            Ok(Some((Value::Scalar(s), _))) => s.as_i64().unwrap_or(0),
            _ => 0,
        }
    }

    pub(super) fn deleted_at(&self) -> Option<i64> {
        match self.doc.get(ROOT, "deleted") {
            Ok(Some((Value::Scalar(s), _))) => s.as_i64(),
            _ => None,
        }
    }
}

fn set_members<T: Coded + Ord>(doc: &AutoCommit, field: Field) -> Vec<T> {
    let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(ROOT, field.code()) else {
        return Vec::new();
    };
    let mut v: Vec<T> = doc.keys(&obj).filter_map(|k| T::from_code(&k)).collect();
    v.sort();
    v
}

/// One field of a view as text: `value` in the textual form [`crate::Edit::parse`] reads (codes for
/// enumerations; set members joined by `,`), and `label` for people in the given language
/// (enumeration labels; `value` itself for free text, numbers and dates). `None` when unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldText {
    /// The stored value as text (codes).
    pub value: String,
    /// The value as a person reads it.
    pub label: String,
}

impl RecordView {
    /// A field's value as text (see [`FieldText`]); `None` when the field is unset or empty.
    pub fn field_text(&self, field: Field, lang: Lang) -> Option<FieldText> {
        fn coded<T: Coded>(v: Option<T>, lang: Lang) -> Option<FieldText> {
            v.map(|c| FieldText { value: c.code().to_string(), label: c.label(lang).to_string() })
        }
        fn set<T: Coded>(v: &[T], lang: Lang) -> Option<FieldText> {
            (!v.is_empty()).then(|| FieldText {
                value: v.iter().map(|c| c.code()).collect::<Vec<_>>().join(","),
                label: v.iter().map(|c| c.label(lang)).collect::<Vec<_>>().join(", "),
            })
        }
        fn plain(v: Option<String>) -> Option<FieldText> {
            v.filter(|s| !s.is_empty()).map(|s| FieldText { label: s.clone(), value: s })
        }
        let yes_no = |b: bool| match (b, lang) {
            (true, Lang::Vi) => "có",
            (false, Lang::Vi) => "không",
            (true, Lang::En) => "yes",
            (false, Lang::En) => "no",
        };
        match field {
            Field::Unit => plain(self.unit.clone()),
            Field::PlanItem => coded(self.plan_item, lang),
            Field::ActivityType => coded(self.activity_type, lang),
            Field::Format => coded(self.format, lang),
            Field::Topics => set(&self.topics, lang),
            Field::HeldOn => plain(self.held_on.map(|d| d.to_string())),
            Field::Location => plain(self.location.clone()),
            Field::Gps => plain(self.gps.map(|g| g.encode())),
            Field::AttendanceFemale => plain(self.attendance_female.map(|n| n.to_string())),
            Field::AttendanceMale => plain(self.attendance_male.map(|n| n.to_string())),
            Field::AttendanceEthnicMinority => plain(self.attendance_ethnic_minority.map(|n| n.to_string())),
            Field::Notes => plain(Some(self.notes.clone())),
            Field::CaseCode => plain(self.case_code.clone()),
            Field::ReportedOn => plain(self.reported_on.map(|d| d.to_string())),
            Field::SurvivorSex => coded(self.survivor_sex, lang),
            Field::SurvivorAgeGroup => coded(self.survivor_age_group, lang),
            Field::ViolenceTypes => set(&self.violence_types, lang),
            Field::Setting => coded(self.setting, lang),
            Field::ReferredTo => set(&self.referred_to, lang),
            Field::CaseStatus => coded(self.case_status, lang),
            Field::ConsentToShare => {
                self.consent_to_share.map(|b| FieldText { value: b.to_string(), label: yes_no(b).to_string() })
            }
            Field::Review => coded(Some(self.review_state), lang),
            Field::Deleted => {
                Some(FieldText { value: self.deleted.to_string(), label: yes_no(self.deleted).to_string() })
            }
        }
    }
}
