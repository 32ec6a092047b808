//! Typed edits of a record's fields and its soft delete and restore.

use super::{Record, RecordError};
use crate::field::{Edit, Field};
use crate::field_error::ValidationError;
use crate::schema::Coded;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};

impl Record {
    /// Applies typed edits as one change. Returns the change, or `None` if nothing changed.
    pub fn edit(&mut self, edits: &[Edit], now_ms: i64) -> Result<Option<Vec<u8>>, RecordError> {
        if self.deleted_at().is_some() {
            return Err(RecordError::Deleted);
        }
        for e in edits {
            if !e.field().belongs_to(self.kind) {
                return Err(RecordError::WrongKind { kind: self.kind, field: e.field().code() });
            }
            // Notes are merged as a text diff, whose cost grows with the square of the text: a
            // text past the limit (which the server refuses anyway) is refused before the diff,
            // or a pasted page would hold the phone for minutes (found by the sync_ingest fuzzer).
            if let Edit::Notes(text) = e
                && text.chars().count() > crate::field_error::MAX_NOTES_CHARS
            {
                return Err(RecordError::Invalid(vec![ValidationError {
                    field: Field::Notes,
                    rule: crate::field_error::Rule::TooLong,
                }]));
            }
        }
        let written = edits.iter().try_for_each(|e| self.write(e)).and_then(|()| self.finish_edit(now_ms));
        if written.is_err() {
            self.doc.rollback();
        }
        written
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

    pub(super) fn write(&mut self, e: &Edit) -> Result<(), RecordError> {
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
                    rule: crate::field_error::Rule::GpsOutOfRange,
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
    pub(super) fn finish_edit(&mut self, now_ms: i64) -> Result<Option<Vec<u8>>, RecordError> {
        if self.doc.pending_ops() == 0 {
            return Ok(None);
        }
        self.doc.increment(ROOT, "edits", 1)?;
        Ok(self.commit(now_ms))
    }
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

fn is_null(v: &Value<'_>) -> bool {
    matches!(v, Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Null))
}
