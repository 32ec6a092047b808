//! Who may write what: the write rules by role, and the schema every stored change must keep.
//!
//! A phone can send any bytes. The server therefore reads every change it is about to store (by
//! sync or through the API) operation by operation, works out what the change *does* (which
//! fields it writes, which review transition it makes, whether it deletes or restores), checks
//! every written value against the record schema, and asks [`permits`] whether the writer's role
//! may do that. This module is the one place those rules are stated; `docs/sync-protocol.md`
//! quotes the table, and the server's tests drive it with crafted changes.
//!
//! Pure: the server says who the writer is (role and channel, from its own tables) and whether
//! the writer's device may touch the record at all (the scope: commune, village, owner). This
//! module decides the rest.
//!
//! | what the change does | collaborator | reviewer | GBV focal point | admin |
//! |---|---|---|---|---|
//! | create a record (identity, schema version) | yes | activities | — | — |
//! | activity data fields | yes | yes | — | — |
//! | GBV data fields except `case_status` | yes | — | — | — |
//! | `case_status` | in the creating change only | — | yes, web session | — |
//! | review → `submitted` | yes | — | — | — |
//! | review → `approved` / `returned` of an activity | — | yes, web session | — | — |
//! | review → `approved` / `returned` of a GBV referral | — | — | yes, web session | — |
//! | soft delete | yes | activities | — | — |
//! | restore a deleted record | — | — | — | yes, web session |
//! | rewrite id, kind, commune, village, schema version (even with the same value) | never | never | never | never |
//!
//! Transitions: `submitted` from draft or returned, `approved` and `returned` from submitted
//! (the state the writer saw: the change's dependencies); submitting and approving need a valid
//! record; returning needs a comment. A write that picks one of the concurrent review values
//! (resolving a review conflict) is allowed to whoever may write that value.

use crate::field::{Field, GeoPoint, MergeKind};
use crate::field_error::{MAX_LOCATION_CHARS, MAX_NOTES_CHARS, MAX_UNIT_CHARS};
use crate::ids::Date;
use crate::schema::*;
use automerge::ScalarValue;
use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{ActorId, ObjType};
use std::collections::HashMap;

/// Largest attendance count a record may hold (a village hall, not a stadium).
pub const MAX_ATTENDANCE: i64 = 100_000;
/// Longest review comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;
/// Longest case code, in characters (the validator's format is stricter; this bounds storage).
pub const MAX_CASE_CODE_CHARS: usize = 64;

/// How a change reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `POST /api/v1/sync`, from a phone.
    Sync,
    /// Made by the server for a person signed in to the web app (review actions, case updates).
    Api,
}

/// Who writes, as the server established it from its own tables (never from the change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer {
    /// The writer's role.
    pub role: Role,
    /// How the change arrives.
    pub channel: Channel,
}

/// What a change does, read from its operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effect {
    /// It writes the identity keys: the record's creating change.
    pub creates: bool,
    /// The first identity key it writes.
    pub identity_key: Option<&'static str>,
    /// Data fields it writes, sorted, without duplicates.
    pub fields: Vec<Field>,
    /// The review state it writes, with the comment.
    pub review: Option<(ReviewState, Option<String>)>,
    /// `Some(true)` if it soft-deletes the record, `Some(false)` if it restores it.
    pub delete: Option<bool>,
    /// It makes a set or the notes text, which only the creating change does.
    pub makes_container: bool,
    /// Scalar fields it deletes values of (a conflict resolved in favour of an existing value).
    pub clears: Vec<Field>,
}

impl Effect {
    /// Whether the change writes record content (a data field), which is what "changed after
    /// approval" and "deleted while edited" are about.
    pub fn is_content(&self) -> bool {
        self.fields.iter().any(|f| *f != Field::CaseStatus)
    }
}

/// Why a change is refused. The code is stable (phones switch on it); the field, when there is
/// one, is a [`Field`] code or an identity key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message(Lang::En))]
pub struct Refusal {
    /// What rule was broken.
    pub reason: Reason,
    /// The field concerned, if any.
    pub field: Option<&'static str>,
}

/// The rules a change can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An operation outside the record schema: an unknown key, a nested object, a mark, a write
    /// into an object the schema does not have.
    NotInSchema,
    /// A value of the wrong Automerge type or outside its domain (range, date, code, length).
    InvalidValue,
    /// The change rewrites the record's identity (even with the same value).
    IdentityRewritten,
    /// The writer's role may not write this field, state or record.
    NotAllowed,
    /// The review transition is not allowed from the state the writer saw.
    Transition,
    /// Submitting or approving needs a valid record.
    InvalidRecord,
    /// Returning a record needs a comment.
    CommentRequired,
}

impl Reason {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::NotInSchema => "not_in_schema",
            Reason::InvalidValue => "invalid_value",
            Reason::IdentityRewritten => "identity_rewritten",
            Reason::NotAllowed => "not_allowed",
            Reason::Transition => "review_transition",
            Reason::InvalidRecord => "invalid_record",
            Reason::CommentRequired => "comment_required",
        }
    }

    /// The reason with this code.
    pub fn from_code(code: &str) -> Option<Reason> {
        use Reason::*;
        [NotInSchema, InvalidValue, IdentityRewritten, NotAllowed, Transition, InvalidRecord, CommentRequired]
            .into_iter()
            .find(|r| r.code() == code)
    }
}

impl Refusal {
    fn new(reason: Reason, field: Option<&'static str>) -> Refusal {
        Refusal { reason, field }
    }

    /// One sentence for people, in their language.
    pub fn message(&self, lang: Lang) -> String {
        let f = self.field.map(|code| match Field::from_code(code) {
            Some(field) => field.label(lang).to_string(),
            None => code.to_string(),
        });
        let f = f.as_deref().unwrap_or(match lang {
            Lang::Vi => "bản ghi",
            Lang::En => "the record",
        });
        match (self.reason, lang) {
            (Reason::NotInSchema, Lang::Vi) => {
                format!("Thay đổi ghi vào {f}, không có trong mẫu bản ghi; hãy cập nhật ứng dụng.")
            }
            (Reason::NotInSchema, Lang::En) => {
                format!("The change writes {f}, which records do not have; update the app.")
            }
            (Reason::InvalidValue, Lang::Vi) => format!("Giá trị của {f} không hợp lệ; hãy sửa lại rồi đồng bộ."),
            (Reason::InvalidValue, Lang::En) => format!("The value of {f} is not valid; correct it and sync again."),
            (Reason::IdentityRewritten, Lang::Vi) => format!("Không ai được ghi lại {f} của một bản ghi đã tạo."),
            (Reason::IdentityRewritten, Lang::En) => format!("Nobody may rewrite {f} of an existing record."),
            (Reason::NotAllowed, Lang::Vi) => format!("Vai trò của bạn không được sửa {f}."),
            (Reason::NotAllowed, Lang::En) => format!("Your role may not change {f}."),
            (Reason::Transition, Lang::Vi) => {
                "Không thể chuyển trạng thái duyệt như vậy từ trạng thái hiện tại.".into()
            }
            (Reason::Transition, Lang::En) => {
                "That review step is not possible from the record's current state.".into()
            }
            (Reason::InvalidRecord, Lang::Vi) => {
                "Bản ghi chưa hợp lệ nên chưa thể gửi hoặc duyệt; hãy sửa các trường báo lỗi.".into()
            }
            (Reason::InvalidRecord, Lang::En) => {
                "The record is not valid yet, so it cannot be submitted or approved; correct the fields shown.".into()
            }
            (Reason::CommentRequired, Lang::Vi) => "Trả lại bản ghi cần ghi lý do.".into(),
            (Reason::CommentRequired, Lang::En) => "Returning a record needs a comment saying why.".into(),
        }
    }
}

fn refuse<T>(reason: Reason, field: Option<&'static str>) -> Result<T, Refusal> {
    Err(Refusal::new(reason, field))
}

/// Keys written once, by the creating change, and never again.
pub const IDENTITY_KEYS: [&str; 5] = ["schema_version", "id", "kind", "commune", "village"];

/// Where an operation writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Identity(&'static str),
    Edits,
    Data(Field),
    Review,
    Deleted,
}

fn root_slot(key: &str, kind: RecordKind) -> Option<Slot> {
    if let Some(k) = IDENTITY_KEYS.iter().find(|k| **k == key) {
        return Some(Slot::Identity(k));
    }
    match key {
        "edits" => Some(Slot::Edits),
        "review" => Some(Slot::Review),
        "deleted" => Some(Slot::Deleted),
        _ => Field::from_code(key).filter(|f| f.belongs_to(kind)).map(Slot::Data),
    }
}

/// The objects a record's ops may write into: its sets and its notes text, made by the creating
/// change. Keyed by the creating operation (counter, actor).
#[derive(Debug, Clone, Default)]
pub struct Objects(HashMap<(u64, ActorId), Field>);

impl Objects {
    /// Registers the object a root field holds (from the document: `get_all(ROOT, field)`).
    pub fn insert(&mut self, counter: u64, actor: ActorId, field: Field) {
        self.0.insert((counter, actor), field);
    }
}

/// Reads a change's operations: checks each against the schema of a `kind` record and works out
/// what the change does. `objects` are the record's existing sets and notes; objects the change
/// makes itself are added as it goes.
pub fn effect_of(change: &automerge::Change, kind: RecordKind, objects: &Objects) -> Result<Effect, Refusal> {
    // Automerge's decoder can panic on a hostile change; outside input must never do that to us.
    let expanded = std::panic::catch_unwind(|| change.decode()).map_err(|_| Refusal::new(Reason::NotInSchema, None))?;
    let mut effect = Effect::default();
    // Objects this change makes: the review map, or (in the creating change) sets and notes.
    let mut made: HashMap<OpId, Slot> = HashMap::new();
    let mut review: HashMap<&str, ScalarValue> = HashMap::new();
    let mut increments = 0;
    let mut inserted = 0;
    let start = expanded.start_op.get();
    let not_in_schema = |field| Refusal::new(Reason::NotInSchema, field);
    for (i, op) in expanded.operations.iter().enumerate() {
        let this = OpId(start + i as u64, expanded.actor_id.clone());
        if matches!(op.action, OpType::MarkBegin(_) | OpType::MarkEnd(_)) {
            return Err(not_in_schema(None));
        }
        match &op.obj {
            ObjectId::Root => {
                let Key::Map(key) = &op.key else { return Err(not_in_schema(None)) };
                let slot = root_slot(key, kind).ok_or_else(|| not_in_schema(None))?;
                root_op(slot, &op.action, &mut effect, &mut increments)?;
                if let OpType::Make(_) = op.action {
                    made.insert(this, slot);
                }
            }
            ObjectId::Id(parent) => {
                let slot = match made.get(parent) {
                    Some(slot) => *slot,
                    None => match objects.0.get(&(parent.0, parent.1.clone())) {
                        Some(field) => Slot::Data(*field),
                        None => return Err(not_in_schema(None)),
                    },
                };
                match slot {
                    Slot::Review => {
                        let (OpType::Put(v), Key::Map(k)) = (&op.action, &op.key) else {
                            return Err(not_in_schema(Some("review")));
                        };
                        let k = ["state", "at", "comment"]
                            .into_iter()
                            .find(|x| *x == k.as_str())
                            .ok_or_else(|| not_in_schema(Some("review")))?;
                        review.insert(k, v.clone());
                    }
                    Slot::Data(field) => {
                        inner_op(field, op)?;
                        if op.insert {
                            inserted += 1;
                            if inserted > MAX_NOTES_CHARS {
                                return Err(Refusal::new(Reason::InvalidValue, Some(field.code())));
                            }
                        }
                        effect.fields.push(field);
                    }
                    _ => return Err(not_in_schema(None)),
                }
            }
        }
    }
    if increments > 1 {
        return Err(Refusal::new(Reason::InvalidValue, Some("edits")));
    }
    if made.values().any(|s| *s == Slot::Review) {
        effect.review = Some(review_value(&review)?);
    } else if !review.is_empty() {
        return Err(not_in_schema(Some("review")));
    }
    if effect.makes_container && !effect.creates {
        return Err(not_in_schema(effect.fields.first().map(|f| f.code())));
    }
    effect.fields.sort();
    effect.fields.dedup();
    Ok(effect)
}

/// Whether a stored change writes record content: any operation other than the edit counter,
/// a review (a fresh review map and the values inside it), a delete or restore, a case status,
/// or the identity keys. Lenient on purpose: it reads changes the server has already checked, on every replica,
/// to derive "changed after approval" and "deleted while edited" from the causal history.
pub fn touches_content(change: &automerge::Change) -> bool {
    let Ok(expanded) = std::panic::catch_unwind(|| change.decode()) else { return true };
    let start = expanded.start_op.get();
    let mut review_maps: Vec<OpId> = Vec::new();
    for (i, op) in expanded.operations.iter().enumerate() {
        match (&op.obj, &op.key) {
            (ObjectId::Root, Key::Map(k)) if IDENTITY_KEYS.contains(&k.as_str()) => {}
            (ObjectId::Root, Key::Map(k)) if k == "edits" || k == "deleted" => {}
            // A case's status is the focal point's case management, not what was reported: it
            // does not reopen an approved referral.
            (ObjectId::Root, Key::Map(k)) if k == "case_status" => {}
            (ObjectId::Root, Key::Map(k)) if k == "review" => {
                review_maps.push(OpId(start + i as u64, expanded.actor_id.clone()));
            }
            (ObjectId::Id(parent), _) if review_maps.contains(parent) => {}
            _ => return true,
        }
    }
    false
}

/// An operation on a root key.
fn root_op(slot: Slot, action: &OpType, effect: &mut Effect, increments: &mut u32) -> Result<(), Refusal> {
    match slot {
        Slot::Identity(key) => {
            // Only the creating change writes these, each once, with the right type; whether this
            // change may create is decided by the caller (a record is created once).
            let ok = match (key, action) {
                ("schema_version", OpType::Put(ScalarValue::Uint(v))) => *v >= 1 && *v <= crate::SCHEMA_VERSION,
                ("id" | "commune" | "village", OpType::Put(ScalarValue::Bytes(b))) => b.len() == 16,
                ("kind", OpType::Put(ScalarValue::Str(s))) => RecordKind::from_code(s).is_some(),
                _ => false,
            };
            if !ok {
                return refuse(Reason::IdentityRewritten, Some(key));
            }
            effect.creates = true;
            effect.identity_key.get_or_insert(key);
        }
        Slot::Edits => match action {
            OpType::Put(ScalarValue::Counter(c)) if i64::from(c) == 0 => {}
            OpType::Increment(1) => *increments += 1,
            _ => return refuse(Reason::InvalidValue, Some("edits")),
        },
        Slot::Review => match action {
            OpType::Make(ObjType::Map) => {}
            _ => return refuse(Reason::NotInSchema, Some("review")),
        },
        Slot::Deleted => match action {
            OpType::Put(ScalarValue::Int(n)) if *n >= 0 => effect.delete = Some(true),
            OpType::Put(ScalarValue::Null) => effect.delete = Some(false),
            // Picking one of concurrent delete values (see `clears`); the caller checks what is
            // left and whether the writer may leave the record deleted or restored.
            OpType::Delete => effect.clears.push(Field::Deleted),
            _ => return refuse(Reason::InvalidValue, Some("deleted")),
        },
        Slot::Data(field) => {
            let code = Some(field.code());
            match (field.merge_kind(), action) {
                (MergeKind::Scalar, OpType::Put(v)) => check_scalar(field, v)?,
                // Sets and notes are made by the creating change (the caller checks that).
                (MergeKind::Set, OpType::Make(ObjType::Map)) | (MergeKind::Text, OpType::Make(ObjType::Text)) => {
                    effect.makes_container = true;
                }
                // Automerge resolves a conflict in favour of an existing value by deleting the
                // others; the caller checks a value is left.
                (MergeKind::Scalar, OpType::Delete) => effect.clears.push(field),
                _ => return refuse(Reason::InvalidValue, code),
            }
            effect.fields.push(field);
        }
    }
    Ok(())
}

/// An operation inside a set or the notes text.
fn inner_op(field: Field, op: &automerge::legacy::Op) -> Result<(), Refusal> {
    let code = Some(field.code());
    match field.merge_kind() {
        MergeKind::Set => {
            let Key::Map(member) = &op.key else { return refuse(Reason::NotInSchema, code) };
            let known = match field {
                Field::Topics => Topic::from_code(member).is_some(),
                Field::ViolenceTypes => ViolenceType::from_code(member).is_some(),
                Field::ReferredTo => Service::from_code(member).is_some(),
                _ => false,
            };
            if !known {
                return refuse(Reason::InvalidValue, code);
            }
            match &op.action {
                OpType::Put(ScalarValue::Boolean(true)) | OpType::Delete => Ok(()),
                _ => refuse(Reason::InvalidValue, code),
            }
        }
        MergeKind::Text => match (&op.action, &op.key) {
            (OpType::Put(ScalarValue::Str(s)), Key::Seq(_)) if op.insert && s.chars().count() == 1 => Ok(()),
            (OpType::Delete, Key::Seq(_)) if !op.insert => Ok(()),
            _ => refuse(Reason::InvalidValue, code),
        },
        MergeKind::Scalar => refuse(Reason::NotInSchema, code),
    }
}

/// The Automerge type and value domain of a scalar field. Drafts may leave fields out; a value
/// that is written must be of the field's type and within its domain.
pub fn check_scalar(field: Field, v: &ScalarValue) -> Result<(), Refusal> {
    let text = |max: usize| matches!(v, ScalarValue::Str(s) if !s.is_empty() && s.chars().count() <= max);
    let code = |known: fn(&str) -> bool| matches!(v, ScalarValue::Str(s) if known(s));
    let date = || matches!(v, ScalarValue::Str(s) if s.parse::<Date>().is_ok_and(|d| d.to_string() == s.as_str()));
    let count = || matches!(v, ScalarValue::Int(n) if (0..=MAX_ATTENDANCE).contains(n));
    let null = matches!(v, ScalarValue::Null);
    let ok = match field {
        Field::Unit => text(MAX_UNIT_CHARS),
        Field::Location => text(MAX_LOCATION_CHARS),
        Field::CaseCode => text(MAX_CASE_CODE_CHARS),
        Field::PlanItem => code(|s| PlanItem::from_code(s).is_some()),
        Field::ActivityType => code(|s| ActivityType::from_code(s).is_some()),
        Field::Format => null || code(|s| Format::from_code(s).is_some()),
        Field::SurvivorSex => code(|s| Sex::from_code(s).is_some()),
        Field::SurvivorAgeGroup => code(|s| AgeGroup::from_code(s).is_some()),
        Field::Setting => code(|s| Setting::from_code(s).is_some()),
        Field::CaseStatus => code(|s| CaseStatus::from_code(s).is_some()),
        Field::HeldOn | Field::ReportedOn => date(),
        Field::Gps => {
            null || matches!(v, ScalarValue::Str(s) if GeoPoint::decode(s)
                .is_some_and(|p| p.lat.abs() <= 90.0 && p.lon.abs() <= 180.0))
        }
        Field::AttendanceFemale | Field::AttendanceMale => count(),
        Field::AttendanceEthnicMinority => null || count(),
        Field::ConsentToShare => matches!(v, ScalarValue::Boolean(_)),
        Field::Topics | Field::ViolenceTypes | Field::ReferredTo | Field::Notes | Field::Review | Field::Deleted => {
            false
        }
    };
    if ok { Ok(()) } else { refuse(Reason::InvalidValue, Some(field.code())) }
}

fn review_value(review: &HashMap<&str, ScalarValue>) -> Result<(ReviewState, Option<String>), Refusal> {
    let f = Some("review");
    let state = match review.get("state") {
        Some(ScalarValue::Str(s)) => ReviewState::from_code(s).ok_or(Refusal::new(Reason::InvalidValue, f))?,
        _ => return refuse(Reason::InvalidValue, f),
    };
    if state == ReviewState::Draft {
        return refuse(Reason::Transition, f);
    }
    match review.get("at") {
        None | Some(ScalarValue::Int(_)) => {}
        _ => return refuse(Reason::InvalidValue, f),
    }
    let comment = match review.get("comment") {
        None => None,
        Some(ScalarValue::Str(s)) if s.chars().count() <= MAX_COMMENT_CHARS => Some(s.to_string()),
        _ => return refuse(Reason::InvalidValue, f),
    };
    Ok((state, comment))
}

/// Whether `writer` may make a change with this effect on a `kind` record (the table above).
/// Transitions and validity, which need the record's state, are checked by the caller
/// ([`crate::Record::check_change`]).
pub fn permits(writer: Writer, kind: RecordKind, effect: &Effect) -> Result<(), Refusal> {
    use Role::*;
    let web = writer.channel == Channel::Api;
    let not_allowed = |field: Option<&'static str>| Refusal::new(Reason::NotAllowed, field);
    if effect.creates {
        let may_create = matches!((writer.role, kind), (Collaborator, _) | (Reviewer, RecordKind::Activity));
        if !may_create {
            return Err(not_allowed(None));
        }
    }
    for &field in &effect.fields {
        let ok = match (writer.role, kind, field) {
            (Collaborator, _, Field::CaseStatus) => effect.creates,
            (GbvFocalPoint, RecordKind::GbvReferral, Field::CaseStatus) => web,
            (Collaborator, _, _) => true,
            (Reviewer, RecordKind::Activity, _) => true,
            _ => false,
        };
        if !ok {
            return Err(not_allowed(Some(field.code())));
        }
    }
    if let Some((state, _)) = &effect.review {
        let ok = match (state, writer.role, kind) {
            (ReviewState::Submitted, Collaborator, _) => true,
            (ReviewState::Approved | ReviewState::Returned, Reviewer, RecordKind::Activity) => web,
            (ReviewState::Approved | ReviewState::Returned, GbvFocalPoint, RecordKind::GbvReferral) => web,
            _ => false,
        };
        if !ok {
            return Err(not_allowed(Some("review")));
        }
    }
    match (effect.delete, writer.role, kind) {
        (None, _, _) => {}
        (Some(true), Collaborator, _) | (Some(true), Reviewer, RecordKind::Activity) => {}
        (Some(false), Admin, _) if web => {}
        _ => return Err(not_allowed(Some("deleted"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_round_trip() {
        for r in [
            Reason::NotInSchema,
            Reason::InvalidValue,
            Reason::IdentityRewritten,
            Reason::NotAllowed,
            Reason::Transition,
            Reason::InvalidRecord,
            Reason::CommentRequired,
        ] {
            assert_eq!(Reason::from_code(r.code()), Some(r));
            for lang in [Lang::Vi, Lang::En] {
                let m = Refusal::new(r, Some("attendance_female")).message(lang);
                assert!(m.ends_with('.') && !m.contains('\n'), "{m}");
            }
        }
    }

    #[test]
    fn scalar_domains() {
        use ScalarValue as S;
        assert!(check_scalar(Field::AttendanceFemale, &S::Int(30)).is_ok());
        assert!(check_scalar(Field::AttendanceFemale, &S::F64(2.5)).is_err());
        assert!(check_scalar(Field::AttendanceFemale, &S::Int(-1)).is_err());
        assert!(check_scalar(Field::AttendanceFemale, &S::Int(MAX_ATTENDANCE + 1)).is_err());
        assert!(check_scalar(Field::AttendanceFemale, &S::Uint(3)).is_err());
        assert!(check_scalar(Field::HeldOn, &S::Str("2026-11-20".into())).is_ok());
        assert!(check_scalar(Field::HeldOn, &S::Str("2026-13-45".into())).is_err());
        assert!(check_scalar(Field::ActivityType, &S::Str("communication".into())).is_ok());
        assert!(check_scalar(Field::ActivityType, &S::Str("party".into())).is_err());
        assert!(check_scalar(Field::Format, &S::Null).is_ok());
        assert!(check_scalar(Field::Location, &S::Str("x".repeat(MAX_LOCATION_CHARS + 1).into())).is_err());
        assert!(check_scalar(Field::Location, &S::Str("x".repeat(MAX_LOCATION_CHARS).into())).is_ok());
        assert!(check_scalar(Field::ConsentToShare, &S::Int(1)).is_err());
        assert!(check_scalar(Field::Gps, &S::Str("91.0,10.0".into())).is_err());
    }
}
