//! The [`Record`] type: a record as an Automerge document, its layout, creation, loading, and
//! applying and merging changes. The rest lives in submodules: `edit` (typed edits, soft delete),
//! `view` (the flat projection everything else reads), `review` (review actions and the derived
//! review state), `conflict` (conflict detection and resolution), `history` (who wrote what) and
//! `compact` (purging the history).
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

mod compact;
mod conflict;
mod edit;
mod history;
mod review;
pub(crate) mod view;

pub use conflict::{Conflict, ConflictValue};
pub use history::{Attribution, FieldChange, HistoryEntry};
pub use view::{FieldText, RecordView};

use crate::field::{Edit, Field, MergeKind};
use crate::field_error::ValidationError;
use crate::ids::{CommuneId, DeviceId, RecordId, UserId, VillageId};
use crate::rules::IDENTITY_KEYS;
use crate::schema::*;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

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

/// A record: an Automerge document plus its fixed identity.
#[derive(Debug)]
pub struct Record {
    doc: AutoCommit,
    id: RecordId,
    kind: RecordKind,
}

const SETS: [Field; 3] = [Field::Topics, Field::ViolenceTypes, Field::ReferredTo];

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

    /// This record without the given changes and every change built on them (the server refused
    /// them, so no other replica will ever hold them): the record as the server has it, plus
    /// whatever else this replica made since. `None` when that leaves no record at all (the
    /// refused changes include its creation). `editor` is who edits the result.
    pub fn without(&mut self, refused: &[[u8; 32]], editor: Option<Editor>) -> Result<Option<Record>, RecordError> {
        let mut dropped: std::collections::HashSet<[u8; 32]> = refused.iter().copied().collect();
        let mut kept = Vec::new();
        // Causal order: a change's dependencies come before it, so one pass finds descendants.
        for c in self.doc.get_changes(&[]) {
            if dropped.contains(&c.hash().0) || c.deps().iter().any(|d| dropped.contains(&d.0)) {
                dropped.insert(c.hash().0);
            } else {
                kept.push(c.raw_bytes().to_vec());
            }
        }
        match self.creation_hash() {
            Some(h) if !dropped.contains(&h) => Record::from_changes(&kept, editor).map(Some),
            _ => Ok(None),
        }
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
        // The change graph's metadata, not `get_change_by_hash`, which rebuilds the change from
        // the document's ops (a fifth of the server's ingest time when it was used here).
        self.doc.get_change_meta_by_hash(&automerge::ChangeHash(*hash)).is_some()
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

    /// The compact saved form of the whole document.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
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

/// Lower-case hex of a hash.
pub fn hex(bytes: &[u8; 32]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
