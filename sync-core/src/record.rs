//! A record as an Automerge document: creation, typed edits, review actions, soft delete,
//! conflict detection and resolution, and the flat projection everything else reads.
//!
//! The document is the source of truth; [`RecordView`] is derived from it and never stored as
//! authoritative. Layout of the root map (schema version 1):
//!
//! | key | type | notes |
//! |---|---|---|
//! | `schema_version` | uint | [`SCHEMA_VERSION`] |
//! | `id`, `commune`, `village` | 16 bytes | fixed at creation |
//! | `kind` | str | fixed at creation; the change that set it is the creation change |
//! | scalar fields | str / int / bool | see [`Field`]; enums as their codes, dates as `YYYY-MM-DD` |
//! | `topics`, `violence_types`, `referred_to` | map code → true | add-wins sets |
//! | `notes` | text | merged as text |
//! | `edits` | counter | incremented by every content edit; counters add up, which is what we want here |
//! | `review` | map `{state, at, comment}` | a fresh map per review action; `at` is the `edits` value it saw |
//! | `deleted` | int or null | the `edits` value the deleting device saw; null after a restore |
//!
//! Who made a change is not stored in the document body: every device writes with its own actor
//! id (the device id) and author (the user id), so any value can be traced to its change, and the
//! change to a device, a user and a device-clock time. The server checks that a device only ever
//! sends changes under its own actor and its user's author.

use crate::field::{Edit, Field, GeoPoint, MergeKind};
use crate::ids::{CommuneId, Date, DeviceId, RecordId, UserId, VillageId};
use crate::schema::*;
use crate::validate::{ValidationError, validate};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

/// The schema version this build writes and the newest it reads.
pub const SCHEMA_VERSION: u64 = 1;

/// Who is editing: the device (its Automerge actor) and the signed-in user (its author).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Editor {
    /// The device making the change.
    pub device: DeviceId,
    /// The user signed in on that device.
    pub user: UserId,
}

/// Errors from reading or changing a record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The bytes are not an Automerge document or change.
    #[error("not a valid Automerge document or change: {0}")]
    Corrupt(String),
    /// The document is not a Sổ Tay record (a required key is missing or has the wrong type).
    #[error("not a Sổ Tay record: {0}")]
    NotARecord(&'static str),
    /// A newer schema than this build understands.
    #[error("record schema version {0} is newer than this app understands ({SCHEMA_VERSION}); update the app")]
    UnsupportedSchema(u64),
    /// The edit writes a field that records of this kind do not have.
    #[error("{kind} records have no field {field}")]
    WrongKind {
        /// The record's kind.
        kind: RecordKind,
        /// The field the edit named.
        field: &'static str,
    },
    /// The record is deleted; restore it before editing.
    #[error("the record is deleted")]
    Deleted,
    /// Submission requires a valid record.
    #[error("the record is not valid: {}", .0.iter().map(|e| e.message(Lang::En)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
    /// The review action is not allowed in the record's current state.
    #[error("cannot {action} a record that is {from}")]
    Transition {
        /// The effective state.
        from: ReviewState,
        /// The action tried.
        action: &'static str,
    },
    /// Returning a record needs a comment saying why.
    #[error("returning a record needs a comment")]
    CommentRequired,
    /// No conflict on that field, or no such value.
    #[error("no conflict on {0} with that value")]
    NoSuchConflict(&'static str),
}

impl From<automerge::AutomergeError> for RecordError {
    fn from(e: automerge::AutomergeError) -> Self {
        RecordError::Corrupt(e.to_string())
    }
}

/// Who set a value, from which device and when (device clock, milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// The device (Automerge actor) that made the change.
    pub device: Option<DeviceId>,
    /// The user (Automerge author) signed in on it.
    pub user: Option<UserId>,
    /// The device's clock when the change was committed: advisory, phones' clocks can be wrong.
    pub at_ms: i64,
}

/// One of the concurrent values of a conflicted field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictValue {
    /// The value as text (codes for enumerations).
    pub value: String,
    /// Who set it.
    #[serde(flatten)]
    pub by: Attribution,
    /// Whether this is the value shown while the conflict is open (deterministic on every replica).
    pub shown: bool,
}

/// A field that two replicas set concurrently to different values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The field.
    pub field: Field,
    /// Every concurrent value, in the document's deterministic order.
    pub values: Vec<ConflictValue>,
}

/// The flat projection of a record: what storage indexes, reports and the UI read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// A record: an Automerge document plus its fixed identity.
#[derive(Debug)]
pub struct Record {
    doc: AutoCommit,
    id: RecordId,
    kind: RecordKind,
}

const SETS: [Field; 3] = [Field::Topics, Field::ViolenceTypes, Field::ReferredTo];
use crate::rules::IDENTITY_KEYS;

impl Record {
    /// Creates a new record on a device with its first field values, as one change.
    /// Returns the record and that change (for the outbox).
    pub fn create(
        kind: RecordKind,
        id: RecordId,
        commune: CommuneId,
        village: VillageId,
        editor: Editor,
        edits: &[Edit],
        now_ms: i64,
    ) -> Result<(Record, Vec<u8>), RecordError> {
        if let Some(e) = edits.iter().find(|e| !e.field().belongs_to(kind)) {
            return Err(RecordError::WrongKind { kind, field: e.field().code() });
        }
        let mut doc = AutoCommit::new();
        set_editor(&mut doc, Some(editor));
        let init = |doc: &mut AutoCommit| -> Result<(), automerge::AutomergeError> {
            doc.put(ROOT, "schema_version", ScalarValue::Uint(SCHEMA_VERSION))?;
            doc.put(ROOT, "id", ScalarValue::Bytes(id.as_bytes().to_vec()))?;
            doc.put(ROOT, "kind", kind.code())?;
            doc.put(ROOT, "commune", ScalarValue::Bytes(commune.as_bytes().to_vec()))?;
            doc.put(ROOT, "village", ScalarValue::Bytes(village.as_bytes().to_vec()))?;
            doc.put(ROOT, "edits", ScalarValue::counter(0))?;
            for set in SETS.iter().filter(|f| f.belongs_to(kind)) {
                doc.put_object(ROOT, set.code(), ObjType::Map)?;
            }
            doc.put_object(ROOT, "notes", ObjType::Text)?;
            Ok(())
        };
        init(&mut doc)?;
        let mut record = Record { doc, id, kind };
        for e in edits {
            record.write(e)?;
        }
        if !edits.is_empty() {
            record.doc.increment(ROOT, "edits", 1)?;
        }
        let change = record.commit(now_ms).expect("creation always changes the document");
        Ok((record, change))
    }

    /// Loads a record from saved bytes (a saved document or concatenated changes).
    /// `editor` is who will edit it here; `None` for a read-only replica such as the server.
    pub fn load(bytes: &[u8], editor: Option<Editor>) -> Result<Record, RecordError> {
        let mut doc = AutoCommit::load(bytes).map_err(|e| RecordError::Corrupt(e.to_string()))?;
        set_editor(&mut doc, editor);
        Record::from_doc(doc)
    }

    /// Builds a record from a list of changes (a new record arriving by sync).
    pub fn from_changes(changes: &[Vec<u8>], editor: Option<Editor>) -> Result<Record, RecordError> {
        let mut doc = AutoCommit::new();
        set_editor(&mut doc, editor);
        apply_raw(&mut doc, changes)?;
        Record::from_doc(doc)
    }

    fn from_doc(doc: AutoCommit) -> Result<Record, RecordError> {
        let version = match doc.get(ROOT, "schema_version")? {
            Some((Value::Scalar(v), _)) => v.as_u64().ok_or(RecordError::NotARecord("schema_version"))?,
            _ => return Err(RecordError::NotARecord("schema_version")),
        };
        if version > SCHEMA_VERSION {
            return Err(RecordError::UnsupportedSchema(version));
        }
        let id = get_bytes(&doc, "id").and_then(|b| RecordId::from_slice(&b)).ok_or(RecordError::NotARecord("id"))?;
        let kind =
            get_str(&doc, "kind").and_then(|k| RecordKind::from_code(&k)).ok_or(RecordError::NotARecord("kind"))?;
        for key in ["commune", "village"] {
            if get_bytes(&doc, key).filter(|b| b.len() == 16).is_none() {
                return Err(RecordError::NotARecord(if key == "commune" { "commune" } else { "village" }));
            }
        }
        Ok(Record { doc, id, kind })
    }

    /// The record id.
    pub fn id(&self) -> RecordId {
        self.id
    }

    /// The record kind.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The commune, fixed at creation.
    pub fn commune(&self) -> CommuneId {
        get_bytes(&self.doc, "commune").and_then(|b| CommuneId::from_slice(&b)).expect("checked on load")
    }

    /// The village, fixed at creation.
    pub fn village(&self) -> VillageId {
        get_bytes(&self.doc, "village").and_then(|b| VillageId::from_slice(&b)).expect("checked on load")
    }

    /// Sets who edits this replica from now on.
    pub fn set_editor(&mut self, editor: Option<Editor>) {
        set_editor(&mut self.doc, editor);
    }

    /// Applies changes received from elsewhere (any order, duplicates allowed: Automerge queues a
    /// change until its dependencies arrive and ignores one it already has).
    pub fn apply_changes(&mut self, changes: &[Vec<u8>]) -> Result<(), RecordError> {
        // Work on a copy: on any refusal the record is left exactly as it was.
        let mut doc = self.doc.clone();
        apply_raw(&mut doc, changes)?;
        let again = Record::from_doc(doc)?;
        // Identity is fixed at creation: a change that writes it again (another record's
        // creation, a forgery) is refused.
        for key in IDENTITY_KEYS {
            if again.doc.get_all(ROOT, key).map(|v| v.len()).unwrap_or(0) != 1 {
                return Err(RecordError::NotARecord("identity rewritten"));
            }
        }
        if again.id != self.id
            || again.kind != self.kind
            || again.commune() != self.commune()
            || again.village() != self.village()
        {
            return Err(RecordError::NotARecord("identity rewritten"));
        }
        self.doc = again.doc;
        Ok(())
    }

    /// Merges another replica of the same record into this one.
    pub fn merge(&mut self, other: &mut Record) -> Result<(), RecordError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// Hashes of changes this document is waiting for (non-empty when something arrived early).
    pub fn missing_deps(&mut self) -> Vec<[u8; 32]> {
        self.doc.get_missing_deps(&[]).into_iter().map(|h| h.0).collect()
    }

    /// Whether the document contains the change with this hash.
    pub fn has_change(&mut self, hash: &[u8; 32]) -> bool {
        self.doc.get_change_by_hash(&automerge::ChangeHash(*hash)).is_some()
    }

    /// The document heads, sorted.
    pub fn heads(&mut self) -> Vec<[u8; 32]> {
        let mut h: Vec<_> = self.doc.get_heads().into_iter().map(|h| h.0).collect();
        h.sort();
        h
    }

    /// Every change in the document, in causal order, as bytes.
    ///
    /// Changes are always handed out uncompressed: the sync wire deflates whole batches, which
    /// finds the redundancy between records that per-change compression cannot.
    pub fn changes(&mut self) -> Vec<Vec<u8>> {
        self.doc.get_changes(&[]).into_iter().map(|c| c.raw_bytes().to_vec()).collect()
    }

    /// The changes applied since `heads` (all of them for `&[]`), in causal order:
    /// (hash, the device that made it, bytes).
    pub fn changes_since(&mut self, heads: &[[u8; 32]]) -> Vec<([u8; 32], Option<DeviceId>, Vec<u8>)> {
        let heads: Vec<automerge::ChangeHash> = heads.iter().map(|h| automerge::ChangeHash(*h)).collect();
        self.doc
            .get_changes(&heads)
            .into_iter()
            .map(|c| (c.hash().0, DeviceId::from_slice(c.actor_id().as_ref()), c.raw_bytes().to_vec()))
            .collect()
    }

    /// The user (author) this document records for a device (actor), if any. Automerge stores the
    /// author with the first change of each actor; later changes of that actor inherit it.
    pub fn author_of(&self, device: DeviceId) -> Option<UserId> {
        let actor = ActorId::from(device.as_bytes().as_slice());
        self.doc.get_author_for_actor(&actor).and_then(|a| UserId::from_slice(a.as_bytes()))
    }

    /// The hash of the change that created the record (the one that set its kind).
    pub fn creation_hash(&mut self) -> Option<[u8; 32]> {
        let (_, id) = self.doc.get(ROOT, "kind").ok().flatten()?;
        self.doc.hash_for_opid(&id).map(|h| h.0)
    }

    /// One change of the document, parsed.
    pub(crate) fn change(&mut self, hash: &[u8; 32]) -> Option<automerge::Change> {
        self.doc.get_change_by_hash(&automerge::ChangeHash(*hash))
    }

    /// The record as it was at `heads` (a change's dependencies): what its writer saw.
    pub(crate) fn at(&mut self, heads: &[automerge::ChangeHash]) -> Result<Record, RecordError> {
        let doc = self.doc.fork_at(heads)?;
        Record::from_doc(doc)
    }

    /// The objects (sets, notes) ops of later changes may write into, as the creation made them.
    pub(crate) fn containers(&self) -> crate::rules::Objects {
        let mut objects = crate::rules::Objects::default();
        for field in Field::of_kind(self.kind).iter().filter(|f| f.merge_kind() != MergeKind::Scalar) {
            for (v, id) in self.doc.get_all(ROOT, field.code()).unwrap_or_default() {
                if let (Value::Object(_), ObjId::Id(counter, actor, _)) = (v, id) {
                    objects.insert(counter, actor, *field);
                }
            }
        }
        objects
    }

    /// Whether the field holds a value (any value, null included).
    pub(crate) fn has_value(&self, field: Field) -> bool {
        self.doc.get(ROOT, field.code()).ok().flatten().is_some()
    }

    /// Every concurrent review state (more than one while a review conflict is open).
    pub(crate) fn review_states(&self) -> Vec<ReviewState> {
        (0..self.doc.get_all(ROOT, "review").map(|v| v.len()).unwrap_or(0))
            .map(|i| self.review_at_choice(i).0)
            .collect()
    }

    /// The compact saved form of the whole document.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Applies typed edits as one change. Returns the change, or `None` if nothing changed.
    pub fn edit(&mut self, edits: &[Edit], now_ms: i64) -> Result<Option<Vec<u8>>, RecordError> {
        if self.deleted_at().is_some() {
            return Err(RecordError::Deleted);
        }
        for e in edits {
            if !e.field().belongs_to(self.kind) {
                return Err(RecordError::WrongKind { kind: self.kind, field: e.field().code() });
            }
        }
        let written = edits.iter().try_for_each(|e| self.write(e)).and_then(|()| self.finish_edit(now_ms));
        if written.is_err() {
            self.doc.rollback();
        }
        written
    }

    /// Resolves a conflict by choosing one of its values (index into [`Conflict::values`]).
    /// This is an ordinary edit: once merged everywhere, the conflict is gone on every replica.
    pub fn resolve(&mut self, field: Field, choice: usize, now_ms: i64) -> Result<Vec<u8>, RecordError> {
        if field != Field::Deleted && self.deleted_at().is_some() {
            return Err(RecordError::Deleted);
        }
        let chosen: Option<Option<ScalarValue>> = {
            let values = self.doc.get_all(ROOT, field.code())?;
            if values.len() < 2 || field.merge_kind() != MergeKind::Scalar {
                return Err(RecordError::NoSuchConflict(field.code()));
            }
            values.into_iter().nth(choice).map(|(v, _)| match v {
                Value::Scalar(s) => Some(s.into_owned()),
                Value::Object(_) => None,
            })
        };
        match (field, chosen) {
            (_, None) => return Err(RecordError::NoSuchConflict(field.code())),
            (Field::Review, Some(None)) => {
                let (state, comment) = self.review_at_choice(choice);
                self.put_review(state, comment.as_deref())?;
                return self.commit(now_ms).ok_or(RecordError::NoSuchConflict(field.code()));
            }
            (_, Some(Some(s))) => {
                if let Err(e) = self.doc.put(ROOT, field.code(), s) {
                    self.doc.rollback();
                    return Err(e.into());
                }
            }
            (_, Some(None)) => return Err(RecordError::NoSuchConflict(field.code())),
        }
        if field == Field::Deleted {
            return self.commit(now_ms).ok_or(RecordError::NoSuchConflict(field.code()));
        }
        match self.finish_edit(now_ms) {
            Ok(Some(change)) => Ok(change),
            Ok(None) => Err(RecordError::NoSuchConflict(field.code())),
            Err(e) => {
                self.doc.rollback();
                Err(e)
            }
        }
    }

    /// Submits the record for review. Requires a valid record (drafts may be invalid).
    pub fn submit(&mut self, today: Date, now_ms: i64) -> Result<Vec<u8>, RecordError> {
        let view = self.view();
        let from = view.review_state;
        if !matches!(from, ReviewState::Draft | ReviewState::Returned) {
            return Err(RecordError::Transition { from, action: "submit" });
        }
        if view.deleted {
            return Err(RecordError::Deleted);
        }
        let errors = validate(&view, today);
        if !errors.is_empty() {
            return Err(RecordError::Invalid(errors));
        }
        self.put_review(ReviewState::Submitted, None)?;
        Ok(self.commit(now_ms).expect("review writes always change the document"))
    }

    /// Approves a submitted record (a reviewer's action).
    pub fn approve(&mut self, now_ms: i64) -> Result<Vec<u8>, RecordError> {
        self.review_action(ReviewState::Approved, None, "approve", now_ms)
    }

    /// Returns a submitted record to its author with a comment (a reviewer's action).
    pub fn return_to_author(&mut self, comment: &str, now_ms: i64) -> Result<Vec<u8>, RecordError> {
        if comment.trim().is_empty() {
            return Err(RecordError::CommentRequired);
        }
        self.review_action(ReviewState::Returned, Some(comment), "return", now_ms)
    }

    fn review_action(
        &mut self,
        to: ReviewState,
        comment: Option<&str>,
        action: &'static str,
        now_ms: i64,
    ) -> Result<Vec<u8>, RecordError> {
        let from = self.review().0;
        if from != ReviewState::Submitted {
            return Err(RecordError::Transition { from, action });
        }
        if self.deleted_at().is_some() {
            return Err(RecordError::Deleted);
        }
        self.put_review(to, comment)?;
        Ok(self.commit(now_ms).expect("review writes always change the document"))
    }

    /// Soft-deletes the record. Sync never removes data; an admin can restore it.
    pub fn delete(&mut self, now_ms: i64) -> Result<Vec<u8>, RecordError> {
        if self.deleted_at().is_some() {
            return Err(RecordError::Deleted);
        }
        let edits = self.edit_count();
        self.doc.put(ROOT, "deleted", ScalarValue::Int(edits))?;
        Ok(self.commit(now_ms).expect("delete always changes the document"))
    }

    /// Restores a soft-deleted record (an admin's action); clears a delete conflict too.
    pub fn restore(&mut self, now_ms: i64) -> Result<Option<Vec<u8>>, RecordError> {
        if self.doc.get_all(ROOT, "deleted")?.iter().all(|(v, _)| is_null(v)) {
            return Ok(None);
        }
        self.doc.put(ROOT, "deleted", ScalarValue::Null)?;
        Ok(self.commit(now_ms))
    }

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

    /// Every open scalar conflict, with each value and who set it.
    pub fn conflicts(&mut self) -> Vec<Conflict> {
        let mut out = Vec::new();
        let fields = Field::of_kind(self.kind).iter().copied().chain([Field::Review, Field::Deleted]);
        for field in fields.filter(|f| f.merge_kind() == MergeKind::Scalar) {
            let all: Vec<(Option<String>, ObjId)> = match self.doc.get_all(ROOT, field.code()) {
                Ok(all) if all.len() > 1 => all
                    .into_iter()
                    .map(|(v, id)| (if let Value::Scalar(s) = v { Some(scalar_text(&s)) } else { None }, id))
                    .collect(),
                _ => continue,
            };
            let shown = self.doc.get(ROOT, field.code()).ok().flatten().map(|(_, id)| id);
            let mut values = Vec::with_capacity(all.len());
            for (i, (text, id)) in all.iter().enumerate() {
                let text = text.clone().unwrap_or_else(|| match self.review_at_choice(i) {
                    (state, Some(comment)) => format!("{}: {comment}", state.code()),
                    (state, None) => state.code().to_string(),
                });
                values.push(ConflictValue { value: text, by: self.attribution(id), shown: Some(id) == shown.as_ref() });
            }
            // The same value set concurrently by two replicas is agreement, not a conflict.
            if values.iter().all(|v| v.value == values[0].value) {
                continue;
            }
            out.push(Conflict { field, values });
        }
        out
    }

    fn attribution(&mut self, id: &ObjId) -> Attribution {
        let Some(hash) = self.doc.hash_for_opid(id) else {
            return Attribution { device: None, user: None, at_ms: 0 };
        };
        match self.doc.get_change_meta_by_hash(&hash) {
            Some(meta) => Attribution {
                device: DeviceId::from_slice(meta.actor.as_ref().as_ref()),
                user: meta.author.as_ref().and_then(|a| UserId::from_slice(a.as_bytes())),
                at_ms: meta.timestamp,
            },
            None => Attribution { device: None, user: None, at_ms: 0 },
        }
    }

    /// Who created the record: the author of the change that set its kind.
    pub fn creation(&mut self) -> Attribution {
        match self.doc.get(ROOT, "kind") {
            Ok(Some((_, id))) => self.attribution(&id),
            _ => Attribution { device: None, user: None, at_ms: 0 },
        }
    }

    /// Every change of the document with who made it (for a record's field history).
    pub fn history(&mut self) -> Vec<(Attribution, [u8; 32])> {
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| {
                (
                    Attribution {
                        device: DeviceId::from_slice(m.actor.as_ref().as_ref()),
                        user: m.author.as_ref().and_then(|a| UserId::from_slice(a.as_bytes())),
                        at_ms: m.timestamp,
                    },
                    m.hash.0,
                )
            })
            .collect()
    }

    fn notes(&self) -> String {
        match self.doc.get(ROOT, "notes") {
            Ok(Some((Value::Object(ObjType::Text), id))) => self.doc.text(&id).unwrap_or_default(),
            Ok(Some((Value::Scalar(s), _))) => s.as_str().unwrap_or_default().to_string(),
            _ => String::new(),
        }
    }

    fn edit_count(&self) -> i64 {
        match self.doc.get(ROOT, "edits") {
            Ok(Some((Value::Scalar(s), _))) => s.as_i64().unwrap_or(0),
            _ => 0,
        }
    }

    fn deleted_at(&self) -> Option<i64> {
        match self.doc.get(ROOT, "deleted") {
            Ok(Some((Value::Scalar(s), _))) => s.as_i64(),
            _ => None,
        }
    }

    /// (state, comment, changed after approval), derived from the review map and the causal
    /// history: a record approved or returned is edited since if any change that writes content
    /// is not an ancestor of the review's change (made concurrently with it, or after it). No
    /// counter a client writes enters into it, so a crafted change cannot hide an edit.
    pub(crate) fn review(&mut self) -> (ReviewState, Option<String>, bool) {
        let Ok(Some((Value::Object(ObjType::Map), obj))) = self.doc.get(ROOT, "review") else {
            return (ReviewState::Draft, None, false);
        };
        let (state, _, comment) = read_review(&self.doc, &obj);
        let edited_since =
            matches!(state, ReviewState::Approved | ReviewState::Returned) && self.content_not_before(&obj);
        match state {
            ReviewState::Approved if edited_since => (ReviewState::Submitted, None, true),
            ReviewState::Returned if edited_since => (ReviewState::Submitted, comment, false),
            s => (s, comment, false),
        }
    }

    /// Whether some change that writes content is not an ancestor of the change that made `op`.
    fn content_not_before(&mut self, op: &ObjId) -> bool {
        let Some(hash) = self.doc.hash_for_opid(op) else { return false };
        self.doc.get_changes(&[hash]).iter().any(|c| c.hash() != hash && crate::rules::touches_content(c))
    }

    /// Deleted, and some content change is not an ancestor of the delete: a delete concurrent
    /// with (or overtaken by) an edit, which a person should look at.
    fn delete_conflict(&mut self) -> bool {
        match self.doc.get(ROOT, "deleted") {
            Ok(Some((Value::Scalar(s), id))) if s.as_i64().is_some() => self.content_not_before(&id),
            _ => false,
        }
    }

    fn review_at_choice(&self, choice: usize) -> (ReviewState, Option<String>) {
        match self.doc.get_all(ROOT, "review").ok().and_then(|v| v.into_iter().nth(choice)) {
            Some((Value::Object(ObjType::Map), obj)) => {
                let (state, _, comment) = read_review(&self.doc, &obj);
                (state, comment)
            }
            _ => (ReviewState::Draft, None),
        }
    }

    fn put_review(&mut self, state: ReviewState, comment: Option<&str>) -> Result<(), RecordError> {
        let at = self.edit_count();
        let obj = self.doc.put_object(ROOT, "review", ObjType::Map)?;
        self.doc.put(&obj, "state", state.code())?;
        self.doc.put(&obj, "at", ScalarValue::Int(at))?;
        if let Some(c) = comment {
            self.doc.put(&obj, "comment", c)?;
        }
        Ok(())
    }

    fn write(&mut self, e: &Edit) -> Result<(), RecordError> {
        let f = e.field().code();
        let d = &mut self.doc;
        match e {
            Edit::Unit(s) | Edit::Location(s) | Edit::CaseCode(s) => put_scalar(d, f, s.as_str().into())?,
            Edit::PlanItem(v) => put_scalar(d, f, v.code().into())?,
            Edit::ActivityType(v) => put_scalar(d, f, v.code().into())?,
            Edit::Format(v) => put_scalar(d, f, v.map_or(ScalarValue::Null, |v| v.code().into()))?,
            Edit::HeldOn(v) | Edit::ReportedOn(v) => put_scalar(d, f, v.to_string().into())?,
            Edit::Gps(Some(p)) if !(p.lat.is_finite() && p.lon.is_finite()) => {
                return Err(RecordError::Invalid(vec![ValidationError {
                    field: Field::Gps,
                    rule: crate::validate::Rule::GpsOutOfRange,
                }]));
            }
            Edit::Gps(v) => put_scalar(d, f, v.map_or(ScalarValue::Null, |p| p.encode().into()))?,
            Edit::AttendanceFemale(n) | Edit::AttendanceMale(n) => put_scalar(d, f, ScalarValue::Int(i64::from(*n)))?,
            Edit::AttendanceEthnicMinority(n) => {
                put_scalar(d, f, n.map_or(ScalarValue::Null, |n| ScalarValue::Int(i64::from(n))))?
            }
            Edit::SurvivorSex(v) => put_scalar(d, f, v.code().into())?,
            Edit::SurvivorAgeGroup(v) => put_scalar(d, f, v.code().into())?,
            Edit::Setting(v) => put_scalar(d, f, v.code().into())?,
            Edit::CaseStatus(v) => put_scalar(d, f, v.code().into())?,
            Edit::ConsentToShare(b) => put_scalar(d, f, (*b).into())?,
            Edit::AddTopic(t) => set_put(d, f, t.code(), true)?,
            Edit::RemoveTopic(t) => set_put(d, f, t.code(), false)?,
            Edit::AddViolenceType(t) => set_put(d, f, t.code(), true)?,
            Edit::RemoveViolenceType(t) => set_put(d, f, t.code(), false)?,
            Edit::AddReferredTo(t) => set_put(d, f, t.code(), true)?,
            Edit::RemoveReferredTo(t) => set_put(d, f, t.code(), false)?,
            Edit::Notes(text) => match d.get(ROOT, "notes")? {
                Some((Value::Object(ObjType::Text), id)) => d.update_text(&id, text)?,
                _ => {
                    let id = d.put_object(ROOT, "notes", ObjType::Text)?;
                    d.update_text(&id, text)?;
                }
            },
        }
        Ok(())
    }

    /// Counts a content edit (if anything changed) and commits.
    fn finish_edit(&mut self, now_ms: i64) -> Result<Option<Vec<u8>>, RecordError> {
        if self.doc.pending_ops() == 0 {
            return Ok(None);
        }
        self.doc.increment(ROOT, "edits", 1)?;
        Ok(self.commit(now_ms))
    }

    fn commit(&mut self, now_ms: i64) -> Option<Vec<u8>> {
        self.doc.commit_with(CommitOptions::default().with_time(now_ms))?;
        self.doc.get_last_local_change().map(|c| c.raw_bytes().to_vec())
    }
}

fn set_editor(doc: &mut AutoCommit, editor: Option<Editor>) {
    match editor {
        Some(e) => {
            // Setting the author mints a fresh actor, so the actor must be set after it.
            doc.set_author(Some(automerge::Author::from(e.user.as_bytes().to_vec())));
            doc.set_actor(ActorId::from(e.device.as_bytes().as_slice()));
        }
        None => {
            doc.set_author(None);
            doc.set_actor(ActorId::random());
        }
    }
}

/// Applies change chunks. Automerge 0.12 can panic on some malformed changes (for example an
/// unknown actor at a later sequence number) instead of returning an error; input from outside
/// must never take the process down, so a panic is caught and reported as corrupt input. The
/// caller works on a copy of the document, so a half-applied batch is thrown away.
fn apply_raw(doc: &mut AutoCommit, changes: &[Vec<u8>]) -> Result<(), RecordError> {
    let mut parsed = Vec::with_capacity(changes.len());
    for c in changes {
        parsed.push(crate::inspect::parse_change(c).map_err(RecordError::Corrupt)?);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.apply_changes(parsed)));
    match result {
        Ok(applied) => Ok(applied?),
        Err(_) => Err(RecordError::Corrupt("a change could not be applied (malformed change)".into())),
    }
}

fn read_review(doc: &AutoCommit, obj: &ObjId) -> (ReviewState, i64, Option<String>) {
    let s = |k: &str| match doc.get(obj, k) {
        Ok(Some((Value::Scalar(v), _))) => Some(v.into_owned()),
        _ => None,
    };
    let state = s("state").and_then(|v| v.as_str().and_then(ReviewState::from_code)).unwrap_or(ReviewState::Draft);
    let at = s("at").and_then(|v| v.as_i64()).unwrap_or(0);
    let comment = s("comment").and_then(|v| v.as_str().map(str::to_string));
    (state, at, comment)
}

/// Writes a scalar unless it already is the one and only value (so a no-op edit makes no change,
/// while writing over a conflict always resolves it).
fn put_scalar(doc: &mut AutoCommit, key: &str, v: ScalarValue) -> Result<(), automerge::AutomergeError> {
    let all = doc.get_all(ROOT, key)?;
    let same = matches!(all.as_slice(), [(Value::Scalar(cur), _)] if cur.as_ref() == &v)
        || (all.is_empty() && v == ScalarValue::Null);
    drop(all);
    if !same {
        doc.put(ROOT, key, v)?;
    }
    Ok(())
}

fn set_put(doc: &mut AutoCommit, set: &str, member: &str, add: bool) -> Result<(), RecordError> {
    let obj = match doc.get(ROOT, set)? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => return Err(RecordError::NotARecord("set")),
    };
    // An add always writes, even over a present member: that is what makes a concurrent
    // remove lose (add-wins). A remove of an absent member writes nothing.
    if add {
        doc.put(&obj, member, true)?;
    } else if doc.get(&obj, member)?.is_some() {
        doc.delete(&obj, member)?;
    }
    Ok(())
}

fn set_members<T: Coded + Ord>(doc: &AutoCommit, field: Field) -> Vec<T> {
    let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(ROOT, field.code()) else {
        return Vec::new();
    };
    let mut v: Vec<T> = doc.keys(&obj).filter_map(|k| T::from_code(&k)).collect();
    v.sort();
    v
}

fn get_str(doc: &AutoCommit, key: &str) -> Option<String> {
    match doc.get(ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_string),
        _ => None,
    }
}

fn get_bytes(doc: &AutoCommit, key: &str) -> Option<Vec<u8>> {
    match doc.get(ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Bytes(b) => Some(b.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn is_null(v: &Value<'_>) -> bool {
    matches!(v, Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Null))
}

fn scalar_text(s: &ScalarValue) -> String {
    match s {
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::Int(n) => n.to_string(),
        ScalarValue::Uint(n) => n.to_string(),
        ScalarValue::F64(n) => n.to_string(),
        ScalarValue::Boolean(b) => b.to_string(),
        ScalarValue::Null => String::new(),
        other => other.to_string(),
    }
}

/// Lower-case hex of a hash.
pub fn hex(bytes: &[u8; 32]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
